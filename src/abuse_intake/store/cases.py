"""SQL for cases: grouping reports by account, the queue, and case details."""

from __future__ import annotations

import json

from ..config import SEVERITY_RANK
from .db import iso
from .rows import all_rows, one_row, placeholders

CASE_COLUMNS = ("id", "ref", "status", "account_id", "category", "severity", "reporters", "reports",
                "opened_at", "updated_at", "assignee", "decision", "decided_at", "decided_by", "referral", "flag",
                "new_info")


def open_case_for(db, account_id: str) -> dict | None:
    row = db.conn.execute("SELECT id, ref, account_id, status, severity_rank FROM cases "
                          "WHERE account_id = ? AND status = 'open'", (account_id,)).fetchone()
    return None if row is None else dict(zip(("id", "ref", "account_id", "status", "severity_rank"), row))


# The ref is derived from the row id. The id is given explicitly as the one
# SQLite would pick (largest rowid + 1; the caller holds the write lock), so
# the row goes in once with its final ref instead of an insert and an update.
# A single-row VALUES on purpose: INSERT ... SELECT counts as a multi-row write,
# for which SQLite scans every child table of cases (sanctions, outbox_cases:
# no index on case_id) for rows the new id might satisfy.
_NEXT_ID = "(SELECT IFNULL(MAX(id), 0) + 1 FROM cases)"
_CASE_INSERT = (
    "INSERT INTO cases (id, ref, account_id, status, category, severity, severity_rank, opened_at, updated_at{}) "
    f"VALUES ({_NEXT_ID}, ? || '-' || printf('%06d', {_NEXT_ID}), ?, ?, ?, ?, ?, ?, ?{{}})"
)
CREATE_CASE_SQL = _CASE_INSERT.format("", "")
CREATE_LINKED_CASE_SQL = _CASE_INSERT.format(", reports, reporters", ", 1, ?")


def create_case(db, *, prefix: str, account_id: str | None, category: str, severity: str, at: str) -> dict:
    status = "open" if account_id else "needs_info"
    case_id = db.conn.execute(
        CREATE_CASE_SQL, (prefix, account_id, status, category, severity, SEVERITY_RANK[severity], at, at),
    ).lastrowid
    return {"id": case_id, "ref": f"{prefix}-{case_id:06d}", "account_id": account_id, "status": status}


def open_case_with_report(db, *, prefix: str, account_id: str | None, report_id: int, reporter: str | None,
                          language: str | None, reporter_message_id: str | None, category: str, severity: str,
                          at: str) -> dict:
    """create_case + link_report of its first report, without link_report's UPDATE:
    a new case's summary after its first report is known (counts 1 and 0/1, the
    report's own category, severity and time), so it is inserted that way."""
    status = "open" if account_id else "needs_info"
    conn = db.conn
    case_id = conn.execute(
        CREATE_LINKED_CASE_SQL,
        (prefix, account_id, status, category, severity, SEVERITY_RANK[severity], at, at, 1 if reporter else 0),
    ).lastrowid
    conn.execute("INSERT OR IGNORE INTO case_reports (case_id, report_id, added_at) VALUES (?,?,?)",
                 (case_id, report_id, at))
    if reporter:
        conn.execute("INSERT OR IGNORE INTO case_reporters (case_id, reporter, language, message_id, added_at) "
                     "VALUES (?,?,?,?,?)", (case_id, reporter, language, reporter_message_id, at))
    return {"id": case_id, "ref": f"{prefix}-{case_id:06d}", "account_id": account_id, "status": status}


def link_report(db, *, case_id: int, report_id: int, reporter: str | None, language: str | None,
                reporter_message_id: str | None, category: str, severity: str, at: str) -> None:
    """Attach a report to a case and refresh the case's summary columns."""
    conn = db.conn
    conn.execute("INSERT OR IGNORE INTO case_reports (case_id, report_id, added_at) VALUES (?,?,?)",
                 (case_id, report_id, at))
    if reporter:
        conn.execute("INSERT OR IGNORE INTO case_reporters (case_id, reporter, language, message_id, added_at) "
                     "VALUES (?,?,?,?,?)", (case_id, reporter, language, reporter_message_id, at))
    rank = SEVERITY_RANK[severity]
    # The most severe report sets the case's category and severity.
    conn.execute(
        "UPDATE cases SET "
        " category = CASE WHEN ? > severity_rank THEN ? ELSE category END,"
        " severity = CASE WHEN ? > severity_rank THEN ? ELSE severity END,"
        " severity_rank = MAX(severity_rank, ?),"
        " reports = (SELECT COUNT(*) FROM case_reports WHERE case_id = ?),"
        " reporters = (SELECT COUNT(*) FROM case_reporters WHERE case_id = ?),"
        " updated_at = MAX(updated_at, ?) "
        "WHERE id = ?",
        (rank, category, rank, severity, rank, case_id, case_id, at, case_id),
    )


def report_in_open_case(db, report_id: int, account_id: str) -> bool:
    """Whether the open case of account_id holds the report (a resend needs the case still open)."""
    return db.conn.execute(
        "SELECT 1 FROM cases c JOIN case_reports cr ON cr.case_id = c.id "
        "WHERE c.account_id = ? AND c.status = 'open' AND cr.report_id = ?", (account_id, report_id),
    ).fetchone() is not None


def case_by_ref(db, ref: str) -> dict | None:
    return one_row(db, "SELECT * FROM cases WHERE ref = ?", (ref.strip().upper(),))


def case_by_id(db, case_id: int) -> dict | None:
    return one_row(db, "SELECT * FROM cases WHERE id = ?", (case_id,))


