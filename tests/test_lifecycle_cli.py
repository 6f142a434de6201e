"""The case lifecycle (issue 12) through the real command line: a real SQLite
file, the console script in a subprocess, a real aiosmtpd server where mail
goes out. Each test is one item of the issue's "What must hold"."""

from __future__ import annotations

import json
import sys

import pytest

from abuse_intake import config
from abuse_intake.store.db import open_db, transaction
from helpers import cli, cli_json, write_config
from triage_fixtures import add_case, rows


def seed(path, *specs: dict) -> list[dict]:
    db = open_db(config.load(path).database_path)
    try:
        with transaction(db):
            return [add_case(db, **spec) for spec in specs]
    finally:
        db.conn.close()


def query(path, sql: str, params: tuple = ()) -> list[dict]:
    db = open_db(config.load(path).database_path)
    try:
        return rows(db, sql, params)
    finally:
        db.conn.close()


def ok(path, *args):
    proc = cli(path, *args)
    assert proc.returncode == 0, proc.stderr
    return proc


def audit(path, ref: str) -> list[dict]:
    return cli_json(path, "cases", "show", ref)["audit"]


@pytest.fixture
def cfg(tmp_path):
    return write_config(tmp_path)


# -- 1. reopen / undo --------------------------------------------------------------

def test_reopen_revokes_the_sanction_tells_enforcement_and_cancels_waiting_outcomes(tmp_path):
    script = tmp_path / "enforce.py"
    log = tmp_path / "enforced.jsonl"
    script.write_text(f"import sys\nopen({str(log)!r}, 'a').write(sys.stdin.read())\n")
    cfg = write_config(tmp_path, replace={"command = []": f"command = ['{sys.executable}', '{script}']"})
    [c] = seed(cfg, {"account_id": "dewi_manja88", "reporters": [("ana@example.com", "id")]})
    ok(cfg, "decide", c["ref"], "--violation", "prostitution", "--by", "rina")
    [pending] = cli_json(cfg, "outbox", "list")
    assert (pending["kind"], pending["status"]) == ("outcome_actioned", "pending")

    out = cli_json(cfg, "cases", "reopen", c["ref"], "--by", "lead_ayu", "--note", "wrong account")
    assert (out["status"], out["previous_decision"], out["cancelled_emails"]) == ("open", "violation", [pending["id"]])
    [s] = cli_json(cfg, "sanctions", "list")
    assert (s["revoked"], s["enforcement_status"], s["revoked_by"]) == (True, "done", "lead_ayu")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["revoked"] for r in records] == [False, True]  # the command got the revocation
    assert cli_json(cfg, "outbox", "list")[0]["status"] == "cancelled"

    case = cli_json(cfg, "cases", "show", c["ref"])
    assert (case["status"], case["decision"], case["report_count"]) == ("open", None, 1)
    assert c["ref"] in [r["ref"] for r in cli_json(cfg, "cases", "list")]
    [entry] = [a for a in case["audit"] if a["action"] == "reopen"]
    assert entry["actor"] == "lead_ayu" and entry["at"]
    assert entry["detail"]["before"]["status"] == "decided" and entry["detail"]["after"] == {"status": "open"}
    assert entry["detail"]["note"] == "wrong account"
    assert {"revoke_sanction", "cancel_email"} <= {a["action"] for a in case["audit"]}

    # Decided again, the same way: the cancelled outcome is queued anew (not a correction: nothing was sent).
    ok(cfg, "decide", c["ref"], "--no-violation", "--by", "rina")
    kinds = [(e["kind"], e["status"]) for e in cli_json(cfg, "outbox", "list")]
    assert kinds == [("outcome_actioned", "cancelled"), ("outcome_no_violation", "pending")]


def test_a_correction_goes_only_to_those_told_and_only_when_the_decision_differs(tmp_path, smtp_server):
    cfg = write_config(tmp_path, outgoing_url=smtp_server.url())
    [a, b] = seed(cfg, {"account_id": "dewi_manja88", "reporters": [("ana@example.com", "id")]},
                  {"account_id": "sinta_bo", "reporters": [("bob@example.com", "en")]})
    for c in (a, b):
        ok(cfg, "decide", c["ref"], "--violation", "prostitution", "--by", "rina")
    ok(cfg, "send")
    assert len(smtp_server.messages) == 2

    # a: reopened and decided the same way -> no second email.
    ok(cfg, "cases", "reopen", a["ref"], "--by", "lead", "--note", "check")
    ok(cfg, "decide", a["ref"], "--violation", "prostitution", "--by", "rina")
    # b: reopened and found no violation -> one outcome_corrected, in the reporter's language.
    ok(cfg, "cases", "reopen", b["ref"], "--by", "lead", "--note", "screenshots were fake")
    out = cli_json(cfg, "decide", b["ref"], "--no-violation", "--by", "rina")
    assert out["corrected"] == ["bob@example.com"]
    ok(cfg, "send")
    assert len(smtp_server.messages) == 3
    msg = smtp_server.messages[-1].message()
    assert msg["To"] == "bob@example.com" and "Correction" in msg["Subject"] and b["ref"] in msg["Subject"]
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert "did not find a violation" in body
    assert [e["kind"] for e in cli_json(cfg, "outbox", "list")].count("outcome_corrected") == 1


