"""SQL for the transparency report (issue 14.6). Read-only; `start`/`end` are ISO UTC, end exclusive."""

from __future__ import annotations


def notices(db, start: str, end: str) -> list[tuple[str, str, str | None]]:
    """(category, source, reporter) of every report received in the period."""
    return [tuple(r) for r in db.conn.execute(
        "SELECT category, source, reporter FROM reports WHERE received_at >= ? AND received_at < ? "
        "ORDER BY id", (start, end))]


def measures(db, start: str, end: str) -> list[tuple[str, str, int]]:
    """(action, category, count) of sanctions decided in the period (revoked ones too: they were taken)."""
    return [tuple(r) for r in db.conn.execute(
        "SELECT action, category, COUNT(*) FROM sanctions WHERE created_at >= ? AND created_at < ? "
        "GROUP BY action, category ORDER BY action, category", (start, end))]


def decisions(db, start: str, end: str) -> list[tuple[str, float]]:
    """(decision, seconds from the case's first report to its decision) for cases decided in the period.
    The first report is the earliest report joined to the case; a case without one counts from its opening."""
    return [(r[0], r[1]) for r in db.conn.execute(
        "SELECT c.decision, (julianday(c.decided_at) - julianday(COALESCE("
        "  (SELECT MIN(r.received_at) FROM case_reports cr JOIN reports r ON r.id = cr.report_id "
        "   WHERE cr.case_id = c.id), c.opened_at))) * 86400.0 "
        "FROM cases c WHERE c.status = 'decided' AND c.decided_at >= ? AND c.decided_at < ? ORDER BY 2",
        (start, end))]


def appeals_received(db, start: str, end: str) -> int:
    return db.conn.execute("SELECT COUNT(*) FROM appeals WHERE received_at >= ? AND received_at < ?",
                           (start, end)).fetchone()[0]


def appeals_decided(db, start: str, end: str) -> list[tuple[str, float]]:
    """(upheld|overturned, seconds from receipt to decision) for appeals decided in the period."""
    return [(r[0], r[1]) for r in db.conn.execute(
        "SELECT status, (julianday(decided_at) - julianday(received_at)) * 86400.0 FROM appeals "
        "WHERE status IN ('upheld', 'overturned') AND decided_at >= ? AND decided_at < ? ORDER BY 2",
        (start, end))]
