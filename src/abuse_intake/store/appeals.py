"""SQL for appeals (issue 14.1). Functions take `db` and never commit."""

from __future__ import annotations

from .rows import all_rows, one_row

COLUMNS = ("a.id, a.message_id, a.kind, a.account_id, a.sanction_id, a.case_id, c.ref AS case_ref, "
           "a.appellant, a.language, a.received_at, a.status, a.decided_by, a.decided_at, a.decision_note, "
           "a.forced, a.force_note")
_FROM = "FROM appeals a LEFT JOIN cases c ON c.id = a.case_id"


def insert_appeal(db, *, message_id: int, kind: str, account_id: str | None, sanction_id: int | None,
                  case_id: int | None, appellant: str, language: str | None, received_at: str, status: str) -> int:
    cur = db.conn.execute(
        "INSERT INTO appeals (message_id, kind, account_id, sanction_id, case_id, appellant, language, "
        "received_at, status) VALUES (?,?,?,?,?,?,?,?,?)",
        (message_id, kind, account_id, sanction_id, case_id, appellant, language, received_at, status))
    return cur.lastrowid


def appeal_by_id(db, appeal_id: int) -> dict | None:
    return one_row(db, f"SELECT {COLUMNS} {_FROM} WHERE a.id = ?", (appeal_id,))


def list_appeals(db, status: str | None) -> list[dict]:
    """Oldest first: the queue is worked in arrival order."""
    if status is None:
        return all_rows(db, f"SELECT {COLUMNS} {_FROM} ORDER BY a.received_at, a.id")
    return all_rows(db, f"SELECT {COLUMNS} {_FROM} WHERE a.status = ? ORDER BY a.received_at, a.id", (status,))


def record_appeal_decision(db, appeal_id: int, *, status: str, by: str, at: str, note: str,
                           forced: bool, force_note: str | None) -> None:
    db.conn.execute(
        "UPDATE appeals SET status = ?, decided_by = ?, decided_at = ?, decision_note = ?, forced = ?, "
        "force_note = ? WHERE id = ? AND status = 'open'",
        (status, by, at, note, int(forced), force_note, appeal_id))


def latest_sanction_of(db, account_id: str) -> dict | None:
    """The account's most recent sanction (revoked or not: an appeal may arrive after a revocation)."""
    return one_row(db, "SELECT s.id, s.case_id, s.starts_at, s.revoked, s.decided_by, s.action FROM sanctions s "
                       "WHERE s.account_id = ? ORDER BY s.starts_at DESC, s.id DESC LIMIT 1", (account_id,))


def sanction_row(db, sanction_id: int) -> dict | None:
    return one_row(db, "SELECT s.id, s.case_id, s.account_id, s.starts_at, s.revoked, s.decided_by, s.action "
                       "FROM sanctions s WHERE s.id = ?", (sanction_id,))


def latest_sanction_of_case(db, case_id: int) -> dict | None:
    return one_row(db, "SELECT s.id, s.case_id, s.account_id, s.starts_at, s.revoked, s.decided_by, s.action "
                       "FROM sanctions s WHERE s.case_id = ? ORDER BY s.id DESC LIMIT 1", (case_id,))


def case_row(db, case_id: int) -> dict | None:
    return one_row(db, "SELECT id, ref, account_id, status, decision, decided_by, decided_at FROM cases "
                       "WHERE id = ?", (case_id,))


def case_row_by_ref(db, ref: str) -> dict | None:
    return one_row(db, "SELECT id, ref, account_id, status, decision, decided_by, decided_at FROM cases "
                       "WHERE ref = ?", (ref.upper(),))


def count_by_status(db) -> dict[str, int]:
    return {r["status"]: r["n"] for r in all_rows(db, "SELECT status, COUNT(*) AS n FROM appeals GROUP BY status")}


def message_of(db, message_row: int) -> dict:
    """The appellant's message: what the answer threads under and what staff read."""
    return one_row(db, "SELECT message_id, from_name, subject, text FROM messages WHERE id = ?",
                   (message_row,)) or {}