def test_outcome_delay_keeps_outcomes_undeliverable_so_reopen_can_stop_them(tmp_path, smtp_server):
    cfg = write_config(tmp_path, outgoing_url=smtp_server.url(),
                       replace={"outcome_delay_minutes = 0": "outcome_delay_minutes = 30"})
    [c] = seed(cfg, {"account_id": "dewi_manja88"})
    ok(cfg, "decide", c["ref"], "--violation", "prostitution", "--by", "rina")
    ok(cfg, "send")
    assert smtp_server.messages == []  # inside the undo window
    [e] = cli_json(cfg, "outbox", "list")
    assert e["status"] == "pending" and e["next_attempt_at"] > e["created_at"]
    ok(cfg, "cases", "reopen", c["ref"], "--by", "lead", "--note", "oops")
    assert cli_json(cfg, "outbox", "list")[0]["status"] == "cancelled"


def test_reopen_refuses_what_is_not_decided(cfg):
    [c] = seed(cfg, {"account_id": "dewi_manja88"})
    proc = cli(cfg, "cases", "reopen", c["ref"], "--by", "lead", "--note", "x")
    assert proc.returncode == 65 and "not decided" in proc.stderr


# -- 2. close what cannot be actioned ---------------------------------------------------

def test_needs_info_case_closes_with_no_violation_and_a_fitting_email(cfg):
    [n, m] = seed(cfg, {"account_id": None, "reporters": [("ana@example.com", "id")]},
                  {"account_id": None, "reporters": [("bob@example.com", "en")]})
    listed = {r["ref"]: r["status"] for r in cli_json(cfg, "cases", "list")}
    assert listed == {n["ref"]: "needs_info", m["ref"]: "needs_info"}  # the default shows needs_info too

    ok(cfg, "decide", n["ref"], "--no-violation", "--by", "rina")
    ok(cfg, "decide", m["ref"], "--no-violation", "--reason", "duplicate", "--by", "rina")
    mails = {e["to"]: e for e in cli_json(cfg, "outbox", "list")}
    assert mails["ana@example.com"]["kind"] == "outcome_closed"
    assert "Laporan Anda sudah ditutup" in mails["ana@example.com"]["subject"]
    text = ok(cfg, "outbox", "show", str(mails["bob@example.com"]["id"])).stdout
    assert "already reported" in text
    case = cli_json(cfg, "cases", "show", m["ref"])
    assert (case["status"], case["decision"]) == ("decided", "no_violation")
    assert [a["detail"].get("reason") for a in case["audit"] if a["action"] == "decide"] == ["duplicate"]
    assert cli_json(cfg, "cases", "list") == []

    bad = cli(cfg, "decide", n["ref"], "--no-violation", "--reason", "bored", "--by", "rina")
    assert bad.returncode == 65


def test_needs_info_still_cannot_take_a_violation_without_an_account(cfg):
    [n] = seed(cfg, {"account_id": None})
    proc = cli(cfg, "decide", n["ref"], "--violation", "prostitution", "--by", "rina")
    assert proc.returncode == 65 and "no account ID yet" in proc.stderr


# -- 3. open by hand ---------------------------------------------------------------------

def test_open_a_case_by_hand_and_from_a_stored_message(cfg):
    out = cli_json(cfg, "cases", "open", "--account", "@Sinta_New", "--category", "prostitution",
                   "--by", "rina", "--note", "ban evasion of dewi_manja88")
    assert (out["account_id"], out["status"], out["severity"]) == ("sinta_new", "open", "high")
    case = cli_json(cfg, "cases", "show", out["case_ref"])
    [entry] = case["audit"]
    assert (entry["action"], entry["actor"], entry["detail"]["note"]) == \
        ("open_case", "rina", "ban evasion of dewi_manja88")
    again = cli(cfg, "cases", "open", "--account", "sinta_new", "--category", "prostitution",
                "--by", "rina", "--note", "x")
    assert again.returncode == 65 and out["case_ref"] in again.stderr

    [c] = seed(cfg, {"account_id": "dewi_manja88", "reporters": [("ana@example.com", "id")]})
    [msg] = query(cfg, "SELECT m.id FROM messages m JOIN reports r ON r.message_id = m.id "
                       "JOIN case_reports cr ON cr.report_id = r.id WHERE cr.case_id = ?", (c["id"],))
    other = cli_json(cfg, "cases", "open", "--account", "rina_vip", "--category", "prostitution",
                     "--by", "rina", "--note", "named in this report too", "--from-message", str(msg["id"]))
    shown = cli_json(cfg, "cases", "show", other["case_ref"])
    assert shown["reporter_addresses"] == ["ana@example.com"] and shown["report_count"] == 1
    ok(cfg, "decide", other["case_ref"], "--violation", "prostitution", "--by", "rina")
    assert [e["to"] for e in cli_json(cfg, "outbox", "list")] == ["ana@example.com"]

    missing = cli(cfg, "cases", "open", "--account", "xy_yz1", "--category", "prostitution", "--by", "rina",
                  "--note", "n", "--from-message", "9999")
    assert missing.returncode == 65 and "no stored message 9999" in missing.stderr


