"""`abuse-intake decide`, and `cases note|assign|link` (added to the `cases` group)."""

from __future__ import annotations

import getpass
import sys

import click

from ..cases import lifecycle, triage
from ..errors import EX_DATAERR
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
@click.argument("refs", metavar="REF...", nargs=-1)
@click.option("--from-file", "from_file", type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="Also decide the refs in FILE, one a line ('-' reads standard input; # starts a comment).")
@click.option("--violation", metavar="CATEGORY", help="A violation was found, of this category.")
@click.option("--no-violation", is_flag=True, help="No violation was found (also closes a needs_info case).")
@click.option("--severity", type=click.Choice(SEVERITIES),
              help="Override the category's severity (decides the ladder used).")
@click.option("--measure", metavar="MEASURE",
              help="Choose the measure instead of the ladder: warn, restrict:DAYS, ban or remove_content "
                   "(needs --reason).")
@click.option("--reason", metavar="TEXT",
              help="With --measure: why not the ladder's pick. With --no-violation: "
                   f"{'|'.join(triage.CLOSE_REASONS)}.")
@click.option("--by", required=True, metavar="NAME", help="Who decides (recorded in the audit log).")
@click.option("--note", metavar="TEXT", help="Why: kept with the decision and in the audit log.")
@click.option("--json", "as_json", is_flag=True, help="The decision as a JSON object (a list for several refs).")
@pass_app
def decide(app: App, refs, from_file, violation, no_violation, severity, measure, reason, by, note,
           as_json) -> None:
    """Decide cases: record the sanction the policy (or --measure) picks, close
    the case and queue the outcome email to every reporter, in one
    transaction per case. With several refs each is decided on its own; one
    that cannot be decided is reported and the rest go on (exit 65 if any failed).

    \b
    Examples:
      abuse-intake decide OB-000042 --violation prostitution --by rina --note "rates in profile"
      abuse-intake decide OB-000043 --no-violation --by rina
      abuse-intake decide OB-000050 --no-violation --reason no_account --by rina
      abuse-intake decide OB-000044 --violation sexual_content --measure remove_content \\
          --reason "only the profile photo is nude" --by rina
      abuse-intake decide OB-000045 OB-000046 OB-000047 --violation prostitution --by rina
      abuse-intake decide --from-file bogus.txt --no-violation --reason not_actionable --by rina
    """
    if bool(violation) == no_violation:
        raise click.UsageError("give exactly one of --violation CATEGORY or --no-violation")
    wanted = list(refs)
    if from_file is not None:
        wanted += [line.split("#", 1)[0].strip() for line in from_file]
    wanted = [r for r in wanted if r]
    if not wanted:
        raise click.UsageError("give at least one case REF (or --from-file FILE)")
    if len(wanted) == 1 and from_file is None:
        _decide_one(app, wanted[0], violation, severity, measure, reason, by, note, as_json)
        return
    with in_cli_words():
        items = lifecycle.decide_many(app.db, app.settings, wanted, by=by, violation=violation,
                                      severity=severity, note=note, measure=measure, reason=reason)
    enforced = enforcement.run_pending(app.db, app.settings)
    if as_json:
        echo_json([{"ref": i.ref, "ok": i.ok, "error": i.error,
                    "decision": _decision_json(i.decision) if i.decision else None} for i in items])
    else:
        for i in items:
            if i.ok:
                echo(f"{i.ref}: {_summary(i.decision)}")
            else:
                echo(f"{i.ref}: FAILED: {i.error}")
        failed = sum(1 for i in items if not i.ok)
        echo(f"{len(items) - failed} decided, {failed} failed")
    _warn_enforcement(enforced)
    if any(not i.ok for i in items):
        sys.exit(EX_DATAERR)


def _decide_one(app: App, ref, violation, severity, measure, reason, by, note, as_json) -> None:
    link_first = (f"attach one with `abuse-intake cases link {ref.strip().upper()} --account ID`, then decide, "
                  "or close it with --no-violation --reason")
    with in_cli_words(account_id=link_first):
        result = triage.decide(app.db, app.settings, ref, by=by, violation=violation, severity=severity,
                               note=note, measure=measure, reason=reason)
    # After the commit: the decision stands even if the platform's command fails now.
    enforced = enforcement.run_pending(app.db, app.settings)
    s = result.sanction
    if as_json:
        echo_json(_decision_json(result) | {
            "enforcement": {"done": enforced.done, "failed": [{"id": i, "error": e} for i, e in enforced.failed]}})
    else:
        told = f"outcome queued to {len(result.outcome or [])} reporter(s)"
        if result.corrected:
            told += f" ({len(result.corrected)} of them a correction)"
        if s is None:
            why = f" ({result.reason})" if result.reason else ""
            echo(f"{result.case_ref}: no violation{why}; case closed, {told}")
        else:
            echo(f"{result.case_ref}: {result.category} ({result.severity}), violation #{s.violation_number} "
                       f"of {result.account_id} -> {_measure(s)}  [rule: {s.rule}, sanction {result.sanction_id}]")
            if result.referral:
                echo(f"{result.case_ref}: flagged for referral to law enforcement; keep its evidence")
            echo(f"{result.case_ref}: case closed, {told}")
    _warn_enforcement(enforced)


def _measure(s) -> str:
    return s.action + (f" {', '.join(s.functions)} until {s.until:%Y-%m-%d %H:%M} UTC" if s.until else "")


def _summary(result) -> str:
    s = result.sanction
    told = f"{len(result.outcome or [])} outcome email(s) queued"
    if s is None:
        return f"no violation{f' ({result.reason})' if result.reason else ''}; closed, {told}"
    return (f"{result.category} ({result.severity}) #{s.violation_number} of {result.account_id} -> {_measure(s)}"
            f"{'; referral' if result.referral else ''}; closed, {told}")


def _decision_json(result) -> dict:
    s = result.sanction
    return {
        "case_ref": result.case_ref, "account_id": result.account_id, "decision": result.decision,
        "category": result.category, "severity": result.severity, "referral": result.referral,
        "reason": result.reason,
        "sanction": None if s is None else {
            "id": result.sanction_id, "action": s.action, "functions": list(s.functions),
            "until": iso(s.until) if s.until else None,
            "rule": s.rule, "violation_number": s.violation_number, "ladder_pick": s.ladder_pick,
            "counts_as_strike": s.counts},
        "outcome_emails": list(result.outcome or []),
        "corrected": list(result.corrected),
    }


def _warn_enforcement(enforced) -> None:
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
@click.option("--to", "to", required=True, metavar="NAME", help="Who takes the case ('none' unassigns it).")
@click.option("--by", default=_login, show_default="your login name", metavar="NAME",
              help="Who assigns it (for the audit log).")
@pass_app
def assign(app: App, ref, to, by) -> None:
    """Assign an open case to a member of staff, or `--to none` to unassign it.

    \b
    Examples:
      abuse-intake cases assign OB-000042 --to rina
      abuse-intake cases assign OB-000042 --to none
    """
    with in_cli_words():
        if to.strip().lower() == "none":
            result = lifecycle.unassign(app.db, ref, by=by)
            echo(f"{result.case_ref}: unassigned (was {result.previous})")
            return
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
