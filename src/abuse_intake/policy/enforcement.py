"""The statement of reasons for a sanction, and handing it to the platform.

`statement(row, settings)` is the JSON record that `sanctions export` prints
and the `[enforcement] command` reads on standard input. It says the measure,
its scope and duration, the category and guideline, that it followed user
reports (counts only, never who), that a person decided, and how to appeal.

`run_pending` runs the command once per sanction whose enforcement is due
(new, failed earlier, or revoked since: the record then says "revoked": true,
so the platform can lift it). The JSON goes on stdin, never into arguments;
no shell; a timeout kills the command's whole process group. A failure is
recorded on the sanctions row and retried on the next run; it never raises,
so it cannot block intake. The command should be idempotent per sanction id:
a crash between its exit and our commit runs it again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from datetime import timedelta

from .. import leases
from ..config import Settings, secret_env_names
from ..store import triage as store
from ..errors import IntakeError
from ..store.db import iso, parse_iso, transaction, utcnow

TIMEOUT_SECONDS = 30.0
ERROR_CHARS = 500  # enough of stderr to diagnose, not enough to flood the table


@dataclass
class EnforcementReport:
    done: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (sanction id, error)

    @property
    def ran(self) -> int:
        return len(self.done) + len(self.failed)


def statement(row: dict, settings: Settings) -> dict:
    """The export/enforcement record of one sanction row (from store.triage.list_sanctions)."""
    reports, reporters = row.get("reports", 0), row.get("reporters", 0)
    record = {
        "id": row["id"],
        "account_id": row["account_id"],
        "action": row["action"],
        "functions": list(row["functions"]),
        "starts_at": row["starts_at"],
        "until": row["until"],
        "category": row["category"],
        "severity": row["severity"],
        "guideline": {"category": row["category"], "url": settings.guidelines_url},
        "basis": {"source": "user reports", "reports": reports, "reporters": reporters},
        "decided_by_human": True,
        "rule": row["rule"],
        "violation_number": row["violation_number"],
        "case_ref": row["case_ref"],
        "appeal": settings.appeal_address,
        "revoked": bool(row["revoked"]),
        "revoked_at": row["revoked_at"],
        # Staff chose the measure instead of the ladder (decide --measure): both, and why.
        "override": None if not row.get("ladder_pick") else {
            "measure": _measure(row), "ladder_pick": row["ladder_pick"], "reason": row.get("override_reason")},
        "counts_as_strike": bool(row.get("counts", True)),
    }
    record.update(_complete(row, settings))
    record["statement"] = _reasons_text(record, settings)
    return record


def _complete(row: dict, settings: Settings) -> dict:
    """The rest of a statement of reasons (DSA Art. 17, issue 14.3): facts, ground, automation, redress.
    Facts are counts and staff's note, never who reported."""
    cat = settings.categories.get(row["category"])
    deadline = None
    try:
        deadline = iso(parse_iso(row["starts_at"]) + timedelta(days=settings.policy.appeal_days))
    except (TypeError, ValueError):
        pass
    return {
        "facts": {"note": row.get("case_note"), "categories": [row["category"]],
                  "reports": row.get("reports", 0), "reporters": row.get("reporters", 0)},
        "ground": {"guideline": (cat.guideline if cat and cat.guideline else settings.guidelines_url) or None,
                   "legal": (cat.legal_ground if cat else "") or None},
        "automated": {"detection": True, "decision": False},
        "redress": {"internal_appeal": {"address": settings.appeal_address, "until": deadline},
                    "out_of_court": settings.policy.redress_out_of_court or None,
                    "courts": settings.policy.redress_courts or None},
    }


