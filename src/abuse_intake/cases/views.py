"""Read views: what staff see of a case, an account, the queue, the messages
and the outbox, as typed values that every front door shares.

The CLI prints them and the web console renders them; neither assembles
rows itself. Every value is a frozen dataclass whose `as_dict()` is the JSON
the CLI has always printed (README "JSON shapes"): same keys, same values.
Listings are iterators: they stream from the store and page when asked
(`limit`, `after` = the last row seen, `since` = a time); without those
they yield every row.

Errors are NotFoundError (no such case, account or cursor) and
InvalidActionError (a value outside what the view knows).
"""

from __future__ import annotations

import json

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from ..config import Settings
from ..errors import InvalidActionError, NotFoundError
from ..policy.ladder import AccountStatus, SanctionFact, account_status, count_prior_violations
from ..store import cases as case_store
from ..store import messages as msg_store
from ..store import triage as triage_store
from ..store import views as store
from ..store.db import iso, parse_iso, utcnow

CASE_STATUSES = ("open", "needs_info", "decided", "merged")
OUTBOX_STATUSES = ("pending", "held", "sent", "failed")


# -- values ----------------------------------------------------------------------

@dataclass(frozen=True)
class CaseRow:
    """One line of the queue (`cases list`)."""
    ref: str
    status: str
    account_id: str | None
    category: str
    severity: str
    reporters: int
    reports: int
    opened_at: str
    updated_at: str
    assignee: str | None
    flag: str | None = None  # e.g. "too_many_accounts" (cases/limits.py)
    new_info: bool = False  # a decided case got news after its decision (cases/lifecycle.py)

    def as_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "status": self.status, "account_id": self.account_id, "category": self.category,
                "severity": self.severity, "reporters": self.reporters, "reports": self.reports,
                "opened_at": self.opened_at, "updated_at": self.updated_at, "assignee": self.assignee,
                "flag": self.flag, "new_info": bool(self.new_info)}


@dataclass(frozen=True)
class Attachment:
    filename: str | None  # as the sender named it: data, never a path
    content_type: str | None
    size: int
    sha256: str | None  # None when it was not stored (skipped_reason says why)
    skipped_reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size,
                "sha256": self.sha256, "skipped_reason": self.skipped_reason}


@dataclass(frozen=True)
class CaseReport:
    """One report of a case, with its text and attachments."""
    message_id: str | None
    reporter: str | None
    received_at: str
    language: str | None
    category: str
    severity: str
    account_ids: tuple[str, ...]
    matched_words: tuple[str, ...]
    source: str
    subject: str | None
    text: str | None
    forwarded_text: str
    message_row: int  # the stored message (`messages raw ID`)
    attachments: tuple[Attachment, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "reporter": self.reporter, "received_at": self.received_at,
                "language": self.language, "category": self.category, "severity": self.severity,
                "account_ids": list(self.account_ids), "matched_words": list(self.matched_words),
                "source": self.source, "subject": self.subject, "text": self.text,
                "forwarded_text": self.forwarded_text, "message_row": self.message_row,
                "attachments": [a.as_dict() for a in self.attachments]}


@dataclass(frozen=True)
class SanctionView:
    id: int
    account_id: str  # not in as_dict(): the views that show a sanction name the account already
    action: str
    functions: tuple[str, ...]
    starts_at: str
    until: str | None
    rule: str
    case_ref: str
    revoked: bool
    category: str
    severity: str
    violation_number: int
    decided_by: str
    revoked_at: str | None
    revoked_by: str | None
    revoke_note: str | None
    in_force: bool
    enforcement_status: str
    enforcement_error: str | None
    # Set when staff chose the measure (decide --measure): the ladder's own pick and why not it.
    ladder_pick: str | None = None
    override_reason: str | None = None
    counts_as_strike: bool = True  # a content removal may not count (policy.remove_content_counts)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "functions": list(self.functions),
                "starts_at": self.starts_at, "until": self.until, "rule": self.rule, "case_ref": self.case_ref,
                "revoked": self.revoked, "category": self.category, "severity": self.severity,
                "violation_number": self.violation_number, "decided_by": self.decided_by,
                "revoked_at": self.revoked_at, "revoked_by": self.revoked_by, "revoke_note": self.revoke_note,
                "in_force": self.in_force, "enforcement_status": self.enforcement_status,
                "enforcement_error": self.enforcement_error, "ladder_pick": self.ladder_pick,
                "override_reason": self.override_reason, "counts_as_strike": self.counts_as_strike}


