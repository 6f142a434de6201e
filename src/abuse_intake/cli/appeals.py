"""`abuse-intake appeals list|show|decide`: appeals of sanctions and of "no violation" outcomes."""

from __future__ import annotations

import click

from ..appeals import service
from .common import App, RowId, echo, echo_json, echo_table, in_cli_words, pass_app

LIST_COLUMNS = ("id", "account_id", "sanction_id", "case_ref", "appellant", "received_at", "status", "language")


@click.group()
def appeals() -> None:
    """Appeals: account holders contesting a sanction, reporters contesting a "no violation".

    \b
    Example:
      abuse-intake appeals list --status open
    """


@appeals.command("list")
@click.option("--status", type=click.Choice(("open", "upheld", "overturned", "late", "unmatched", "all")),
              default="open", show_default=True, help="Which appeals.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list.")
@pass_app
def list_(app: App, status: str, as_json: bool) -> None:
    """Appeals, oldest first.

    \b
    Example:
      abuse-intake appeals list --status all --json
    """
    rows = [a.as_dict() for a in service.list_appeals(app.db, status)]
    if as_json:
        echo_json(rows)
        return
    echo_table(rows, LIST_COLUMNS, empty="no appeals")


@appeals.command("show")
@click.argument("appeal_id", metavar="ID", type=RowId("appeal"))
@click.option("--json", "as_json", is_flag=True, help="The appeal as one JSON object.")
@pass_app
def show(app: App, appeal_id: int, as_json: bool) -> None:
    """One appeal: who, what it contests, the appellant's words, the decision.

    \b
    Example:
      abuse-intake appeals show 3
    """
    view = service.show(app.db, appeal_id)
    if as_json:
        echo_json(view)
        return
    for key in ("id", "status", "kind", "appellant", "language", "received_at", "account_id", "sanction_id",
                "case_ref", "decided_by", "decided_at", "decision_note", "forced", "force_note"):
        echo(f"{key}: {'' if view[key] is None else view[key]}")
    if view["sanction"]:
        s = view["sanction"]
        echo(f"sanction: {s['action']} from {s['starts_at']}" + (f" until {s['until']}" if s["until"] else "")
             + f", decided by {s['decided_by']}" + (" (revoked)" if s["revoked"] else ""))
    if view["case"]:
        c = view["case"]
        echo(f"case: {c['ref']} {c['status']} ({c['decision']}, decided by {c['decided_by']})")
    echo("")
    echo(f"subject: {view['subject'] or ''}")
    echo(view["text"] or "")


@appeals.command("decide")
@click.argument("appeal_id", metavar="ID", type=RowId("appeal"))
@click.option("--uphold", "outcome", flag_value="uphold", help="The decision stands.")
@click.option("--overturn", "outcome", flag_value="overturn",
              help="Grant it: revoke the sanction (enforcement hears of it) or reopen the contested case.")
@click.option("--by", required=True, metavar="NAME", help="Who decides (not who decided the case).")
@click.option("--note", required=True, metavar="TEXT", help="The reason, sent to the appellant.")
@click.option("--force", is_flag=True, help="A lead deciding an appeal of their own decision (recorded).")
@pass_app
def decide(app: App, appeal_id: int, outcome: str | None, by: str, note: str, force: bool) -> None:
    """Decide an open appeal; the appellant is told the outcome and the reason.

    \b
    Example:
      abuse-intake appeals decide 3 --overturn --by sari --note "the photos are wedding shots, not sexual"
    """
    if outcome is None:
        raise click.UsageError("say --uphold or --overturn")
    with in_cli_words(by="--by: someone who did not decide the case, or --force"):
        result = service.decide(app.db, app.settings, appeal_id, outcome=outcome, by=by, note=note, force=force)
    a = result.appeal
    extra = ""
    if result.revoked_sanction:
        extra = f"; sanction {result.revoked_sanction} revoked"
    if result.reopened_case:
        extra = f"; case {result.reopened_case} reopened"
    echo(f"appeal {a.id} {a.status}{extra}" + (" (forced)" if a.forced else ""))
    if result.revoked_sanction and app.settings.enforcement_command:
        # As `sanctions revoke` does: hand the revocation to the platform now (retried later if it fails).
        from ..policy import enforcement
        for sanction_id, error in enforcement.run_pending(app.db, app.settings).failed:
            echo(f"abuse-intake: warning: enforcement of sanction {sanction_id} failed ({error}); "
                 "it is retried on the next run", err=True)
