"""SQL for the outbox: queued emails, which cases they are about, and every
delivery attempt. Functions never commit; the caller owns the transaction."""

from __future__ import annotations

import json
from typing import Iterable

from .rows import all_rows, json_list, one_row, placeholders

STATUSES = ("pending", "held", "sent", "failed", "cancelled", "withheld")
WAITING = ("pending", "held")  # may still be cancelled
LIST_COLUMNS = ("id", "kind", "recipient", "subject", "language", "case_refs", "status", "attempts",
                "message_id", "created_at", "sent_at", "next_attempt_at", "last_error")


# -- queueing ----------------------------------------------------------------

def insert_email(db, *, kind: str, recipient: str, language: str, subject: str, body_text: str,
                 body_html: str, message_id: str, in_reply_to: str | None, refs: list[str],
                 case_refs: list[str], dedupe_key: str, source_message: int | None,
                 created_at: str, not_before: str | None = None, withheld: str | None = None) -> int | None:
    """Queue one email as pending (not sent before `not_before`, if given), or
    as withheld with that reason, never to be sent; None if its dedupe_key is
    already queued."""
    cur = db.conn.execute(
        "INSERT INTO outbox (kind, recipient, language, subject, body_text, body_html, message_id, "
        "in_reply_to, refs, case_refs, dedupe_key, source_message, status, last_error, created_at, "
        "next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(dedupe_key) DO NOTHING",
        (kind, recipient, language, subject, body_text, body_html, message_id, in_reply_to,
         json_list(refs), json_list(case_refs), dedupe_key, source_message,
         "withheld" if withheld else "pending", withheld, created_at, None if withheld else not_before))
    return cur.lastrowid if cur.rowcount == 1 else None


def link_cases(db, outbox_id: int, case_ids: list[int], kind: str, recipient: str) -> None:
    db.conn.executemany(
        "INSERT INTO outbox_cases (outbox_id, case_id, kind, recipient) VALUES (?,?,?,?)",
        [(outbox_id, cid, kind, recipient) for cid in case_ids])


def retire_links(db, case_id: int, recipient: str, kind: str) -> None:
    """Free (kind, case, recipient) for one more email of that kind (a second correction)."""
    db.execute("UPDATE outbox_cases SET kind = kind || ':' || outbox_id WHERE case_id = ? AND recipient = ? "
               "AND kind = ?", (case_id, recipient, kind))


def cases_already_told(db, kinds: Iterable[str], recipient: str, case_ids: list[int]) -> set[int]:
    """Of case_ids, those for which an email of one of `kinds` went (or waits) to recipient."""
    kinds = list(kinds)
    if not case_ids or not kinds:
        return set()
    rows = db.conn.execute(
        f"SELECT case_id FROM outbox_cases WHERE recipient = ? AND kind IN ({placeholders(kinds)}) "
        f"AND case_id IN ({placeholders(case_ids)})", (recipient, *kinds, *case_ids)).fetchall()
    return {r[0] for r in rows}


def withheld_reason_for(db, case_id: int, recipient: str) -> str | None:
    """Why an earlier email about this case to recipient was withheld, if one was."""
    row = db.execute(
        "SELECT o.last_error FROM outbox o JOIN outbox_cases oc ON oc.outbox_id = o.id "
        "WHERE oc.case_id = ? AND oc.recipient = ? AND o.status = 'withheld' ORDER BY o.id LIMIT 1",
        (case_id, recipient)).fetchone()
    return row[0] if row else None


def our_message_ids_for(db, case_id: int, recipient: str) -> list[str]:
    """Message-IDs of emails about this case already queued to recipient, oldest first."""
    rows = db.execute(
        "SELECT o.message_id FROM outbox o JOIN outbox_cases oc ON oc.outbox_id = o.id "
        "WHERE oc.case_id = ? AND oc.recipient = ? ORDER BY o.id", (case_id, recipient)).fetchall()
    return [r[0] for r in rows]


def cancel_email(db, outbox_id: int, reason: str) -> bool:
    """Cancel a pending or held email; False if it is not waiting any more.

    Its dedupe key and its (kind, case, recipient) links get a ':cancelled'
    mark, so the same email may be queued again later (after a reopened case
    is decided anew) while the cancelled row stays listed with its case."""
    cur = db.execute(
        "UPDATE outbox SET status = 'cancelled', next_attempt_at = NULL, last_error = ?, "
        "dedupe_key = dedupe_key || ':cancelled:' || id WHERE id = ? AND status IN ('pending', 'held')",
        (reason, outbox_id))
    if cur.rowcount != 1:
        return False
    db.execute("UPDATE outbox_cases SET kind = kind || ':cancelled:' || outbox_id WHERE outbox_id = ?",
               (outbox_id,))
    return True


