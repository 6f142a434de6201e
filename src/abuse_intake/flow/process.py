"""Processing one message: raw bytes -> stored message -> report -> cases -> queued reply.

`prepare` is the CPU-only half (parse, robots, extraction, fingerprint; no
database), run in worker processes during a backlog. `Processor.store` is
the database half: it classifies the message against stored state and writes
its rows inside the caller's transaction, in a savepoint of its own, so one
bad message is quarantined (raw bytes kept, error recorded) without undoing
its batch. A run over a mail source is flow/poll.py; replay is flow/replay.py.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, Protocol

from ..appeals import detect as appeal_rules
from ..appeals import service as appeals
from ..cases import lifecycle
from ..cases import limits
from ..cases.dedupe import EarlierReport, fingerprint, resend_of
from ..cases.linking import give_account
from ..config import Settings
from ..errors import StoreError
from ..extract import extract
from ..models import KINDS, Extraction, ParsedMessage, RawMessage, RobotVerdict
from ..parse.message import parse_message
from ..parse.robots import backscatter_reason, detect_robot
from ..store import blobs
from ..store import cases as case_store
from ..store import messages as msg_store
from ..store.blobs import sha256
from ..store.db import is_corrupt, iso, parse_iso, savepoint, store_errors, transaction, utcnow

log = logging.getLogger(__name__)

__all__ = ["KINDS", "Outcome", "Prepared", "Processor", "prepare", "process_one"]
_ADDRESS = re.compile(r"[^@\s<>\"',;:()\[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class Notifier(Protocol):
    """What processing needs from notify/: queue emails inside the current transaction."""

    def queue_report_reply(self, db, settings, renderer, **kw) -> int | None: ...
    def queue_not_a_report(self, db, settings, renderer, **kw) -> int | None: ...


@dataclass
class Outcome:
    kind: str
    reason: str = ""
    message_row: int | None = None
    duplicate_of: int | None = None  # message row this one repeats
    reporter: str | None = None
    language: str | None = None
    account_ids: list[str] = field(default_factory=list)
    category: str | None = None
    case_refs: list[str] = field(default_factory=list)
    cases_opened: int = 0
    stored: bool = True  # False: byte-identical re-read, nothing new written
    outbox_id: int | None = None


@dataclass
class Prepared:
    """The CPU-only half of processing one message: no database.

    Made in a worker process during backlogs (see `poll`), so it must pickle.
    """

    digest: str
    parsed: ParsedMessage | None = None
    verdict: RobotVerdict | None = None
    extraction: Extraction | None = None  # None for robots (never needed)
    fingerprint: str = ""
    error: str | None = None  # set when parsing or extraction failed: quarantine


def prepare(data: bytes, settings: Settings) -> Prepared:
    """Parse, detect robots, extract IDs and category, fingerprint. Never raises."""
    digest = sha256(data)
    try:
        parsed = parse_message(data, settings.limits)
        verdict = detect_robot(parsed, settings.own_addresses)
        if verdict is not None and verdict.kind != "arf":
            return Prepared(digest, parsed, verdict)
        ext = extract(parsed.text, parsed.html_links, parsed.forwarded_text, parsed.subject,
                      parsed.from_address, parsed.from_name, settings)
        return Prepared(digest, parsed, verdict, ext, fingerprint(f"{parsed.subject}\n{parsed.text}"))
    except Exception as exc:  # noqa: BLE001 - any failure quarantines just this message
        return Prepared(digest, error=f"{type(exc).__name__}: {exc}"[:2000])


class Processor:
    """Everything that does not change between messages is prepared once here."""

    def __init__(self, db, settings: Settings, renderer, notifier: Notifier):
        self.db = db
        self.settings = settings
        self.renderer = renderer
        self.notifier = notifier
        self.own = set(settings.own_addresses)
        self.tag = re.compile(rf"\[({re.escape(settings.case_prefix)}-\d{{6,}})\]", re.IGNORECASE)
        self.resend_window = timedelta(hours=settings.resend_window_hours)

    # -- one message ---------------------------------------------------------

    def process(self, raw: RawMessage) -> Outcome:
        """Store one message and everything it causes; never raises for bad input."""
        return self.store(raw, prepare(raw.data, self.settings))

    def store(self, raw: RawMessage, prep: Prepared) -> Outcome:
        """The database half: dedupe, classify against stored state, write rows."""
        db, digest = self.db, prep.digest
        seen = msg_store.by_raw_hash(db, digest)
        if seen is not None:
            # The same bytes again (re-delivery, re-scan, crash recovery): a no-op.
            return Outcome("duplicate", reason=f"same bytes as message {seen['id']}",
                           message_row=seen["id"], duplicate_of=seen["id"], stored=False)
        with store_errors(db.conn):
            blobs.put_raw(db, raw.data, digest)  # quarantined messages keep their bytes too
        reason = prep.error or limits.oversize_reason(raw, self.settings)
        if reason is None:
            try:
                with savepoint(db.conn):
                    return self._store(raw, prep)
            except StoreError:
                # The store itself failed (disk, lock): not this message's fault; stop the batch.
                raise
            except sqlite3.DatabaseError as exc:
                if is_corrupt(exc):  # a damaged file is not this message's fault either
                    raise StoreError(f"the database cannot be used: {exc}") from None
                reason = f"{type(exc).__name__}: {exc}"[:2000]
            except Exception as exc:  # noqa: BLE001 - any other failure quarantines just this message
                reason = f"{type(exc).__name__}: {exc}"[:2000]
        with savepoint(db.conn):
            row = msg_store.insert_message(db, self._base_row(raw, digest, None, "quarantined", reason))
        log.info("message %s quarantined: %s", row, reason)
        return Outcome("quarantined", reason=reason, message_row=row)

    def _base_row(self, raw: RawMessage, digest: str, parsed: ParsedMessage | None, kind: str,
                  reason: str = "") -> dict:
        src = raw.source
        row = {
            "raw_sha256": digest, "size": len(raw.data), "mailbox": src.mailbox,
            "uidvalidity": src.uidvalidity, "uid": src.uid, "kind": kind, "reason": reason,
        }
        if parsed is None:
            row["received_at"] = iso(raw.received_at or utcnow())
        else:
            row.update({
                "message_id": parsed.message_id,
                "received_at": iso(parsed.date or parsed.received_date or raw.received_at or utcnow()),
                "from_address": parsed.from_address,
                "from_name": parsed.from_name,
                "subject": parsed.subject,
                "text": parsed.text,
                "forwarded_text": parsed.forwarded_text,
                "in_reply_to": " ".join(parsed.in_reply_to) or None,
                "refs": " ".join(parsed.references) or None,
                "defects": json.dumps(list(parsed.defects), ensure_ascii=False) if parsed.defects else None,
            })
        return row

    def _reporter(self, parsed: ParsedMessage) -> str | None:
        addr = (parsed.from_address or "").strip().lower()
        if not addr or addr in self.own or not _ADDRESS.fullmatch(addr):
            return None
        return addr

    def _store(self, raw: RawMessage, prep: Prepared) -> Outcome:
        m = Candidate(prep, self._base_row(raw, prep.digest, prep.parsed, "report"))
        m.withheld = backscatter_reason(prep.parsed, self.settings.mailbox.trusted_authserv_ids, raw.envelope_sender)
        for _name, rule in RULES:
            outcome = rule(self, m)
            if outcome is not None:
                return outcome
        raise AssertionError("the report rule always decides")  # pragma: no cover

    # -- the rules (see RULES below for their order) ----------------------------

    def _duplicate(self, m: "Candidate") -> Outcome | None:
        """The same Message-ID as a stored message (the same bytes never get here)."""
        if not m.parsed.message_id:
            return None
        first = msg_store.by_message_id(self.db, m.parsed.message_id)
        if first is None:
            return None
        # Same sender as the first delivery: no reply is due either way.
        m.row.update(kind="duplicate", reason=f"same Message-ID as message {first['id']}",
                     duplicate_of=first["id"], reporter=first["reporter"], language=first["language"])
        return Outcome("duplicate", m.row["reason"], msg_store.insert_message(self.db, m.row),
                       duplicate_of=first["id"], reporter=first["reporter"])

    def _robot(self, m: "Candidate") -> Outcome | None:
        """An auto-reply, bounce, list mail, loop or sender-less message (an ARF report is not one)."""
        verdict = m.prep.verdict
        if verdict is None or verdict.kind == "arf":
            return None
        m.row.update(kind="robot", reason=f"{verdict.kind}: {verdict.reason}")
        return Outcome("robot", m.row["reason"], msg_store.insert_message(self.db, m.row))

    def _reply(self, m: "Candidate") -> Outcome | None:
        """A case reporter writing again about that case (case tag or threading)."""
        self._as_report(m)
        if not m.reporter or m.is_arf:
            return None
        targets = self._reply_targets(m.parsed, m.reporter)
        if targets and self._contests_outcome(m, targets):
            return None  # the appeal rule takes it: a contested "no violation" is not more information
        return self._store_reply(m.prep, m.row, targets) if targets else None

    def _appeal(self, m: "Candidate") -> Outcome | None:
        """An account holder appealing a sanction of their own account (or mail to the appeal
        address), or a reporter contesting a "no violation" outcome: never a report."""
        self._as_report(m)
        if not m.reporter or m.is_arf:
            return None
        signal = self._appeal_signal(m, m.appeal_refs)
        if signal is None:
            return None
        parsed, s = m.parsed, self.settings
        handle = appeal_rules.own_handle(f"{parsed.subject}\n{parsed.text}", s.accounts.handle_pattern)
        m.row.update(kind="appeal", reason=f"appeal ({signal.why})")
        message_row = msg_store.insert_message(self.db, m.row)
        self._store_attachments(message_row, parsed)
        appeal_id, status, outbox_id = appeals.record(
            self.db, s, self.renderer, message_row=message_row, why=signal.why, appellant=m.reporter,
            language=m.row["language"], received_at=m.row["received_at"], handle=handle,
            case_refs=tuple(sorted({*signal.case_refs, *m.appeal_refs})), sanction_id=signal.sanction_id,
            reporter_name=parsed.from_name, subject=parsed.subject, reply_to_message_id=parsed.message_id,
            withheld=m.withheld)
        return Outcome("appeal", f"appeal {appeal_id}: {status}", message_row, reporter=m.reporter,
                       language=m.row["language"], outbox_id=outbox_id)

    def _appeal_signal(self, m: "Candidate", refs=()) -> "appeal_rules.AppealSignal | None":
        parsed, s = m.parsed, self.settings
        to = " ".join(parsed.headers.get(h, "") for h in ("to", "cc"))
        return appeal_rules.detect(subject=parsed.subject, text=parsed.text, to_header=to,
                                   appeal_address=s.appeal_address, support_address=s.support_address,
                                   case_tag=self.tag, is_reply=bool(refs or parsed.in_reply_to or parsed.references))

    def _contests_outcome(self, m: "Candidate", targets: list[dict]) -> bool:
        if not all(c["status"] == "decided" and case_store.case_by_id(self.db, c["id"])["decision"] == "no_violation"
                   for c in targets):
            return False
        m.appeal_refs = tuple(c["ref"] for c in targets)
        signal = self._appeal_signal(m, m.appeal_refs)
        return signal is not None and signal.why == "contested_outcome"

    def _non_report(self, m: "Candidate") -> Outcome | None:
        """No account ID and no abuse words: a question, not a report (answered as such)."""
        self._as_report(m)
        db, parsed, ext = self.db, m.parsed, m.ext
        if m.is_arf or ext.account_ids or ext.category is not None or limits.too_many(ext):
            return None
        m.row.update(kind="non_report", reason="no account ID and no abuse words")
        message_row = msg_store.insert_message(db, m.row)
        self._store_attachments(message_row, parsed)
        outbox_id = self.notifier.queue_not_a_report(
            db, self.settings, self.renderer, source_message=message_row, recipient=m.reporter,
            language=ext.language, reporter_name=parsed.from_name,
            reply_to_message_id=parsed.message_id, reporter_subject=parsed.subject, withheld=m.withheld)
        return Outcome("non_report", m.row["reason"], message_row, reporter=m.reporter,
                       language=ext.language, outbox_id=outbox_id)

    def _resend(self, m: "Candidate") -> Outcome | None:
        """The same reporter again about the same accounts, in near-identical words, within the window."""
        self._as_report(m)
        if not m.reporter:
            return None
        ext, category = m.ext, m.ext.category or "other"
        earlier = self._resend_of(m.reporter, m.row["received_at"], ext.account_ids, m.prep.fingerprint,
                                  m.parsed.attachments)
        if earlier is None:
            return None
        m.row.update(kind="resend", reason=f"re-sent report, same as message {earlier}", duplicate_of=earlier)
        return Outcome("resend", m.row["reason"], msg_store.insert_message(self.db, m.row),
                       duplicate_of=earlier, reporter=m.reporter, language=ext.language,
                       account_ids=ext.account_ids, category=category)

    def _report(self, m: "Candidate") -> Outcome:
        """Everything else: a report, linked to the open case of each account it names."""
        self._as_report(m)
        db, settings, parsed, ext, row, reporter = self.db, self.settings, m.parsed, m.ext, m.row, m.reporter
        category = ext.category or "other"
        severity = "critical" if ext.minor else settings.severity_of(category)  # a minor named: critical
        received_at = row["received_at"]
        fp = m.prep.fingerprint
        row["reason"] = "feedback report (ARF)" if m.is_arf else ""
        message_row = msg_store.insert_message(db, row)
        self._store_attachments(message_row, parsed)
        report_id = msg_store.insert_report(
            db, message_row=message_row, reporter=reporter, received_at=received_at,
            language=row["language"], category=category, severity=severity, account_ids=ext.account_ids,
            matched_words=ext.matched_words, fingerprint=fp, source="arf" if m.is_arf else "email")
        cases, opened = self._link_cases(report_id, ext.account_ids, reporter, row["language"],
                                         parsed.message_id, category, severity, received_at)
        if limits.too_many(ext):  # no account of its own: one needs_info case, flagged with the list
            limits.flag_cases(db, cases, ext, settings.limits.max_accounts_per_report)
        outbox_id = None
        if reporter:
            outbox_id = self.notifier.queue_report_reply(
                db, settings, self.renderer, source_message=message_row, recipient=reporter,
                language=ext.language, reporter_name=parsed.from_name,
                reply_to_message_id=parsed.message_id, reporter_subject=parsed.subject, cases=cases,
                withheld=m.withheld,
                critical=severity == "critical")
        return Outcome("report", row["reason"], message_row, reporter=reporter, language=row["language"],
                       account_ids=ext.account_ids, category=category, case_refs=[c["ref"] for c in cases],
                       cases_opened=opened, outbox_id=outbox_id)

    def _as_report(self, m: "Candidate") -> None:
        """Past the robot rule the message is someone's mail: name its reporter and language."""
        if m.reporter is _UNSET:
            m.is_arf = m.prep.verdict is not None  # a partner's feedback report: nobody to answer
            m.reporter = None if m.is_arf else self._reporter(m.parsed)
            m.row["reporter"] = m.reporter
            m.row["language"] = None if m.is_arf else m.ext.language

    # -- pieces --------------------------------------------------------------

    def _link_cases(self, report_id, account_ids, reporter, language, reporter_message_id,
                    category, severity, at) -> tuple[list[dict], int]:
        db, opened, cases = self.db, 0, []
        for account in account_ids or [None]:
            case = case_store.open_case_for(db, account) if account else None
            if case is None:
                # Inserted already linked: one statement fewer than create_case + link_report.
                case = case_store.open_case_with_report(
                    db, prefix=self.settings.case_prefix, account_id=account, report_id=report_id,
                    reporter=reporter, language=language, reporter_message_id=reporter_message_id,
                    category=category, severity=severity, at=at)
                opened += 1
            else:
                case_store.link_report(db, case_id=case["id"], report_id=report_id, reporter=reporter,
                                       language=language, reporter_message_id=reporter_message_id,
                                       category=category, severity=severity, at=at)
            cases.append(case)
        return cases, opened

    def _resend_of(self, reporter: str, received_at: str, account_ids: list[str], fp: str,
                   attachments=()) -> int | None:
        """The rule is cases.dedupe.resend_of; this gathers the reporter's reports in the window."""
        at = parse_iso(received_at)
        since = iso(at - self.resend_window)
        db = self.db

        def earlier():  # lazily: the first match ends the look-up
            for r in msg_store.recent_reports_by(db, reporter, since, received_at):
                yield EarlierReport(
                    r["message_id"], tuple(json.loads(r["account_ids"])), r["text_fingerprint"],
                    frozenset(a["sha256"] for a in msg_store.attachments_of(db, r["message_id"]) if a["sha256"]),
                    all(case_store.report_in_open_case(db, r["id"], a) for a in account_ids))

        files = [a.sha256 or sha256(a.payload) for a in attachments if a.payload and not a.skipped_reason]
        return resend_of(account_ids, files, fp, earlier())

    def _reply_targets(self, parsed: ParsedMessage, reporter: str) -> list[dict]:
        """Cases this message answers, as named by a case tag or by our Message-IDs,
        kept only where the sender is already one of the case's reporters."""
        refs = sorted({m.upper() for m in self.tag.findall(parsed.subject or "")})
        found = case_store.cases_by_refs(self.db, refs)
        threaded = [*parsed.in_reply_to, *parsed.references]
        if threaded:
            found += case_store.cases_by_outgoing_message_ids(self.db, threaded)
        seen, targets = set(), []
        for case in found:
            if case["id"] not in seen and case_store.is_case_reporter(self.db, case["id"], reporter):
                seen.add(case["id"])
                targets.append(case)
        return targets

    def _store_reply(self, prep: Prepared, row: dict, targets: list[dict]) -> Outcome:
        db, at, parsed, ext = self.db, row["received_at"], prep.parsed, prep.extraction
        refs = [c["ref"] for c in targets]
        row.update(kind="reply", reason=f"more information for {', '.join(refs)}")
        message_row = msg_store.insert_message(db, row)
        self._store_attachments(message_row, parsed)
        first = case_store.case_by_id(db, targets[0]["id"])
        category = ext.category or first["category"]
        severity = self.settings.severity_of(category) if category in self.settings.categories else first["severity"]
        if ext.minor:
            severity = "critical"
        report_id = msg_store.insert_report(
            db, message_row=message_row, reporter=row["reporter"], received_at=at, language=row["language"],
            category=category, severity=severity, account_ids=ext.account_ids,
            matched_words=ext.matched_words, fingerprint=prep.fingerprint, source="reply")
        opened = 0
        for case in targets:
            case_id = case["id"]
            if case["status"] == "decided":
                # Never silently: new accounts get cases, other news flags the decided case.
                opened += lifecycle.after_decision(
                    db, self.settings, case=case, report_id=report_id, account_ids=ext.account_ids,
                    reporter=row["reporter"], language=row["language"], reporter_message_id=parsed.message_id,
                    category=category, severity=severity, at=at)
                continue
            if case["status"] == "needs_info" and ext.account_ids:
                account, *more = ext.account_ids
                merged_into = give_account(db, case_store.case_by_id(db, case_id), account, at)
                if merged_into is not None:
                    case_id = merged_into["id"]
                for extra in more:
                    _, n = self._link_cases(report_id, [extra], row["reporter"], row["language"],
                                            parsed.message_id, category, severity, at)
                    opened += n
            case_store.link_report(db, case_id=case_id, report_id=report_id, reporter=row["reporter"],
                                   language=row["language"], reporter_message_id=parsed.message_id,
                                   category=category, severity=severity, at=at)
        return Outcome("reply", row["reason"], message_row, reporter=row["reporter"], language=row["language"],
                       account_ids=ext.account_ids, category=category, case_refs=refs, cases_opened=opened)

    def _store_attachments(self, message_row: int, parsed: ParsedMessage) -> None:
        if not parsed.attachments:
            return
        rows = []
        for att in parsed.attachments:
            digest = None
            if att.payload and not att.skipped_reason:
                digest = blobs.put_attachment(self.db, att.payload, att.sha256 or None)
            rows.append((digest, att.filename, att.content_type, len(att.payload), att.skipped_reason or None))
        msg_store.insert_attachments(self.db, message_row, rows)


