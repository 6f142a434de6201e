"""`abuse-intake send` and `abuse-intake outbox list`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..cases import lifecycle
from ..errors import EX_TEMPFAIL
from .common import App, RowId, echo, echo_json, echo_json_rows, echo_table, in_cli_words, limit_option, pass_app, since_option

if TYPE_CHECKING:
    from ..notify.outbox import DeliveryResult

STATUS_CHOICES = ("pending", "held", "sent", "failed", "cancelled", "withheld", "all")


@click.command("send")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Send at most N emails this run.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--now", "flush", is_flag=True,
              help="Deliver every pending email at once, waiting backoffs ignored (as `postqueue -f`).")
@pass_app
def send(app: App, limit: int | None, as_json: bool, flush: bool) -> None:
    """Deliver the emails waiting in the outbox, over one SMTP connection.

    A temporary failure of one email (4xx) is retried by later runs with
    growing waits; permanent ones (5xx) are marked failed. A relay that
    cannot be reached defers the whole queue as it is: the next `send` (or
    poll) delivers everything that waits. Exits 75 when the server could not
    be reached and emails are still waiting.

    \b
    After a relay outage, deliver everything now:
      abuse-intake send --now

    \b
    Example, from cron every few minutes:
      abuse-intake --config /etc/abuse-intake/config.toml send
    """
    from ..notify.outbox import deliver_pending  # jinja2 and smtplib: only when sending

    result = deliver_pending(app.db, app.settings, limit=limit, flush=flush)
    if as_json:
        echo_json(result.as_dict())
    else:
        echo(summary_line(result))
        for error in result.errors:
            echo(f"abuse-intake: send: {error}", err=True)
    if result.unreachable and result.remaining:
        sys.exit(EX_TEMPFAIL)


def summary_line(result: DeliveryResult) -> str:
    line = (f"sent {result.sent}, deferred {result.deferred}, failed {result.failed}, "
            f"held {result.held}; {result.remaining} waiting")
    if result.unreachable:
        line += " (mail server unreachable)"
    return line


@click.group("outbox")
def outbox_group() -> None:
    """The emails to reporters: queued, held by the daily cap, sent, failed.

    \b
    Example:
      abuse-intake outbox list --status failed
    """


@outbox_group.command("list")
@click.option("--status", type=click.Choice(STATUS_CHOICES), default="all", show_default=True,
              help="Only emails in this state.")
@since_option("emails queued")
@click.option("--after", type=RowId("email"), metavar="ID", help="Only the emails queued after email ID (the next page).")
@limit_option("emails, oldest first")
@click.option("--json", "as_json", is_flag=True, help="A JSON list with every column.")
@pass_app
def list_(app: App, status: str, since, after: int | None, limit: int | None, as_json: bool) -> None:
    """List outbox emails with their state, attempts and case references.

    \b
    Example:
      abuse-intake outbox list --status pending --json
      abuse-intake outbox list --since 2d --limit 20 --after 310
    """
    from ..cases.views import list_outbox

    rows = list_outbox(app.reader, status=status, since=since, after=after, limit=limit)
    if as_json:
        echo_json_rows(rows)
        return
    echo_table(list(rows), ("id", "kind", "to", "language", "case_refs", "status", "attempts", "created_at",
                            "sent_at", "subject"), empty="outbox is empty" if status == "all" else f"no {status} emails")


# -- show one, cancel one (cases/lifecycle.py) -------------------------------------

@outbox_group.command("show")
@click.argument("outbox_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Status, headers and text body as JSON.")
@pass_app
def show(app: App, outbox_id: int, as_json: bool) -> None:
    """Print an email exactly as `send` will write it: its headers as on the
    wire (only Date is the sending time), a blank line, and the text body.

    \b
    Example:
      abuse-intake outbox show 17
    """
    preview = lifecycle.preview_email(app.db, app.settings, outbox_id)
    if as_json:
        echo_json({"id": preview.outbox_id, "status": preview.status, "kind": preview.kind,
                   "headers": [[k, v] for k, v in preview.headers], "text": preview.text})
        return
    for name, value in preview.headers:
        echo(f"{name}: {value}".replace("\r\n", "\n"))
    echo("")
    echo(preview.text, nl=not preview.text.endswith("\n"))


@outbox_group.command("cancel")
@click.argument("outbox_id", metavar="ID", type=int)
@click.option("--by", required=True, metavar="NAME", help="Who cancels it.")
@click.option("--note", required=True, metavar="TEXT", help="Why (kept in the audit log).")
@pass_app
def cancel(app: App, outbox_id: int, by: str, note: str) -> None:
    """Cancel a pending or held email: it is marked cancelled and never sent.

    \b
    Example:
      abuse-intake outbox cancel 17 --by rina --note "wrong case; reopened"
    """
    with in_cli_words():
        row = lifecycle.cancel_email(app.db, outbox_id, by=by, note=note)
    echo(f"outbox {row['id']} ({row['kind']} to {row['recipient']}): cancelled")


COMMANDS = [send, outbox_group]
