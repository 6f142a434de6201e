"""`abuse-intake sanctions list|revoke|export|enforce`."""

from __future__ import annotations

import sys

import click

from ..cases import triage, views
from ..errors import EX_TEMPFAIL
from ..policy import enforcement
from ..store import triage as store
from ..store.db import iso, utcnow
from .common import App, RowId, echo, echo_json, echo_table, in_cli_words, parse_since, pass_app, to_json_line


@click.group()
def sanctions() -> None:
    """Sanctions: list them, revoke one after an appeal, export them for the platform.

    \b
    Example:
      abuse-intake sanctions export --since 2024-06-01 > sanctions.jsonl
    """


@sanctions.command("list")
@click.option("--account", "account_id", metavar="ID", help="Only this account's sanctions.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list.")
@pass_app
def list_(app: App, account_id: str | None, as_json: bool) -> None:
    """Every sanction, oldest first, with whether it is in force and its enforcement state.

    \b
    Example:
      abuse-intake sanctions list --account dewi_manja88
    """
    now = utcnow()
    rows = [views.sanction_view(r, now).as_dict() | {"account_id": r["account_id"]}
            for r in store.list_sanctions(app.db, account_id=account_id and account_id.strip().lstrip("@").lower())]
    if as_json:
        echo_json(rows)
        return
    echo_table(rows, ("id", "account_id", "action", "starts_at", "until", "rule", "case_ref", "revoked",
                      "in_force", "enforcement_status"), empty="no sanctions")


@sanctions.command("revoke")
@click.argument("sanction_id", metavar="ID", type=RowId("sanction"))
@click.option("--by", required=True, metavar="NAME", help="Who revokes it.")
@click.option("--note", required=True, metavar="TEXT", help="Why (e.g. the appeal's outcome).")
@pass_app
def revoke(app: App, sanction_id: int, by: str, note: str) -> None:
    """Revoke a sanction after an appeal: it stops counting as a violation.

    \b
    Example:
      abuse-intake sanctions revoke 12 --by rina --note "appeal: the account was impersonated"
    """
    with in_cli_words():
        row = triage.revoke(app.db, app.settings, sanction_id, by=by, note=note)
    echo(f"sanction {row['id']} ({row['action']} of {row['account_id']}, case {row['case_ref']}) revoked")
    _enforce(app)


@sanctions.command("export")
@click.option("--since", metavar="TIME",
              help="Only sanctions created or revoked since TIME: 2024-06-01, 2024-06-01T08:00:00+07:00, or 7d / 12h ago.")
@pass_app
def export(app: App, since: str | None) -> None:
    """Print JSON Lines, one sanction each, with a statement of reasons: the measure,
    its scope and duration, the category and guideline, that it followed user
    reports, that a person decided, and how to appeal.

    \b
    Example:
      abuse-intake sanctions export --since 7d
    """
    cutoff = iso(parse_since(since)) if since else None
    for row in store.list_sanctions(app.db, since=cutoff):
        click.echo(to_json_line(enforcement.statement(row, app.settings)))


@sanctions.command("enforce")
@click.option("--all", "all_", is_flag=True,
              help="Also hand over sanctions in force that were decided before the command was configured.")
@pass_app
def enforce(app: App, all_: bool) -> None:
    """Run the [enforcement] command for sanctions not yet handed over (or that failed).

    \b
    Example, after configuring [enforcement] command for the first time:
      abuse-intake sanctions enforce --all
    """
    if not app.settings.enforcement_command:
        raise click.UsageError("no [enforcement] command is configured")
    report = _enforce(app, all_)
    echo(f"enforcement: {len(report.done)} done, {len(report.failed)} failed")
    if report.failed:
        sys.exit(EX_TEMPFAIL)  # cron sees: try again later


def _enforce(app: App, all_: bool = False) -> enforcement.EnforcementReport:
    run = enforcement.hand_over_all if all_ else enforcement.run_pending
    report = run(app.db, app.settings)
    for sanction_id, error in report.failed:
        echo(f"abuse-intake: warning: enforcement of sanction {sanction_id} failed ({error}); "
                   "it is retried on the next run", err=True)
    return report


COMMANDS = [sanctions]
