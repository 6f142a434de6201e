"""Queue emails to reporters, and deliver the queue.

Queueing (`queue_*`) runs inside the caller's transaction, next to the event
that causes the email (a report stored, a case decided), so an email exists
exactly when its event does. Each row is rendered completely at queue time.
(kind, case, recipient) is unique through the table outbox_cases, so nothing
about a case is queued twice to the same person.

Delivery (`deliver_pending`) runs outside any transaction and commits each
row's result on its own. It is at-least-once: see the note in _deliver_one.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .. import crashpoints, leases
from ..config import Settings
from ..errors import DeliveryError, IntakeError, InvalidActionError, NotFoundError
from ..localtime import zone
from ..store import outbox as store
from ..store.db import iso, now_iso, parse_iso, transaction, utcnow
from . import smtp
from .headers import clean_message_id, plain_address
from .render import Renderer, category_label, function_labels

ACK_KINDS = ("ack", "needs_info")
OUTCOME_KIND = {"violation": "outcome_actioned", "no_violation": "outcome_no_violation"}
# A case closed without looking at an account (needs_info, or with a close reason).
CLOSED_KIND = "outcome_closed"
CORRECTED_KIND = "outcome_corrected"
# Emails a reopened case cancels while they wait.
OUTCOME_KINDS = ("outcome_actioned", "outcome_no_violation", CLOSED_KIND, CORRECTED_KIND)
NO_ACTION_KINDS = ("outcome_no_violation", CLOSED_KIND)
WINDOW = timedelta(hours=24)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
# 1+2+...+256 minutes, then every 6 h: about four and a half days, like an MTA.
MAX_ATTEMPTS = 25
FLUSH_ALL = "9999-12-31T23:59:59Z"  # `send --now`: due before the end of time
# Rows claimed in one statement. Small: a batch's rows are held (leased) while the
# ones before them are sent, and a crashed run's batch waits for its lease or its pid check.
CLAIM_BATCH = 50


@dataclass
class DeliveryResult:
    sent: int = 0
    deferred: int = 0  # temporary failure: retried on a later run
    failed: int = 0  # permanent failure: never retried
    held: int = 0  # per-recipient daily cap reached: waits in the outbox
    errors: list[str] = field(default_factory=list)
    unreachable: bool = False  # the server could not be reached, or the connection broke
    remaining: int = 0  # rows still pending or held after the run
    deadline_reached: bool = False  # [outgoing] run_deadline ended the run early

    def as_dict(self) -> dict:
        return {"sent": self.sent, "deferred": self.deferred, "failed": self.failed, "held": self.held,
                "unreachable": self.unreachable, "remaining": self.remaining,
                "deadline_reached": self.deadline_reached, "errors": list(self.errors)}


# -- queueing ----------------------------------------------------------------

def queue_report_reply(db, settings: Settings, renderer: Renderer, *, source_message: int,
                       recipient: str | None, language: str | None, reporter_name: str,
                       reply_to_message_id: str | None, reporter_subject: str,
                       cases: list[dict], withheld: str | None = None, critical: bool = False) -> int | None:
    """One acknowledgement listing every case of this report not yet acknowledged
    to this recipient: kind 'ack' if any case names an account, else 'needs_info'.
    Returns the outbox id, or None when nothing is due. `withheld`: the reason
    this sender must get no automatic email (backscatter): the row is kept with
    status 'withheld' and that reason, and never sent. `critical`: the report is
    of critical severity: the ack says it is prioritised and lists `[platform]
    safety_contacts` for the language (issue 14.7)."""
    rcpt = _recipient(settings, recipient)
    if rcpt is None or not cases:
        return None
    told = store.cases_already_told(db, ACK_KINDS, rcpt, [c["id"] for c in cases])
    fresh = [c for c in cases if c["id"] not in told]
    if not fresh:
        return None
    kind = "ack" if any(c.get("account_id") for c in fresh) else "needs_info"
    refs = [c["ref"] for c in fresh]
    lang = renderer.language(language)
    rendered = renderer.render(
        kind, lang, reporter_name=reporter_name or "", subject=reporter_subject or "", case_refs=refs,
        cases=[{"ref": c["ref"], "account_id": c.get("account_id")} for c in fresh], critical=critical,
        safety_contacts=list(settings.safety_contacts.get(lang, ())))
    parent = clean_message_id(reply_to_message_id)
    outbox_id = _insert(db, settings, kind=kind, rcpt=rcpt, lang=lang, rendered=rendered, parent=parent,
                        refs=[parent] if parent else [], case_refs=refs,
                        dedupe_key=f"{kind}:message:{source_message}:{rcpt}", source_message=source_message,
                        withheld=withheld)
    if outbox_id is not None:
        store.link_cases(db, outbox_id, [c["id"] for c in fresh], kind, rcpt)
    return outbox_id


def queue_not_a_report(db, settings: Settings, renderer: Renderer, *, source_message: int,
                       recipient: str | None, language: str | None, reporter_name: str,
                       reply_to_message_id: str | None, reporter_subject: str,
                       withheld: str | None = None) -> int | None:
    """The short "this address handles reports only" reply, if configured
    (`withheld`: as for queue_report_reply)."""
    if not settings.send_not_a_report:
        return None
    rcpt = _recipient(settings, recipient)
    if rcpt is None:
        return None
    lang = renderer.language(language)
    rendered = renderer.render("not_a_report", lang, reporter_name=reporter_name or "",
                               subject=reporter_subject or "")
    parent = clean_message_id(reply_to_message_id)
    return _insert(db, settings, kind="not_a_report", rcpt=rcpt, lang=lang, rendered=rendered, parent=parent,
                   refs=[parent] if parent else [], case_refs=[],
                   dedupe_key=f"not_a_report:message:{source_message}:{rcpt}", source_message=source_message,
                   withheld=withheld)


def queue_outcome(db, settings: Settings, renderer: Renderer, *, case_id: int,
                  corrected: frozenset[str] | set[str] = frozenset()) -> list[int]:
    """One outcome email per reporter of a decided case; returns the new outbox ids.

    Each reporter gets only their own email: no other reporter is named, and
    the reported account is never told who reported. A case closed without an
    account, or with a close reason, gets `outcome_closed`. Reporters in
    `corrected` get an `outcome_corrected` instead (they were told earlier that
    action was taken, and the new decision differs). With `[notify]
    outcome_delay_minutes` the emails wait that long: an undo window."""
    case = store.case_for_outcome(db, case_id)
    if case is None:
        raise NotFoundError(f"case {case_id} not found")
    kind = OUTCOME_KIND.get(case["decision"] or "")
    if kind is None:
        raise InvalidActionError(f"case {case['ref']} has no decision yet")
    if kind == "outcome_no_violation" and (case["account_id"] is None or case["decision_reason"]):
        kind = CLOSED_KIND
    sanction = store.sanction_for_case(db, case_id) if kind == "outcome_actioned" else None
    category = case["decision_category"] or case["category"]
    # "No action" was said once, whichever of its two wordings.
    told_kinds = NO_ACTION_KINDS if kind in NO_ACTION_KINDS else (kind,)
    delay = settings.outcome_delay_minutes
    not_before = iso(utcnow() + timedelta(minutes=delay)) if delay else None
    queued: list[int] = []
    for reporter in store.reporters_for_outcome(db, case_id):
        rcpt = _recipient(settings, reporter["reporter"])
        if rcpt is None:
            continue
        this_kind = CORRECTED_KIND if rcpt in corrected else kind
        if this_kind != CORRECTED_KIND and store.cases_already_told(db, told_kinds, rcpt, [case_id]):
            continue
        lang = renderer.language(reporter["language"])
        details = _sanction_vars(sanction, lang, settings.timezone)
        if settings.outcome_detail != "full":
            # Third parties learn whether action was taken, not the measure's details (issue 14.4).
            details.update(functions=[], until=None)
        rendered = renderer.render(
            this_kind, lang, reporter_name=reporter["from_name"] or "", subject=reporter["subject"] or "",
            case_refs=[case["ref"]], cases=[{"ref": case["ref"], "account_id": case["account_id"]}],
            account_id=case["account_id"], category=category_label(category, lang),
            decision=case["decision"], reason=case["decision_reason"], **details)
        parent = clean_message_id(reporter["message_id"])
        # Thread under the reporter's message and our acknowledgement of it.
        refs = ([parent] if parent else []) + store.our_message_ids_for(db, case_id, rcpt)
        # A correction may follow each reopening: its key carries the decision time.
        key = f"{this_kind}:case:{case_id}:{rcpt}" + (f":{utcnow().isoformat()}" if this_kind == CORRECTED_KIND
                                                       else "")
        # A sender whose report was not answered (backscatter) hears nothing of the outcome either.
        earlier = store.withheld_reason_for(db, case_id, rcpt)
        outbox_id = _insert(db, settings, kind=this_kind, rcpt=rcpt, lang=lang, rendered=rendered, parent=parent,
                            refs=refs, case_refs=[case["ref"]], dedupe_key=key, source_message=None,
                            not_before=not_before)
        if outbox_id is not None and earlier:
            store.withhold(db, outbox_id, earlier)
        if outbox_id is not None:
            if this_kind == CORRECTED_KIND:
                store.retire_links(db, case_id, rcpt, CORRECTED_KIND)
            store.link_cases(db, outbox_id, [case_id], this_kind, rcpt)
            queued.append(outbox_id)
    return queued


def _recipient(settings: Settings, value: str | None) -> str | None:
    rcpt = plain_address(value)
    if rcpt is None or rcpt in settings.own_addresses:
        return None
    return rcpt


def _sanction_vars(sanction: dict | None, lang: str, tz: str = "UTC") -> dict:
    if not sanction:
        return {"action": None, "functions": [], "until": None}
    restrict = sanction["action"] == "restrict"
    until = sanction["until"] if restrict else None
    return {
        "action": sanction["action"],
        "functions": function_labels(sanction["functions"], lang) if restrict else [],
        "until": _day(until, tz) if until else None,
    }


def _day(value: str, tz: str = "UTC") -> str:
    """The day a restriction ends, in [platform] timezone (a reporter's calendar, not UTC's)."""
    try:
        return parse_iso(value).astimezone(zone(tz)).date().isoformat()
    except ValueError:
        return value[:10]


def _insert(db, settings: Settings, *, kind, rcpt, lang, rendered, parent, refs, case_refs, dedupe_key,
            source_message, not_before: str | None = None, withheld: str | None = None) -> int | None:
    return store.insert_email(
        db, kind=kind, recipient=rcpt, language=lang, subject=rendered.subject, body_text=rendered.text,
        body_html=rendered.html, message_id=f"{secrets.token_hex(16)}@{settings.message_id_domain}",
        in_reply_to=parent, refs=refs, case_refs=case_refs, dedupe_key=dedupe_key,
        source_message=source_message, created_at=now_iso(), not_before=not_before,
        withheld=f"withheld: {withheld}; no automatic reply to this sender" if withheld else None)


# -- delivery ----------------------------------------------------------------

def lease_seconds(settings: Settings) -> float:
    """How long a claim on an outbox row lasts. A row is claimed (in a batch of
    CLAIM_BATCH) while a connection it may go over is open, or its claim is
    renewed when a fresh connection opens, and a connection ends at its deadline; the commit
    after the server's 250 waits at most the database's busy timeout. So a
    live claimant is always done before its lease runs out, and a row whose
    lease ran out belongs to a claimant that crashed."""
    return settings.outgoing.connection_deadline + settings.busy_timeout_ms / 1000 + 5


def deliver_pending(db, settings: Settings, *, now: datetime | None = None,
                    limit: int | None = None, flush: bool = False) -> DeliveryResult:
    """Send what is due, one row at a time, rows claimed CLAIM_BATCH at a time
    before they are sent and each one's outcome committed on its own. Must be called outside a transaction.

    A relay that cannot be reached (or drops the connection) defers the
    queue, not each email: the run stops, no email's own attempts or backoff
    grow, and the next run delivers what waits. Only a failure of one email
    (a 4xx to one recipient) backs that email off. `flush` (`send --now`, as
    `postqueue -f`): every pending email is due, its backoff ignored.

    Safe beside any other run (poll, send, decide, ...): a row is claimed in
    the database with a lease (claim_batch), so two runs never send the same
    row; the only duplicate left is a crash between the server's 250 and our
    commit (see _deliver_one). The run stops claiming at [outgoing]
    run_deadline, and no connection outlives connection_deadline.

    Raises TransportConfigError (a permanent DeliveryError, exit 78) when the
    transport is misconfigured; rows are then left as they were. An
    unreachable server is not raised: see DeliveryResult.unreachable."""
    now = now or utcnow()
    started = time.monotonic()
    out = settings.outgoing
    run_end = started + out.run_deadline
    lease = timedelta(seconds=lease_seconds(settings))
    owner = leases.claimant()
    result = DeliveryResult()
    with transaction(db):
        store.release_held(db, iso(now))
        for other in store.live_claimants(db, iso(now)):
            if leases.certainly_gone(other):  # crashed on this host: no need to wait for its lease
                store.release_claims(db, other)
    transport = None
    down: str | None = None  # why the server cannot be used for the rest of this run
    last_id, handled = 0, 0
    batch: list[dict] = []  # claimed, not yet handled, oldest first
    try:
        while limit is None or handled < limit:
            if time.monotonic() >= run_end:
                result.deadline_reached = True
                result.errors.append(f"run deadline of {out.run_deadline:g} s reached; "
                                     "the rest waits for the next run")
                break
            at = now + timedelta(seconds=time.monotonic() - started)  # the run's clock moves on
            if not batch:
                # One claim (one commit) for a batch: a commit costs an fsync, as much as
                # building and sending an email. The rows not handled are given back below.
                size = CLAIM_BATCH if limit is None else min(CLAIM_BATCH, limit - handled)
                with transaction(db):
                    batch = store.claim_batch(db, owner=owner, now=iso(at), lease_until=iso(at + lease),
                                              after_id=last_id, due_by=FLUSH_ALL if flush else None,
                                              limit=size)
                if not batch:
                    break
                last_id = batch[-1]["id"]
            row = batch.pop(0)
            handled += 1
            if _refuse(db, settings, row, iso(at), result) or _hold(db, settings, row, at, result):
                continue
            if transport is not None and transport.expired and not transport.broken:
                transport.close()  # its deadline passed between two emails: take a fresh one
                transport = None
            if down is None and transport is None:
                try:
                    transport = smtp.open_transport(
                        out, deadline=min(out.connection_deadline, run_end - time.monotonic()), db=db)
                except DeliveryError as exc:
                    if exc.permanent:
                        raise
                    down = str(exc)
                else:
                    # The lease covers one connection's life from the claim; a connection
                    # opened after the claim renews it for the rows it will carry.
                    at = now + timedelta(seconds=time.monotonic() - started)
                    with transaction(db):
                        mine = store.renew_claims(db, owner, [row["id"], *(r["id"] for r in batch)],
                                                  iso(at + lease))
                    batch = [r for r in batch if r["id"] in mine]
                    if row["id"] not in mine:
                        continue  # taken over by another run: its lease had run out
            if down is not None:
                break  # the queue waits as it is; this row's claim is given back below
            _deliver_one(db, settings, transport, row, at, result)
            if transport.broken:
                if time.monotonic() >= run_end - 0.1:
                    # The run's own deadline cut this connection: the server is fine, the
                    # row goes again next run; the loop's top reports the deadline.
                    transport.close()
                    transport = None
                    continue
                down = "connection lost earlier in this run"
                result.unreachable = True
                break
    finally:
        if transport is not None:
            transport.close()
        try:
            with transaction(db):
                # Rows of the last batch not handled (an error, the deadline, --limit) and
                # a row whose send was cut off: every handled row cleared its own claim.
                store.release_claims(db, owner)
        except IntakeError:
            pass  # the leases run out by themselves
    if down is not None:
        result.unreachable = True
        result.errors.append(down)
        try:
            with transaction(db):  # why they wait; attempts and backoff untouched
                result.deferred += store.note_relay_down(db, FLUSH_ALL if flush else iso(now), down)
        except IntakeError:
            pass  # only the note is lost
    counts = store.count_by_status(db)
    result.remaining = counts["pending"] + counts["held"]
    return result


def _refuse(db, settings: Settings, row: dict, now_iso: str, result: DeliveryResult) -> bool:
    """Rows that must never go out: not one plain address, or one of our own."""
    rcpt = plain_address(row["recipient"])
    reason = None
    if rcpt is None:
        reason = "not a single plain address: never mailed"
    elif rcpt in settings.own_addresses:
        reason = "one of the platform's own addresses: never mailed"
    if reason is None:
        return False
    with transaction(db):
        store.mark_failed(db, row["id"], reason, attempted=False)
        store.add_attempt(db, row["id"], now_iso, "permanent", reason)
    result.failed += 1
    result.errors.append(f"outbox {row['id']}: {reason}")
    return True


def _hold(db, settings: Settings, row: dict, now: datetime, result: DeliveryResult) -> bool:
    """Apply the per-recipient cap over the last 24 hours."""
    cap = settings.limits.max_emails_per_recipient_per_day
    count, oldest = store.sent_to_since(db, row["recipient"], iso(now - WINDOW))
    if count < cap:
        return False
    # Free again once the oldest email of the window is 24 h old.
    until = parse_iso(oldest) + WINDOW + timedelta(seconds=1)
    with transaction(db):
        store.mark_held(db, row["id"], iso(until), f"daily cap of {cap} emails to this address reached")
    result.held += 1
    return True


def _deliver_one(db, settings: Settings, transport, row: dict, now: datetime, result: DeliveryResult) -> None:
    current = store.get(db, row["id"])
    if current is None or current["status"] != "pending":
        return  # cancelled by staff since this run read the queue
    try:
        raw = smtp.build_message(
            from_name=settings.from_name, from_address=settings.support_address, to=row["recipient"],
            subject=row["subject"], text=row["body_text"], html=row["body_html"],
            message_id=row["message_id"], in_reply_to=row["in_reply_to"], references=row["refs"], date=now)
    except (DeliveryError, ValueError) as exc:
        _permanent(db, row, f"cannot build the message: {exc}", now, result)
        return
    crashpoints.hit("before_send")
    try:
        reply = transport.send(settings.support_address, row["recipient"], raw, row["message_id"])
    except DeliveryError as exc:
        if exc.permanent:
            _permanent(db, row, str(exc), now, result)
        else:
            _temporary(db, row, str(exc), now, result)
        return
    # The server has the message. A crash between here and the commit below
    # leaves the row pending, so the next run sends it once more: the one
    # documented window for a duplicate (the recipient sees the same
    # Message-ID twice). Committing before sending would instead risk losing it.
    crashpoints.hit("after_smtp_250")
    with transaction(db):
        store.mark_sent(db, row["id"], iso(now))
        store.add_attempt(db, row["id"], iso(now), "sent", reply)
    result.sent += 1


def _permanent(db, row: dict, error: str, now: datetime, result: DeliveryResult) -> None:
    with transaction(db):
        store.mark_failed(db, row["id"], error)
        store.add_attempt(db, row["id"], iso(now), "permanent", error)
    result.failed += 1
    result.errors.append(f"outbox {row['id']} to {row['recipient']}: {error}")


def _temporary(db, row: dict, error: str, now: datetime, result: DeliveryResult,
               report: bool = True) -> None:
    attempts = row["attempts"] + 1
    if attempts >= MAX_ATTEMPTS:
        _permanent(db, row, f"gave up after {attempts} attempts: {error}", now, result)
        return
    with transaction(db):
        store.mark_temporary(db, row["id"], error, iso(now + backoff(attempts)))
        store.add_attempt(db, row["id"], iso(now), "temporary", error)
    result.deferred += 1
    if report:
        result.errors.append(f"outbox {row['id']} to {row['recipient']}: {error} (will retry)")


def backoff(attempts: int) -> timedelta:
    """Wait after the n-th failed attempt: 1 min, 2, 4, ... capped at 6 h."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)
