"""`abuse-intake status`: health for people and for monitoring."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from .common import App, echo_json, pass_app


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object.")
@click.option("--check", is_flag=True, help="One line; exit 0 ok, 1 warning, 2 critical (Nagios plugin style).")
@click.option("--prometheus", is_flag=True, help="Print the Prometheus text exposition format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="With --prometheus: write this file atomically (node_exporter's textfile collector).")
@click.option("--backlog", is_flag=True, help="Also log in to the mailbox and count the messages waiting there.")
@pass_app
def status(app: App, as_json: bool, check: bool, prometheus: bool, output: Path | None, backlog: bool) -> None:
    """Last successful poll, last error, outbox, quarantine, open cases, by `[health]` thresholds.

    Reads the database only (never creates it); --backlog also asks the
    mailbox server. --check prints one line and exits 0/1/2; the thresholds
    are the `[health]` keys.

    \b
    JSON keys: now, last_poll_ok_at, last_poll_ok_age_seconds, last_error_at,
    last_error, last_run_failed, mailbox_backlog, outbox_pending, outbox_held,
    outbox_failed, outbox_sent, outbox_oldest_pending_age_seconds,
    outbox_oldest_held_age_seconds, quarantined, open_cases (per severity:
    count, oldest_age_seconds), oldest_unread_appeal_age_seconds, health, problems.

    \b
    Examples:
      abuse-intake status --check                      # Nagios / Icinga
      abuse-intake status --prometheus -o /var/lib/node_exporter/textfile/abuse_intake.prom
    """
    from .. import status as status_mod

    db = app.existing_db()
    waiting = _backlog(app, db) if backlog else None
    st = status_mod.collect(db, app.settings, backlog=waiting)
    level = status_mod.LEVELS.index(st.health)
    if prometheus:
        text = render_prometheus(st, level)
        if output is not None:
            _write_atomically(output, text)
        else:
            click.echo(text, nl=False)
    elif as_json:
        echo_json(st.as_dict())
    elif check:
        word = st.health.upper()
        detail = "; ".join(st.problems) if st.problems else (
            f"last poll {st.last_poll_ok_age_seconds / 60:.0f} min ago, {st.outbox_pending} emails pending")
        click.echo(f"ABUSE-INTAKE {word}: {detail}")
    else:
        _human(st)
    if check:
        sys.exit(level)


def _backlog(app: App, db) -> int | None:
    from ..intake import open_source
    from ..store.messages import get_cursor

    source = open_source(app.settings, db)
    if not hasattr(source, "pending"):
        return None
    with source:
        return len(source.pending(get_cursor(db, source.name), None))


def _human(st) -> None:
    click.echo(f"health:           {st.health}" + (f" ({'; '.join(st.problems)})" if st.problems else ""))
    click.echo(f"last poll ok:     {st.last_poll_ok_at or 'never'}")
    if st.last_error:
        click.echo(f"last error:       {st.last_error_at} {st.last_error}")
    if st.mailbox_backlog is not None:
        click.echo(f"on the server:    {st.mailbox_backlog} messages waiting")
    click.echo(f"outbox:           {st.outbox_pending} pending, {st.outbox_held} held, {st.outbox_failed} failed")
    click.echo(f"quarantined:      {st.quarantined}")
    for sev, v in st.open_cases.items():
        click.echo(f"open {sev + ':':<13} {v['count']} (oldest {v['oldest_age_seconds'] / 3600:.1f} h)")


def render_prometheus(st, level: int) -> str:
    lines: list[str] = []

    def gauge(name: str, help_: str, samples: list[tuple[str, float | None]]) -> None:
        samples = [(labels, v) for labels, v in samples if v is not None]
        if not samples:
            return
        lines.append(f"# HELP abuse_intake_{name} {help_}")
        lines.append(f"# TYPE abuse_intake_{name} gauge")
        for labels, v in samples:
            lines.append(f"abuse_intake_{name}{labels} {float(v):g}")

    from ..store.db import parse_iso

    ok_ts = parse_iso(st.last_poll_ok_at).timestamp() if st.last_poll_ok_at else None
    gauge("last_poll_ok_timestamp_seconds", "Unix time of the last successful poll run.", [("", ok_ts)])
    gauge("last_run_failed", "1 when the last run ended with an error.", [("", int(st.last_run_failed))])
    gauge("mailbox_backlog_messages", "Messages waiting on the mailbox server.", [("", st.mailbox_backlog)])
    gauge("outbox_emails", "Emails in the outbox by status.",
          [(f'{{status="{s}"}}', getattr(st, f"outbox_{s}")) for s in ("pending", "held", "failed", "sent")])
    gauge("outbox_oldest_age_seconds", "Age of the oldest email waiting, by status.",
          [('{status="pending"}', st.outbox_oldest_pending_age_seconds),
           ('{status="held"}', st.outbox_oldest_held_age_seconds)])
    gauge("quarantined_messages", "Messages that failed processing.", [("", st.quarantined)])
    gauge("open_cases", "Open cases by severity.",
          [(f'{{severity="{s}"}}', v["count"]) for s, v in sorted(st.open_cases.items())])
    gauge("open_case_oldest_age_seconds", "Age of the oldest open case by severity.",
          [(f'{{severity="{s}"}}', v["oldest_age_seconds"]) for s, v in sorted(st.open_cases.items())])
    gauge("oldest_unread_appeal_age_seconds", "Age of the oldest unread appeal.",
          [("", st.oldest_unread_appeal_age_seconds)])
    gauge("health", "0 ok, 1 warning, 2 critical by the [health] thresholds.", [("", level)])
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    # The collector must never read half a file: write beside it, then rename.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


COMMANDS = [status]
