"""`abuse-intake cases ...`: the triage queue and one case in full."""

from __future__ import annotations

from pathlib import Path

import click

from ..cases import evidence, triage
from ..config import SEVERITIES
from ..errors import NotFoundError
from ..store import cases as case_store
from ..store import messages as msg_store
from .common import App, echo_json, echo_table, pass_app

LIST_KEYS = ("ref", "status", "account_id", "category", "severity", "reporters", "reports",
             "opened_at", "updated_at", "assignee")


@click.group()
def cases() -> None:
    """The case queue: list, show, and (see `decide`) decide.

    \b
    Example:
      abuse-intake cases list --status all --json
    """


@cases.command("list")
@click.option("--status", type=click.Choice(["open", "needs_info", "decided", "merged", "all"]), default="open",
              show_default=True, help="Which cases.")
@click.option("--category", help="Only this violation category.")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Only this severity.")
@click.option("--account", help="Only cases about this account ID.")
@click.option("--assignee", help="Only cases assigned to this person.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of case objects.")
@pass_app
def list_cases(app: App, status, category, severity, account, assignee, as_json) -> None:
    """Every matching case, most urgent first: severity, then reporters, then age.

    \b
    Example:
      abuse-intake cases list --severity critical
    """
    rows = case_store.list_cases(app.db, status=status, category=category, severity=severity,
                                 account_id=account, assignee=assignee)
    out = [{k: r[k] for k in LIST_KEYS} for r in rows]
    if as_json:
        echo_json(out)
    else:
        echo_table(out, ("ref", "status", "severity", "category", "account_id", "reporters", "reports",
                         "opened_at", "assignee"), empty="no cases")


def case_details(app: App, ref: str) -> dict:
    """The case and its reports, as one JSON-able dict."""
    db = app.db
    case = case_store.case_by_ref(db, ref)
    if case is None:
        raise NotFoundError(f"no case {ref}")
    reports = []
    for r in case_store.reports_of_case(db, case["id"]):
        attachments = [
            {"filename": a["filename"], "content_type": a["content_type"], "size": a["size"],
             "sha256": a["sha256"], "skipped_reason": a["skipped_reason"]}
            for a in msg_store.attachments_of(db, r["message_row"])
        ]
        reports.append({
            "message_id": r["message_id"], "reporter": r["reporter"], "received_at": r["received_at"],
            "language": r["language"], "category": r["category"], "severity": r["severity"],
            "account_ids": r["account_ids"], "matched_words": r["matched_words"], "source": r["source"],
            "subject": r["subject"], "text": r["text"], "forwarded_text": r["forwarded_text"] or "",
            "message_row": r["message_row"], "attachments": attachments,
        })
    out = {k: case[k] for k in (*LIST_KEYS, "decision", "decision_category", "decision_severity",
                                 "decided_at", "decided_by", "decision_note", "referral")}
    out["referral"] = bool(out["referral"])
    out["reporter_addresses"] = [r["reporter"] for r in case_store.reporters_of_case(db, case["id"])]
    out["reports_detail"] = reports
    # The account's history (earlier cases, violations in the window, sanctions in force) and the audit trail.
    history = triage.case_history(db, app.settings, case)
    out["account_history"] = history["account"]
    out["sanctions"] = history["sanctions"]
    out["audit"] = history["audit"]
    return out


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
    data = case_details(app, ref)
    if as_json:
        data = dict(data)
        data["reports"] = data.pop("reports_detail")
        data["report_count"] = len(data["reports"])
        echo_json(data)
        return
    click.echo(f"{data['ref']}  {data['status']}  {data['severity']}/{data['category']}  "
               f"account: {data['account_id'] or '(none yet)'}")
    click.echo(f"opened {data['opened_at']}  updated {data['updated_at']}  "
               f"{data['reporters']} reporter(s), {data['reports']} report(s)"
               + (f"  assigned to {data['assignee']}" if data["assignee"] else ""))
    if data["decision"]:
        click.echo(f"decision: {data['decision']} ({data['decision_category'] or '-'}) by "
                   f"{data['decided_by']} at {data['decided_at']}")
    for s in data["sanctions"]:
        click.echo(f"sanction {s['id']}: {s['action']}" + (f" until {s['until']}" if s["until"] else "")
                   + f"  [rule: {s['rule']}]" + ("  REVOKED" if s["revoked"] else ""))
    if data["referral"]:
        click.echo("flagged for referral to law enforcement: keep the evidence")
    _echo_account_history(data["account_history"])
    for i, r in enumerate(data["reports_detail"], 1):
        click.echo("")
        click.echo(f"--- report {i}: {r['reporter'] or '(no reply address)'}  {r['received_at']}  "
                   f"lang={r['language'] or '-'}  {r['category']}  accounts={','.join(r['account_ids']) or '-'}")
        click.echo(f"subject: {_printable(r['subject'] or '')}")
        click.echo(_printable(r["text"] or "", keep_newlines=True).strip())
        if r["forwarded_text"]:
            click.echo("[forwarded message]")
            click.echo(_printable(r["forwarded_text"], keep_newlines=True).strip()[:2000])
        click.echo(f"raw email: message {r['message_row']} (abuse-intake messages raw {r['message_row']})")
        for a in r["attachments"]:
            click.echo(f"attachment: {_printable(a['filename'] or '-')} ({a['content_type']}, {a['size']} bytes)"
                       + (f" sha256 {a['sha256'][:16]}" if a["sha256"] else f" not stored: {a['skipped_reason'] or ''}"))
    if data["reports_detail"]:
        click.echo(f"\nsave the evidence as files: abuse-intake cases evidence {data['ref']} --dir FOLDER")
    _echo_audit(data["audit"])


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
    files = evidence.export_case(app.db, ref, folder)
    out = [{"path": str(f.path), "kind": f.kind, "report": f.report, "message_row": f.message_row,
            "size": f.size, "sha256": f.sha256, "filename": f.filename, "content_type": f.content_type}
           for f in files]
    if as_json:
        echo_json(out)
        return
    for f in out:  # whole paths, one a line: a table would cut them
        name = f" (sent as {_printable(f['filename'])})" if f["filename"] else ""
        click.echo(f"{f['path']}  report {f['report']}, {f['kind']}, {f['size']} bytes{name}")
    if not out:
        click.echo(f"{ref} has no reports")


