"""`watch`: near-real-time intake with IMAP IDLE (RFC 2177).

One connection only waits (IDLE, read-only EXAMINE); every wake-up runs
exactly the poll run (`run_once`: the same lock, the same pipeline, commit
before marking done, the outbox delivered after the batch), so watch gives
every guarantee poll gives and a cron `poll` beside it is harmless.

- IDLE is re-issued every `[watch] idle_renew` seconds (at most 25 minutes:
  servers may drop an IDLE after 30) and a run follows each renewal, which
  also catches mail whose notification was lost.
- A dropped connection is retried with exponential backoff (1 s .. 5 min),
  logged once when the outage starts and once when it ends.
- Without IDLE (or for a Maildir) the mailbox is polled every
  `[watch] interval` seconds.
- `stop` (set by SIGTERM/SIGINT in the CLI) is checked between runs and
  every second while idling: the batch in progress always finishes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..config import Settings
from ..errors import LockedError, MailboxError, StoreBusyError, TokenEndpointError

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0
# What a later attempt can cure: the server, the token endpoint, a busy database, another run.
TRANSIENT = (MailboxError, TokenEndpointError, StoreBusyError, LockedError)


@dataclass
class WatchStats:
    runs: int = 0
    stored: int = 0
    outages: int = 0


class Watcher:
    def __init__(self, settings: Settings, run_once: Callable[[], dict], open_idle: Callable[[], object] | None,
                 stop: threading.Event, *, sleep_cap: float = BACKOFF_MAX):
        """`run_once()` is one poll run returning its counts; `open_idle()` a
        connected source with supports_idle()/wait_for_mail()/close(), or None
        for a source that cannot idle (Maildir)."""
        self.settings = settings
        self.run_once = run_once
        self.open_idle = open_idle
        self.stop = stop
        self.sleep_cap = sleep_cap
        self.stats = WatchStats()
        self._backoff = BACKOFF_FIRST
        self._outage_since: float | None = None
        self._attempts = 0

    def run(self) -> WatchStats:
        """Until stop is set. Raises only what retrying cannot cure (config, database)."""
        while not self.stop.is_set():
            idle = None
            try:
                self._run()  # catch up first (and after every reconnect)
                idle = self.open_idle() if self.open_idle is not None else None
                can_idle = idle is not None and idle.supports_idle()
                self._recovered()
                if not can_idle:
                    log.info("the mailbox cannot IDLE: polling every %g s", self.settings.watch_interval)
                while not self.stop.is_set():
                    if can_idle:
                        new = idle.wait_for_mail(self.settings.watch_idle_renew, self.stop.is_set)
                        if self.stop.is_set():
                            break
                        log.debug("IDLE %s", "announced new mail" if new else "renewed")
                    else:
                        if self.stop.wait(self.settings.watch_interval):
                            break
                    self._run()
            except TRANSIENT as exc:
                self._failed(exc)
            finally:
                if idle is not None:
                    idle.close()
        return self.stats

    def _run(self) -> None:
        if self.stop.is_set():
            return
        counts = self.run_once()
        self.stats.runs += 1
        self.stats.stored += counts.get("stored", 0)
        if counts.get("fetched"):
            log.info("stored %d of %d new messages; %d emails sent", counts.get("stored", 0),
                     counts.get("fetched", 0), counts.get("emails_sent", 0))

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, LockedError):  # a cron `poll` is at work: not an outage
            log.debug("another run holds the lock; trying again shortly")
            self.stop.wait(min(self.settings.watch_interval, 5.0))
            return
        self._attempts += 1
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            self.stats.outages += 1
            log.warning("%s; retrying with backoff (up to %g s) until it is back", exc, self.sleep_cap)
        self.stop.wait(self._backoff)
        self._backoff = min(self._backoff * 2, self.sleep_cap)

    def _recovered(self) -> None:
        if self._outage_since is not None:
            log.warning("the mailbox is back after %.0f s (%d attempts)",
                        time.monotonic() - self._outage_since, self._attempts)
        self._outage_since = None
        self._attempts = 0
        self._backoff = BACKOFF_FIRST