# -- 5. choose the measure ------------------------------------------------------------------

def test_measure_override_is_recorded_everywhere(cfg):
    [c] = seed(cfg, {"account_id": "dewi_manja88", "category": "sexual_content", "severity": "medium"})
    ok(cfg, "decide", c["ref"], "--violation", "sexual_content", "--measure", "remove_content",
       "--reason", "only the profile photo", "--by", "rina")
    account = cli_json(cfg, "accounts", "show", "dewi_manja88")
    [s] = account["sanctions"]
    assert (s["action"], s["ladder_pick"], s["override_reason"], s["counts_as_strike"]) == \
        ("remove_content", "restrict:7", "only the profile photo", False)
    assert (account["status"], account["violations_in_window"]) == ("active", 0)  # not a strike
    [rec] = [json.loads(line) for line in ok(cfg, "sanctions", "export").stdout.splitlines()]
    assert rec["action"] == "remove_content"
    assert rec["override"] == {"measure": "remove_content", "ladder_pick": "restrict:7",
                               "reason": "only the profile photo"}
    assert "removal of the violating content" in rec["statement"] and "only the profile photo" in rec["statement"]
    [d] = [a for a in audit(cfg, c["ref"]) if a["action"] == "decide"]
    assert (d["detail"]["measure"], d["detail"]["ladder_pick"], d["detail"]["override_reason"]) == \
        ("remove_content", "restrict:7", "only the profile photo")
    [e] = cli_json(cfg, "outbox", "list")
    assert "Konten yang melanggar pedoman sudah dihapus" in ok(cfg, "outbox", "show", str(e["id"])).stdout

    # A ban for a spam bot without calling it critical: no referral.
    [bot] = seed(cfg, {"account_id": "spam_bot1", "category": "other", "severity": "low"})
    out = cli_json(cfg, "decide", bot["ref"], "--violation", "other", "--measure", "ban", "--reason", "spam bot",
                   "--by", "rina")
    assert (out["sanction"]["action"], out["referral"], out["sanction"]["ladder_pick"]) == ("ban", False, "warn")


def test_remove_content_counts_when_the_config_says_so(tmp_path):
    cfg = write_config(tmp_path, replace={"lookback_days = 365": "lookback_days = 365\nremove_content_counts = true"})
    [c] = seed(cfg, {"account_id": "dewi_manja88", "category": "sexual_content", "severity": "medium"})
    ok(cfg, "decide", c["ref"], "--violation", "sexual_content", "--measure", "remove_content",
       "--reason", "photo", "--by", "rina")
    assert cli_json(cfg, "accounts", "show", "dewi_manja88")["violations_in_window"] == 1


@pytest.mark.parametrize("args, words", [
    (("--measure", "ban"), "needs a reason, for the statement of reasons (--reason)"),
    (("--measure", "restrict:x", "--reason", "r"), "unknown measure 'restrict:x'"),
    (("--reason", "r"), "a reason goes with a chosen measure"),
])
def test_bad_measure_options_are_refused(cfg, args, words):
    [c] = seed(cfg, {"account_id": "dewi_manja88"})
    proc = cli(cfg, "decide", c["ref"], "--violation", "prostitution", *args, "--by", "rina")
    assert proc.returncode == 65 and words in proc.stderr
    assert cli_json(cfg, "sanctions", "list") == []


# -- 6. bulk -------------------------------------------------------------------------------

