"""`abuse-intake messages list`: every stored email and what became of it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..cases.evidence import raw_message, write_file
from ..models import KINDS
from ..store import messages as msg_store
from .common import App, echo_json, echo_table, pass_app


@click.group()
def messages() -> None:
    """Stored emails.

    \b
    Example:
      abuse-intake messages list --kind robot
    """


@messages.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only messages of this kind.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list.")
@pass_app
def list_messages(app: App, kind: str | None, as_json: bool) -> None:
    """Every stored message, oldest first, with its kind, reason and cases.

    \b
    Example:
      abuse-intake messages list --json
    """
    rows = msg_store.list_messages(app.db, kind)
    out = [{"id": r["id"], "message_id": r["message_id"], "reporter": r["reporter"], "subject": r["subject"],
            "kind": r["kind"], "reason": r["reason"], "received_at": r["received_at"],
            "case_refs": r["case_refs"]} for r in rows]
    if as_json:
        echo_json(out)
    else:
        echo_table(out, ("id", "received_at", "kind", "reporter", "subject", "case_refs", "reason"),
                   empty="no messages")


@messages.command("raw")
@click.argument("message_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (owner-only) instead of standard output.")
@pass_app
def raw(app: App, message_id: int, output: Path | None) -> None:
    """The stored email exactly as received (the id is the one `messages list` shows).

    \b
    Example:
      abuse-intake messages raw 42 -o message-42.eml
    """
    data = raw_message(app.db, message_id)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_file(output, data)


COMMANDS = [messages]
