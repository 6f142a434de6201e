"""`abuse-intake messages list`: every stored email and what became of it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..models import KINDS
from .common import App, RowId, echo_json_rows, echo_table, limit_option, pass_app, since_option


@click.group()
def messages() -> None:
    """Stored emails.

    \b
    Example:
      abuse-intake messages list --kind robot
    """


@messages.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only messages of this kind.")
@since_option("messages received")
@click.option("--after", type=RowId("message"), metavar="ID", help="Only the messages behind message ID in this order (the next page).")
@limit_option("messages")
@click.option("--json", "as_json", is_flag=True, help="A JSON list (written as it is read).")
@pass_app
def list_messages(app: App, kind: str | None, since, after: int | None, limit: int | None, as_json: bool) -> None:
    """Every stored message, oldest first, with its kind, reason and cases.

    \b
    Example:
      abuse-intake messages list --json
      abuse-intake messages list --since 1d --limit 100 --after 5120
    """
    from ..cases.views import list_messages as query

    rows = query(app.reader, kind=kind, since=since, after=after, limit=limit)
    if as_json:
        echo_json_rows(rows)
    else:
        echo_table(list(rows), ("id", "received_at", "kind", "reporter", "subject", "case_refs", "reason"),
                   empty="no messages")


@messages.command("raw")
@click.argument("message_id", type=RowId("message"))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (owner-only) instead of standard output.")
@pass_app
def raw(app: App, message_id: int, output: Path | None) -> None:
    """The stored email exactly as received (the id is the one `messages list` shows).

    \b
    Example:
      abuse-intake messages raw 42 -o message-42.eml
    """
    from ..cases.evidence import raw_message, write_file

    data = raw_message(app.reader, message_id)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_file(output, data)


COMMANDS = [messages]