def waiting_of_case(db, case_id: int, kinds: Iterable[str]) -> list[int]:
    """Ids of emails of `kinds` about the case still pending or held."""
    kinds = list(kinds)
    rows = db.execute(
        "SELECT o.id FROM outbox o JOIN outbox_cases oc ON oc.outbox_id = o.id WHERE oc.case_id = ? "
        f"AND o.status IN ('pending', 'held') AND o.kind IN ({placeholders(kinds)}) ORDER BY o.id",
        (case_id, *kinds)).fetchall()
    return [r[0] for r in rows]


def sent_of_case(db, case_id: int, kind: str) -> list[str]:
    """Recipients an email of `kind` about the case was delivered to."""
    rows = db.execute(
        "SELECT DISTINCT o.recipient FROM outbox o JOIN outbox_cases oc ON oc.outbox_id = o.id "
        "WHERE oc.case_id = ? AND o.kind = ? AND o.status = 'sent' ORDER BY o.recipient",
        (case_id, kind)).fetchall()
    return [r[0] for r in rows]


def emails_of_case(db, case_id: int) -> list[dict]:
    cols = ", ".join(f"o.{c}" for c in LIST_COLUMNS)
    return [_decode(r) for r in all_rows(
        db, f"SELECT {cols} FROM outbox o JOIN outbox_cases oc ON oc.outbox_id = o.id "
            "WHERE oc.case_id = ? ORDER BY o.id", (case_id,))]


# -- what an outcome email needs ---------------------------------------------

def case_for_outcome(db, case_id: int) -> dict | None:
    return one_row(db, "SELECT id, ref, account_id, status, category, decision, decision_category, "
                    "decision_reason FROM cases WHERE id = ?", (case_id,))


def reporters_for_outcome(db, case_id: int) -> list[dict]:
    """Each reporter of the case, with the name and subject of their first message."""
    return all_rows(
        db,
        "SELECT r.reporter, r.language, r.message_id, "
        " (SELECT m.from_name FROM messages m WHERE m.message_id = r.message_id "
        "   AND m.reporter = r.reporter ORDER BY m.id LIMIT 1) AS from_name, "
        " (SELECT m.subject FROM messages m WHERE m.message_id = r.message_id "
        "   AND m.reporter = r.reporter ORDER BY m.id LIMIT 1) AS subject "
        "FROM case_reporters r WHERE r.case_id = ? ORDER BY r.added_at, r.reporter",
        (case_id,))


def sanction_for_case(db, case_id: int) -> dict | None:
    """The latest sanction of the case that was not revoked."""
    row = one_row(db, "SELECT action, functions, until FROM sanctions WHERE case_id = ? AND revoked = 0 "
                   "ORDER BY id DESC LIMIT 1", (case_id,))
    if row:
        row["functions"] = json.loads(row["functions"] or "[]")
    return row


# -- delivery ----------------------------------------------------------------

def release_held(db, now: str) -> int:
    """Held rows whose wait is over become pending again."""
    cur = db.execute("UPDATE outbox SET status = 'pending' WHERE status = 'held' AND next_attempt_at <= ?",
                     (now,))
    return cur.rowcount


def claim_next(db, *, owner: str, now: str, lease_until: str, after_id: int = 0,
               due_by: str | None = None) -> dict | None:
    """Claim the oldest due row after `after_id` that no live lease holds, in one
    statement (the caller's write transaction makes it atomic across processes).
    A lease that ran out is a crashed claimant's: its row is taken over.
    `due_by` (default `now`): rows whose next attempt is due by then (`send --now`)."""
    cur = db.conn.execute(
        "UPDATE outbox SET claimed_by = ?, lease_until = ? WHERE id = ("
        " SELECT id FROM outbox WHERE status = 'pending' AND id > ? "
        " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
        " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY id LIMIT 1) RETURNING *",
        (owner, lease_until, after_id, due_by or now, now))
    rows = cur.fetchall()
    if not rows:
        return None
    return _decode(dict(zip([d[0] for d in cur.description], rows[0])))


def claim_batch(db, *, owner: str, now: str, lease_until: str, after_id: int = 0,
                due_by: str | None = None, limit: int = 1) -> list[dict]:
    """claim_next for up to `limit` rows at once, in one statement (one commit
    for the batch instead of one per row); the rows come back oldest first.
    The same lease semantics: no row a live lease holds is taken."""
    cur = db.conn.execute(
        "UPDATE outbox SET claimed_by = ?, lease_until = ? WHERE id IN ("
        " SELECT id FROM outbox WHERE status = 'pending' AND id > ? "
        " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
        " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY id LIMIT ?) RETURNING *",
        (owner, lease_until, after_id, due_by or now, now, limit))
    names = [d[0] for d in cur.description]
    rows = [_decode(dict(zip(names, r))) for r in cur.fetchall()]
    return sorted(rows, key=lambda r: r["id"])  # RETURNING's order is not defined


