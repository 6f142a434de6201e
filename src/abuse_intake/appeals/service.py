"""Appeals: record one when it arrives, list and show them, decide one.

Recording runs inside the flow's transaction (flow/process.py's appeal rule),
next to the stored message, and queues the answer: `appeal_ack` for an
appeal that is open, `appeal_late` past `[policy] appeal_days`, and
`appeal_unmatched` when it names no sanctioned account (or decided case) we
know. Deciding is one transaction: an overturn revokes the sanction through
cases.triage's revocation (so enforcement hears of it), or, for a reporter
contesting a "no violation" outcome, reopens the case; the appellant gets
`appeal_upheld` / `appeal_overturned` with the reason. The staff member who
decided the case may not decide its appeal unless forced (recorded).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from ..config import Settings
from ..errors import InvalidActionError, NotFoundError
from ..store import appeals as store
from ..store import outbox as outbox_store
from ..store import triage as triage_store
from ..store.db import iso, now_iso, parse_iso, transaction, utcnow

STATUSES = ("open", "upheld", "overturned", "late", "unmatched")
OUTCOMES = ("uphold", "overturn")


@dataclass(frozen=True)
class Appeal:
    id: int
    account_id: str | None
    sanction_id: int | None
    case_ref: str | None
    appellant: str
    received_at: str
    status: str
    language: str | None
    kind: str  # sanction | outcome
    message_id: int
    decided_by: str | None = None
    decided_at: str | None = None
    decision_note: str | None = None
    forced: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AppealDecision:
    appeal: Appeal
    revoked_sanction: int | None
    reopened_case: str | None
    outbox_id: int | None


class ConflictOfInterest(InvalidActionError):
    """The person who decided the case may not decide its appeal (exit 65, like any refused action)."""


def _appeal(row: dict) -> Appeal:
    return Appeal(id=row["id"], account_id=row["account_id"], sanction_id=row["sanction_id"],
                  case_ref=row["case_ref"], appellant=row["appellant"], received_at=row["received_at"],
                  status=row["status"], language=row["language"], kind=row["kind"], message_id=row["message_id"],
                  decided_by=row["decided_by"], decided_at=row["decided_at"], decision_note=row["decision_note"],
                  forced=bool(row["forced"]))


# -- arrival (inside the flow's transaction) ----------------------------------

def record(db, settings: Settings, renderer, *, message_row: int, why: str, appellant: str | None,
           language: str | None, received_at: str, handle: str | None, case_refs: tuple[str, ...],
           sanction_id: int | None, reporter_name: str, subject: str, reply_to_message_id: str | None,
           withheld: str | None = None) -> tuple[int | None, str, int | None]:
    """Link the appeal to what it contests, store it, queue its answer. Returns (id, status, outbox id);
    a message with no address to answer is stored as a message only (id None)."""
    if not appellant:
        return None, "unmatched", None
    kind = "outcome" if why == "contested_outcome" else "sanction"
    account, sanction, case = handle, None, None
    if sanction_id is not None:
        sanction = store.sanction_row(db, sanction_id)
    if sanction is None and why == "contested_outcome":
        for ref in case_refs:
            c = store.case_row_by_ref(db, ref)
            if c and c["decision"] == "no_violation" and _is_reporter(db, c["id"], appellant):
                case, account = c, c["account_id"]
                break
    if sanction is None and case is None and kind == "sanction":
        for ref in case_refs:
            c = store.case_row_by_ref(db, ref)
            if c is not None:
                sanction = store.latest_sanction_of_case(db, c["id"])
                if sanction is not None:
                    break
    if sanction is None and case is None and handle and kind == "sanction":
        sanction = store.latest_sanction_of(db, handle)
    if sanction is not None:
        account = sanction.get("account_id") or account
        case = store.case_row(db, sanction["case_id"])
    if (kind == "sanction" and sanction is None) or (kind == "outcome" and case is None):
        status = "unmatched"
    else:
        since = parse_iso(sanction["starts_at"] if sanction is not None else case["decided_at"])
        late = parse_iso(received_at) > since + timedelta(days=settings.policy.appeal_days)
        status = "late" if late else "open"
    appeal_id = store.insert_appeal(
        db, message_id=message_row, kind=kind, account_id=account, sanction_id=sanction["id"] if sanction else None,
        case_id=case["id"] if case else None, appellant=appellant, language=language, received_at=received_at,
        status=status)
    triage_store.append_audit(db, at=now_iso(), actor="system", action="appeal_received",
                              case_id=case["id"] if case else None, account_id=account,
                              detail={"appeal_id": appeal_id, "kind": kind, "status": status, "why": why,
                                      "sanction_id": sanction["id"] if sanction else None,
                                      "message_id": message_row})
    template = {"open": "appeal_ack", "late": "appeal_late", "unmatched": "appeal_unmatched"}[status]
    outbox_id = _queue(db, settings, renderer, kind=template, appeal_id=appeal_id, rcpt=appellant,
                       language=language, account_id=account, case_ref=case["ref"] if case else None,
                       appeal_kind=kind, reporter_name=reporter_name, subject=subject,
                       parent=reply_to_message_id, note=None, withheld=withheld)
    return appeal_id, status, outbox_id


def _is_reporter(db, case_id: int, address: str) -> bool:
    from ..store import cases as case_store
    return case_store.is_case_reporter(db, case_id, address)


def _queue(db, settings: Settings, renderer, *, kind: str, appeal_id: int, rcpt: str, language: str | None,
           account_id: str | None, case_ref: str | None, appeal_kind: str, reporter_name: str, subject: str,
           parent: str | None, note: str | None, withheld: str | None = None) -> int | None:
    from ..notify.headers import clean_message_id, plain_address
    address = plain_address(rcpt)
    if address is None or address in settings.own_addresses:
        return None
    lang = renderer.language(language)
    rendered = renderer.render(kind, lang, reporter_name=reporter_name or "", subject=subject or "",
                               case_refs=[case_ref] if case_ref else [], appeal_id=appeal_id,
                               account_id=account_id, case_ref=case_ref, appeal_kind=appeal_kind, note=note)
    parent = clean_message_id(parent)
    return outbox_store.insert_email(
        db, kind=kind, recipient=address, language=lang, subject=rendered.subject, body_text=rendered.text,
        body_html=rendered.html, message_id=f"{secrets.token_hex(16)}@{settings.message_id_domain}",
        in_reply_to=parent, refs=[parent] if parent else [], case_refs=[case_ref] if case_ref else [],
        dedupe_key=f"{kind}:appeal:{appeal_id}:{address}", source_message=None, created_at=now_iso(),
        # Backscatter (a forged sender): recorded, never sent (see flow/process.py).
        withheld=f"withheld: {withheld}; no automatic reply to this sender" if withheld else None)


# -- staff ------------------------------------------------------------------

def list_appeals(db, status: str = "open") -> list[Appeal]:
    if status != "all" and status not in STATUSES:
        raise InvalidActionError(f"unknown appeal status {status!r} (use {', '.join(STATUSES)} or all)", "status")
    return [_appeal(r) for r in store.list_appeals(db, None if status == "all" else status)]


def show(db, appeal_id: int) -> dict:
    """The appeal, the appellant's words and what it contests (for `appeals show` and the web page)."""
    row = store.appeal_by_id(db, appeal_id)
    if row is None:
        raise NotFoundError(f"no appeal {appeal_id}")
    msg = store.message_of(db, row["message_id"])
    sanction = triage_store.sanction_by_id(db, row["sanction_id"]) if row["sanction_id"] else None
    case = store.case_row(db, row["case_id"]) if row["case_id"] else None
    return {**_appeal(row).as_dict(), "subject": msg.get("subject"), "text": msg.get("text"),
            "force_note": row["force_note"],
            "sanction": None if sanction is None else {k: sanction[k] for k in (
                "id", "action", "functions", "starts_at", "until", "category", "decided_by", "revoked")},
            "case": None if case is None else {k: case[k] for k in ("ref", "status", "decision", "decided_by")}}