@dataclass(frozen=True)
class AccountCase:
    """A case about an account, as its history lists it."""
    id: int
    ref: str
    status: str
    category: str
    severity: str
    reporters: int
    reports: int
    opened_at: str
    decided_at: str | None
    decision: str | None
    decision_category: str | None
    decision_severity: str | None
    referral: bool

    @classmethod
    def from_row(cls, r: dict) -> AccountCase:
        return cls(r["id"], r["ref"], r["status"], r["category"], r["severity"], r["reporters"], r["reports"],
                   r["opened_at"], r["decided_at"], r["decision"], r["decision_category"],
                   r["decision_severity"], bool(r["referral"]))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ref": self.ref, "status": self.status, "category": self.category,
                "severity": self.severity, "reporters": self.reporters, "reports": self.reports,
                "opened_at": self.opened_at, "decided_at": self.decided_at, "decision": self.decision,
                "decision_category": self.decision_category, "decision_severity": self.decision_severity,
                # 0/1 in the JSON, as it always was (the column's value)
                "referral": int(self.referral)}


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    case_id: int | None
    account_id: str | None
    detail: dict[str, Any]  # what the action recorded (note, decision, rule, ...); do not change it

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "actor": self.actor, "action": self.action,
                "case_id": self.case_id, "account_id": self.account_id, "detail": dict(self.detail)}


@dataclass(frozen=True)
class AccountHistory:
    """The reported account as `cases show` sums it up."""
    account_id: str
    status: str  # active | restricted | banned
    until: str | None
    violations_in_window: int
    lookback_days: int
    sanctions_in_force: tuple[SanctionView, ...]
    earlier_cases: tuple[AccountCase, ...]  # opened before this case

    def as_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "status": self.status, "until": self.until,
                "violations_in_window": self.violations_in_window, "lookback_days": self.lookback_days,
                "sanctions_in_force": [s.as_dict() for s in self.sanctions_in_force],
                "earlier_cases": [c.as_dict() for c in self.earlier_cases]}


@dataclass(frozen=True)
class CaseView:
    """One case in full (`cases show`)."""
    ref: str
    status: str
    account_id: str | None
    category: str
    severity: str
    reporters: int
    opened_at: str
    updated_at: str
    assignee: str | None
    decision: str | None
    decision_category: str | None
    decision_severity: str | None
    decided_at: str | None
    decided_by: str | None
    decision_note: str | None
    referral: bool
    reporter_addresses: tuple[str, ...]
    reports: tuple[CaseReport, ...]
    account_history: AccountHistory | None  # None while the case has no account
    sanctions: tuple[SanctionView, ...]  # recorded by this case's decision
    audit: tuple[AuditEntry, ...]
    flag: str | None = None  # e.g. "too_many_accounts" (cases/limits.py)
    flag_detail: dict | None = None  # for too_many_accounts: {"accounts", "limit", "truncated"}

    def as_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "status": self.status, "account_id": self.account_id, "category": self.category,
                "severity": self.severity, "reporters": self.reporters,
                "reports": [r.as_dict() for r in self.reports],
                "opened_at": self.opened_at, "updated_at": self.updated_at, "assignee": self.assignee,
                "decision": self.decision, "decision_category": self.decision_category,
                "decision_severity": self.decision_severity, "decided_at": self.decided_at,
                "decided_by": self.decided_by, "decision_note": self.decision_note, "referral": self.referral,
                "reporter_addresses": list(self.reporter_addresses),
                "account_history": self.account_history.as_dict() if self.account_history else None,
                "sanctions": [s.as_dict() for s in self.sanctions], "audit": [a.as_dict() for a in self.audit],
                "report_count": len(self.reports), "flag": self.flag, "flag_detail": self.flag_detail}


