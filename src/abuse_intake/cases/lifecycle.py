"""The case lifecycle beyond one decision: undo, open by hand, bulk decide,
take and give back a case, news after a decision, and control of the emails.

One library for every front door (the CLI, the web console): each action is
one transaction that appends to the audit log who did it, when, the state
before and after, and the note. Errors are NotFoundError / InvalidActionError
in domain words. Running the enforcement command after a revocation is the
caller's job (after the commit), as for `decide`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from typing import Iterable

from ..config import SEVERITIES, Settings
from ..errors import IntakeError, InvalidActionError, NotFoundError
from ..store import cases as case_store
from ..store import messages as msg_store
from ..store import outbox as outbox_store
from ..store import triage as store
from ..store.db import iso, transaction, utcnow
from . import triage
from .triage import Decision, account_id_of, check_open, renderer_for, require_case, staff_name, staff_text

# Outcome kinds a reopened case cancels while they wait (see notify.outbox).
OUTCOME_KINDS = ("outcome_actioned", "outcome_no_violation", "outcome_closed", "outcome_corrected")
MAX_BULK = 1000


@dataclass(frozen=True)
class Reopened:
    case_ref: str
    status: str  # open | needs_info
    previous_decision: str | None
    revoked_sanctions: tuple[int, ...]
    cancelled_emails: tuple[int, ...]
    merged_from: str | None  # the account's newer open case folded into this one


@dataclass(frozen=True)
class OpenedCase:
    case_ref: str
    account_id: str
    category: str
    severity: str
    report_id: int | None  # the stored message's report, with --from-message
    reporter: str | None


@dataclass(frozen=True)
class BulkItem:
    ref: str
    ok: bool
    decision: Decision | None
    error: str | None


@dataclass(frozen=True)
class Assignment:
    case_ref: str
    assignee: str | None
    previous: str | None
    forced: bool = False  # a lead took it from someone else


@dataclass(frozen=True)
class EmailPreview:
    outbox_id: int
    status: str
    kind: str
    headers: tuple[tuple[str, str], ...]  # as written on the wire (encoded, folded)
    text: str  # the plain-text body, decoded
    raw: bytes  # the whole message as it would be sent now


# -- reopen -------------------------------------------------------------------

def reopen(db, settings: Settings, ref: str, *, by: str, note: str, now: datetime | None = None) -> Reopened:
    """Undo a decision: the case is open again with its reports; the sanction it
    created is revoked (enforcement hears of it); outcome emails still waiting
    are cancelled. When it is decided again, reporters already told that action
    was taken get one `outcome_corrected` if the new decision differs."""
    by = staff_name(by, "reopening a case needs a staff name", "by")
    note = staff_text(note, "the reason for reopening", "note")
    at = iso(now)
    with transaction(db):
        case = require_case(db, ref)
        if case["status"] == "merged":
            raise InvalidActionError(f"cannot reopen {case['ref']}: it was merged into "
                                     f"{store.merged_into(db, case['id']) or 'another case'}; use that case")
        if case["status"] != "decided":
            raise InvalidActionError(f"cannot reopen {case['ref']}: it is {case['status']}, not decided")
        merged_from = None
        if case["account_id"]:
            newer = case_store.open_case_for(db, case["account_id"])
            if newer is not None:
                # One open case per account: the newer one's reports join this one.
                case_store.move_reports(db, newer["id"], case["id"], at)
                merged_from = newer["ref"]
                store.append_audit(db, at=at, actor=by, action="merge", case_id=newer["id"],
                                   account_id=case["account_id"],
                                   detail={"merged_into": case["ref"], "why": "the decided case was reopened",
                                           "before": {"status": "open"}, "after": {"status": "merged"}})
        revoked = []
        for s in store.sanctions_of_case(db, case["id"]):
            if s["revoked"]:
                continue
            store.revoke_sanction(db, s["id"], by=by, note=f"case {case['ref']} reopened: {note}", at=at,
                                  requeue_enforcement=bool(settings.enforcement_command))
            store.append_audit(db, at=at, actor=by, action="revoke_sanction", case_id=case["id"],
                               account_id=s["account_id"],
                               detail={"sanction_id": s["id"], "action": s["action"], "note": note,
                                       "why": "case reopened", "before": {"revoked": False},
                                       "after": {"revoked": True}})
            revoked.append(s["id"])
        cancelled = []
        for outbox_id in outbox_store.waiting_of_case(db, case["id"], OUTCOME_KINDS):
            row = outbox_store.get(db, outbox_id)
            if outbox_store.cancel_email(db, outbox_id, f"cancelled by {by}: case {case['ref']} reopened"):
                store.append_audit(db, at=at, actor=by, action="cancel_email", case_id=case["id"],
                                   account_id=case["account_id"],
                                   detail={"outbox_id": outbox_id, "kind": row["kind"], "note": note,
                                           "why": "case reopened", "before": {"status": row["status"]},
                                           "after": {"status": "cancelled"}})
                cancelled.append(outbox_id)
        store.reopen_case(db, case["id"], at)
        status = "open" if case["account_id"] else "needs_info"
        store.append_audit(db, at=at, actor=by, action="reopen", case_id=case["id"], account_id=case["account_id"],
                           detail={"note": note, "revoked_sanctions": revoked, "cancelled_emails": cancelled,
                                   "merged_from": merged_from,
                                   "before": {"status": "decided", "decision": case["decision"],
                                              "decision_category": case["decision_category"],
                                              "decided_by": case["decided_by"], "decided_at": case["decided_at"]},
                                   "after": {"status": status}})
    return Reopened(case_ref=case["ref"], status=status, previous_decision=case["decision"],
                    revoked_sanctions=tuple(revoked), cancelled_emails=tuple(cancelled), merged_from=merged_from)


# -- open by hand -------------------------------------------------------------

def open_case(db, settings: Settings, *, account_id: str, category: str, by: str, note: str,
              severity: str | None = None, from_message: int | None = None,
              now: datetime | None = None) -> OpenedCase:
    """A case staff open themselves: their own finding, or an account named in a
    reply. With `from_message` (a stored message's row) that message becomes its
    report, and its sender a reporter who gets the outcome."""
    by = staff_name(by, "opening a case needs a staff name", "by")
    note = staff_text(note, "the note on what was found", "note")
    account = account_id_of(settings, account_id)
    if category not in settings.categories:
        raise InvalidActionError(f"unknown category {category!r} (known: {', '.join(settings.categories)})")
    severity = severity or settings.severity_of(category)
    if severity not in SEVERITIES:
        raise InvalidActionError(f"unknown severity {severity!r} (use {', '.join(SEVERITIES)})")
    at = iso(now)
    with transaction(db):
        existing = case_store.open_case_for(db, account)
        if existing is not None:
            raise InvalidActionError(f"account {account} already has an open case, {existing['ref']}: "
                                     "add to that one", "account_id")
        report_id, reporter = None, None
        if from_message is None:
            case = case_store.create_case(db, prefix=settings.case_prefix, account_id=account, category=category,
                                          severity=severity, at=at)
        else:
            msg = msg_store.get_message(db, from_message)
            if msg is None:
                raise NotFoundError(f"no stored message {from_message}")
            if msg["kind"] in ("duplicate", "quarantined", "robot"):
                raise InvalidActionError(f"message {from_message} is a {msg['kind']} message; use the original")
            report = case_store.report_of_message(db, from_message)
            reporter, language = msg["reporter"], msg["language"]
            if report is None:
                report_id = msg_store.insert_report(
                    db, message_row=from_message, reporter=reporter, received_at=msg["received_at"],
                    language=language, category=category, severity=severity, account_ids=[account],
                    matched_words=[], fingerprint=" ".join((msg["text"] or "").lower().split())[:2000],
                    source="staff")
            else:
                report_id = report["id"]
            case = case_store.open_case_with_report(
                db, prefix=settings.case_prefix, account_id=account, report_id=report_id, reporter=reporter,
                language=language, reporter_message_id=msg["message_id"], category=category, severity=severity,
                at=at)
        store.append_audit(db, at=at, actor=by, action="open_case", case_id=case["id"], account_id=account,
                           detail={"note": note, "category": category, "severity": severity,
                                   "from_message": from_message, "before": None,
                                   "after": {"status": "open", "account_id": account}})
    return OpenedCase(case_ref=case["ref"], account_id=account, category=category, severity=severity,
                      report_id=report_id, reporter=reporter)


# -- bulk ---------------------------------------------------------------------

def decide_many(db, settings: Settings, refs: Iterable[str], *, by: str, violation: str | None,
                severity: str | None = None, note: str | None = None, measure: str | None = None,
                reason: str | None = None, now: datetime | None = None, renderer=None) -> list[BulkItem]:
    """Decide several cases alike, each in its own transaction with its own
    account history and ladder step. A case that cannot be decided is reported
    in its item and the others go on."""
    wanted = list(dict.fromkeys(r.strip().upper() for r in refs if r and r.strip()))
    if not wanted:
        raise InvalidActionError("no case references given")
    if len(wanted) > MAX_BULK:
        raise InvalidActionError(f"at most {MAX_BULK} cases at once")
    if renderer is None:
        renderer = renderer_for(settings)
    items = []
    for ref in wanted:
        try:
            d = triage.decide(db, settings, ref, by=by, violation=violation, severity=severity, note=note,
                              now=now, renderer=renderer, measure=measure, reason=reason)
        except IntakeError as exc:
            items.append(BulkItem(ref=ref, ok=False, decision=None, error=str(exc)))
        else:
            items.append(BulkItem(ref=d.case_ref, ok=True, decision=d, error=None))
    return items


# -- assignment ---------------------------------------------------------------

def claim(db, ref: str, *, by: str, force: bool = False, now: datetime | None = None) -> Assignment:
    """Take a case. Refused if someone else holds it, unless `force` (a lead's override, recorded)."""
    by = staff_name(by, "taking a case needs a staff name", "by")
    at = iso(now)
    with transaction(db):
        case = require_case(db, ref)
        check_open(db, case, "claim")
        held = case["assignee"]
        if held == by:
            raise InvalidActionError(f"{case['ref']} is already yours")
        if held and not force:
            raise InvalidActionError(f"{case['ref']} is held by {held}; ask them, or a lead can take it over")
        store.set_assignee(db, case["id"], by, at)
        store.append_audit(db, at=at, actor=by, action="claim", case_id=case["id"], account_id=case["account_id"],
                           detail={"to": by, "from": held, "forced": bool(held and force),
                                   "before": {"assignee": held}, "after": {"assignee": by}})
    return Assignment(case["ref"], by, held, bool(held and force))


def unassign(db, ref: str, *, by: str, now: datetime | None = None) -> Assignment:
    by = staff_name(by, "unassigning a case needs a staff name", "by")
    at = iso(now)
    with transaction(db):
        case = require_case(db, ref)
        check_open(db, case, "unassign")
        held = case["assignee"]
        if held is None:
            raise InvalidActionError(f"{case['ref']} is not assigned to anyone")
        store.set_assignee(db, case["id"], None, at)
        store.append_audit(db, at=at, actor=by, action="unassign", case_id=case["id"],
                           account_id=case["account_id"],
                           detail={"to": None, "from": held, "before": {"assignee": held}, "after": {"assignee": None}})
    return Assignment(case["ref"], None, held)


# -- new information after a decision ------------------------------------------

def after_decision(db, settings: Settings, *, case: dict, report_id: int, account_ids: list[str],
                   reporter: str | None, language: str | None, reporter_message_id: str | None,
                   category: str, severity: str, at: str) -> int:
    """A reply (or report) about a decided case, called by the intake inside its
    transaction. Accounts it names that are not the case's own get a case each
    (an open one of theirs, or a new one); with no new account the news is
    attached to the decided case, which is flagged "new information" for staff.
    Returns how many cases were opened."""
    new = [a for a in account_ids if a != case["account_id"]]
    opened = 0
    if new:
        for account in new:
            target = case_store.open_case_for(db, account)
            if target is None:
                target = case_store.open_case_with_report(
                    db, prefix=settings.case_prefix, account_id=account, report_id=report_id, reporter=reporter,
                    language=language, reporter_message_id=reporter_message_id, category=category,
                    severity=severity, at=at)
                opened += 1
                store.append_audit(db, at=at, actor="system", action="open_case", case_id=target["id"],
                                   account_id=account,
                                   detail={"why": f"account named in news about decided case {case['ref']}",
                                           "category": category, "severity": severity, "before": None,
                                           "after": {"status": "open", "account_id": account}})
            else:
                case_store.link_report(db, case_id=target["id"], report_id=report_id, reporter=reporter,
                                       language=language, reporter_message_id=reporter_message_id,
                                       category=category, severity=severity, at=at)
        return opened
    before = bool(case_store.case_by_id(db, case["id"])["new_info"])
    _attach_only(db, case["id"], report_id, reporter, language, reporter_message_id, at)
    store.mark_new_info(db, case["id"], at)
    store.append_audit(db, at=at, actor="system", action="new_information", case_id=case["id"],
                       account_id=case["account_id"],
                       detail={"why": "a reporter wrote again after the decision", "report_id": report_id,
                               "before": {"new_info": before}, "after": {"new_info": True}})
    return 0


def _attach_only(db, case_id, report_id, reporter, language, reporter_message_id, at) -> None:
    # Not link_report: the decided case keeps the category and severity it was decided on.
    case_store.attach_report(db, case_id=case_id, report_id=report_id, reporter=reporter, language=language,
                             reporter_message_id=reporter_message_id, at=at)


def seen_new_info(db, ref: str, *, by: str, note: str | None = None, now: datetime | None = None) -> str:
    """Clear a decided case's "new information" flag once staff have read it."""
    by = staff_name(by, "marking news as seen needs a staff name", "by")
    note = staff_text(note, "the note", "note", required=False)
    at = iso(now)
    with transaction(db):
        case = require_case(db, ref)
        if not case["new_info"]:
            raise InvalidActionError(f"{case['ref']} has no new information waiting")
        store.clear_new_info(db, case["id"], at)
        store.append_audit(db, at=at, actor=by, action="seen_new_information", case_id=case["id"],
                           account_id=case["account_id"],
                           detail={"note": note, "before": {"new_info": True}, "after": {"new_info": False}})
    return case["ref"]


# -- emails -------------------------------------------------------------------

def preview_email(db, settings: Settings, outbox_id: int, *, now: datetime | None = None) -> EmailPreview:
    """The email exactly as `send` would write it now (only Date is the sending time)."""
    from ..notify import smtp  # late: the mail modules are not needed by the other actions
    row = outbox_store.get(db, outbox_id)
    if row is None:
        raise NotFoundError(f"no outbox email {outbox_id}")
    try:
        raw = smtp.build_message(
            from_name=settings.from_name, from_address=settings.support_address, to=row["recipient"],
            subject=row["subject"], text=row["body_text"], html=row["body_html"], message_id=row["message_id"],
            in_reply_to=row["in_reply_to"], references=row["refs"], date=now or utcnow())
    except (IntakeError, ValueError) as exc:
        raise InvalidActionError(f"outbox email {outbox_id} cannot be built ({exc}); sending will mark it failed")
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    headers = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + "\r\n" + line)
        elif ":" in line:
            name, value = line.split(":", 1)
            headers.append((name, value.lstrip(" ")))
    parsed = message_from_bytes(raw, policy=email_policy.default)
    part = parsed.get_body(preferencelist=("plain",))
    # As the reader sees it: the wire's CRLF line ends as plain newlines.
    text = (part.get_content() if part is not None else row["body_text"]).replace("\r\n", "\n")
    return EmailPreview(outbox_id=row["id"], status=row["status"], kind=row["kind"], headers=tuple(headers),
                        text=text, raw=raw)


def cancel_email(db, outbox_id: int, *, by: str, note: str, now: datetime | None = None) -> dict:
    """Cancel a pending or held email: `send` never delivers it. Returns the row."""
    by = staff_name(by, "cancelling an email needs a staff name", "by")
    note = staff_text(note, "the reason for cancelling", "note")
    at = iso(now)
    with transaction(db):
        row = outbox_store.get(db, outbox_id)
        if row is None:
            raise NotFoundError(f"no outbox email {outbox_id}")
        if row["status"] not in outbox_store.WAITING:
            raise InvalidActionError(f"outbox email {outbox_id} is {row['status']}: only a pending or held "
                                     "email can be cancelled")
        outbox_store.cancel_email(db, outbox_id, f"cancelled by {by}: {note}")
        cases = case_store.cases_by_refs(db, row["case_refs"]) or [None]
        for case in cases:
            store.append_audit(db, at=at, actor=by, action="cancel_email", case_id=case and case["id"],
                               account_id=case and case["account_id"],
                               detail={"outbox_id": outbox_id, "kind": row["kind"], "note": note,
                                       "before": {"status": row["status"]}, "after": {"status": "cancelled"}})
        return outbox_store.get(db, outbox_id)


def emails_of_case(db, ref: str) -> list[dict]:
    """Every email about the case, oldest first (the web case page lists them)."""
    case = case_store.case_by_ref(db, ref)
    if case is None:
        raise NotFoundError(f"no case {ref.strip()}")
    return outbox_store.emails_of_case(db, case["id"])