def is_case_reporter(db, case_id: int, reporter: str) -> bool:
    return db.conn.execute("SELECT 1 FROM case_reporters WHERE case_id = ? AND reporter = ?",
                           (case_id, reporter)).fetchone() is not None


def cases_by_refs(db, refs: list[str]) -> list[dict]:
    if not refs:
        return []
    return all_rows(db, f"SELECT id, ref, account_id, status FROM cases WHERE ref IN ({placeholders(refs)})", refs)


def cases_by_outgoing_message_ids(db, message_ids: list[str]) -> list[dict]:
    """Cases named by one of our sent emails (for replies that keep the thread but not the tag)."""
    if not message_ids:
        return []
    marks = placeholders(message_ids)
    return all_rows(
        db,
        "SELECT DISTINCT c.id, c.ref, c.account_id, c.status FROM outbox o "
        "JOIN outbox_cases oc ON oc.outbox_id = o.id JOIN cases c ON c.id = oc.case_id "
        f"WHERE o.message_id IN ({marks}) ORDER BY c.id",
        message_ids,
    )


def set_flag(db, case_id: int, flag: str, detail: dict) -> None:
    db.execute("UPDATE cases SET flag = ?, flag_detail = ? WHERE id = ?",
               (flag, json.dumps(detail, ensure_ascii=False), case_id))


def attach_account(db, case_id: int, account_id: str, at: str) -> None:
    db.execute("UPDATE cases SET account_id = ?, status = 'open', updated_at = ? WHERE id = ?",
               (account_id, at, case_id))


def move_reports(db, from_case: int, to_case: int, at: str) -> None:
    """Fold a needs_info case into the account's open case (its reporters and reports join)."""
    db.execute("INSERT OR IGNORE INTO case_reports (case_id, report_id, added_at) "
               "SELECT ?, report_id, added_at FROM case_reports WHERE case_id = ?", (to_case, from_case))
    db.execute("INSERT OR IGNORE INTO case_reporters (case_id, reporter, language, message_id, added_at) "
               "SELECT ?, reporter, language, message_id, added_at FROM case_reporters WHERE case_id = ?",
               (to_case, from_case))
    db.execute(
        "UPDATE cases SET status = 'merged', decision = 'merged', decided_at = ?, "
        "decision_note = (SELECT ref FROM cases WHERE id = ?) WHERE id = ?",
        (at, to_case, from_case))
    db.execute(
        "UPDATE cases SET reports = (SELECT COUNT(*) FROM case_reports WHERE case_id = ?),"
        " reporters = (SELECT COUNT(*) FROM case_reporters WHERE case_id = ?), updated_at = ? WHERE id = ?",
        (to_case, to_case, at, to_case))


def raise_severity(db, case_id: int, category: str, severity: str) -> None:
    rank = SEVERITY_RANK[severity]
    db.execute("UPDATE cases SET category = ?, severity = ?, severity_rank = ? "
               "WHERE id = ? AND severity_rank < ?", (category, severity, rank, case_id, rank))


# -- queue -------------------------------------------------------------------

WAITING = ("open", "needs_info")  # both wait for staff


def reports_of_case(db, case_id: int) -> list[dict]:
    rows = all_rows(
        db,
        "SELECT r.id AS report_id, m.id AS message_row, m.message_id, r.reporter, r.received_at, r.language, "
        "r.category, r.severity, r.account_ids, r.matched_words, r.source, m.subject, m.text, "
        "m.forwarded_text, m.raw_sha256 FROM case_reports cr JOIN reports r ON r.id = cr.report_id "
        "JOIN messages m ON m.id = r.message_id WHERE cr.case_id = ? ORDER BY r.received_at, r.id",
        (case_id,),
    )
    for r in rows:
        r["account_ids"] = json.loads(r["account_ids"])
        r["matched_words"] = json.loads(r["matched_words"])
    return rows


def reporters_of_case(db, case_id: int) -> list[dict]:
    return all_rows(db, "SELECT reporter, language, message_id, added_at FROM case_reporters "
                    "WHERE case_id = ? ORDER BY added_at, reporter", (case_id,))


def count_cases(db) -> int:
    return db.execute("SELECT COUNT(*) FROM cases").fetchone()[0]




# -- lifecycle (cases/lifecycle.py) ---------------------------------------------

def report_of_message(db, message_row: int) -> dict | None:
    row = one_row(db, "SELECT id, reporter, language, category, severity, account_ids FROM reports "
                   "WHERE message_id = ?", (message_row,))
    if row:
        row["account_ids"] = json.loads(row["account_ids"])
    return row


def cases_of_report(db, report_id: int) -> list[str]:
    return [r["ref"] for r in all_rows(db, "SELECT c.ref FROM case_reports cr JOIN cases c ON c.id = cr.case_id "
                                       "WHERE cr.report_id = ? ORDER BY c.id", (report_id,))]


def attach_report(db, *, case_id: int, report_id: int, reporter: str | None, language: str | None,
                  reporter_message_id: str | None, at: str) -> None:
    """Add a report to a (decided) case without touching its category or severity."""
    db.execute("INSERT OR IGNORE INTO case_reports (case_id, report_id, added_at) VALUES (?,?,?)",
               (case_id, report_id, at))
    if reporter:
        db.execute("INSERT OR IGNORE INTO case_reporters (case_id, reporter, language, message_id, added_at) "
                   "VALUES (?,?,?,?,?)", (case_id, reporter, language, reporter_message_id, at))
    db.execute("UPDATE cases SET reports = (SELECT COUNT(*) FROM case_reports WHERE case_id = ?), "
               "reporters = (SELECT COUNT(*) FROM case_reporters WHERE case_id = ?), "
               "updated_at = MAX(updated_at, ?) WHERE id = ?", (case_id, case_id, at, case_id))
