"""Triage and sanctions through the command line on a real SQLite file: in-process
(CliRunner) where no process boundary is tested, subprocesses for exit codes."""

from __future__ import annotations

import json
import sys

import pytest

from abuse_intake import config
from abuse_intake.store.db import open_db, transaction
from helpers import cli, cli_json, run, run_json, write_config
from triage_fixtures import add_case

EXPORT_KEYS = {"id", "account_id", "action", "functions", "starts_at", "until", "category", "severity",
               "guideline", "basis", "decided_by_human", "rule", "case_ref", "appeal", "revoked", "statement"}


def seed(path, *specs: dict) -> list[dict]:
    db = open_db(config.load(path).database_path)
    try:
        with transaction(db):
            return [add_case(db, **spec) for spec in specs]
    finally:
        db.conn.close()


@pytest.fixture
def cfg(tmp_path):
    return write_config(tmp_path)


def ok(path, *args):
    ran = run(path, *args)
    assert ran.returncode == 0, ran.stderr
    return ran


def test_decide_then_account_sanctions_and_export(cfg):
    [c] = seed(cfg, {"account_id": "dewi_manja88",
                     "reporters": [("ana@example.com", "id"), ("bob@example.com", "en")]})
    proc = ok(cfg, "decide", c["ref"], "--violation", "prostitution", "--by", "rina", "--note", "rates in bio")
    assert "high #1 -> restrict 30 days" in proc.stdout and "outcome queued to 2 reporter(s)" in proc.stdout

    account = run_json(cfg, "accounts", "show", "@Dewi_Manja88")
    assert (account["account_id"], account["status"], account["violations_in_window"]) == \
        ("dewi_manja88", "restricted", 1)
    [s] = account["sanctions"]
    assert {"id", "action", "functions", "starts_at", "until", "rule", "case_ref", "revoked"} <= set(s)
    assert (s["action"], s["case_ref"], s["revoked"], s["until"] == account["until"]) == \
        ("restrict", c["ref"], False, True)

    lines = ok(cfg, "sanctions", "export").stdout.splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert EXPORT_KEYS <= set(rec)
    assert (rec["id"], rec["case_ref"], rec["decided_by_human"], rec["appeal"]) == \
        (s["id"], c["ref"], True, "appeals@obrolan.example")
    assert rec["basis"] == {"source": "user reports", "reports": 2, "reporters": 2}
    assert "ana@example.com" not in lines[0] and "bob@example.com" not in lines[0]

    [listed] = run_json(cfg, "sanctions", "list")
    assert (listed["id"], listed["in_force"]) == (s["id"], True)

    shown = run_json(cfg, "cases", "show", c["ref"])
    assert shown["status"] == "decided" and shown["decision"] == "violation"
    assert [(a["actor"], a["action"]) for a in shown["audit"]] == [("rina", "decide")]
    assert shown["account_history"]["sanctions_in_force"][0]["id"] == s["id"]
    text = ok(cfg, "cases", "show", c["ref"]).stdout
    assert "audit trail" in text and "rates in bio" in text


def test_no_violation_and_json_output(cfg):
    [c] = seed(cfg, {"account_id": "innocent_acc"})
    out = run_json(cfg, "decide", c["ref"], "--no-violation", "--by", "rina")
    assert (out["decision"], out["sanction"], out["case_ref"]) == ("no_violation", None, c["ref"])
    assert ok(cfg, "sanctions", "export").stdout == ""


def test_revoke_shows_in_export_and_since_filters(cfg):
    [c] = seed(cfg, {"account_id": "dewi_manja88"})
    ok(cfg, "decide", c["ref"], "--violation", "human_trafficking", "--by", "rina")
    [s] = run_json(cfg, "sanctions", "list")
    assert s["action"] == "ban"
    ok(cfg, "sanctions", "revoke", str(s["id"]), "--by", "sari", "--note", "appeal upheld")
    [rec] = [json.loads(l) for l in ok(cfg, "sanctions", "export", "--since", "1d").stdout.splitlines()]
    assert rec["revoked"] is True and "Revoked on" in rec["statement"]
    assert ok(cfg, "sanctions", "export", "--since", "2999-01-01").stdout == ""
    assert run_json(cfg, "accounts", "show", "dewi_manja88")["status"] == "active"
    again = cli(cfg, "sanctions", "revoke", str(s["id"]), "--by", "sari", "--note", "twice")
    assert again.returncode == 65 and "already revoked" in again.stderr


