"""SQL for `status`: the few numbers monitoring needs, each one indexed query."""

from __future__ import annotations


def last_runs(db) -> dict:
    """The last finished run without an error, and the last one with an error."""
    conn = db.conn
    ok = conn.execute("SELECT finished_at, mailbox FROM poll_runs WHERE finished_at IS NOT NULL AND error IS NULL "
                      "ORDER BY id DESC LIMIT 1").fetchone()
    bad = conn.execute("SELECT finished_at, error FROM poll_runs WHERE error IS NOT NULL "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    last = conn.execute("SELECT started_at, finished_at, error FROM poll_runs ORDER BY id DESC LIMIT 1").fetchone()
    return {"last_ok_at": ok[0] if ok else None, "mailbox": ok[1] if ok else None,
            "last_error_at": bad[0] if bad else None, "last_error": bad[1] if bad else None,
            "last_started_at": last[0] if last else None,
            "last_failed": bool(last and last[2] is not None)}


def outbox(db) -> dict:
    conn = db.conn
    counts = {s: 0 for s in ("pending", "held", "sent", "failed")}
    for status, n in conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"):
        counts[status] = n
    oldest = {}
    for status in ("pending", "held", "failed"):
        row = conn.execute("SELECT MIN(created_at) FROM outbox WHERE status = ?", (status,)).fetchone()
        oldest[status] = row[0]
    return {"counts": counts, "oldest": oldest}


def quarantined(db) -> int:
    return db.conn.execute("SELECT COUNT(*) FROM messages WHERE kind = 'quarantined'").fetchone()[0]


def open_cases(db) -> dict[str, dict]:
    out = {}
    for severity, n, oldest in db.conn.execute(
            "SELECT severity, COUNT(*), MIN(opened_at) FROM cases WHERE status IN ('open', 'needs_info') "
            "GROUP BY severity"):
        out[severity] = {"count": n, "oldest_opened_at": oldest}
    return out


def oldest_unread_appeal(db) -> str | None:
    """None until an appeals table exists (another part of the product adds it)."""
    conn = db.conn
    cols = {r[1] for r in conn.execute("PRAGMA table_info(appeals)")}
    if not {"received_at", "status"} <= cols:
        return None
    row = conn.execute("SELECT MIN(received_at) FROM appeals WHERE status IN ('new', 'unread', 'open')").fetchone()
    return row[0] if row else None


def schema_version(db) -> int:
    return db.conn.execute("PRAGMA user_version").fetchone()[0]


def quick_check(db) -> list[str]:
    """PRAGMA quick_check: ['ok'] for a sound file."""
    return [r[0] for r in db.conn.execute("PRAGMA quick_check").fetchall()]