def renew_claims(db, owner: str, ids: list[int], lease_until: str) -> set[int]:
    """Extend `owner`'s lease on these rows (a fresh connection is about to carry
    them); the ids still held, which are the only ones it may send."""
    if not ids:
        return set()
    return {r[0] for r in db.conn.execute(
        f"UPDATE outbox SET lease_until = ? WHERE claimed_by = ? AND status = 'pending' "
        f"AND id IN ({placeholders(ids)}) RETURNING id", (lease_until, owner, *ids)).fetchall()}


def live_claimants(db, now: str) -> list[str]:
    """Holders of leases not yet run out."""
    return [r[0] for r in db.conn.execute(
        "SELECT DISTINCT claimed_by FROM outbox WHERE claimed_by IS NOT NULL AND lease_until > ?", (now,))]


def note_relay_down(db, due_by: str, error: str) -> int:
    """The relay was unreachable: say why on the rows that wait for it (nothing else
    changes: no attempt counted, no backoff); how many wait."""
    return db.conn.execute(
        "UPDATE outbox SET last_error = ? WHERE status = 'pending' AND claimed_by IS NULL "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= ?)", (error, due_by)).rowcount


def release_claims(db, owner: str) -> int:
    """Give back rows still claimed by `owner` (a run that stopped early)."""
    return db.conn.execute("UPDATE outbox SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = ?",
                           (owner,)).rowcount


def withhold(db, outbox_id: int, reason: str) -> None:
    """Never send this row (e.g. backscatter); keep it, with the reason, for staff to see."""
    db.execute("UPDATE outbox SET status = 'withheld', last_error = ?, next_attempt_at = NULL, "
               "claimed_by = NULL, lease_until = NULL WHERE id = ? AND status IN ('pending', 'held')",
               (reason, outbox_id))


def due(db, now: str, limit: int | None = None) -> list[dict]:
    sql = ("SELECT * FROM outbox WHERE status = 'pending' "
           "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id")
    params: tuple = (now,)
    if limit is not None:
        sql += " LIMIT ?"
        params += (limit,)
    return [_decode(r) for r in all_rows(db, sql, params)]


def sent_to_since(db, recipient: str, since: str) -> tuple[int, str | None]:
    """How many emails went to recipient since `since`, and when the oldest of them went."""
    count, oldest = db.execute(
        "SELECT COUNT(*), MIN(sent_at) FROM outbox WHERE recipient = ? AND status = 'sent' AND sent_at > ?",
        (recipient, since)).fetchone()
    return count, oldest


def mark_sent(db, outbox_id: int, at: str) -> None:
    db.execute("UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
               "next_attempt_at = NULL, last_error = NULL, claimed_by = NULL, lease_until = NULL WHERE id = ?",
               (at, outbox_id))


def mark_temporary(db, outbox_id: int, error: str, next_attempt_at: str) -> None:
    db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
               "claimed_by = NULL, lease_until = NULL WHERE id = ?", (error, next_attempt_at, outbox_id))


def mark_failed(db, outbox_id: int, error: str, attempted: bool = True) -> None:
    db.execute("UPDATE outbox SET status = 'failed', attempts = attempts + ?, last_error = ?, "
               "next_attempt_at = NULL, claimed_by = NULL, lease_until = NULL WHERE id = ?",
               (1 if attempted else 0, error, outbox_id))


def mark_held(db, outbox_id: int, until: str, reason: str) -> None:
    db.execute("UPDATE outbox SET status = 'held', next_attempt_at = ?, last_error = ?, "
               "claimed_by = NULL, lease_until = NULL WHERE id = ?", (until, reason, outbox_id))


def add_attempt(db, outbox_id: int, at: str, result: str, detail: str | None) -> None:
    db.execute("INSERT INTO delivery_attempts (outbox_id, at, result, detail) VALUES (?,?,?,?)",
               (outbox_id, at, result, detail))


def attempts_of(db, outbox_id: int) -> list[dict]:
    return all_rows(db, "SELECT at, result, detail FROM delivery_attempts WHERE outbox_id = ? ORDER BY id",
                (outbox_id,))


# -- reading -----------------------------------------------------------------

def get(db, outbox_id: int) -> dict | None:
    row = one_row(db, "SELECT * FROM outbox WHERE id = ?", (outbox_id,))
    return _decode(row) if row else None


def list_emails(db, status: str = "all", limit: int | None = None) -> list[dict]:
    cols = ", ".join(LIST_COLUMNS)
    sql, params = f"SELECT {cols} FROM outbox", []
    if status != "all":
        sql += " WHERE status = ?"
        params.append(status)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [_decode(r) for r in all_rows(db, sql, params)]


def count_by_status(db) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall():
        counts[status] = n
    return counts


def _decode(row: dict) -> dict:
    for key in ("refs", "case_refs"):
        if key in row:
            row[key] = json.loads(row[key]) if row[key] else []
    return row
