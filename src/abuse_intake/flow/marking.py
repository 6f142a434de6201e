"""Marking committed messages done on the source, in groups.

A server MOVE costs per command and in proportion to the folder (Dovecot
rewrites its index), so committed messages are marked in groups of
`mailbox.mark_done_every`. During a backlog a full group of at least
BACKGROUND_MIN messages is marked on a background thread while the next
batches are stored (measured: ~0.25 s of waiting per 500 messages
otherwise; a small group is not worth a thread and is marked in place); the thread mostly waits on the socket,
so it costs the storing thread little. Only one group is in flight at a
time, its outcome is collected before the next starts, and a failure is
raised in the poll at that point. Whatever a dead run leaves unmarked is
"leftovers" that the next run marks (flow/poll.py, intake/base.py).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from .. import crashpoints
from ..intake.base import MailSource
from ..models import Source

log = logging.getLogger(__name__)

BACKGROUND_MIN = 100


class DoneMarker:
    def __init__(self, source: MailSource, every: int):
        self.source = source
        self.every = max(1, every)
        self.pending: list[Source] = []
        self._executor: ThreadPoolExecutor | None = None
        self._running: Future | None = None

    def add(self, sources: list[Source]) -> None:
        """Messages just committed; a full group goes to the server in the background."""
        self.pending.extend(sources)
        if len(self.pending) < self.every:
            return
        self._settle()
        group, self.pending = self.pending, []
        if len(group) < BACKGROUND_MIN:
            self._mark_here(group)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="abuse-intake-mark")
        self._running = self._executor.submit(self.source.mark_done, group)

    def finish(self) -> None:
        """At the end of a run: wait for the group in flight, then mark the rest here."""
        self._settle()
        if self.pending:
            group, self.pending = self.pending, []
            self._mark_here(group)

    def close(self) -> None:
        """On every exit path, before the source is closed: no thread may use it after."""
        running, self._running = self._running, None
        if running is not None:
            exc = running.exception()
            if exc is not None:
                # The run is failing already (that error is the one reported): say it only with -v.
                log.info("marking messages done failed too (%s); the next run marks them", exc)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _mark_here(self, group: list[Source]) -> None:
        self.source.mark_done(group)
        crashpoints.hit("after_mark_done")

    def _settle(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.result()  # re-raises the group's MailboxError here, in the poll
            crashpoints.hit("after_mark_done")