@dataclass(frozen=True)
class AccountView:
    """An account's status, sanctions and cases (`accounts show`)."""
    account_id: str
    status: str  # active | restricted | banned
    until: str | None
    restricted_functions: tuple[str, ...]
    violations_in_window: int
    lookback_days: int
    sanctions: tuple[SanctionView, ...]
    cases: tuple[AccountCase, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "status": self.status, "until": self.until,
                "restricted_functions": list(self.restricted_functions),
                "violations_in_window": self.violations_in_window, "lookback_days": self.lookback_days,
                "sanctions": [s.as_dict() for s in self.sanctions], "cases": [c.as_dict() for c in self.cases]}


@dataclass(frozen=True)
class MessageRow:
    """One stored email and what became of it (`messages list`)."""
    id: int
    message_id: str | None
    reporter: str | None
    subject: str | None
    kind: str
    reason: str | None
    received_at: str
    case_refs: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "message_id": self.message_id, "reporter": self.reporter, "subject": self.subject,
                "kind": self.kind, "reason": self.reason, "received_at": self.received_at,
                "case_refs": list(self.case_refs)}


@dataclass(frozen=True)
class OutboxRow:
    """One email to a reporter and its delivery state (`outbox list`)."""
    id: int
    kind: str
    to: str
    subject: str
    language: str
    case_refs: tuple[str, ...]
    status: str  # pending | held | sent | failed | withheld (never sent: last_error says why)
    attempts: int
    message_id: str
    created_at: str
    sent_at: str | None
    next_attempt_at: str | None
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "to": self.to, "subject": self.subject,
                "language": self.language, "case_refs": list(self.case_refs), "status": self.status,
                "attempts": self.attempts, "message_id": self.message_id, "created_at": self.created_at,
                "sent_at": self.sent_at, "next_attempt_at": self.next_attempt_at, "last_error": self.last_error}


# -- one case, one account ---------------------------------------------------------

def case_view(db, settings: Settings, ref: str, *, now: datetime | None = None) -> CaseView:
    """A case with every report (text, attachments), the account's history,
    its sanctions and its audit trail. NotFoundError if there is no such case."""
    case = case_store.case_by_ref(db, ref)
    if case is None:
        raise NotFoundError(f"no case {ref.strip()}")
    now = now or utcnow()
    reports = tuple(
        CaseReport(
            message_id=r["message_id"], reporter=r["reporter"], received_at=r["received_at"],
            language=r["language"], category=r["category"], severity=r["severity"],
            account_ids=tuple(r["account_ids"]), matched_words=tuple(r["matched_words"]), source=r["source"],
            subject=r["subject"], text=r["text"], forwarded_text=r["forwarded_text"] or "",
            message_row=r["message_row"],
            attachments=tuple(Attachment(a["filename"], a["content_type"], a["size"], a["sha256"],
                                         a["skipped_reason"])
                              for a in msg_store.attachments_of(db, r["message_row"])))
        for r in case_store.reports_of_case(db, case["id"]))
    return CaseView(
        ref=case["ref"], status=case["status"], account_id=case["account_id"], category=case["category"],
        severity=case["severity"], reporters=case["reporters"], opened_at=case["opened_at"],
        updated_at=case["updated_at"], assignee=case["assignee"], decision=case["decision"],
        decision_category=case["decision_category"], decision_severity=case["decision_severity"],
        decided_at=case["decided_at"], decided_by=case["decided_by"], decision_note=case["decision_note"],
        referral=bool(case["referral"]),
        reporter_addresses=tuple(r["reporter"] for r in case_store.reporters_of_case(db, case["id"])),
        reports=reports,
        account_history=_account_history(db, settings, case, now),
        sanctions=tuple(sanction_view(s, now) for s in triage_store.sanctions_of_case(db, case["id"])),
        audit=tuple(AuditEntry(a["id"], a["at"], a["actor"], a["action"], a["case_id"], a["account_id"],
                               a["detail"]) for a in triage_store.audit_of_case(db, case["id"])),
        flag=case.get("flag"),
        flag_detail=json.loads(case["flag_detail"]) if case.get("flag_detail") else None,
    )