def deciders_of(db, row: dict) -> set[str]:
    """Who decided what the appeal contests: the sanction's and the case's decider."""
    names = set()
    if row["sanction_id"]:
        s = store.sanction_row(db, row["sanction_id"])
        if s and s["decided_by"]:
            names.add(s["decided_by"])
    if row["case_id"]:
        c = store.case_row(db, row["case_id"])
        if c and c["decided_by"]:
            names.add(c["decided_by"])
    return {_fold(n) for n in names}


def _fold(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


def decide(db, settings: Settings, appeal_id: int, *, outcome: str, by: str, note: str, force: bool = False,
           now: datetime | None = None, renderer=None) -> AppealDecision:
    """Uphold or overturn an open appeal. `force` lets the case's own decider do it (recorded)."""
    from ..cases import lifecycle, triage
    by = triage.staff_name(by, "deciding an appeal needs a staff name", "by")
    note = triage.staff_text(note, "the reason for the decision", "note")
    if outcome not in OUTCOMES:
        raise InvalidActionError(f"unknown appeal outcome {outcome!r} (use {' or '.join(OUTCOMES)})", "outcome")
    renderer = renderer or triage.renderer_for(settings)
    at = iso((now or utcnow()).replace(microsecond=0))
    row = store.appeal_by_id(db, appeal_id)
    if row is None:
        raise NotFoundError(f"no appeal {appeal_id}")
    _check_decidable(db, row, by, force)
    reopened = None
    if outcome == "overturn" and row["kind"] == "outcome":
        # The reporter was right to contest: the case goes back to the queue (its own transaction).
        reopened = lifecycle.reopen(db, settings, row["case_ref"], by=by,
                                    note=f"appeal {appeal_id} overturned: {note}", now=now).case_ref
    with transaction(db):
        row = store.appeal_by_id(db, appeal_id)  # again, inside the write lock
        _check_decidable(db, row, by, force)
        revoked = None
        if outcome == "overturn" and row["kind"] == "sanction":
            s = store.sanction_row(db, row["sanction_id"])
            if s is not None and not s["revoked"]:
                triage.revoke_in_transaction(db, settings, s["id"], by=by, note=f"appeal {appeal_id}: {note}",
                                             at=at, detail={"appeal_id": appeal_id})
                revoked = s["id"]
        status = "overturned" if outcome == "overturn" else "upheld"
        forced = force and _fold(by) in deciders_of(db, row)
        store.record_appeal_decision(db, appeal_id, status=status, by=by, at=at, note=note, forced=forced,
                                     force_note=note if forced else None)
        hours = (parse_iso(at) - parse_iso(row["received_at"])).total_seconds() / 3600
        triage_store.append_audit(db, at=at, actor=by, action="decide_appeal", case_id=row["case_id"],
                                  account_id=row["account_id"],
                                  detail={"appeal_id": appeal_id, "outcome": status, "note": note, "forced": forced,
                                          "revoked_sanction": revoked, "reopened_case": reopened,
                                          "hours_to_decision": round(hours, 1),
                                          "before": {"status": "open"}, "after": {"status": status}})
        msg = _source(db, row["message_id"])
        outbox_id = _queue(db, settings, renderer, kind=f"appeal_{status}", appeal_id=appeal_id,
                           rcpt=row["appellant"], language=row["language"], account_id=row["account_id"],
                           case_ref=row["case_ref"], appeal_kind=row["kind"], reporter_name=msg.get("from_name") or "",
                           subject=msg.get("subject") or "", parent=msg.get("message_id"), note=note)
        final = _appeal(store.appeal_by_id(db, appeal_id))
    return AppealDecision(final, revoked, reopened, outbox_id)


def _source(db, message_row: int) -> dict:
    return store.message_of(db, message_row)


def _check_decidable(db, row: dict, by: str, force: bool) -> None:
    if row["status"] != "open":
        raise InvalidActionError(f"appeal {row['id']} is {row['status']}"
                                 + (f" (by {row['decided_by']} at {row['decided_at']})" if row["decided_by"] else "")
                                 + ": only an open appeal can be decided", "appeal")
    if _fold(by) in deciders_of(db, row) and not force:
        raise ConflictOfInterest(
            f"{by} decided the case this appeal contests; someone else must decide the appeal "
            "(a lead may override with force and a note)", "by")


def counts(db) -> dict[str, int]:
    return store.count_by_status(db)
