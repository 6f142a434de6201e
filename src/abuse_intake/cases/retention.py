"""Retention (issue 14.5): delete raw mail and attachment contents past their time.

What goes: the raw bytes (raw_messages) and attachment contents
(attachment_contents). What stays: every row, hash, size, text excerpt,
decision, sanction and audit entry. Never purged: open, needs_info, recently
decided or appealed cases, cases with news not yet seen, quarantined mail, and
referral cases until a lead released the hold and `referral_days` (>= 365,
the US REPORT Act's year) passed since the decision.

Work goes in slices, each one short transaction, so a poll or a staff action
waits at most one slice. Space goes back to the file system by
`PRAGMA incremental_vacuum` (bounded pages per step) when the store was made
with auto_vacuum=INCREMENTAL (every store made since this release); an older
store keeps the freed pages for reuse (it stops growing, it does not shrink)
until an operator runs VACUUM offline: a full VACUUM rewrites the whole file
and would block a poll, so it is never run here.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from ..config import RetentionSettings
from ..errors import InvalidActionError, NotFoundError
from ..store import cases as case_store
from ..store import retention as sql
from ..store import users as user_store
from ..store.db import iso, parse_iso, store_errors, transaction, utcnow
from ..store.triage import append_audit

SLICE = 200          # messages per transaction
# Between slices: SQLite's busy handler sleeps up to 100 ms between tries, so a
# poll waiting for the lock gets it only if the next slice does not start at once.
PAUSE = 0.1
VACUUM_PAGES = 2000  # pages per incremental_vacuum step (8 MB at 4 KiB pages)


@dataclass
class PurgeResult:
    dry_run: bool
    messages: int = 0             # messages whose bytes were (or would be) deleted
    raw_deleted: int = 0          # raw_messages rows deleted
    attachments_deleted: int = 0  # attachment_contents rows deleted
    bytes_freed: int = 0          # content bytes deleted (dry run: held by those messages)
    pages_vacuumed: int = 0       # pages given back to the file system
    vacuum: str = "incremental"   # incremental | none (store made without auto_vacuum)
    more: bool = False            # stopped at the limit: more is eligible
    case_refs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class HoldRelease:
    case_ref: str
    released_by: str
    released_at: str
    purgeable_from: str  # the earliest time its evidence may be purged


def _cuts(settings: RetentionSettings, now) -> dict:
    return {"other_cut": iso(now - timedelta(days=settings.other_days)),
            "decided_cut": iso(now - timedelta(days=settings.decided_days)),
            "referral_cut": iso(now - timedelta(days=max(settings.referral_days, settings.decided_days)))}


def purge(db, settings: RetentionSettings, *, dry_run: bool = False, limit: int | None = None,
          slice_size: int = SLICE, vacuum_pages: int | None = None, actor: str = "system", now=None,
          pause: float = PAUSE) -> PurgeResult:
    """Delete the bytes retention no longer allows, `slice_size` messages per
    transaction, at most `limit` messages (None: all). vacuum_pages bounds the
    pages given back (None: all of them, VACUUM_PAGES per step)."""
    now = now or utcnow()
    cuts = _cuts(settings, now)
    mode = sql.auto_vacuum_mode(db)
    result = PurgeResult(dry_run=dry_run, vacuum="incremental" if mode == 2 else "none")
    refs: set[str] = set()
    if dry_run:
        ids = sql.eligible_messages(db, **cuts, limit=limit if limit is not None else -1)
        raw, att = sql.bytes_held(db, ids)
        result.messages, result.bytes_freed = len(ids), raw + att
        result.case_refs = sql.case_refs_of(db, ids)
        return result
    while limit is None or result.messages < limit:
        if result.messages:
            time.sleep(pause)
        size = slice_size if limit is None else min(slice_size, limit - result.messages)
        with transaction(db):
            ids = sql.eligible_messages(db, **cuts, limit=size)
            if not ids:
                break
            slice_refs = sql.case_refs_of(db, ids)
            raw, att, freed = sql.purge_messages(db, ids, iso(now))
            append_audit(db, at=iso(now), actor=actor, action="purge", detail={
                "messages": ids, "case_refs": slice_refs, "raw_deleted": raw, "attachments_deleted": att,
                "bytes_freed": freed})
        refs.update(slice_refs)
        result.messages += len(ids)
        result.raw_deleted += raw
        result.attachments_deleted += att
        result.bytes_freed += freed
        if len(ids) < size:
            break
    else:
        result.more = bool(sql.eligible_messages(db, **cuts, limit=1))
    result.case_refs = sorted(refs)
    if mode == 2:
        result.pages_vacuumed = vacuum(db, vacuum_pages)
    return result


def vacuum(db, pages: int | None = None) -> int:
    """Give free pages back, VACUUM_PAGES per short transaction, at most `pages` (None: all)."""
    done = 0
    while pages is None or done < pages:
        if done:
            time.sleep(PAUSE)
        step = VACUUM_PAGES if pages is None else min(VACUUM_PAGES, pages - done)
        with store_errors(db.conn):
            n = sql.incremental_vacuum(db, step)
        done += n
        if n < step:
            break
    return done


def poll_slice(db, settings: RetentionSettings) -> PurgeResult | None:
    """The bounded purge at the end of a poll: one slice and one vacuum step."""
    if settings.poll_slice <= 0:
        return None
    return purge(db, settings, limit=settings.poll_slice, slice_size=settings.poll_slice,
                 vacuum_pages=VACUUM_PAGES)


def release_hold(db, settings: RetentionSettings, ref: str, *, by: str, note: str, now=None) -> HoldRelease:
    """A lead releases the referral hold of case `ref`: its evidence may then be
    purged once referral_days (and decided_days) passed since the decision."""
    by, note = (by or "").strip(), (note or "").strip()
    if not by:
        raise InvalidActionError("who releases the hold must be named", "by")
    if not note:
        raise InvalidActionError("releasing a referral hold needs a note saying why", "note")
    user = user_store.user_by_name(db, by)
    if user is not None and user["role"] != "lead":
        raise InvalidActionError(f"{by} is a {user['role']}: only a lead may release a referral hold", "by")
    now = now or utcnow()
    with transaction(db):
        case = case_store.case_by_ref(db, ref)
        if case is None:
            raise NotFoundError(f"no case {ref}")
        if not case["referral"]:
            raise InvalidActionError(f"case {case['ref']} is not flagged for referral: it has no hold")
        if case["hold_released_at"] is not None:
            raise InvalidActionError(f"the hold of case {case['ref']} was already released at "
                                     f"{case['hold_released_at']}")
        at = iso(now)
        sql.release_hold(db, case["id"], by=by, note=note, at=at)
        append_audit(db, at=at, actor=by, action="release_hold", case_id=case["id"],
                     account_id=case.get("account_id"), detail={"note": note})
    days = max(settings.referral_days, settings.decided_days)
    start = parse_iso(case["decided_at"]) if case["decided_at"] else now
    return HoldRelease(case["ref"], by, at, iso(max(start + timedelta(days=days), now)))
