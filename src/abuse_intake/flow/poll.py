"""A poll run: read a mail source batch by batch and store it, then deliver and enforce.

`poll` is the intake loop over one source: one commit per batch, and only
after that commit is the source told the messages are done. `run` is what
`abuse-intake poll` does, once: under the run lock it records the run in
poll_runs, polls, delivers the outbox, and retries pending enforcement
commands, and returns everything as a RunReport for a front door to print.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from .. import crashpoints
from ..config import Settings
from ..errors import IntakeError
from ..intake import open_source
from ..intake.base import MailSource
from ..models import Cursor
from ..store import messages as msg_store
from ..store.db import Checkpointer, transaction
from .marking import DoneMarker
from .prefetch import new_batches
from .process import Notifier, Outcome, Processor, default_notifier, default_renderer, prepare
from .runlock import run_lock
from .workers import Preparer

log = logging.getLogger(__name__)


@dataclass
class PollSummary:
    """The counts of one poll over a source (the keys of `poll --json`)."""

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
    appeals: int = 0

    _FIELD = {"appeal": "appeals", "report": "reports", "reply": "replies", "duplicate": "duplicates", "resend": "resends",
              "robot": "robots", "non_report": "non_reports", "quarantined": "quarantined"}

    def add(self, outcome: Outcome) -> None:
        self.fetched += 1
        self.stored += int(outcome.stored)
        name = self._FIELD[outcome.kind]
        setattr(self, name, getattr(self, name) + 1)
        self.cases_opened += outcome.cases_opened

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


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
    serially. An IMAP backlog is also fetched ahead by a process of its own
    (flow/prefetch.py). Messages are marked done on the server in groups of
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
            per_message = log.isEnabledFor(logging.DEBUG)  # -vv
            try:
                for batch, preps in preparer.ahead(new_batches(source, cursor, limit)):
                    with transaction(db):
                        for raw, prep in zip(batch, preps):
                            outcome = processor.store(raw, prep)
                            summary.add(outcome)
                            if per_message:
                                log_outcome(raw, outcome)
                        uids = [r.source.uid for r in batch if r.source.uid is not None]
                        cursor = Cursor(cursor.uidvalidity, max([cursor.last_uid, *uids]))
                        msg_store.set_cursor(db, source.name, cursor)
                        crashpoints.hit("before_commit")
                    crashpoints.hit("after_commit")
                    checkpointer.committed()
                    if uids:
                        log.info("committed %d messages (%d so far), cursor at UID %s",
                                 len(batch), summary.fetched, cursor.last_uid)
                    else:  # a Maildir has no UIDs and no cursor worth telling
                        log.info("committed %d messages (%d so far)", len(batch), summary.fetched)
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


def log_outcome(raw, outcome) -> None:
    """-vv: one line per message: where it came from, its kind and why. Never its text."""
    src = raw.source
    where = f"UID {src.uid}" if src.uid is not None else f"key {src.key}"
    reason = " ".join(str(outcome.reason or "").split())[:200]
    log.debug("message %s: %s%s", where, outcome.kind, f" ({reason})" if reason else "")


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


# -- one whole run ---------------------------------------------------------------

@dataclass
class RunReport:
    """What one run did: the intake counts, the delivery (None when not asked) and enforcement."""

    summary: PollSummary
    delivery: object | None  # notify.outbox.DeliveryResult
    enforcement: object  # policy.enforcement.EnforcementReport
    purged: object | None = None  # cases.retention.PurgeResult of the run's retention slice

    def counts(self) -> dict:
        """The run's counts as one flat dict (kept in poll_runs.counts; `poll --json`)."""
        counts = self.summary.as_dict()
        d = self.delivery
        if d is not None:
            counts.update(emails_sent=d.sent, emails_deferred=d.deferred, emails_failed=d.failed,
                          emails_held=d.held)
        counts.update(enforcement_done=len(self.enforcement.done),
                      enforcement_failed=len(self.enforcement.failed))
        if self.purged is not None and self.purged.messages:
            counts["purged_messages"] = self.purged.messages
        return counts


def run(settings: Settings, connect: Callable[[], object], *, limit: int | None = None, send: bool = True,
        on_batch: Callable[[PollSummary], None] | None = None) -> RunReport:
    """One poll run: lock, record, poll the configured mailbox, deliver, enforce.

    `connect()` opens the database; it is called only once the run lock is
    held. Raises LockedError when another run holds the lock (nothing done),
    and whatever `poll` raises (the run is recorded with its error first).
    Delivery trouble is not raised: it is in the report (delivery.unreachable).
    """
    with run_lock(settings.lock_path):
        db = connect()
        source = open_source(settings, db)
        with transaction(db):
            run_id = msg_store.start_run(db, source.name)
        try:
            summary = poll(db, settings, source, limit=limit, on_batch=on_batch)
        except Exception as exc:
            with transaction(db):
                msg_store.finish_run(db, run_id, {}, error=str(exc))
            raise
        delivery = None
        if send:
            from ..notify.outbox import deliver_pending
            delivery = deliver_pending(db, settings)
        # Sanctions whose enforcement command failed earlier are retried here, after intake,
        # so a broken enforcement hook never holds up reports.
        from ..policy.enforcement import run_pending
        report = RunReport(summary, delivery, run_pending(db, settings))
        # Retention: one bounded slice per run, short transactions, after the mail is in.
        from ..cases.retention import poll_slice
        try:
            report.purged = poll_slice(db, settings.retention)
        except IntakeError as exc:  # e.g. a busy store: the mail is in, purging waits for the next run
            log.warning("retention slice skipped: %s", exc)
        with transaction(db):
            msg_store.finish_run(db, run_id, report.counts())
    return report


__all__ = ["PollSummary", "RunReport", "poll", "run"]
