"""Appeals (issue 14.1) on a real SQLite file, through the real console script
(poll reads a real maildir, send talks to a real aiosmtpd server), and the
independent evaluation set's 14 appeals through the real pipeline."""

from __future__ import annotations

import email as email_lib
import email.policy
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from abuse_intake import config
from abuse_intake.cases import triage
from abuse_intake.flow.process import process_one
from abuse_intake.models import RawMessage, Source
from abuse_intake.store.db import open_db, transaction
from helpers import cli, cli_json, email, make_maildir, make_settings, write_config
from triage_fixtures import add_case

EVAL_DIR = Path(__file__).resolve().parent / "eval" / "independent"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def seed(path, *specs: dict) -> list[dict]:
    db = open_db(config.load(path).database_path)
    try:
        with transaction(db):
            return [add_case(db, **spec) for spec in specs]
    finally:
        db.conn.close()


def ok(path, *args):
    proc = cli(path, *args)
    assert proc.returncode == 0, proc.stderr
    return proc


def deliver(tmp_path, cfg, *messages: bytes) -> None:
    make_maildir(tmp_path / "mailbox", list(messages))
    ok(cfg, "poll")


def sent(smtp_server) -> list:
    return [m.message() for m in smtp_server.messages]


def body_of(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def with_enforcement(tmp_path, smtp_server):
    script = tmp_path / "enforce.py"
    log = tmp_path / "enforced.jsonl"
    script.write_text(f"import sys\nopen({str(log)!r}, 'a').write(sys.stdin.read())\n")
    cfg = write_config(tmp_path, outgoing_url=smtp_server.url(),
                       replace={"command = []": f"command = ['{sys.executable}', '{script}']"})
    return cfg, log


def test_holder_appeal_is_no_report_is_acked_and_overturn_revokes_and_tells_enforcement(tmp_path, smtp_server):
    cfg, log = with_enforcement(tmp_path, smtp_server)
    [c] = seed(cfg, {"account_id": "reza.mahendra", "reporters": [("ana@example.com", "id")]})
    ok(cfg, "decide", c["ref"], "--violation", "sexual_content", "--by", "rina", "--note", "nude profile photo")
    [s] = cli_json(cfg, "sanctions", "list")
    deliver(tmp_path, cfg, email(sender="rezamhndr@gmail.com", name="Reza", subject="Banding, akun saya dibatasi",
                                 body="Akun saya reza.mahendra dibatasi sejak kemarin. Saya tidak pernah "
                                      "melanggar, mohon ditinjau kembali.", date=NOW))
    kinds = [m["kind"] for m in cli_json(cfg, "messages", "list")]
    assert sorted(kinds) == ["appeal", "report"]  # the seeded report, and the appeal
    [case] = cli_json(cfg, "cases", "list", "--status", "all")  # no case against the appellant
    assert case["ref"] == c["ref"]
    [a] = cli_json(cfg, "appeals", "list")
    assert {k: a[k] for k in ("account_id", "sanction_id", "case_ref", "appellant", "status", "language")} == \
        {"account_id": "reza.mahendra", "sanction_id": s["id"], "case_ref": c["ref"],
         "appellant": "rezamhndr@gmail.com", "status": "open", "language": "id"}
    assert {"id", "received_at"} <= set(a)
    assert cli_json(cfg, "status")["oldest_unread_appeal_age_seconds"] is not None  # status sees it waiting

    # The case's own decider may not decide the appeal.
    refused = cli(cfg, "appeals", "decide", str(a["id"]), "--overturn", "--by", "Rina", "--note", "x")
    assert refused.returncode == 65 and "decided the case" in refused.stderr
    assert cli_json(cfg, "appeals", "list")[0]["status"] == "open"

    out = ok(cfg, "appeals", "decide", str(a["id"]), "--overturn", "--by", "sari",
             "--note", "foto itu foto katalog baju, bukan konten seksual")
    assert "overturned" in out.stdout and f"sanction {s['id']} revoked" in out.stdout
    account = cli_json(cfg, "accounts", "show", "reza.mahendra")
    assert account["status"] == "active" and account["sanctions"][0]["revoked"] is True
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["revoked"] for r in records] == [False, True]
    assert cli_json(cfg, "appeals", "list", "--status", "overturned")[0]["id"] == a["id"]
    assert cli_json(cfg, "appeals", "list") == []
    shown = cli_json(cfg, "appeals", "show", str(a["id"]))
    assert (shown["decided_by"], shown["forced"], shown["sanction"]["revoked"]) == ("sari", False, True)
    assert "reza.mahendra dibatasi" in shown["text"]
    audit = [(e["actor"], e["action"]) for e in cli_json(cfg, "cases", "show", c["ref"])["audit"]]
    assert ("system", "appeal_received") in audit and ("sari", "decide_appeal") in audit
    assert ("sari", "revoke_sanction") in audit

    ok(cfg, "send")
    to_appellant = [m for m in sent(smtp_server) if m["To"] == "rezamhndr@gmail.com"]
    assert len(to_appellant) == 2
    ack, decision = to_appellant
    assert "Banding Anda" in ack["Subject"] and "sudah kami terima" in ack["Subject"]
    assert "tidak mengambil keputusan awal" in body_of(ack)
    assert "dikabulkan" in decision["Subject"]
    assert "foto katalog baju" in body_of(decision) and "sudah dicabut" in body_of(decision)
    assert decision["In-Reply-To"] == ack["In-Reply-To"]  # both threaded under the appeal
    assert all("ana@example.com" not in body_of(m) for m in to_appellant)  # never the reporter


