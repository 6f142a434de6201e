"""`abuse-intake cases ...`: the triage queue and one case in full.

`note`, `assign` and `link` live in cli/triage.py (loaded when they run).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from .. import localtime
from ..cases import lifecycle
from ..config import SEVERITIES
from ..text import printable
from .common import (App, LazyGroup, echo, echo_json, echo_json_rows, echo_table, in_cli_words, limit_option,
                     pass_app, since_option)


@click.group(cls=LazyGroup, lazy={"note": ".triage:note", "assign": ".triage:assign", "link": ".triage:link"})
def cases() -> None:
    """The case queue: list, show, and (see `decide`) decide.

    \b
    Example:
      abuse-intake cases list --status all --json
    """


@cases.command("list")
@click.option("--status", type=click.Choice(["waiting", "open", "needs_info", "decided", "merged", "all"]),
              default="waiting", show_default=True, help="Which cases (waiting = open and needs_info).")
@click.option("--new-info", "new_info", is_flag=True,
              help="Only decided cases that got new information after their decision.")
@click.option("--category", help="Only this violation category.")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Only this severity.")
@click.option("--account", help="Only cases about this account ID.")
@click.option("--assignee", help="Only cases assigned to this person.")
@since_option("cases opened")
@click.option("--after", metavar="REF", help="Only the cases behind case REF in this order (the next page).")
@limit_option("cases")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of case objects.")
@pass_app
def list_cases(app: App, status, category, severity, account, assignee, new_info, since, after, limit, as_json) -> None:
    """Every matching case, most urgent first: severity, then reporters, then age.

    \b
    Example:
      abuse-intake cases list --severity critical
      abuse-intake cases list --limit 50 --after OB-000123 --json
    """
    from ..cases.views import list_cases as query

    rows = query(app.reader, status=status, category=category, severity=severity, account_id=account,
                 assignee=assignee, new_info=new_info, since=since, after=after, limit=limit)
    if as_json:
        echo_json_rows(rows)
    else:
        # The table shows times in [platform] timezone; JSON keeps the stored UTC timestamps.
        tz = app.settings.timezone
        shown = [dataclasses.replace(r, opened_at=localtime.local(r.opened_at, tz)) for r in rows]
        echo_table(shown, ("ref", "status", "severity", "category", "account_id", "reporters", "reports",
                           "opened_at", "assignee", "flag", "new_info"), empty="no cases")


@cases.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="The case as one JSON object.")
@pass_app
def show_case(app: App, ref: str, as_json: bool) -> None:
    """One case: its reports with text, attachments, history and audit trail.

    `cases evidence` saves the emails and attachments as files.

    \b
    Example:
      abuse-intake cases show OB-000001
    """
    from ..cases.views import case_view

    view = case_view(app.reader, app.settings, ref)
    if as_json:
        echo_json(view.as_dict())
        return
    echo(f"{view.ref}  {view.status}  {view.severity}/{view.category}  "
               f"account: {view.account_id or '(none yet)'}")
    echo(f"opened {view.opened_at}  updated {view.updated_at}  "
               f"{view.reporters} reporter(s), {len(view.reports)} report(s)"
               + (f"  assigned to {view.assignee}" if view.assignee else ""))
    if view.decision:
        echo(f"decision: {view.decision} ({view.decision_category or '-'}) by "
                   f"{view.decided_by} at {view.decided_at}")
    for s in view.sanctions:
        echo(f"sanction {s.id}: {s.action}" + (f" until {s.until}" if s.until else "")
                   + f"  [rule: {s.rule}]" + ("  REVOKED" if s.revoked else ""))
    if view.referral:
        echo("flagged for referral to law enforcement: keep the evidence")
    if view.flag == "too_many_accounts" and view.flag_detail:
        d = view.flag_detail
        echo(f"flagged: too many accounts: the report names {len(d['accounts'])}{' or more' if d['truncated'] else ''} "
             f"(the limit is {d['limit']}), so no case was opened per account; link the right one with "
             f"`cases link {view.ref} --account ID`")
        echo("  accounts named: " + ", ".join(printable(n) for n in d["accounts"]))
    elif view.flag:
        echo(f"flagged: {view.flag}")
    _echo_account_history(view.account_history)
    for i, r in enumerate(view.reports, 1):
        echo("")
        echo(f"--- report {i}: {r.reporter or '(no reply address)'}  {r.received_at}  "
                   f"lang={r.language or '-'}  {r.category}  accounts={','.join(r.account_ids) or '-'}")
        echo(f"subject: {printable(r.subject or '')}")
        echo(printable(r.text or "", keep_newlines=True).strip())
        if r.forwarded_text:
            echo("[forwarded message]")
            echo(printable(r.forwarded_text, keep_newlines=True).strip()[:2000])
        echo(f"raw email: message {r.message_row} (abuse-intake messages raw {r.message_row})")
        for a in r.attachments:
            echo(f"attachment: {printable(a.filename or '-')} ({a.content_type}, {a.size} bytes)"
                       + (f" sha256 {a.sha256[:16]}" if a.sha256 else f" not stored: {a.skipped_reason or ''}"))
    if view.reports:
        echo(f"\nsave the evidence as files: abuse-intake cases evidence {view.ref} --dir FOLDER")
    _echo_audit(view.audit)


@cases.command("evidence")
@click.argument("ref")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write into (created owner-only if missing).")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of the files written.")
@pass_app
def case_evidence(app: App, ref: str, folder: Path, as_json: bool) -> None:
    """Save a case's emails (.eml, exactly as received) and attachments as files.

    Names are made from the case, the report number and the content hash,
    never from the sender's file names (those are listed beside them).

    \b
    Example:
      abuse-intake cases evidence OB-000001 --dir ~/evidence/OB-000001
    """
    from ..cases import evidence

    files = evidence.export_case(app.reader, ref, folder)
    out = [{"path": str(f.path), "kind": f.kind, "report": f.report, "message_row": f.message_row,
            "size": f.size, "sha256": f.sha256, "filename": f.filename, "content_type": f.content_type}
           for f in files]
    if as_json:
        echo_json(out)
        return
    for f in out:  # whole paths, one a line: a table would cut them
        name = f" (sent as {printable(f['filename'])})" if f["filename"] else ""
        echo(f"{f['path']}  report {f['report']}, {f['kind']}, {f['size']} bytes{name}")
    if not out:
        echo(f"{ref} has no reports")


def _echo_account_history(h) -> None:
    if h is None:
        return
    status = h.status + (f" until {h.until}" if h.until else "")
    echo(f"account {h.account_id}: {status}; {h.violations_in_window} confirmed violation(s) "
               f"in the last {h.lookback_days} days")
    for s in h.sanctions_in_force:
        echo(f"  in force: sanction {s.id} {s.action}"
                   + (f" until {s.until}" if s.until else "") + f" (case {s.case_ref})")
    if h.earlier_cases:
        echo("  earlier cases: " + ", ".join(
            f"{c.ref} ({c.status}{', ' + c.decision if c.decision else ''})" for c in h.earlier_cases))


_AUDIT_KEYS = ("decision", "category", "severity", "action", "until", "rule", "sanction_id", "to", "account_id",
               "merged_into", "merged_from")


def _echo_audit(trail) -> None:
    echo("")
    echo("--- audit trail")
    if not trail:
        echo("(no staff actions yet)")
    for a in trail:
        d = a.detail
        why = d.get("note") or d.get("text") or d.get("why") or ""
        what = {k: d[k] for k in _AUDIT_KEYS if d.get(k) not in (None, "")}
        echo(f"{a.at}  {a.actor}  {a.action}"
                   + (f"  {' '.join(f'{k}={v}' for k, v in what.items())}" if what else "")
                   + (f"  -- {printable(why)}" if why else ""))


# -- lifecycle (cases/lifecycle.py) ----------------------------------------------

@cases.command("reopen")
@click.argument("ref")
@click.option("--by", required=True, metavar="NAME", help="Who reopens it (a lead, in the web console).")
@click.option("--note", required=True, metavar="TEXT", help="Why the decision is undone.")
@click.option("--json", "as_json", is_flag=True, help="The result as a JSON object.")
@pass_app
def reopen_case(app: App, ref, by, note, as_json) -> None:
    """Undo a decision: the case is open again with its reports, its sanction is
    revoked (the enforcement command is told), outcome emails still waiting are
    cancelled. Deciding it again sends `outcome_corrected` to reporters already
    told that action was taken, if the new decision differs.

    \b
    Example:
      abuse-intake cases reopen OB-000042 --by lead_ayu --note "wrong account: the reporter mistyped"
    """
    from ..policy import enforcement
    with in_cli_words():
        result = lifecycle.reopen(app.db, app.settings, ref, by=by, note=note)
    enforced = enforcement.run_pending(app.db, app.settings)
    if as_json:
        echo_json({"case_ref": result.case_ref, "status": result.status,
                   "previous_decision": result.previous_decision,
                   "revoked_sanctions": list(result.revoked_sanctions),
                   "cancelled_emails": list(result.cancelled_emails), "merged_from": result.merged_from})
    else:
        echo(f"{result.case_ref}: reopened ({result.status}); was {result.previous_decision}; "
                   f"{len(result.revoked_sanctions)} sanction(s) revoked, "
                   f"{len(result.cancelled_emails)} waiting email(s) cancelled"
                   + (f"; {result.merged_from} merged into it" if result.merged_from else ""))
    for sanction_id, error in enforced.failed:
        echo(f"abuse-intake: warning: enforcement of sanction {sanction_id} failed ({error}); "
                   "it is retried on the next run", err=True)


@cases.command("open")
@click.option("--account", "account_id", required=True, metavar="ID", help="The account the case is about.")
@click.option("--category", required=True, metavar="CAT", help="Its violation category.")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Instead of the category's severity.")
@click.option("--by", required=True, metavar="NAME", help="Who opens it.")
@click.option("--note", required=True, metavar="TEXT", help="What was found, or where the account was named.")
@click.option("--from-message", "from_message", type=int, metavar="ROW",
              help="A stored message (see `messages list`) that becomes the case's report; its sender gets "
                   "the outcome.")
@click.option("--json", "as_json", is_flag=True, help="The new case as a JSON object.")
@pass_app
def open_case(app: App, account_id, category, severity, by, note, from_message, as_json) -> None:
    """Open a case by hand: a staff finding, or an account named in a reply.

    \b
    Examples:
      abuse-intake cases open --account sinta_new --category prostitution --by rina \\
          --note "ban evasion of dewi_manja88, named in the reply to OB-000042"
      abuse-intake cases open --account sinta_new --category prostitution --by rina \\
          --note "named in this reply" --from-message 311
    """
    with in_cli_words():
        result = lifecycle.open_case(app.db, app.settings, account_id=account_id, category=category, by=by,
                                     note=note, severity=severity, from_message=from_message)
    if as_json:
        echo_json({"case_ref": result.case_ref, "account_id": result.account_id, "category": result.category,
                   "severity": result.severity, "status": "open", "report_id": result.report_id,
                   "reporter": result.reporter})
    else:
        echo(f"{result.case_ref}: opened about {result.account_id} ({result.severity}/{result.category})"
                   + (f" with message {from_message} as its report" if from_message is not None else ""))


@cases.command("claim")
@click.argument("ref")
@click.option("--by", required=True, metavar="NAME", help="Who takes the case.")
@click.option("--force", is_flag=True, help="A lead takes it from whoever holds it (recorded in the audit log).")
@pass_app
def claim_case(app: App, ref, by, force) -> None:
    """Take a case. Refused if someone else holds it, unless --force (a lead's override).

    \b
    Example:
      abuse-intake cases claim OB-000042 --by rina
    """
    with in_cli_words():
        result = lifecycle.claim(app.db, ref, by=by, force=force)
    echo(f"{result.case_ref}: now held by {result.assignee}"
               + (f" (taken over from {result.previous})" if result.forced else ""))


@cases.command("seen")
@click.argument("ref")
@click.option("--by", required=True, metavar="NAME", help="Who read the new information.")
@click.option("--note", metavar="TEXT", help="What, if anything, follows from it.")
@pass_app
def seen_case(app: App, ref, by, note) -> None:
    """Clear a decided case's "new information" flag after reading it
    (`cases reopen` instead, if the news changes the decision).

    \b
    Example:
      abuse-intake cases seen OB-000042 --by rina --note "same photos as before"
    """
    with in_cli_words():
        done = lifecycle.seen_new_info(app.db, ref, by=by, note=note)
    echo(f"{done}: new information seen")


@cases.command("release-hold")
@click.argument("ref")
@click.option("--by", required=True, metavar="NAME", help="The lead releasing the hold.")
@click.option("--note", required=True, metavar="TEXT", help="Why (e.g. the referral is closed).")
@click.option("--json", "as_json", is_flag=True, help="The result as a JSON object.")
@pass_app
def release_hold(app: App, ref, by, note, as_json) -> None:
    """Release the referral hold of a case, so retention may purge its raw mail
    and attachments once [retention] referral_days (at least 365) passed since
    the decision.

    \b
    Example:
      abuse-intake cases release-hold OB-000042 --by lead_ayu --note "NCMEC report 123 closed"
    """
    from ..cases import retention
    with in_cli_words():
        done = retention.release_hold(app.db, app.settings.retention, ref, by=by, note=note)
    if as_json:
        echo_json({"case_ref": done.case_ref, "released_by": done.released_by, "released_at": done.released_at,
                   "purgeable_from": done.purgeable_from})
    else:
        echo(f"{done.case_ref}: hold released by {done.released_by}; purgeable from {done.purgeable_from}")


COMMANDS = [cases]