def _account_history(db, settings: Settings, case: dict, now: datetime) -> AccountHistory | None:
    account = case["account_id"]
    if account is None:
        return None
    sanctions = triage_store.sanctions_of_account(db, account)
    status = current_status(sanctions, now)
    return AccountHistory(
        account_id=account, status=status.status, until=iso(status.until) if status.until else None,
        violations_in_window=count_prior_violations(sanction_facts(sanctions), now, settings.policy.lookback_days),
        lookback_days=settings.policy.lookback_days,
        sanctions_in_force=tuple(sanction_view(s, now) for s in sanctions if in_force(s, now)),
        earlier_cases=tuple(AccountCase.from_row(c) for c in triage_store.cases_of_account(db, account)
                            if c["id"] != case["id"]
                            and (c["opened_at"], c["id"]) < (case["opened_at"], case["id"])),
    )


def account_view(db, settings: Settings, account_id: str, *, now: datetime | None = None) -> AccountView:
    """An account's status now, its sanctions and its cases. The ID is read as
    staff type it (`@Dewi_Manja88`). NotFoundError if no case or sanction names it."""
    account = normalize_account_id(account_id)
    if not triage_store.account_known(db, account):
        raise NotFoundError(f"no case or sanction about account {account}")
    now = now or utcnow()
    sanctions = triage_store.sanctions_of_account(db, account)
    status = current_status(sanctions, now)
    return AccountView(
        account_id=account, status=status.status, until=iso(status.until) if status.until else None,
        restricted_functions=tuple(status.functions),
        violations_in_window=count_prior_violations(sanction_facts(sanctions), now, settings.policy.lookback_days),
        lookback_days=settings.policy.lookback_days,
        sanctions=tuple(sanction_view(s, now) for s in sanctions),
        cases=tuple(AccountCase.from_row(c) for c in triage_store.cases_of_account(db, account)),
    )


def normalize_account_id(value: str) -> str:
    """An account ID as stored: without a leading @, lower-case."""
    account = (value or "").strip().lstrip("@").lower()
    if not account:
        raise InvalidActionError("the account ID is empty", "account_id")
    return account


# -- listings ----------------------------------------------------------------------

def list_cases(db, *, status: str = "open", category: str | None = None, severity: str | None = None,
               account_id: str | None = None, assignee: str | None = None, since: datetime | None = None,
               after: str | None = None, limit: int | None = None, new_info: bool = False) -> Iterator[CaseRow]:
    """The queue, most urgent first: severity, then reporters, then age.

    status is one of CASE_STATUSES, "waiting" (open and needs_info) or "all";
    `new_info` keeps decided cases with news since their decision; `since` keeps cases opened at or
    after that time; `after` is the ref of the last case already seen (the
    next page starts behind where that case stands now); `limit` caps the rows.
    """
    if status not in ("all", "waiting") and status not in CASE_STATUSES:
        raise InvalidActionError(f"unknown case status {status!r} (known: {', '.join(CASE_STATUSES)}, all)",
                                 "status")
    position = None
    if after is not None:
        position = store.queue_position(db, after)
        if position is None:
            raise NotFoundError(f"no case {after.strip()} to list the cases after")
    rows = store.queue(db, status=status, category=category, severity=severity,
                       account_id=account_id and normalize_account_id(account_id), assignee=assignee,
                       since=_since(since), after=position, limit=_limit(limit), new_info=new_info)
    return (CaseRow(*r) for r in rows)  # store.views.QUEUE_COLUMNS are CaseRow's fields, in order


