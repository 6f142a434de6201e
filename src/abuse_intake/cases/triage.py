"""Staff actions on cases and sanctions: decide, note, assign, link, revoke.

Each action is one transaction that also appends to the audit log (who, when,
what, why). A decision closes the case, records the sanction the ladder picks
from the account's history, and queues the outcome email to every reporter in
that same transaction. Errors are NotFoundError / InvalidActionError.

Linking a case to an account that already has an open case merges this case
into that one (its reports and reporters move; this case becomes `merged`):
cases/linking.py, the same rule the flow applies when a needs_info case gets
its account by reply. One open case per account.

What staff read (a case in full, an account's history) is in cases/views.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config import SEVERITIES, Settings
from ..errors import InvalidActionError, NotFoundError
from ..policy.ladder import SanctionDecision, count_prior_violations, decide_sanction, override, parse_measure
from ..store import cases as case_store
from .linking import give_account
from ..store import triage as store
from ..store.db import iso, transaction, utcnow
from .corrections import reporters_to_correct
from ..text import printable
from .views import sanction_facts as _facts

CLOSED = ("decided", "merged")
# Why a case was closed without a violation (decide --no-violation --reason).
CLOSE_REASONS = ("not_actionable", "no_account", "duplicate")
MAX_NAME = 100
MAX_TEXT = 10_000


@dataclass(frozen=True)
class Decision:
    case_ref: str
    account_id: str | None
    decision: str  # violation | no_violation
    category: str | None
    severity: str | None
    sanction_id: int | None
    sanction: SanctionDecision | None
    referral: bool
    outcome: Any  # what notify.outbox.queue_outcome returned
    reason: str | None = None  # close reason (no violation) or why staff chose the measure
    corrected: tuple[str, ...] = ()  # reporters sent an outcome_corrected instead of a plain outcome


@dataclass(frozen=True)
class LinkResult:
    case_ref: str
    account_id: str
    merged_into: str | None  # the account's open case this one joined, if any


# -- decide ---------------------------------------------------------------

def decide(db, settings: Settings, ref: str, *, by: str, violation: str | None, severity: str | None = None,
           note: str | None = None, now: datetime | None = None, renderer=None, measure: str | None = None,
           reason: str | None = None) -> Decision:
    """Decide a case: `violation` is a category name, or None for "no violation found".

    `measure` ("warn", "restrict:DAYS", "ban", "remove_content") overrides the
    ladder's pick and needs a `reason`; both and the ladder's own pick are
    recorded. With no violation, `reason` may be one of CLOSE_REASONS; a
    needs_info case (no account) can only be closed that way."""
    by = _name(by, "a decision needs a staff name", "by")
    note = _text(note, "the note", "note", required=False)
    reason = _text(reason, "the reason", "reason", required=False)
    now = (now or utcnow()).replace(microsecond=0)
    at = iso(now)
    if violation is None and severity is not None:
        raise InvalidActionError("a severity only goes with a violation", "severity")
    if violation is None and measure is not None:
        raise InvalidActionError("a measure only goes with a violation", "measure")
    if measure is not None:
        try:
            parse_measure(measure)
        except ValueError as exc:
            raise InvalidActionError(str(exc), "measure") from None
        if reason is None:
            raise InvalidActionError("choosing the measure needs a reason, for the statement of reasons", "reason")
    elif violation is not None and reason is not None:
        raise InvalidActionError("a reason goes with a chosen measure (why not the ladder's pick) or with "
                                 "no violation (why it is closed)", "reason")
    if violation is None and reason is not None and reason not in CLOSE_REASONS:
        raise InvalidActionError(f"unknown close reason {reason!r} (use {', '.join(CLOSE_REASONS)})", "reason")
    if violation is not None:
        if violation not in settings.categories:
            raise InvalidActionError(f"unknown category {violation!r} (known: {', '.join(settings.categories)})",
                                     "violation")
        severity = severity or settings.severity_of(violation)
        if severity not in SEVERITIES:
            raise InvalidActionError(f"unknown severity {severity!r} (use {', '.join(SEVERITIES)})", "severity")
    if renderer is None:
        renderer = _renderer(settings)
    queue_outcome = _queue_outcome()

    with transaction(db):
        # Read inside the write lock: two staff deciding at once cannot both win.
        case = _case(db, ref)
        _check_open(db, case, "decide")
        account = case["account_id"]
        if account is None and violation is not None:
            raise InvalidActionError(
                f"case {case['ref']} has no account ID yet, so no sanction can be recorded: "
                "link the case to an account first, then decide (or close it as no violation, with a reason: "
                f"{', '.join(CLOSE_REASONS)})", "account_id")
        sanction, sanction_id = None, None
        if violation is not None:
            prior = count_prior_violations(_facts(store.sanctions_of_account(db, account)), now,
                                           settings.policy.lookback_days)
            sanction = decide_sanction(category=violation, severity=severity, prior_violations=prior, now=now,
                                       policy=settings.policy)
            if measure is not None:
                sanction = override(sanction, measure, now=now, policy=settings.policy)
            sanction_id = store.insert_sanction(
                db, account_id=account, case_id=case["id"], action=sanction.action, functions=sanction.functions,
                starts_at=at, until=iso(sanction.until) if sanction.until else None, category=violation,
                severity=severity, rule=sanction.rule, violation_number=sanction.violation_number,
                decided_by=by, enforcement_status="pending" if settings.enforcement_command else "none", at=at,
                ladder_pick=sanction.ladder_pick, override_reason=reason if measure else None,
                counts=sanction.counts)
        referral = bool(sanction and sanction.referral)
        decision = "violation" if violation is not None else "no_violation"
        store.record_decision(db, case_id=case["id"], decision=decision, category=violation, severity=severity,
                              by=by, note=note, at=at, referral=referral,
                              reason=reason if violation is None else None)
        detail: dict[str, Any] = {"decision": decision, "note": note,
                                  "before": {"status": case["status"]}, "after": {"status": "decided"}}
        if violation is None and reason is not None:
            detail["reason"] = reason
        if sanction is not None:
            detail.update(category=violation, severity=severity, sanction_id=sanction_id, action=sanction.action,
                          functions=list(sanction.functions), until=iso(sanction.until) if sanction.until else None,
                          rule=sanction.rule, violation_number=sanction.violation_number)
            if sanction.ladder_pick is not None:
                detail.update(measure=measure, ladder_pick=sanction.ladder_pick, override_reason=reason,
                              counts_as_strike=sanction.counts)
        store.append_audit(db, at=at, actor=by, action="decide", case_id=case["id"], account_id=account,
                           detail=detail)
        if referral:
            store.append_audit(db, at=at, actor="system", action="flag_referral", case_id=case["id"],
                               account_id=account, detail={"why": f"{severity} severity: refer to law "
                                                           "enforcement; keep the evidence"})
        corrected = reporters_to_correct(db, case["id"], decision, sanction)
        outcome = queue_outcome(db, settings, renderer, case_id=case["id"], corrected=corrected)
    return Decision(case_ref=case["ref"], account_id=account, decision=decision, category=violation,
                    severity=severity, sanction_id=sanction_id, sanction=sanction, referral=referral,
                    outcome=outcome, reason=reason, corrected=tuple(sorted(corrected)))


def _renderer(settings: Settings):
    # Imported late: notify/ pulls in jinja2 and the templates, which the other actions never need.
    from ..notify.render import Renderer
    return Renderer(settings)


def _queue_outcome():
    from ..notify.outbox import queue_outcome
    return queue_outcome


# -- note, assign, link ---------------------------------------------------

def add_note(db, ref: str, *, by: str, text: str, now: datetime | None = None) -> str:
    """A free-text note on any case, even a decided one (e.g. after an appeal)."""
    by, text = _name(by, "a note needs a staff name", "by"), _text(text, "a note", "text")
    at = iso(now)
    with transaction(db):
        case = _case(db, ref)
        store.append_audit(db, at=at, actor=by, action="note", case_id=case["id"], account_id=case["account_id"],
                           detail={"text": text})
        store.touch_case(db, case["id"], at)
    return case["ref"]


def assign(db, ref: str, *, to: str, by: str, now: datetime | None = None) -> str:
    to, by = _name(to, "an assignment needs the assignee's name", "to"), _name(by, "an assignment needs a staff name", "by")
    at = iso(now)
    with transaction(db):
        case = _case(db, ref)
        _check_open(db, case, "assign")
        store.set_assignee(db, case["id"], to, at)
        store.append_audit(db, at=at, actor=by, action="assign", case_id=case["id"], account_id=case["account_id"],
                           detail={"to": to, "from": case["assignee"], "before": {"assignee": case["assignee"]},
                                   "after": {"assignee": to}})
    return case["ref"]


def link_account(db, settings: Settings, ref: str, *, account_id: str, by: str,
                 now: datetime | None = None) -> LinkResult:
    """Attach an account to a case (typically needs_info); merge into its open case if it has one."""
    by = _name(by, "linking a case needs a staff name", "by")
    account = _account_id(settings, account_id)
    at = iso(now)
    with transaction(db):
        case = _case(db, ref)
        _check_open(db, case, "link")
        if case["account_id"] == account:
            raise InvalidActionError(f"case {case['ref']} is already about account {account}")
        before = {"status": case["status"], "account_id": case["account_id"]}
        target = give_account(db, case, account, at)
        detail = {"account_id": account, "previous": case["account_id"], "before": before,
                  "after": {"status": "open" if target is None else "merged", "account_id": account}}
        if target is None:
            store.append_audit(db, at=at, actor=by, action="link", case_id=case["id"], account_id=account,
                               detail=detail)
            return LinkResult(case["ref"], account, None)
        store.append_audit(db, at=at, actor=by, action="link", case_id=case["id"], account_id=account,
                           detail={**detail, "merged_into": target["ref"]})
        store.append_audit(db, at=at, actor=by, action="merge", case_id=target["id"], account_id=account,
                           detail={"merged_from": case["ref"]})
    return LinkResult(case["ref"], account, target["ref"])


# -- sanctions ------------------------------------------------------------

def revoke(db, settings: Settings, sanction_id: int, *, by: str, note: str, now: datetime | None = None) -> dict:
    """Revoke a sanction (after an appeal): it no longer counts as a violation."""
    by, note = _name(by, "a revocation needs a staff name", "by"), _text(note, "the revocation note", "note")
    at = iso(now)
    with transaction(db):
        return revoke_in_transaction(db, settings, sanction_id, by=by, note=note, at=at)


def revoke_in_transaction(db, settings: Settings, sanction_id: int, *, by: str, note: str, at: str,
                          detail: dict | None = None) -> dict:
    """`revoke` inside the caller's transaction (an overturned appeal revokes with its decision)."""
    row = store.sanction_by_id(db, sanction_id)
    if row is None:
        raise NotFoundError(f"no sanction {sanction_id}")
    if row["revoked"]:
        raise InvalidActionError(f"sanction {sanction_id} was already revoked on {row['revoked_at']} "
                                 f"by {row['revoked_by']}")
    store.revoke_sanction(db, sanction_id, by=by, note=note, at=at,
                          requeue_enforcement=bool(settings.enforcement_command))
    store.append_audit(db, at=at, actor=by, action="revoke_sanction", case_id=row["case_id"],
                       account_id=row["account_id"],
                       detail={"sanction_id": sanction_id, "action": row["action"], "note": note, **(detail or {})})
    return store.sanction_by_id(db, sanction_id)


