"""SQL behind the read views (cases/views.py): the listings, which page and
stream, and where a paging cursor stands. Read-only: nothing here writes.

Each listing is one SELECT read in the order of an index (the queue's,
messages(received_at), messages(kind, received_at), the outbox's rowid), so
a page costs about what it returns, not what the store holds, and nothing
is sorted in memory (tests/test_views.py checks the query plans). Rows come
out of an open cursor a few hundred at a time: a listing is never held whole.
"""

from __future__ import annotations

import json
from typing import Iterator

from .rows import iter_rows, iter_tuples


def _page(sql: str, params: list, limit: int | None) -> tuple[str, list]:
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return sql, params


# -- the case queue ------------------------------------------------------------

QUEUE_ORDER = "ORDER BY severity_rank DESC, reporters DESC, opened_at, id"
QUEUE_COLUMNS = ("ref", "status", "account_id", "category", "severity", "reporters", "reports", "opened_at",
                 "updated_at", "assignee", "flag", "new_info")


def queue_position(db, ref: str) -> tuple[int, int, str, int] | None:
    """Where a case stands in the queue order (for --after REF), or None if no such case."""
    row = db.conn.execute("SELECT severity_rank, reporters, opened_at, id FROM cases WHERE ref = ?",
                          (ref.strip().upper(),)).fetchone()
    return None if row is None else tuple(row)


def queue(db, *, status: str = "open", category: str | None = None, severity: str | None = None,
          account_id: str | None = None, assignee: str | None = None, since: str | None = None,
          after: tuple[int, int, str, int] | None = None, limit: int | None = None,
          new_info: bool = False) -> Iterator[tuple]:
    """The triage queue: most severe first, then most reporters, then oldest (then id).
    Rows are tuples of QUEUE_COLUMNS: a queue of 10,000 open cases is printed whole.
    status "waiting" is open and needs_info; `new_info` keeps only decided cases
    with news since their decision (whatever the status)."""
    where, params = [], []
    if new_info:
        where.append("new_info = 1")
    elif status == "waiting":
        where.append("status IN ('open', 'needs_info')")
    elif status != "all":
        where.append("status = ?")
        params.append(status)
    for column, value in (("category", category), ("severity", severity), ("account_id", account_id),
                          ("assignee", assignee)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if since:
        where.append("opened_at >= ?")
        params.append(since)
    if after is not None:
        # "after" in the queue order, spelled out: the columns do not all sort the
        # same way, so one row-value comparison cannot say it.
        rank, reporters, opened_at, case_id = after
        where.append("(severity_rank < ? OR (severity_rank = ? AND (reporters < ? OR (reporters = ? AND "
                     "(opened_at > ? OR (opened_at = ? AND id > ?))))))")
        params += [rank, rank, reporters, reporters, opened_at, opened_at, case_id]
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql, params = _page(f"SELECT {', '.join(QUEUE_COLUMNS)} FROM cases {clause} {QUEUE_ORDER}", params, limit)
    return iter_tuples(db, sql, params)


# -- messages ------------------------------------------------------------------

def message_position(db, message_row: int) -> tuple[str, int] | None:
    """Where a message stands in the listing order (for --after ID), or None."""
    row = db.conn.execute("SELECT received_at, id FROM messages WHERE id = ?", (message_row,)).fetchone()
    return None if row is None else tuple(row)


def messages(db, *, kind: str | None = None, since: str | None = None, after: tuple[str, int] | None = None,
             limit: int | None = None) -> Iterator[dict]:
    """Stored messages, oldest first (received_at, then id), with the refs of their cases."""
    where, params = [], []
    if kind:
        where.append("m.kind = ?")
        params.append(kind)
    if since:
        where.append("m.received_at >= ?")
        params.append(since)
    if after is not None:
        where.append("(m.received_at, m.id) > (?, ?)")
        params += list(after)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql, params = _page(
        "SELECT m.id, m.message_id, m.reporter, m.subject, m.kind, m.reason, m.received_at, "
        "(SELECT json_group_array(c.ref) FROM reports r JOIN case_reports cr ON cr.report_id = r.id "
        " JOIN cases c ON c.id = cr.case_id WHERE r.message_id = m.id) AS case_refs "
        f"FROM messages m {clause} ORDER BY m.received_at, m.id", params, limit)
    for row in iter_rows(db, sql, params):
        row["case_refs"] = sorted(set(json.loads(row["case_refs"] or "[]")))
        yield row


# -- the outbox ----------------------------------------------------------------

OUTBOX_COLUMNS = ("id", "kind", "recipient", "subject", "language", "case_refs", "status", "attempts",
                  "message_id", "created_at", "sent_at", "next_attempt_at", "last_error")


def outbox(db, *, status: str = "all", since: str | None = None, after: int | None = None,
           limit: int | None = None) -> Iterator[dict]:
    """Outbox emails in the order they were queued (id)."""
    where, params = [], []
    if status != "all":
        where.append("status = ?")
        params.append(status)
    if since:
        where.append("created_at >= ?")
        params.append(since)
    if after is not None:
        where.append("id > ?")
        params.append(after)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql, params = _page(f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox {clause} ORDER BY id", params, limit)
    for row in iter_rows(db, sql, params):
        row["case_refs"] = json.loads(row["case_refs"]) if row["case_refs"] else []
        yield row
