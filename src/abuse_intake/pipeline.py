"""The flow: raw message -> stored message -> report -> cases -> queued reply.

`Processor.process` handles one message inside the caller's transaction, in a
savepoint of its own, so one bad message is quarantined (raw bytes kept, error
recorded) without undoing its batch. `poll` drives a mail source batch by
batch: one commit per batch, and only after that commit is the server told the
messages are done.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, Protocol

from . import crashpoints
from .cases.dedupe import fingerprint, same_accounts, similar
from .config import Settings
from .errors import InvalidActionError, NotFoundError, ReplayError, StoreError
from .extract import extract
from .intake.base import Cursor, MailSource
from .models import Extraction, ParsedMessage, RawMessage, RobotVerdict, Source
from .parse.message import parse_message
from .parse.robots import detect_robot
from .store import cases as case_store
from .store import messages as msg_store
from .marking import DoneMarker
from .store import blobs
from .store.blobs import sha256
from .store.db import Checkpointer, _translate, iso, parse_iso, savepoint, transaction, utcnow
from .workers import Preparer

log = logging.getLogger(__name__)

KINDS = ("report", "reply", "non_report", "robot", "duplicate", "resend", "quarantined")
_ADDRESS = re.compile(r"[^@\s<>\"',;:()\[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class Notifier(Protocol):
    """What the pipeline needs from notify/: queue emails inside the current transaction."""

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
class PollSummary:
    fetched: int = 0
    stored: int = 0
    reports: int = 0
    replies: int = 0
    duplicates: int = 0
    resends: int = 0
    robots: int = 0
    non_reports: int = 0
    quarantined: int = 0
    cases_opened: int = 0
    leftovers_marked: int = 0
    uidvalidity_changed: bool = False

    _FIELD = {"report": "reports", "reply": "replies", "duplicate": "duplicates", "resend": "resends",
              "robot": "robots", "non_report": "non_reports", "quarantined": "quarantined"}

    def add(self, outcome: Outcome) -> None:
        self.fetched += 1
        self.stored += int(outcome.stored)
        name = self._FIELD[outcome.kind]
        setattr(self, name, getattr(self, name) + 1)
        self.cases_opened += outcome.cases_opened

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


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
        try:
            blobs.put_raw(db, raw.data, digest)  # quarantined messages keep their bytes too
        except sqlite3.OperationalError as exc:
            raise _translate(exc, conn=db.conn) from None
        reason = prep.error
        if reason is None:
            try:
                with savepoint(db.conn):
                    return self._store(raw, prep)
            except (StoreError, sqlite3.OperationalError) as exc:
                # The store itself failed (disk, lock): not this message's fault; stop the batch.
                raise exc if isinstance(exc, StoreError) else _translate(exc, conn=db.conn) from None
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
        db, settings, parsed = self.db, self.settings, prep.parsed
        row = self._base_row(raw, prep.digest, parsed, "report")

        if parsed.message_id:
            first = msg_store.by_message_id(db, parsed.message_id)
            if first is not None:
                # Same sender as the first delivery: no reply is due either way.
                row.update(kind="duplicate", reason=f"same Message-ID as message {first['id']}",
                           duplicate_of=first["id"], reporter=first["reporter"], language=first["language"])
                return Outcome("duplicate", row["reason"], msg_store.insert_message(db, row),
                               duplicate_of=first["id"], reporter=first["reporter"])

        verdict = prep.verdict
        if verdict is not None and verdict.kind != "arf":
            row.update(kind="robot", reason=f"{verdict.kind}: {verdict.reason}")
            return Outcome("robot", row["reason"], msg_store.insert_message(db, row))

        is_arf = verdict is not None  # a partner's feedback report: a report with nobody to answer
        reporter = None if is_arf else self._reporter(parsed)
        row["reporter"] = reporter
        ext = prep.extraction
        row["language"] = None if is_arf else ext.language

        if reporter and not is_arf:
            targets = self._reply_targets(parsed, reporter)
            if targets:
                return self._store_reply(prep, row, targets)

        if not is_arf and not ext.account_ids and ext.category is None:
            row.update(kind="non_report", reason="no account ID and no abuse words")
            message_row = msg_store.insert_message(db, row)
            self._store_attachments(message_row, parsed)
            outbox_id = self.notifier.queue_not_a_report(
                db, settings, self.renderer, source_message=message_row, recipient=reporter,
                language=ext.language, reporter_name=parsed.from_name,
                reply_to_message_id=parsed.message_id, reporter_subject=parsed.subject)
            return Outcome("non_report", row["reason"], message_row, reporter=reporter,
                           language=ext.language, outbox_id=outbox_id)

        category = ext.category or "other"
        severity = settings.severity_of(category)
        received_at = row["received_at"]
        fp = prep.fingerprint

        if reporter:
            earlier = self._resend_of(reporter, received_at, ext.account_ids, fp)
            if earlier is not None:
                row.update(kind="resend", reason=f"re-sent report, same as message {earlier}",
                           duplicate_of=earlier)
                return Outcome("resend", row["reason"], msg_store.insert_message(db, row),
                               duplicate_of=earlier, reporter=reporter, language=ext.language,
                               account_ids=ext.account_ids, category=category)

        row["reason"] = "feedback report (ARF)" if is_arf else ""
        message_row = msg_store.insert_message(db, row)
        self._store_attachments(message_row, parsed)
        report_id = msg_store.insert_report(
            db, message_row=message_row, reporter=reporter, received_at=received_at,
            language=row["language"], category=category, severity=severity, account_ids=ext.account_ids,
            matched_words=ext.matched_words, fingerprint=fp, source="arf" if is_arf else "email")
        cases, opened = self._link_cases(report_id, ext.account_ids, reporter, row["language"],
                                         parsed.message_id, category, severity, received_at)
        outbox_id = None
        if reporter:
            outbox_id = self.notifier.queue_report_reply(
                db, settings, self.renderer, source_message=message_row, recipient=reporter,
                language=ext.language, reporter_name=parsed.from_name,
                reply_to_message_id=parsed.message_id, reporter_subject=parsed.subject, cases=cases)
        return Outcome("report", row["reason"], message_row, reporter=reporter, language=row["language"],
                       account_ids=ext.account_ids, category=category, case_refs=[c["ref"] for c in cases],
                       cases_opened=opened, outbox_id=outbox_id)

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

    def _resend_of(self, reporter: str, received_at: str, account_ids: list[str], fp: str) -> int | None:
        at = parse_iso(received_at)
        since = iso(at - self.resend_window)
        for earlier in msg_store.recent_reports_by(self.db, reporter, since, received_at):
            if same_accounts(account_ids, json.loads(earlier["account_ids"])) and \
                    similar(fp, earlier["text_fingerprint"]):
                return earlier["message_id"]
        return None

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
        report_id = msg_store.insert_report(
            db, message_row=message_row, reporter=row["reporter"], received_at=at, language=row["language"],
            category=category, severity=severity, account_ids=ext.account_ids,
            matched_words=ext.matched_words, fingerprint=prep.fingerprint, source="reply")
        opened = 0
        for case in targets:
            case_id = case["id"]
            if case["status"] == "needs_info" and ext.account_ids:
                account, *more = ext.account_ids
                existing = case_store.open_case_for(db, account)
                if existing is not None:
                    case_store.move_reports(db, case_id, existing["id"], at)
                    case_id = existing["id"]
                else:
                    case_store.attach_account(db, case_id, account, at)
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


# -- a whole run ---------------------------------------------------------------

def default_notifier() -> Notifier:
    from .notify import outbox
    return outbox


def default_renderer(settings: Settings):
    from .notify.render import Renderer
    return Renderer(settings)


def poll(db, settings: Settings, source: MailSource, *, limit: int | None = None,
         notifier: Notifier | None = None, renderer=None,
         on_batch: Callable[[PollSummary], None] | None = None) -> PollSummary:
    """Read new messages from `source` and store them; returns the counts.

    Raises MailboxError when the server fails (everything committed so far
    stays committed and the next run resumes from the cursor) and StoreError
    when the database cannot be written (nothing of the failing batch is
    committed or marked done).

    A backlog (full batches) is parsed by worker processes one batch ahead
    while this process stores the current one; messages are still stored in
    arrival order, so dedupe and resend detection see what they would see
    serially. Messages are marked done on the server in groups of
    `mailbox.mark_done_every` (each group only after its commit): a server
    MOVE costs per command, and a run that dies in between leaves
    "leftovers" that the next run marks without storing them again.
    """
    processor = Processor(db, settings, renderer or default_renderer(settings), notifier or default_notifier())
    summary = PollSummary()
    preparer = Preparer(settings, prepare)
    try:
        with source:
            cursor = _start(db, source, summary)
            marker = DoneMarker(source, settings.mailbox.mark_done_every)
            checkpointer = Checkpointer(db)
            try:
                for batch, preps in preparer.ahead(source.fetch_new(cursor, limit)):
                    with transaction(db):
                        for raw, prep in zip(batch, preps):
                            summary.add(processor.store(raw, prep))
                        uids = [r.source.uid for r in batch if r.source.uid is not None]
                        cursor = Cursor(cursor.uidvalidity, max([cursor.last_uid, *uids]))
                        msg_store.set_cursor(db, source.name, cursor)
                        crashpoints.hit("before_commit")
                    crashpoints.hit("after_commit")
                    checkpointer.committed()
                    log.info("committed %d messages (%d so far), cursor at UID %s",
                             len(batch), summary.fetched, cursor.last_uid)
                    marker.add([r.source for r in batch])
                    if on_batch is not None:
                        on_batch(summary)
                marker.finish()
            finally:
                checkpointer.close()
                marker.close()
    finally:
        preparer.close()
    return summary


def _start(db, source: MailSource, summary: PollSummary) -> Cursor:
    """Validate the stored cursor against the server and finish a dead run's marking."""
    validity = source.uidvalidity()
    cursor = msg_store.get_cursor(db, source.name)
    if cursor.uidvalidity is not None and validity != cursor.uidvalidity:
        # UIDs of the old numbering mean nothing now: re-scan; dedupe stops repeats.
        summary.uidvalidity_changed = True
        log.warning("UIDVALIDITY of %s changed from %s to %s: re-scanning the folder (nothing is stored twice)",
                    source.name, cursor.uidvalidity, validity)
        cursor = Cursor(validity, 0)
    else:
        cursor = Cursor(validity, cursor.last_uid)
    leftovers = source.leftovers(cursor)
    if leftovers:
        # Committed by a run that died before telling the server.
        source.mark_done(leftovers)
        summary.leftovers_marked = len(leftovers)
        log.info("marked %d messages done that an earlier run had committed", len(leftovers))
    return cursor