def _reasons_text(r: dict, settings: Settings) -> str:
    if r["action"] == "restrict":
        measure = f"restriction of {', '.join(r['functions'])} from {r['starts_at']} until {r['until']}"
    elif r["action"] == "ban":
        measure = f"ban from {r['starts_at']} until reversed"
    elif r["action"] == "remove_content":
        measure = f"removal of the violating content on {r['starts_at']} (no account sanction)"
    else:
        measure = f"warning on {r['starts_at']}"
    guideline = r["category"] + (f" ({settings.guidelines_url})" if settings.guidelines_url else "")
    b = r["basis"]
    text = (f"Account {r['account_id']}: {measure}. Reason: it broke the {settings.platform_name} guideline on "
            f"{guideline}; violation #{r['violation_number']} in the look-back window (rule: {r['rule']}). "
            f"Basis: {b['reports']} user report(s) from {b['reporters']} reporter(s) (case {r['case_ref']}); "
            f"a person decided, not an automated system. Appeal: {r['appeal']}.")
    # The rest of Art. 17 (issue 14.3), appended so the text above stays as it was.
    facts, ground, redress = r.get("facts") or {}, r.get("ground") or {}, r.get("redress") or {}
    if facts.get("note"):
        text += f" Facts: {facts['note']}"
        text += "" if text.endswith(".") else "."
    if ground.get("guideline") and ground["guideline"] != settings.guidelines_url:
        text += f" Guideline: {ground['guideline']}."
    if ground.get("legal"):
        text += f" Legal ground: {ground['legal']}."
    if redress:
        text += (" Automated means found the account IDs and category in the reports; the decision was not "
                 "automated.")
        appeal = redress.get("internal_appeal") or {}
        if appeal.get("until"):
            text += f" Appeal by {appeal['until'][:10]} to {appeal['address']}."
        if redress.get("out_of_court"):
            text += f" Out-of-court dispute settlement: {redress['out_of_court']}."
        if redress.get("courts"):
            text += f" Courts: {redress['courts']}."
    if r["override"]:
        o = r["override"]
        text += (f" The measure was chosen by staff instead of the ladder's {o['ladder_pick']}: {o['reason']}.")
    if r["revoked"]:
        text += f" Revoked on {r['revoked_at']}."
    return text


def _measure(row: dict) -> str:
    if row["action"] == "restrict" and row["until"]:
        return f"restrict:{(parse_iso(row['until']) - parse_iso(row['starts_at'])).days}"
    return row["action"]


def run_pending(db, settings: Settings, *, timeout: float = TIMEOUT_SECONDS) -> EnforcementReport:
    """Run the enforcement command for every sanction whose enforcement is due."""
    report = EnforcementReport()
    command = list(settings.enforcement_command)
    if not command:
        return report
    # Each sanction is claimed with a lease before its command runs, so a
    # second run at the same time (revoke beside enforce, poll beside decide)
    # skips it. A live claimant finishes within the command's timeout plus a
    # commit; a lease that ran out is a crashed claimant's and is taken over.
    lease = timedelta(seconds=timeout + settings.busy_timeout_ms / 1000 + 5)
    owner = leases.claimant()
    last_id = 0
    with transaction(db):
        for other in store.live_enforcement_claimants(db, iso(utcnow())):
            if leases.certainly_gone(other):
                store.release_enforcement_claims(db, other)
    try:
        while True:
            at = utcnow()
            with transaction(db):
                sanction_id = store.claim_enforcement(db, owner=owner, now=iso(at), lease_until=iso(at + lease),
                                                      after_id=last_id)
                rows = store.list_sanctions(db, sanction_id=sanction_id) if sanction_id else []
            if not rows:
                break
            row = rows[0]
            last_id = row["id"]
            payload = json.dumps(statement(row, settings), ensure_ascii=False, sort_keys=True) + "\n"
            error = run_command(command, payload.encode("utf-8"), timeout, env=child_env(settings))
            with transaction(db):
                store.record_enforcement(db, row["id"], ok=error is None, error=error, revoked=bool(row["revoked"]))
            if error is None:
                report.done.append(row["id"])
            else:
                report.failed.append((row["id"], error))
    finally:
        try:
            with transaction(db):
                store.release_enforcement_claims(db, owner)
        except IntakeError:
            pass  # the lease runs out by itself
    return report


def child_env(settings: Settings) -> dict[str, str]:
    """Our environment minus the IMAP/SMTP password variables: the platform's hook needs neither."""
    drop = secret_env_names(settings)
    return {k: v for k, v in os.environ.items() if k not in drop}


def run_command(command: list[str], stdin: bytes, timeout: float, env: dict[str, str] | None = None) -> str | None:
    """Run once; None on exit 0, else a one-line reason."""
    try:
        # A new session, so a timeout can kill whatever the command started too.
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True, env=env)
    except OSError as exc:
        return f"cannot run {command[0]}: {exc.strerror or exc}"
    try:
        _, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        return f"timed out after {timeout:g} s"
    if proc.returncode == 0:
        return None
    tail = " ".join(err.decode("utf-8", "replace").split())[-ERROR_CHARS:]
    how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
    return f"{how}: {tail}" if tail else how


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def hand_over_all(db, settings: Settings, *, timeout: float = TIMEOUT_SECONDS) -> EnforcementReport:
    """`sanctions enforce --all`: also the sanctions in force never handed over
    (decided before `[enforcement] command` was configured), then run what is due."""
    from ..store.db import iso
    with transaction(db):
        store.queue_unhanded_in_force(db, iso())
    return run_pending(db, settings, timeout=timeout)
