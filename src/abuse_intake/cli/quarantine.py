"""`abuse-intake quarantine ...`: messages that failed processing, and replay."""

from __future__ import annotations

import click

from ..store import messages as msg_store
from .common import App, RowId, echo, echo_json, echo_table, pass_app


@click.group()
def quarantine() -> None:
    """Messages that could not be processed; their raw bytes are kept.

    \b
    Example:
      abuse-intake quarantine list
    """


@quarantine.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list.")
@pass_app
def list_quarantine(app: App, as_json: bool) -> None:
    """Quarantined messages with the error that stopped them (`messages raw ID` prints one).

    \b
    Example:
      abuse-intake quarantine list --json
    """
    rows = []
    for r in msg_store.list_messages(app.db, "quarantined"):
        full = msg_store.get_message(app.db, r["id"])
        rows.append({"id": r["id"], "received_at": r["received_at"], "from": full["from_address"],
                     "reason": r["reason"], "size": full["size"]})
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows, ("id", "received_at", "from", "size", "reason"), empty="quarantine is empty")


@quarantine.command("replay")
@click.argument("message_id", type=RowId("message"))
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@pass_app
def replay(app: App, message_id: int, as_json: bool) -> None:
    """Process a quarantined message again (after a fix or a config change).

    \b
    Example:
      abuse-intake quarantine replay 42
    """
    from ..flow.replay import replay as replay_message

    outcome = replay_message(app.db, app.settings, message_id)
    out = {"id": outcome.message_row, "kind": outcome.kind, "reason": outcome.reason,
           "case_refs": outcome.case_refs}
    if as_json:
        echo_json(out)
    else:
        echo(f"message {message_id} is now {outcome.kind} (id {outcome.message_row})"
                   + (f": {', '.join(outcome.case_refs)}" if outcome.case_refs else ""))


COMMANDS = [quarantine]