_UNSET = object()


@dataclass
class Candidate:
    """One message while the rules look at it: what prepare() made, and its row so far."""

    prep: Prepared
    row: dict
    reporter: object = _UNSET  # str | None once the reply rule has named it
    is_arf: bool = False
    withheld: str | None = None  # why no email may answer it (backscatter), else None
    appeal_refs: tuple = ()  # decided cases a reply contests (the reply rule hands them on)

    @property
    def parsed(self) -> ParsedMessage:
        return self.prep.parsed

    @property
    def ext(self) -> Extraction:
        return self.prep.extraction


# The classification, in order: the first rule that returns an Outcome decides
# what the message is (its kind) and writes its rows. A new kind of message is
# one new rule here. Order matters: a repeated Message-ID is a duplicate even
# from a robot; robots are never answered; a reply to a case is not judged as
# a new report; a re-sent report is only looked for among reports.
RULES: tuple[tuple[str, Callable[[Processor, Candidate], Outcome | None]], ...] = (
    ("duplicate", Processor._duplicate),
    ("robot", Processor._robot),
    ("reply", Processor._reply),
    ("appeal", Processor._appeal),
    ("non_report", Processor._non_report),
    ("resend", Processor._resend),
    ("report", Processor._report),
)


# -- one message on its own ---------------------------------------------------

def default_notifier() -> Notifier:
    from ..notify import outbox
    return outbox


def default_renderer(settings: Settings):
    from ..notify.render import Renderer
    return Renderer(settings)


def process_one(db, settings: Settings, raw: RawMessage, *, notifier: Notifier | None = None,
                renderer=None) -> Outcome:
    """Process a single message in its own transaction (tests, replay, SMTP intake)."""
    processor = Processor(db, settings, renderer or default_renderer(settings), notifier or default_notifier())
    with transaction(db):
        return processor.process(raw)
