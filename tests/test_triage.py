"""Staff actions on a real SQLite file: decide, note, assign, link, revoke, enforcement."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import datetime, timedelta, timezone

import pytest

from abuse_intake.cases import triage, views
from abuse_intake.errors import InvalidActionError, NotFoundError
from abuse_intake.policy import enforcement
from abuse_intake.store import triage as store
from abuse_intake.store.db import open_db, transaction
from triage_fixtures import add_case, add_report, example_settings, rows

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def settings(tmp_path):
    return example_settings(tmp_path)


@pytest.fixture
def db(settings):
    db = open_db(settings.database_path)
    yield db
    db.conn.close()


def case(db, **kw):
    with transaction(db):
        return add_case(db, **kw)


def outbox(db, case_id):
    return rows(db, "SELECT o.kind, o.recipient, o.language FROM outbox o JOIN outbox_cases oc "
                    "ON oc.outbox_id = o.id WHERE oc.case_id = ? ORDER BY o.recipient", (case_id,))


def audit(db, case_id):
    return [(a["actor"], a["action"]) for a in store.audit_of_case(db, case_id)]


# -- decide ---------------------------------------------------------------

def test_a_violation_closes_the_case_records_the_sanction_and_queues_outcomes(db, settings):
    c = case(db, account_id="dewi_manja88", reporters=[("ana@example.com", "id"), ("bob@example.com", "en")])
    d = triage.decide(db, settings, c["ref"], by="rina", violation="prostitution", note="rates in profile", now=NOW)

    assert (d.decision, d.category, d.severity, d.referral) == ("violation", "prostitution", "high", False)
    assert (d.sanction.action, d.sanction.rule) == ("restrict", "high #1 -> restrict 30 days")
    row = rows(db, "SELECT * FROM cases WHERE id = ?", (c["id"],))[0]
    assert (row["status"], row["decision"], row["decided_by"], row["decision_note"]) == \
        ("decided", "violation", "rina", "rates in profile")
    assert (row["decision_category"], row["decision_severity"], row["referral"]) == ("prostitution", "high", 0)
    s = store.sanction_by_id(db, d.sanction_id)
    assert (s["account_id"], s["action"], s["starts_at"], s["until"], s["case_ref"]) == \
        ("dewi_manja88", "restrict", "2024-06-01T12:00:00Z", "2024-07-01T12:00:00Z", c["ref"])
    assert s["functions"] == list(settings.policy.restrict_functions)
    assert s["enforcement_status"] == "none"  # no [enforcement] command configured
    assert audit(db, c["id"]) == [("rina", "decide")]
    detail = store.audit_of_case(db, c["id"])[0]["detail"]
    assert detail["note"] == "rates in profile" and detail["rule"] == "high #1 -> restrict 30 days"
    # One outcome per reporter, in the reporter's language.
    assert outbox(db, c["id"]) == [
        {"kind": "outcome_actioned", "recipient": "ana@example.com", "language": "id"},
        {"kind": "outcome_actioned", "recipient": "bob@example.com", "language": "en"},
    ]
    view = views.account_view(db, settings, "dewi_manja88", now=NOW + timedelta(days=1))
    assert (view.status, view.until, view.violations_in_window) == ("restricted", "2024-07-01T12:00:00Z", 1)


def test_history_climbs_the_ladder_and_a_decided_case_lets_a_new_one_open(db, settings):
    first = case(db, account_id="dewi_manja88")
    triage.decide(db, settings, first["ref"], by="rina", violation="prostitution", now=NOW)
    # The pipeline opens a new case for a later report: the unique index must allow it.
    second = case(db, account_id="dewi_manja88")
    d = triage.decide(db, settings, second["ref"], by="rina", violation="sexual_solicitation",
                      now=NOW + timedelta(days=40))
    assert (d.sanction.action, d.sanction.rule, d.sanction.violation_number) == ("ban", "high #2 -> ban", 2)
    view = views.account_view(db, settings, "dewi_manja88", now=NOW + timedelta(days=41))
    assert view.status == "banned"
    assert [s.action for s in view.sanctions] == ["restrict", "ban"]
    assert [c.ref for c in view.cases] == [first["ref"], second["ref"]]


def test_no_violation_records_no_sanction_and_tells_the_reporters(db, settings):
    c = case(db, account_id="innocent_acc")
    d = triage.decide(db, settings, c["ref"], by="rina", violation=None, note="joke between friends", now=NOW)
    assert (d.decision, d.sanction, d.sanction_id) == ("no_violation", None, None)
    assert store.sanctions_of_account(db, "innocent_acc") == []
    assert [o["kind"] for o in outbox(db, c["id"])] == ["outcome_no_violation"]
    assert views.account_view(db, settings, "innocent_acc", now=NOW).status == "active"


def test_critical_bans_and_flags_the_case_for_referral(db, settings):
    c = case(db, account_id="germo_jkt", category="human_trafficking", severity="critical")
    d = triage.decide(db, settings, c["ref"], by="rina", violation="human_trafficking", now=NOW)
    assert (d.sanction.action, d.referral) == ("ban", True)
    assert rows(db, "SELECT referral FROM cases WHERE id = ?", (c["id"],))[0]["referral"] == 1
    assert audit(db, c["id"]) == [("rina", "decide"), ("system", "flag_referral")]


def test_staff_may_override_the_severity(db, settings):
    c = case(db, account_id="dewi_manja88")
    d = triage.decide(db, settings, c["ref"], by="rina", violation="other", severity="medium", now=NOW)
    assert (d.severity, d.sanction.rule) == ("medium", "medium #1 -> restrict 7 days")


@pytest.mark.parametrize(("kw", "message"), [
    ({"violation": "spamming"}, "unknown category"),
    ({"violation": None, "severity": "high"}, "a severity only goes with a violation"),
    ({"violation": "other", "by": "  "}, "a decision needs a staff name"),
])
def test_bad_decisions_are_refused_and_change_nothing(db, settings, kw, message):
    c = case(db, account_id="dewi_manja88")
    with pytest.raises(InvalidActionError, match=message):
        triage.decide(db, settings, c["ref"], **{"by": "rina", **kw}, now=NOW)
    assert rows(db, "SELECT status FROM cases WHERE id = ?", (c["id"],))[0]["status"] == "open"
    assert rows(db, "SELECT COUNT(*) AS n FROM outbox")[0]["n"] == 0


def test_a_needs_info_case_without_account_cannot_be_decided(db, settings):
    c = case(db, account_id=None)
    with pytest.raises(InvalidActionError, match=rf"case {c['ref']} has no account ID yet.*link the case to an account first"):
        triage.decide(db, settings, c["ref"], by="rina", violation="prostitution", now=NOW)
    assert rows(db, "SELECT status FROM cases WHERE id = ?", (c["id"],))[0]["status"] == "needs_info"
    assert store.audit_of_case(db, c["id"]) == []


def test_a_decided_case_is_closed_to_further_decisions(db, settings):
    c = case(db, account_id="dewi_manja88")
    triage.decide(db, settings, c["ref"], by="rina", violation="prostitution", now=NOW)
    with pytest.raises(InvalidActionError, match="already decided"):
        triage.decide(db, settings, c["ref"], by="budi", violation=None, now=NOW)
    with pytest.raises(InvalidActionError, match="already decided"):
        triage.assign(db, c["ref"], to="budi", by="budi")
    assert len(store.sanctions_of_account(db, "dewi_manja88")) == 1
    assert len(outbox(db, c["id"])) == 1


def test_unknown_case_is_not_found(db, settings):
    with pytest.raises(NotFoundError):
        triage.decide(db, settings, "OB-999999", by="rina", violation=None)
    with pytest.raises(NotFoundError):
        triage.add_note(db, "OB-999999", by="rina", text="x")


def test_refs_are_case_insensitive(db, settings):
    c = case(db, account_id="dewi_manja88")
    assert triage.add_note(db, c["ref"].lower(), by="rina", text="looked at it") == c["ref"]


# -- note, assign, audit --------------------------------------------------

def test_note_and_assign_go_into_the_append_only_audit_log(db, settings):
    c = case(db, account_id="dewi_manja88")
    triage.assign(db, c["ref"], to="budi", by="rina", now=NOW)
    triage.add_note(db, c["ref"], by="budi", text="asked for the chat log\nwill check", now=NOW)
    assert rows(db, "SELECT assignee FROM cases WHERE id = ?", (c["id"],))[0]["assignee"] == "budi"
    trail = store.audit_of_case(db, c["id"])
    assert [(a["actor"], a["action"], a["at"]) for a in trail] == [
        ("rina", "assign", "2024-06-01T12:00:00Z"), ("budi", "note", "2024-06-01T12:00:00Z")]
    assert trail[0]["detail"] == {"to": "budi", "from": None, "before": {"assignee": None},
                                  "after": {"assignee": "budi"}}
    assert trail[1]["detail"] == {"text": "asked for the chat log\nwill check"}
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit_log SET actor = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit_log")


def test_names_lose_control_characters(db, settings):
    c = case(db, account_id="dewi_manja88")
    triage.assign(db, c["ref"], to="budi\r\nX-Evil: 1", by="rina")
    assert rows(db, "SELECT assignee FROM cases WHERE id = ?", (c["id"],))[0]["assignee"] == "budi X-Evil: 1"


# -- link -----------------------------------------------------------------

def test_link_gives_a_needs_info_case_its_account(db, settings):
    c = case(db, account_id=None)
    result = triage.link_account(db, settings, c["ref"], account_id="@Dewi_Manja88", by="rina", now=NOW)
    assert (result.account_id, result.merged_into) == ("dewi_manja88", None)
    row = rows(db, "SELECT status, account_id FROM cases WHERE id = ?", (c["id"],))[0]
    assert row == {"status": "open", "account_id": "dewi_manja88"}
    assert audit(db, c["id"]) == [("rina", "link")]
    d = triage.decide(db, settings, c["ref"], by="rina", violation="prostitution", now=NOW)
    assert d.sanction.action == "restrict"


def test_link_merges_into_the_accounts_open_case(db, settings):
    target = case(db, account_id="dewi_manja88", reporters=[("ana@example.com", "id")],
                  category="sexual_content", severity="medium")
    source = case(db, account_id=None, reporters=[("bob@example.com", "en"), ("ana@example.com", "id")])
    result = triage.link_account(db, settings, source["ref"], account_id="dewi_manja88", by="rina", now=NOW)
    assert result.merged_into == target["ref"]
    merged = rows(db, "SELECT * FROM cases WHERE id = ?", (source["id"],))[0]
    assert merged["status"] == "merged"
    t = rows(db, "SELECT * FROM cases WHERE id = ?", (target["id"],))[0]
    assert (t["status"], t["reports"], t["reporters"]) == ("open", 3, 2)
    assert (t["category"], t["severity"]) == ("prostitution", "high")  # the more severe report wins
    assert audit(db, source["id"]) == [("rina", "link")]
    assert audit(db, target["id"]) == [("rina", "merge")]
    with pytest.raises(InvalidActionError, match=f"merged into {target['ref']}"):
        triage.decide(db, settings, source["ref"], by="rina", violation=None, now=NOW)
    triage.decide(db, settings, target["ref"], by="rina", violation=None, now=NOW)
    assert [o["recipient"] for o in outbox(db, target["id"])] == ["ana@example.com", "bob@example.com"]


@pytest.mark.parametrize("bad", ["x", "9lives", "has space", "a" * 40, "evil@example.com"])
def test_link_refuses_what_is_not_an_account_id(db, settings, bad):
    c = case(db, account_id=None)
    with pytest.raises(InvalidActionError, match="not an account ID"):
        triage.link_account(db, settings, c["ref"], account_id=bad, by="rina")


def test_link_to_the_same_account_is_refused(db, settings):
    c = case(db, account_id="dewi_manja88")
    with pytest.raises(InvalidActionError, match="already about account dewi_manja88"):
        triage.link_account(db, settings, c["ref"], account_id="DEWI_MANJA88", by="rina")


# -- revoke ---------------------------------------------------------------

def test_a_revoked_sanction_no_longer_counts(db, settings):
    first = case(db, account_id="dewi_manja88")
    d1 = triage.decide(db, settings, first["ref"], by="rina", violation="prostitution", now=NOW)
    row = triage.revoke(db, settings, d1.sanction_id, by="sari", note="appeal: impersonation",
                        now=NOW + timedelta(days=2))
    assert (row["revoked"], row["revoked_by"], row["revoke_note"]) == (True, "sari", "appeal: impersonation")
    assert audit(db, first["id"])[-1] == ("sari", "revoke_sanction")
    view = views.account_view(db, settings, "dewi_manja88", now=NOW + timedelta(days=3))
    assert (view.status, view.violations_in_window) == ("active", 0)
    second = case(db, account_id="dewi_manja88")
    d2 = triage.decide(db, settings, second["ref"], by="rina", violation="prostitution", now=NOW + timedelta(days=5))
    assert d2.sanction.rule == "high #1 -> restrict 30 days"
    with pytest.raises(InvalidActionError, match="already revoked"):
        triage.revoke(db, settings, d1.sanction_id, by="sari", note="again")
    with pytest.raises(NotFoundError):
        triage.revoke(db, settings, 9999, by="sari", note="x")
    with pytest.raises(InvalidActionError, match="the revocation note needs some text"):
        triage.revoke(db, settings, d2.sanction_id, by="sari", note=" ")


def test_account_status_returns_to_active_when_the_restriction_expires(db, settings):
    c = case(db, account_id="dewi_manja88", category="sexual_content", severity="medium")
    triage.decide(db, settings, c["ref"], by="rina", violation="sexual_content", now=NOW)
    during = views.account_view(db, settings, "dewi_manja88", now=NOW + timedelta(days=6))
    after = views.account_view(db, settings, "dewi_manja88", now=NOW + timedelta(days=7, seconds=1))
    assert (during.status, during.until) == ("restricted", "2024-06-08T12:00:00Z")
    assert (after.status, after.until, after.violations_in_window) == ("active", None, 1)
    assert after.sanctions[0].in_force is False


def test_unknown_account_is_not_found(db, settings):
    with pytest.raises(NotFoundError):
        views.account_view(db, settings, "nobody_here")


def test_case_history_for_cases_show(db, settings):
    old = case(db, account_id="dewi_manja88", at="2024-05-01T00:00:00Z")
    triage.decide(db, settings, old["ref"], by="rina", violation="prostitution", now=NOW)
    new = case(db, account_id="dewi_manja88", at="2024-06-02T00:00:00Z")
    triage.add_note(db, new["ref"], by="budi", text="same photos again", now=NOW)
    h = views.case_view(db, settings, new["ref"], now=NOW + timedelta(days=2))
    assert [c.ref for c in h.account_history.earlier_cases] == [old["ref"]]
    assert h.account_history.violations_in_window == 1
    assert [s.action for s in h.account_history.sanctions_in_force] == ["restrict"]
    assert [(a.actor, a.action) for a in h.audit] == [("budi", "note")]
    assert h.sanctions == ()


# -- enforcement ----------------------------------------------------------

RECORDER = """
import json, os, sys
data = sys.stdin.read()
out = os.environ["OUT"]
with open(out, "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "stdin": json.loads(data)}) + "\\n")
"""


def enforce_settings(tmp_path, script: str, *args: str):
    path = tmp_path / "enforce.py"
    path.write_text(script)
    return example_settings(tmp_path, enforcement={"command": [sys.executable, str(path), *args]})


def sanction(db, settings, case_id, **kw):
    fields = dict(account_id="dewi_manja88", case_id=case_id, action="ban", functions=(),
                  starts_at="2024-06-01T12:00:00Z", until=None, category="prostitution", severity="high",
                  rule="high #2 -> ban", violation_number=2, decided_by="rina",
                  enforcement_status="pending" if settings.enforcement_command else "none",
                  at="2024-06-01T12:00:00Z")
    fields.update(kw)
    with transaction(db):
        return store.insert_sanction(db, **fields)


def test_enforcement_gets_the_statement_on_stdin_once(tmp_path, monkeypatch):
    out = tmp_path / "calls.jsonl"
    monkeypatch.setenv("OUT", str(out))
    settings = enforce_settings(tmp_path, RECORDER, "--from-stdin")
    db = open_db(settings.database_path)
    c = case(db, account_id="dewi_manja88", reporters=[("ana@example.com", "id"), ("bob@example.com", "en")])
    sid = sanction(db, settings, c["id"])

    report = enforcement.run_pending(db, settings)
    assert (report.done, report.failed) == ([sid], [])
    assert enforcement.run_pending(db, settings).ran == 0  # once
    calls = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(calls) == 1 and calls[0]["argv"] == ["--from-stdin"]
    rec = calls[0]["stdin"]
    assert rec["id"] == sid and rec["case_ref"] == c["ref"] and rec["action"] == "ban"
    assert rec["basis"] == {"source": "user reports", "reports": 2, "reporters": 2}
    assert rec["decided_by_human"] is True and rec["appeal"] == "appeals@obrolan.example"
    assert rec["guideline"] == {"category": "prostitution", "url": "https://obrolan.example/guidelines"}
    assert "ana@example.com" not in json.dumps(rec) and "rina" not in json.dumps(rec)
    row = store.sanction_by_id(db, sid)
    assert (row["enforcement_status"], row["enforcement_attempts"], row["enforcement_error"]) == ("done", 1, None)


def test_a_revocation_is_handed_to_enforcement_again(tmp_path, monkeypatch):
    out = tmp_path / "calls.jsonl"
    monkeypatch.setenv("OUT", str(out))
    settings = enforce_settings(tmp_path, RECORDER)
    db = open_db(settings.database_path)
    c = case(db, account_id="dewi_manja88")
    sid = sanction(db, settings, c["id"])
    enforcement.run_pending(db, settings)
    triage.revoke(db, settings, sid, by="sari", note="appeal upheld")
    assert enforcement.run_pending(db, settings).done == [sid]
    calls = [json.loads(l)["stdin"] for l in out.read_text().splitlines()]
    assert [c["revoked"] for c in calls] == [False, True]


FAIL_ONCE = """
import os, sys
sys.stdin.read()
flag = os.environ["FLAG"]
if not os.path.exists(flag):
    open(flag, "w").close()
    print("platform API said 503", file=sys.stderr)
    sys.exit(3)
"""


def test_a_failure_is_recorded_and_retried_on_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("FLAG", str(tmp_path / "flag"))
    settings = enforce_settings(tmp_path, FAIL_ONCE)
    db = open_db(settings.database_path)
    c = case(db, account_id="dewi_manja88")
    sid = sanction(db, settings, c["id"])
    first = enforcement.run_pending(db, settings)
    assert first.failed == [(sid, "exit 3: platform API said 503")]
    row = store.sanction_by_id(db, sid)
    assert (row["enforcement_status"], row["enforcement_attempts"]) == ("failed", 1)
    assert row["enforcement_error"] == "exit 3: platform API said 503"
    assert enforcement.run_pending(db, settings).done == [sid]
    row = store.sanction_by_id(db, sid)
    assert (row["enforcement_status"], row["enforcement_attempts"], row["enforcement_error"]) == ("done", 2, None)


def test_a_hanging_command_is_killed_with_its_children(tmp_path):
    hang = "import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\ntime.sleep(60)\n"
    settings = enforce_settings(tmp_path, hang)
    db = open_db(settings.database_path)
    c = case(db, account_id="dewi_manja88")
    sid = sanction(db, settings, c["id"])
    report = enforcement.run_pending(db, settings, timeout=0.5)
    assert report.failed == [(sid, "timed out after 0.5 s")]


def test_a_missing_command_is_a_recorded_failure_not_a_crash(tmp_path):
    settings = example_settings(tmp_path, enforcement={"command": [str(tmp_path / "no-such-program")]})
    db = open_db(settings.database_path)
    c = case(db, account_id="dewi_manja88")
    sid = sanction(db, settings, c["id"])
    [(failed_id, error)] = enforcement.run_pending(db, settings).failed
    assert failed_id == sid and error.startswith("cannot run ")


def test_without_a_command_nothing_is_pending(db, settings):
    c = case(db, account_id="dewi_manja88")
    sid = sanction(db, settings, c["id"])
    assert enforcement.run_pending(db, settings).ran == 0
    assert store.sanction_by_id(db, sid)["enforcement_status"] == "none"


def test_the_statement_of_reasons(db, settings):
    c = case(db, account_id="dewi_manja88", reporters=[("ana@example.com", "id")])
    with transaction(db):
        add_report(db, case_id=c["id"], reporter="ana@example.com", account_id="dewi_manja88")
    sid = sanction(db, settings, c["id"], action="restrict", functions=("post_status",),
                   until="2024-07-01T12:00:00Z", rule="high #1 -> restrict 30 days", violation_number=1)
    [row] = store.list_sanctions(db)
    rec = enforcement.statement(row, settings)
    assert rec["id"] == sid and rec["functions"] == ["post_status"] and rec["until"] == "2024-07-01T12:00:00Z"
    assert rec["basis"] == {"source": "user reports", "reports": 2, "reporters": 1}
    text = rec["statement"]
    for part in ("restriction of post_status", "until 2024-07-01T12:00:00Z", "prostitution",
                 "https://obrolan.example/guidelines", "2 user report(s)", "a person decided",
                 "appeals@obrolan.example", "high #1 -> restrict 30 days"):
        assert part in text
