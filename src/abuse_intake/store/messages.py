"""SQL for stored messages, reports, attachments and mailbox cursors."""

from __future__ import annotations

import json

from ..models import Cursor
from .db import iso, now_iso
from .rows import all_rows, json_list, one_row

# -- dedupe look-ups -------------------------------------------------------

def by_raw_hash(db, digest: str) -> dict | None:
    row = db.conn.execute("SELECT id, kind, message_id FROM messages WHERE raw_sha256 = ?", (digest,)).fetchone()
    return None if row is None else {"id": row[0], "kind": row[1], "message_id": row[2]}


def by_message_id(db, message_id: str) -> dict | None:
    # The first delivery is the one others are duplicates of.
    row = db.conn.execute("SELECT id, kind, reporter, language FROM messages WHERE message_id = ? "
                          "ORDER BY id LIMIT 1", (message_id,)).fetchone()
    return None if row is None else {"id": row[0], "kind": row[1], "reporter": row[2], "language": row[3]}


def recent_reports_by(db, reporter: str, since: str, until: str) -> list[dict]:
    return all_rows(
        db,
        "SELECT r.id, r.message_id, r.account_ids, r.text_fingerprint FROM reports r "
        "WHERE r.reporter = ? AND r.received_at >= ? AND r.received_at <= ? AND r.source = 'email' "
        "ORDER BY r.id",
        (reporter, since, until),
    )


# -- writes ----------------------------------------------------------------

MESSAGE_COLUMNS = (
    "message_id", "raw_sha256", "size", "mailbox", "uidvalidity", "uid", "received_at",
    "from_address", "from_name", "reporter", "subject", "language", "kind", "reason",
    "duplicate_of", "text", "forwarded_text", "in_reply_to", "refs", "stored_at", "defects",
)
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in MESSAGE_COLUMNS)})"
)


_STORED_AT = MESSAGE_COLUMNS.index("stored_at")


def insert_message(db, row: dict) -> int:
    values = list(map(row.get, MESSAGE_COLUMNS))
    values[_STORED_AT] = values[_STORED_AT] or now_iso()
    return db.conn.execute(_INSERT_MESSAGE, values).lastrowid


def delete_message(db, message_row: int) -> None:
    db.execute("DELETE FROM messages WHERE id = ?", (message_row,))


def insert_report(db, *, message_row: int, reporter: str | None, received_at: str, language: str | None,
                  category: str, severity: str, account_ids: list[str], matched_words: list[str],
                  fingerprint: str, source: str) -> int:
    cur = db.conn.execute(
        "INSERT INTO reports (message_id, reporter, received_at, language, category, severity, "
        "account_ids, matched_words, text_fingerprint, source) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (message_row, reporter, received_at, language, category, severity,
         json_list(account_ids), json_list(matched_words, ensure_ascii=False), fingerprint, source),
    )
    return cur.lastrowid


def insert_attachments(db, message_row: int, rows: list[tuple]) -> None:
    """rows: (sha256 or None, filename, content_type, size, skipped_reason)."""
    db.conn.executemany(
        "INSERT INTO attachments (message_id, sha256, filename, content_type, size, skipped_reason) "
        "VALUES (?,?,?,?,?,?)",
        [(message_row, *r) for r in rows],
    )


# -- cursors ---------------------------------------------------------------

def get_cursor(db, mailbox: str) -> Cursor:
    row = one_row(db, "SELECT uidvalidity, last_uid FROM mailbox_cursors WHERE mailbox = ?", (mailbox,))
    if row is None:
        return Cursor(None, 0)
    return Cursor(row["uidvalidity"], row["last_uid"])


def set_cursor(db, mailbox: str, cursor: Cursor) -> None:
    db.execute(
        "INSERT INTO mailbox_cursors (mailbox, uidvalidity, last_uid, updated_at) VALUES (?,?,?,?) "
        "ON CONFLICT(mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
        "last_uid = excluded.last_uid, updated_at = excluded.updated_at",
        (mailbox, cursor.uidvalidity, cursor.last_uid, iso()),
    )


# -- runs ------------------------------------------------------------------

def start_run(db, mailbox: str) -> int:
    return db.execute("INSERT INTO poll_runs (started_at, mailbox) VALUES (?, ?)", (iso(), mailbox)).lastrowid


def finish_run(db, run_id: int, counts: dict, error: str | None = None) -> None:
    db.execute("UPDATE poll_runs SET finished_at = ?, counts = ?, error = ? WHERE id = ?",
               (iso(), json.dumps(counts), error, run_id))


# -- listings ----------------------------------------------------------------

def list_messages(db, kind: str | None = None) -> list[dict]:
    where, params = ("WHERE m.kind = ?", (kind,)) if kind else ("", ())
    rows = all_rows(
        db,
        "SELECT m.id, m.message_id, m.reporter, m.from_address, m.subject, m.kind, m.reason, "
        "m.received_at, m.stored_at, m.duplicate_of, "
        "(SELECT json_group_array(c.ref) FROM reports r JOIN case_reports cr ON cr.report_id = r.id "
        " JOIN cases c ON c.id = cr.case_id WHERE r.message_id = m.id) AS case_refs "
        f"FROM messages m {where} ORDER BY m.received_at, m.id",
        params,
    )
    for r in rows:
        r["case_refs"] = sorted(set(json.loads(r["case_refs"] or "[]")))
    return rows


def get_message(db, message_row: int) -> dict | None:
    return one_row(db, "SELECT * FROM messages WHERE id = ?", (message_row,))


def attachments_of(db, message_row: int) -> list[dict]:
    return all_rows(db, "SELECT id, sha256, filename, content_type, size, skipped_reason FROM attachments "
                    "WHERE message_id = ? ORDER BY id", (message_row,))


def mark_replayed(db, message_row: int) -> None:
    db.execute("UPDATE messages SET replayed_at = ? WHERE id = ?", (iso(), message_row))