def _echo_account_history(h: dict | None) -> None:
    if h is None:
        return
    status = h["status"] + (f" until {h['until']}" if h["until"] else "")
    click.echo(f"account {h['account_id']}: {status}; {h['violations_in_window']} confirmed violation(s) "
               f"in the last {h['lookback_days']} days")
    for s in h["sanctions_in_force"]:
        click.echo(f"  in force: sanction {s['id']} {s['action']}"
                   + (f" until {s['until']}" if s["until"] else "") + f" (case {s['case_ref']})")
    if h["earlier_cases"]:
        click.echo("  earlier cases: " + ", ".join(
            f"{c['ref']} ({c['status']}{', ' + c['decision'] if c['decision'] else ''})" for c in h["earlier_cases"]))


_AUDIT_KEYS = ("decision", "category", "severity", "action", "until", "rule", "sanction_id", "to", "account_id",
               "merged_into", "merged_from")


def _echo_audit(trail: list[dict]) -> None:
    click.echo("")
    click.echo("--- audit trail")
    if not trail:
        click.echo("(no staff actions yet)")
    for a in trail:
        d = a["detail"]
        why = d.get("note") or d.get("text") or d.get("why") or ""
        what = {k: d[k] for k in _AUDIT_KEYS if d.get(k) not in (None, "")}
        click.echo(f"{a['at']}  {a['actor']}  {a['action']}"
                   + (f"  {' '.join(f'{k}={v}' for k, v in what.items())}" if what else "")
                   + (f"  -- {_printable(why)}" if why else ""))


def _printable(text: str, keep_newlines: bool = False) -> str:
    return "".join(ch if ch.isprintable() or (keep_newlines and ch in "\n\t") else " " for ch in text)


COMMANDS = [cases]
