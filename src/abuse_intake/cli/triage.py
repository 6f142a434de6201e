"""`abuse-intake decide`, and `cases note|assign|link` (added to the `cases` group)."""

from __future__ import annotations

import getpass

import click

from ..cases import triage
from ..config import SEVERITIES
from ..policy import enforcement
from ..store.db import iso
from .cases import cases
from .common import App, echo, echo_json, in_cli_words, pass_app


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "staff"


@click.command("decide")
@click.argument("ref")
@click.option("--violation", metavar="CATEGORY", help="A violation was found, of this category.")
@click.option("--no-violation", is_flag=True, help="No violation was found.")
@click.option("--severity", type=click.Choice(SEVERITIES),
              help="Override the category's severity (decides the ladder used).")
@click.option("--by", required=True, metavar="NAME", help="Who decides (recorded in the audit log).")
@click.option("--note", metavar="TEXT", help="Why: kept with the decision and in the audit log.")
@click.option("--json", "as_json", is_flag=True, help="The decision as a JSON object.")
@pass_app
def decide(app: App, ref, violation, no_violation, severity, by, note, as_json) -> None:
    """Decide a case: record the sanction the policy picks, close the case and
    queue the outcome email to every reporter, in one transaction.

    \b
    Examples:
      abuse-intake decide OB-000042 --violation prostitution --by rina --note "rates in profile"
      abuse-intake decide OB-000043 --no-violation --by rina
    """
    if bool(violation) == no_violation:
        raise click.UsageError("give exactly one of --violation CATEGORY or --no-violation")
    link_first = f"attach one with `abuse-intake cases link {ref.strip().upper()} --account ID`, then decide"
    with in_cli_words(account_id=link_first):
        result = triage.decide(app.db, app.settings, ref, by=by, violation=violation, severity=severity, note=note)
    # After the commit: the decision stands even if the platform's command fails now.
    enforced = enforcement.run_pending(app.db, app.settings)
    s = result.sanction
    if as_json:
        echo_json({
            "case_ref": result.case_ref, "account_id": result.account_id, "decision": result.decision,
            "category": result.category, "severity": result.severity, "referral": result.referral,
            "sanction": None if s is None else {
                "id": result.sanction_id, "action": s.action, "functions": list(s.functions),
                "until": iso(s.until) if s.until else None,
                "rule": s.rule, "violation_number": s.violation_number},
            "outcome_emails": list(result.outcome or []),
            "enforcement": {"done": enforced.done, "failed": [{"id": i, "error": e} for i, e in enforced.failed]},
        })
    else:
        told = f"outcome queued to {len(result.outcome or [])} reporter(s)"
        if s is None:
            echo(f"{result.case_ref}: no violation; case closed, {told}")
        else:
            measure = s.action + (f" {', '.join(s.functions)} until {s.until:%Y-%m-%d %H:%M} UTC" if s.until else "")
            echo(f"{result.case_ref}: {result.category} ({result.severity}), violation #{s.violation_number} "
                       f"of {result.account_id} -> {measure}  [rule: {s.rule}, sanction {result.sanction_id}]")
            if result.referral:
                echo(f"{result.case_ref}: flagged for referral to law enforcement; keep its evidence")
            echo(f"{result.case_ref}: case closed, {told}")
    for sanction_id, error in enforced.failed:
        echo(f"abuse-intake: warning: enforcement of sanction {sanction_id} failed ({error}); "
                   "it is retried on the next run", err=True)


@click.command("note")
@click.argument("ref")
@click.option("--by", required=True, metavar="NAME", help="Who writes the note.")
@click.option("--text", required=True, metavar="TEXT", help="The note.")
@pass_app
def note(app: App, ref, by, text) -> None:
    """Add a note to a case's audit trail (any case, decided ones too).

    \b
    Example:
      abuse-intake cases note OB-000042 --by rina --text "asked the reporter for the chat log"
    """
    with in_cli_words():
        done = triage.add_note(app.db, ref, by=by, text=text)
    echo(f"{done}: note added")


@click.command("assign")
@click.argument("ref")
@click.option("--to", "to", required=True, metavar="NAME", help="Who takes the case.")
@click.option("--by", default=_login, show_default="your login name", metavar="NAME",
              help="Who assigns it (for the audit log).")
@pass_app
def assign(app: App, ref, to, by) -> None:
    """Assign an open case to a member of staff.

    \b
    Example:
      abuse-intake cases assign OB-000042 --to rina
    """
    with in_cli_words():
        done = triage.assign(app.db, ref, to=to, by=by)
    echo(f"{done}: assigned to {' '.join(to.split())}")


@click.command("link")
@click.argument("ref")
@click.option("--account", "account_id", required=True, metavar="ID", help="The reported account's ID.")
@click.option("--by", default=_login, show_default="your login name", metavar="NAME",
              help="Who links it (for the audit log).")
@pass_app
def link(app: App, ref, account_id, by) -> None:
    """Attach an account to a case (typically one that needs info).

    If the account already has an open case, this case is merged into it:
    its reports and reporters move there and this case is closed as merged.

    \b
    Example:
      abuse-intake cases link OB-000050 --account dewi_manja88
    """
    with in_cli_words():
        result = triage.link_account(app.db, app.settings, ref, account_id=account_id, by=by)
    if result.merged_into:
        echo(f"{result.case_ref}: merged into {result.merged_into}, the open case of {result.account_id}")
    else:
        echo(f"{result.case_ref}: now about account {result.account_id}")


for _command in (note, assign, link):
    cases.add_command(_command)

COMMANDS = [decide]