# -- checks ---------------------------------------------------------------

def _case(db, ref: str) -> dict:
    case = case_store.case_by_ref(db, ref)
    if case is None:
        raise NotFoundError(f"no case {ref.strip()}")
    return case


def _check_open(db, case: dict, what: str) -> None:
    if case["status"] == "decided":
        raise InvalidActionError(
            f"cannot {what} {case['ref']}: already decided ({case['decision']}) by {case['decided_by']} "
            f"at {case['decided_at']}; reopening the case undoes the decision, and a new report about the "
            "account opens a new case", "case")
    if case["status"] == "merged":
        raise InvalidActionError(f"cannot {what} {case['ref']}: it was merged into "
                                 f"{store.merged_into(db, case['id']) or 'another case'}; use that case")


def _name(value: str | None, missing: str, field: str) -> str:
    """A person's name as one line of printable text: it ends up in the audit log and in tables.
    `missing` is the whole message for an empty one; `field` the parameter (InvalidActionError.field)."""
    name = " ".join(printable(value or "").split())
    if not name:
        raise InvalidActionError(missing, field)
    if len(name) > MAX_NAME:
        raise InvalidActionError(f"a name is longer than {MAX_NAME} characters", field)
    return name


def _text(value: str | None, what: str, field: str, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidActionError(f"{what} needs some text", field)
        return None
    if len(text) > MAX_TEXT:
        raise InvalidActionError(f"{what} is longer than {MAX_TEXT} characters", field)
    return text


def _account_id(settings: Settings, value: str, strict: bool = True) -> str:
    account = value.strip().lstrip("@").lower()
    if strict and not re.fullmatch(settings.accounts.handle_pattern, account, re.IGNORECASE):
        raise InvalidActionError(f"{value!r} is not an account ID (pattern {settings.accounts.handle_pattern})",
                                 "account_id")
    if not account:
        raise InvalidActionError("the account ID is empty", "account_id")
    return account


# -- the same checks for cases/lifecycle.py --------------------------------------

def require_case(db, ref: str) -> dict:
    """The case row, or NotFoundError."""
    return _case(db, ref)


def check_open(db, case: dict, what: str) -> None:
    """InvalidActionError unless the case is open or needs_info."""
    _check_open(db, case, what)


def staff_name(value: str | None, missing: str, field: str) -> str:
    return _name(value, missing, field)


def staff_text(value: str | None, what: str, field: str, required: bool = True) -> str | None:
    return _text(value, what, field, required)


def account_id_of(settings: Settings, value: str, strict: bool = True) -> str:
    return _account_id(settings, value, strict)


def renderer_for(settings: Settings):
    return _renderer(settings)