def test_english_appeal_upheld_by_force_with_the_reason_in_english(tmp_path, smtp_server):
    cfg = write_config(tmp_path, outgoing_url=smtp_server.url())
    [c] = seed(cfg, {"account_id": "jake.m_92"})
    ok(cfg, "decide", c["ref"], "--violation", "sexual_solicitation", "--by", "lead_ayu")
    deliver(tmp_path, cfg, email(sender="jake.morrison@gmail.com", name="Jake",
                                 subject="my account was banned, please review",
                                 body="My account jake.m_92 was banned this morning. I never sent anything.",
                                 date=NOW))
    [a] = cli_json(cfg, "appeals", "list", "--status", "all")
    assert (a["account_id"], a["language"], a["status"]) == ("jake.m_92", "en", "open")
    out = ok(cfg, "appeals", "decide", str(a["id"]), "--uphold", "--by", "lead_ayu", "--force",
             "--note", "the messages you sent on 2 Nov were explicit")
    assert "upheld" in out.stdout and "forced" in out.stdout
    shown = cli_json(cfg, "appeals", "show", str(a["id"]))
    assert (shown["status"], shown["forced"], shown["force_note"]) == \
        ("upheld", True, "the messages you sent on 2 Nov were explicit")
    assert cli_json(cfg, "accounts", "show", "jake.m_92")["status"] != "active"  # upheld: still sanctioned
    again = cli(cfg, "appeals", "decide", str(a["id"]), "--overturn", "--by", "sari", "--note", "x")
    assert again.returncode == 65 and "only an open appeal" in again.stderr
    ok(cfg, "send")
    decision = [m for m in sent(smtp_server) if m["To"] == "jake.morrison@gmail.com"][-1]
    assert "the decision stands" in decision["Subject"]
    assert "the messages you sent on 2 Nov were explicit" in body_of(decision)


def test_late_and_unmatched_appeals_are_recorded_and_answered_fittingly(tmp_path):
    settings = make_settings(tmp_path, policy={"appeal_days": 30})
    db = open_db(settings.database_path)
    with transaction(db):
        c = add_case(db, account_id="dj.marco")
    long_ago = NOW - timedelta(days=60)
    triage.decide(db, settings, c["ref"], by="rina", violation="sexual_content", now=long_ago)
    late = process_one(db, settings, RawMessage(email(
        sender="marco.dj.music@gmail.com", subject="Account restricted - appeal",
        body="My account dj.marco has been restricted. Please review the restriction.", date=NOW), Source("t")))
    nobody = process_one(db, settings, RawMessage(email(
        sender="amy.chua.bakes@gmail.com", subject="I was reported by mistake",
        body="Hi, my account amy.bakes can't message new contacts. Please lift the restriction.", date=NOW),
        Source("t")))
    assert (late.kind, nobody.kind) == ("appeal", "appeal")
    rows = {r[0]: r[1:] for r in db.execute(
        "SELECT account_id, status, sanction_id IS NOT NULL FROM appeals").fetchall()}
    assert rows == {"dj.marco": ("late", 1), "amy.bakes": ("unmatched", 0)}
    mails = {r[0]: r[1:] for r in db.execute("SELECT recipient, kind, body_text FROM outbox").fetchall()}
    assert mails["marco.dj.music@gmail.com"][0] == "appeal_late"
    assert "within 30 days" in mails["marco.dj.music@gmail.com"][1]
    assert mails["amy.chua.bakes@gmail.com"][0] == "appeal_unmatched"
    assert db.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 1  # neither became a report
    db.conn.close()


