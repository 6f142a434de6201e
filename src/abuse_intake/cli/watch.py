"""`abuse-intake watch`: near-real-time intake (IMAP IDLE), as a service."""

from __future__ import annotations

import logging
import signal
import threading

import click

from .common import App, pass_app

log = logging.getLogger("abuse_intake.watch")


@click.command()
@pass_app
def watch(app: App) -> None:
    """Wait for new mail with IMAP IDLE and process it within seconds.

    Each wake-up is exactly a `poll` run (same lock, same pipeline, nothing
    marked done before its commit, the outbox delivered after the batch).
    IDLE is renewed every `[watch] idle_renew` seconds (at most 25 minutes);
    a dropped connection is retried with backoff and logged once per outage;
    a server without IDLE (or a Maildir) is polled every `[watch] interval`
    seconds. SIGTERM or Ctrl-C finishes the batch in progress and exits 0.
    Run it as a service (contrib/abuse-intake-watch.service).

    \b
    Exit codes: 0 stopped by SIGTERM/SIGINT; 74 database unusable; 78 configuration error.

    \b
    Example:
      abuse-intake --config /etc/abuse-intake/config.toml -v watch
    """
    from ..flow.poll import run
    from ..flow.watch import Watcher
    from ..intake import open_source

    settings = app.settings
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())  # only a flag: the batch in progress finishes
    relay_down = False

    def run_once() -> dict:
        nonlocal relay_down
        report = run(settings, lambda: app.db)
        counts, delivery, enforcement = report.counts(), report.delivery, report.enforcement
        down = bool(delivery is not None and delivery.unreachable and delivery.remaining)
        if down and not relay_down:
            log.warning("SMTP unreachable, %d email(s) wait: %s", delivery.remaining,
                        delivery.errors[0] if delivery.errors else "")
        elif relay_down and not down:
            log.warning("SMTP reachable again")
        relay_down = down
        if enforcement.failed:
            sid, error = enforcement.failed[0]
            log.warning("enforcement command failed for sanction %s: %s", sid, error)
        return counts

    def open_idle():
        source = open_source(settings, app.db)
        source.readonly = True  # this connection only waits: EXAMINE, never marks
        source.connect()
        return source

    imap = settings.mailbox.scheme != "maildir"
    log.info("watching %s", settings.mailbox.url)
    stats = Watcher(settings, run_once, open_idle if imap else None, stop).run()
    log.info("stopped after %d runs, %d messages stored", stats.runs, stats.stored)


COMMANDS = [watch]