def test_bulk_decide_each_case_on_its_own(cfg, tmp_path):
    cases = seed(cfg, {"account_id": "op_one"}, {"account_id": "op_two"}, {"account_id": "op_three"})
    out = cli_json(cfg, "decide", *(c["ref"] for c in cases), "--violation", "prostitution", "--by", "rina")
    assert [i["ok"] for i in out] == [True, True, True]
    assert {i["decision"]["account_id"] for i in out} == {"op_one", "op_two", "op_three"}
    assert all(i["decision"]["sanction"]["violation_number"] == 1 for i in out)

    bogus = seed(cfg, {"account_id": None}, {"account_id": None})
    listing = tmp_path / "refs.txt"
    listing.write_text(f"{bogus[0]['ref']}\n# a comment\nOB-999999\n{bogus[1]['ref']}\n{cases[0]['ref']}\n")
    proc = cli(cfg, "decide", "--from-file", str(listing), "--no-violation", "--reason", "not_actionable",
               "--by", "rina")
    assert proc.returncode == 65
    lines = proc.stdout.splitlines()
    assert f"{bogus[0]['ref']}: no violation (not_actionable)" in lines[0]
    assert lines[1].startswith("OB-999999: FAILED: no case")
    assert f"{cases[0]['ref']}: FAILED: cannot decide" in lines[3]
    assert lines[-1] == "2 decided, 2 failed"
    statuses = {r["ref"]: r["status"] for r in cli_json(cfg, "cases", "list", "--status", "all")}
    assert statuses[bogus[0]["ref"]] == statuses[bogus[1]["ref"]] == "decided"


# -- 7. control the emails ------------------------------------------------------------------

def test_outbox_show_prints_what_send_writes_and_cancel_stops_it(tmp_path, smtp_server):
    cfg = write_config(tmp_path, outgoing_url=smtp_server.url())
    [c] = seed(cfg, {"account_id": "dewi_manja88", "reporters": [("ana@example.com", "id"),
                                                                  ("bob@example.com", "en")]})
    ok(cfg, "decide", c["ref"], "--violation", "prostitution", "--by", "rina")
    first, second = cli_json(cfg, "outbox", "list")
    shown = ok(cfg, "outbox", "show", str(first["id"])).stdout
    head, body = shown.split("\n\n", 1)
    ok(cfg, "outbox", "cancel", str(second["id"]), "--by", "rina", "--note", "reporter asked us not to write")
    ok(cfg, "send")
    [sent] = smtp_server.messages
    assert sent.rcpt_tos == [first["to"]]
    wire = sent.raw.decode("ascii")
    wire_head = wire.split("\r\n\r\n", 1)[0].replace("\r\n", "\n")
    # Every header line is exactly as sent, except Date (the sending time).
    strip = lambda text: [l for l in text.split("\n") if not l.startswith("Date:")]  # noqa: E731
    assert strip(head) == strip(wire_head)
    sent_text = sent.message().get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert body.rstrip("\n") == sent_text.rstrip("\n")

    listed = {e["id"]: e["status"] for e in cli_json(cfg, "outbox", "list")}
    assert listed == {first["id"]: "sent", second["id"]: "cancelled"}
    ok(cfg, "send")
    assert len(smtp_server.messages) == 1  # never delivered
    again = cli(cfg, "outbox", "cancel", str(first["id"]), "--by", "rina", "--note", "x")
    assert again.returncode == 65 and "is sent" in again.stderr
    [entry] = [a for a in audit(cfg, c["ref"]) if a["action"] == "cancel_email"]
    assert entry["actor"] == "rina" and entry["detail"]["before"] == {"status": "pending"}
    assert entry["detail"]["note"] == "reporter asked us not to write"
    assert cli(cfg, "outbox", "show", "999").returncode == 65


# -- 8. assignment --------------------------------------------------------------------------

def test_claim_and_unassign(cfg):
    [c] = seed(cfg, {"account_id": "dewi_manja88"})
    assert "now held by rina" in ok(cfg, "cases", "claim", c["ref"], "--by", "rina").stdout
    refused = cli(cfg, "cases", "claim", c["ref"], "--by", "budi")
    assert refused.returncode == 65 and "held by rina" in refused.stderr
    assert "taken over from rina" in ok(cfg, "cases", "claim", c["ref"], "--by", "lead_ayu", "--force").stdout
    ok(cfg, "cases", "assign", c["ref"], "--to", "none", "--by", "lead_ayu")
    assert cli_json(cfg, "cases", "show", c["ref"])["assignee"] is None
    trail = [(a["action"], a["detail"].get("forced"), a["detail"]["before"], a["detail"]["after"])
             for a in audit(cfg, c["ref"])]
    assert trail == [("claim", False, {"assignee": None}, {"assignee": "rina"}),
                     ("claim", True, {"assignee": "rina"}, {"assignee": "lead_ayu"}),
                     ("unassign", None, {"assignee": "lead_ayu"}, {"assignee": None})]
    assert cli(cfg, "cases", "assign", c["ref"], "--to", "none", "--by", "x").returncode == 65


@pytest.mark.parametrize("command", [
    ("cases", "reopen"), ("cases", "open"), ("cases", "claim"), ("cases", "seen"), ("outbox", "show"),
    ("outbox", "cancel"), ("decide",),
])
def test_new_commands_have_help_with_an_example(cfg, command):
    assert "Example" in ok(cfg, *command, "--help").stdout