def process_one(db, settings: Settings, raw: RawMessage, *, notifier: Notifier | None = None,
                renderer=None) -> Outcome:
    """Process a single message in its own transaction (tests, replay, SMTP intake)."""
    processor = Processor(db, settings, renderer or default_renderer(settings), notifier or default_notifier())
    with transaction(db):
        return processor.process(raw)


def replay(db, settings: Settings, message_row: int, *, notifier: Notifier | None = None,
           renderer=None) -> Outcome:
    """Process a quarantined message again from its stored raw bytes."""
    row = msg_store.get_message(db, message_row)
    if row is None:
        raise NotFoundError(f"no message {message_row}")
    if row["kind"] != "quarantined":
        raise InvalidActionError(f"message {message_row} is not quarantined (it is {row['kind']})")
    data = blobs.get_raw(db, row["raw_sha256"])
    if data is None:
        raise StoreError(f"the raw bytes of message {message_row} are missing from the store")
    processor = Processor(db, settings, renderer or default_renderer(settings), notifier or default_notifier())
    raw = RawMessage(data, Source(row["mailbox"], row["uidvalidity"], row["uid"]))
    with transaction(db):
        # The quarantined row steps aside so the message can be stored as what it really is.
        msg_store.delete_message(db, message_row)
        outcome = processor.process(raw)
        if outcome.kind == "quarantined":
            raise ReplayError(f"message {message_row} failed again: {outcome.reason}")
        msg_store.mark_replayed(db, outcome.message_row)
    return outcome