def test_reporter_contesting_no_violation_opens_an_appeal_decided_by_someone_else(tmp_path):
    cfg = write_config(tmp_path)
    [c] = seed(cfg, {"account_id": "hot.anna_love", "reporters": [("peter.wilson@gmail.com", "en")]})
    ok(cfg, "decide", c["ref"], "--no-violation", "--by", "rina")
    [outcome] = cli_json(cfg, "outbox", "list")
    deliver(tmp_path, cfg, email(
        sender="peter.wilson@gmail.com", subject=f"Re: [{c['ref']}] The outcome of your report",
        body="You say no violation was found, but hot.anna_love asked my brother for $800. "
             "Please have someone else review this decision.\n\n> We found no violation.",
        headers={"In-Reply-To": f"<{outcome['message_id']}>"}, date=NOW))
    [a] = cli_json(cfg, "appeals", "list")
    assert (a["case_ref"], a["account_id"], a["sanction_id"], a["appellant"]) == \
        (c["ref"], "hot.anna_love", None, "peter.wilson@gmail.com")
    assert cli_json(cfg, "cases", "show", c["ref"])["status"] == "decided"  # not folded in as more information
    refused = cli(cfg, "appeals", "decide", str(a["id"]), "--overturn", "--by", "rina", "--note", "x")
    assert refused.returncode == 65
    ok(cfg, "appeals", "decide", str(a["id"]), "--overturn", "--by", "sari", "--note", "the chat shows a scam")
    assert cli_json(cfg, "cases", "show", c["ref"])["status"] == "open"  # back in the queue
    kinds = [e["kind"] for e in cli_json(cfg, "outbox", "list")]
    assert kinds.count("appeal_ack") == 1 and kinds.count("appeal_overturned") == 1


def test_a_thank_you_after_no_violation_stays_a_reply(tmp_path):
    cfg = write_config(tmp_path)
    [c] = seed(cfg, {"account_id": "hot.anna_love", "reporters": [("peter.wilson@gmail.com", "en")]})
    ok(cfg, "decide", c["ref"], "--no-violation", "--by", "rina")
    [outcome] = cli_json(cfg, "outbox", "list")
    deliver(tmp_path, cfg, email(sender="peter.wilson@gmail.com", subject=f"Re: [{c['ref']}] outcome",
                                 body="Thanks for looking into it.",
                                 headers={"In-Reply-To": f"<{outcome['message_id']}>"}, date=NOW))
    assert cli_json(cfg, "appeals", "list", "--status", "all") == []
    assert sorted(m["kind"] for m in cli_json(cfg, "messages", "list")) == ["reply", "report"]


def test_the_independent_sets_appeals_are_appeals_and_nothing_else_is(tmp_path):
    settings = make_settings(tmp_path)
    db = open_db(settings.database_path)
    expected = json.loads((EVAL_DIR / "expectations.json").read_text())
    wrong = []
    for e in expected:
        out = process_one(db, settings, RawMessage((EVAL_DIR / e["file"]).read_bytes(), Source("eval")))
        if (out.kind == "appeal") != (e["kind"] == "appeal"):
            wrong.append((e["file"], e["kind"], out.kind))
    assert wrong == []
    appeals = db.execute("SELECT appellant, account_id FROM appeals ORDER BY id").fetchall()
    holders = {(e["reporter"], e["appeal_account"]) for e in expected if e["kind"] == "appeal"
               and "contests" not in e["note"]}
    assert holders <= set(appeals)
    assert len(appeals) == 14
    db.conn.close()