def list_messages(db, *, kind: str | None = None, since: datetime | None = None, after: int | None = None,
                  limit: int | None = None) -> Iterator[MessageRow]:
    """Every stored message, oldest first, with its kind, reason and cases.

    `since` keeps messages received at or after that time; `after` is the id
    of the last message already seen; `limit` caps the rows.
    """
    position = None
    if after is not None:
        position = store.message_position(db, after)
        if position is None:
            raise NotFoundError(f"no message {after} to list the messages after")
    rows = store.messages(db, kind=kind, since=_since(since), after=position, limit=_limit(limit))
    return (MessageRow(r["id"], r["message_id"], r["reporter"], r["subject"], r["kind"], r["reason"],
                       r["received_at"], tuple(r["case_refs"])) for r in rows)


def list_outbox(db, *, status: str = "all", since: datetime | None = None, after: int | None = None,
                limit: int | None = None) -> Iterator[OutboxRow]:
    """Emails to reporters in the order they were queued.

    status is one of OUTBOX_STATUSES or "all"; `since` keeps emails queued at
    or after that time; `after` is the id of the last email already seen.
    """
    if status != "all" and status not in OUTBOX_STATUSES:
        raise InvalidActionError(f"unknown outbox status {status!r} (known: {', '.join(OUTBOX_STATUSES)}, all)",
                                 "status")
    rows = store.outbox(db, status=status, since=_since(since), after=after, limit=_limit(limit))
    return (OutboxRow(r["id"], r["kind"], r["recipient"], r["subject"], r["language"], tuple(r["case_refs"]),
                      r["status"], r["attempts"], r["message_id"], r["created_at"], r["sent_at"],
                      r["next_attempt_at"], r["last_error"]) for r in rows)


def _since(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _limit(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise InvalidActionError(f"a limit is a number of rows, 0 or more (got {value})", "limit")
    return value


# -- sanctions -----------------------------------------------------------------------

def sanction_view(row: dict, now: datetime) -> SanctionView:
    """A sanction row of store.triage as staff see it, with whether it is in force at `now`."""
    return SanctionView(
        id=row["id"], account_id=row["account_id"], action=row["action"], functions=tuple(row["functions"]),
        starts_at=row["starts_at"], until=row["until"], rule=row["rule"], case_ref=row["case_ref"],
        revoked=row["revoked"], category=row["category"], severity=row["severity"],
        violation_number=row["violation_number"], decided_by=row["decided_by"], revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"], revoke_note=row["revoke_note"], in_force=in_force(row, now),
        enforcement_status=row["enforcement_status"], enforcement_error=row["enforcement_error"],
        ladder_pick=row.get("ladder_pick"), override_reason=row.get("override_reason"),
        counts_as_strike=bool(row.get("counts", True)))


def current_status(sanction_rows: list[dict], now: datetime) -> AccountStatus:
    return account_status(sanction_facts(sanction_rows), now)


def in_force(row: dict, now: datetime) -> bool:
    """Whether a sanction row binds the account at `now` (a warning never does)."""
    if row["revoked"] or parse_iso(row["starts_at"]) > now:
        return False
    if row["action"] == "ban":
        return True
    return row["action"] == "restrict" and row["until"] is not None and parse_iso(row["until"]) > now


def sanction_facts(rows: list[dict]) -> list[SanctionFact]:
    """Sanction rows as the pure policy functions read them."""
    return [SanctionFact(action=r["action"], starts_at=parse_iso(r["starts_at"]),
                         until=parse_iso(r["until"]) if r["until"] else None, revoked=bool(r["revoked"]),
                         functions=tuple(r["functions"]), counts=bool(r.get("counts", True))) for r in rows]
