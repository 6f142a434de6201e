"""SQL for retention (issue 14.5): which messages' bytes may go, and deleting them.

Functions take `db` and never commit. Rows, hashes, sizes, decisions and the
audit log always stay; only raw_messages and attachment_contents lose rows.
Blobs are content-addressed (sha256): one is deleted only when no row that
keeps its bytes (purged_at IS NULL) still names it.
"""

from __future__ import annotations

# Kinds kept [retention] other_days: nothing was decided on them.
OTHER_KINDS = ("non_report", "robot", "duplicate", "resend")

# A case that keeps its reports' bytes: not decided, decided too recently, news
# not yet looked at, a referral hold not released (or released but under the
# referral minimum), or an open appeal of the case or of one of its sanctions.
_CASE_KEEPS = """(
    c.status != 'decided' OR c.decided_at IS NULL OR c.decided_at >= :decided_cut OR c.new_info != 0
    OR (c.referral != 0 AND (c.hold_released_at IS NULL OR c.decided_at >= :referral_cut))
    OR EXISTS (SELECT 1 FROM appeals a WHERE a.status = 'open' AND (a.case_id = c.id
               OR a.sanction_id IN (SELECT s.id FROM sanctions s WHERE s.case_id = c.id)))
)"""

# A message whose bytes may be deleted now. Quarantined messages are never purged
# (their bytes are what `quarantine replay` needs); a report with no case and a
# reply are kept decided_days, to be safe.
_ELIGIBLE = f"""
m.purged_at IS NULL AND (
    (m.kind IN ({", ".join(f"'{k}'" for k in OTHER_KINDS)}) AND m.received_at < :other_cut
     AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.message_id = m.id))
    OR (m.kind = 'report' AND m.received_at < :decided_cut
        AND EXISTS (SELECT 1 FROM reports r JOIN case_reports cr ON cr.report_id = r.id WHERE r.message_id = m.id)
        AND NOT EXISTS (SELECT 1 FROM reports r JOIN case_reports cr ON cr.report_id = r.id
                        JOIN cases c ON c.id = cr.case_id WHERE r.message_id = m.id AND {_CASE_KEEPS}))
    OR (m.kind IN ('report', 'reply') AND m.received_at < :decided_cut
        AND NOT EXISTS (SELECT 1 FROM reports r JOIN case_reports cr ON cr.report_id = r.id WHERE r.message_id = m.id)
        AND NOT EXISTS (SELECT 1 FROM appeals a WHERE a.message_id = m.id))
    OR (m.kind = 'appeal' AND m.received_at < :decided_cut
        AND NOT EXISTS (SELECT 1 FROM appeals a WHERE a.message_id = m.id AND (a.status = 'open'
            OR EXISTS (SELECT 1 FROM cases c WHERE c.id = a.case_id AND {_CASE_KEEPS}))))
)"""


def eligible_messages(db, *, other_cut: str, decided_cut: str, referral_cut: str, limit: int) -> list[int]:
    """Up to `limit` ids of messages whose bytes may go now, oldest first."""
    params = {"other_cut": other_cut, "decided_cut": decided_cut, "referral_cut": referral_cut, "limit": limit}
    return [r[0] for r in db.conn.execute(
        f"SELECT m.id FROM messages m WHERE {_ELIGIBLE} ORDER BY m.received_at, m.id LIMIT :limit", params)]


def case_refs_of(db, message_ids: list[int]) -> list[str]:
    if not message_ids:
        return []
    marks = ",".join("?" * len(message_ids))
    return [r[0] for r in db.conn.execute(
        f"SELECT DISTINCT c.ref FROM reports r JOIN case_reports cr ON cr.report_id = r.id "
        f"JOIN cases c ON c.id = cr.case_id WHERE r.message_id IN ({marks}) ORDER BY c.ref", message_ids)]


def bytes_held(db, message_ids: list[int]) -> tuple[int, int]:
    """(raw bytes, attachment bytes) these messages still hold (for a dry run: shared ones counted)."""
    if not message_ids:
        return 0, 0
    marks = ",".join("?" * len(message_ids))
    raw = db.conn.execute(f"SELECT IFNULL(SUM(b.size), 0) FROM messages m JOIN raw_messages b "
                          f"ON b.sha256 = m.raw_sha256 WHERE m.id IN ({marks})", message_ids).fetchone()[0]
    att = db.conn.execute(f"SELECT IFNULL(SUM(b.size), 0) FROM (SELECT DISTINCT sha256 FROM attachments "
                          f"WHERE message_id IN ({marks}) AND purged_at IS NULL) a "
                          f"JOIN attachment_contents b ON b.sha256 = a.sha256", message_ids).fetchone()[0]
    return raw, att


def purge_messages(db, message_ids: list[int], at: str) -> tuple[int, int, int]:
    """Mark the messages and their attachments purged and delete the blobs no kept
    row names any more. Returns (raw blobs deleted, attachment blobs deleted, bytes freed)."""
    if not message_ids:
        return 0, 0, 0
    conn = db.conn
    marks = ",".join("?" * len(message_ids))
    raws = [r[0] for r in conn.execute(f"SELECT DISTINCT raw_sha256 FROM messages WHERE id IN ({marks})", message_ids)]
    atts = [r[0] for r in conn.execute(f"SELECT DISTINCT sha256 FROM attachments WHERE message_id IN ({marks}) "
                                       f"AND sha256 IS NOT NULL AND purged_at IS NULL", message_ids)]
    conn.execute(f"UPDATE messages SET purged_at = ? WHERE id IN ({marks})", (at, *message_ids))
    conn.execute(f"UPDATE attachments SET purged_at = ? WHERE message_id IN ({marks}) AND purged_at IS NULL",
                 (at, *message_ids))
    freed = raw_deleted = att_deleted = 0
    for digest in raws:
        row = conn.execute("SELECT size FROM raw_messages WHERE sha256 = ? AND NOT EXISTS (SELECT 1 FROM messages "
                           "WHERE raw_sha256 = ? AND purged_at IS NULL)", (digest, digest)).fetchone()
        if row is not None:
            conn.execute("DELETE FROM raw_messages WHERE sha256 = ?", (digest,))
            freed += row[0]
            raw_deleted += 1
    for digest in atts:
        row = conn.execute("SELECT size FROM attachment_contents WHERE sha256 = ? AND NOT EXISTS (SELECT 1 FROM "
                           "attachments WHERE sha256 = ? AND purged_at IS NULL)", (digest, digest)).fetchone()
        if row is not None:
            conn.execute("DELETE FROM attachment_contents WHERE sha256 = ?", (digest,))
            freed += row[0]
            att_deleted += 1
    return raw_deleted, att_deleted, freed


def auto_vacuum_mode(db) -> int:
    """0 none, 1 full, 2 incremental."""
    return db.conn.execute("PRAGMA auto_vacuum").fetchone()[0]


def free_pages(db) -> int:
    return db.conn.execute("PRAGMA freelist_count").fetchone()[0]


def incremental_vacuum(db, pages: int) -> int:
    """Give up to `pages` free pages back to the file system; returns how many went.
    Its own short write transaction (call it outside one). The pragma frees one
    page per VM step and returns no rows, so execute() (which resets a statement
    without columns after one step) frees one page; executescript steps it to the end."""
    before = free_pages(db)
    db.conn.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
    return before - free_pages(db)


def release_hold(db, case_id: int, *, by: str, note: str, at: str) -> None:
    db.conn.execute("UPDATE cases SET hold_released_at = ?, hold_released_by = ?, hold_note = ?, updated_at = ? "
                    "WHERE id = ?", (at, by, note, at, case_id))
