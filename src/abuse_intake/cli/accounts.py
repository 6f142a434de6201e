"""`abuse-intake accounts show ID`: an account's status, sanctions and cases."""

from __future__ import annotations

import click

from .common import App, echo, echo_json, echo_table, pass_app


@click.group()
def accounts() -> None:
    """Reported accounts: status and history.

    \b
    Example:
      abuse-intake accounts show dewi_manja88
    """


@accounts.command("show")
@click.argument("account_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="The account as one JSON object.")
@pass_app
def show(app: App, account_id: str, as_json: bool) -> None:
    """Status (active, restricted until ..., banned), sanctions and cases of one account.

    \b
    Example:
      abuse-intake accounts show dewi_manja88 --json
    """
    from ..cases.views import account_view

    view = account_view(app.reader, app.settings, account_id)
    if as_json:
        echo_json(view.as_dict())
        return
    status = view.status + (f" until {view.until} ({', '.join(view.restricted_functions)})" if view.until else "")
    echo(f"{view.account_id}: {status}")
    echo(f"confirmed violations in the last {view.lookback_days} days: {view.violations_in_window}")
    echo("")
    echo("sanctions:")
    echo_table(view.sanctions, ("id", "action", "functions", "starts_at", "until", "rule", "case_ref",
                                   "revoked", "in_force"), empty="(none)")
    echo("")
    echo("cases:")
    echo_table(view.cases, ("ref", "status", "severity", "category", "reporters", "opened_at", "decision"),
               empty="(none)")


COMMANDS = [accounts]
