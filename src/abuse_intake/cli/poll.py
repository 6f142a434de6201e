"""`abuse-intake poll`: the cron job."""

from __future__ import annotations

import sys

import click

from ..errors import EX_TEMPFAIL
from .common import App, echo_json, pass_app

SUMMARY_KEYS = ("fetched", "stored", "reports", "replies", "duplicates", "resends", "robots",
                "non_reports", "quarantined", "cases_opened", "appeals")


@click.command()
@click.option("--limit", type=click.IntRange(min=1), help="Read at most N new messages this run.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success (for cron).")
@click.option("--no-send", is_flag=True, help="Queue emails but do not deliver them this run.")
@pass_app
def poll(app: App, limit: int | None, as_json: bool, quiet: bool, no_send: bool) -> None:
    """Read new mail, store it, group reports into cases, queue and send replies.

    Safe to re-run and to run from cron: a lock keeps overlapping runs apart
    (the second exits 73 at once), nothing is marked done on the server before
    it is committed, and a message seen before is never stored twice.

    \b
    Exit codes: 0 done; 73 another poll is running; 75 mailbox or SMTP
    unreachable (nothing lost, try again later); 78 configuration error.

    \b
    Example:
      abuse-intake --config /etc/abuse-intake/config.toml poll --json
    """
    from ..flow.poll import run

    progress = _Progress() if sys.stderr.isatty() and not quiet and not as_json else None
    try:
        report = run(app.settings, lambda: app.db, limit=limit, send=not no_send,
                     on_batch=progress.update if progress else None)
    finally:
        if progress:
            progress.done()
    counts, delivery, enforcement = report.counts(), report.delivery, report.enforcement
    if as_json:
        echo_json(counts)
    elif not quiet:
        line = ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in SUMMARY_KEYS)
        if delivery is not None:
            line += f"; emails: {delivery.sent} sent, {delivery.deferred} deferred, " \
                    f"{delivery.failed} failed, {delivery.held} held"
        click.echo(line)
    if enforcement.failed:
        sid, error = enforcement.failed[0]
        click.echo(f"abuse-intake: enforcement command failed for sanction {sid}: {error}", err=True)
    if delivery is not None and delivery.unreachable and delivery.remaining:
        # Intake is committed; only delivery waits. Same rule as `send`.
        click.echo(f"abuse-intake: SMTP unreachable, {delivery.remaining} email(s) wait: "
                   f"{delivery.errors[0] if delivery.errors else ''}", err=True)
        sys.exit(EX_TEMPFAIL)


class _Progress:
    """A one-line counter on a terminal; nothing under cron."""

    def update(self, summary) -> None:  # flow.poll.PollSummary
        click.echo(f"\r{summary.fetched} messages, {summary.cases_opened} cases opened", nl=False, err=True)

    def done(self) -> None:
        click.echo("", err=True)


@click.command("serve-smtp")
@click.option("--listen", default="127.0.0.1:2525", show_default=True, metavar="HOST:PORT",
              help="Address to accept mail on.")
@pass_app
def serve_smtp(app: App, listen: str) -> None:
    """Accept report mail over SMTP (from the MTA) and process it as it arrives.

    Answers 250 only after the message is committed, 451 if the store fails
    (the MTA retries). Replies are queued; run `send` (or `poll`) to deliver.
    Stops on Ctrl-C or SIGTERM.

    \b
    Example:
      abuse-intake --config /etc/abuse-intake/config.toml serve-smtp --listen 127.0.0.1:2525
    """
    import signal
    import threading

    from ..flow.smtp_listener import SmtpIntake

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("use HOST:PORT, e.g. 127.0.0.1:2525", param_hint="--listen")
    server = SmtpIntake(app.settings, host, int(port))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    click.echo(f"listening on {host}:{port}", err=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


COMMANDS = [poll, serve_smtp]