def test_note_assign_link_live_in_the_cases_group(cfg):
    needs, target = seed(cfg, {"account_id": None, "reporters": [("bob@example.com", "en")]},
                         {"account_id": "dewi_manja88"})
    ok(cfg, "cases", "assign", target["ref"], "--to", "budi", "--by", "rina")
    ok(cfg, "cases", "note", target["ref"], "--by", "budi", "--text", "asked for screenshots")
    proc = ok(cfg, "cases", "link", needs["ref"], "--account", "dewi_manja88", "--by", "budi")
    assert f"merged into {target['ref']}" in proc.stdout
    shown = run_json(cfg, "cases", "show", target["ref"])
    assert shown["assignee"] == "budi" and shown["reporters"] == 2
    assert [(a["actor"], a["action"]) for a in shown["audit"]] == \
        [("rina", "assign"), ("budi", "note"), ("budi", "merge")]
    assert [c["ref"] for c in run_json(cfg, "cases", "list", "--assignee", "budi")] == [target["ref"]]


@pytest.mark.parametrize(("args", "code", "words"), [
    (("decide", "{needs}", "--violation", "prostitution", "--by", "rina"), 65, "cases link"),
    (("decide", "OB-999999", "--no-violation", "--by", "rina"), 65, "no case OB-999999"),
    (("decide", "{needs}", "--violation", "prostitution", "--no-violation", "--by", "rina"), 2, "exactly one"),
    (("decide", "{needs}", "--by", "rina"), 2, "exactly one"),
    (("sanctions", "revoke", "42", "--by", "sari", "--note", "x"), 65, "no sanction 42"),
    (("accounts", "show", "nobody_here"), 65, "nobody_here"),
    (("cases", "link", "{needs}", "--account", "not an id"), 65, "not an account ID"),
    (("sanctions", "export", "--since", "last tuesday"), 2, "--since"),
    # the library names the thing, the CLI adds the option
    (("cases", "note", "{needs}", "--by", " ", "--text", "x"), 65, "a note needs a staff name (--by)"),
    (("decide", "{needs}", "--no-violation", "--severity", "high", "--by", "rina"), 65,
     "a severity only goes with a violation (--severity)"),
])
def test_errors_are_one_clear_line_and_a_sysexits_code(cfg, args, code, words):
    [needs] = seed(cfg, {"account_id": None})
    proc = cli(cfg, *(a.format(needs=needs["ref"]) for a in args))
    assert proc.returncode == code, proc.stderr
    assert words in proc.stderr


def test_a_failing_enforcement_command_never_fails_the_decision(tmp_path):
    script = tmp_path / "enforce.py"
    script.write_text("import sys\nsys.stdin.read()\nprint('API down', file=sys.stderr)\nsys.exit(1)\n")
    cfg = write_config(tmp_path, replace={"command = []": f"command = ['{sys.executable}', '{script}']"})
    [c] = seed(cfg, {"account_id": "dewi_manja88"})
    proc = cli(cfg, "decide", c["ref"], "--violation", "prostitution", "--by", "rina")
    assert proc.returncode == 0, proc.stderr
    assert "enforcement of sanction" in proc.stderr and "API down" in proc.stderr
    [s] = cli_json(cfg, "sanctions", "list")
    assert (s["enforcement_status"], s["enforcement_error"]) == ("failed", "exit 1: API down")
    retry = cli(cfg, "sanctions", "enforce")
    assert retry.returncode == 75 and "0 done, 1 failed" in retry.stdout
    script.write_text("import sys\nsys.stdin.read()\n")
    assert "1 done, 0 failed" in ok(cfg, "sanctions", "enforce").stdout
    assert cli_json(cfg, "sanctions", "list")[0]["enforcement_status"] == "done"


@pytest.mark.parametrize("command", [
    ("decide",), ("cases", "note"), ("cases", "assign"), ("cases", "link"), ("accounts", "show"),
    ("sanctions", "list"), ("sanctions", "revoke"), ("sanctions", "export"), ("sanctions", "enforce"),
])
def test_every_command_has_help_with_an_example(cfg, command):
    proc = ok(cfg, *command, "--help")
    assert "Example" in proc.stdout
