"""The case lifecycle (issue 12) through the library the web console calls: news
after a decision (through the real intake), minors raised to critical, bulk
decisions with their own ladder steps, reopening next to a newer open case,
and a cancelled email that a running `send` had already read. Real SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest

from abuse_intake import config
from abuse_intake.flow.process import process_one
from abuse_intake.cases import lifecycle, triage
from abuse_intake.errors import ConfigError, InvalidActionError
from abuse_intake.extract import extract
from abuse_intake.models import RawMessage, Source
from abuse_intake.notify import outbox as notify_outbox
from abuse_intake.store import cases as case_store
from abuse_intake.store import outbox as outbox_store
from abuse_intake.store.db import open_db, transaction, utcnow
from helpers import email, write_config
from abuse_intake.cases import views


def _queue(db, **filters) -> list[dict]:
    """The queue as `cases list --json` gives it (cases/views.list_cases)."""
    return [c.as_dict() for c in views.list_cases(db, **filters)]
from triage_fixtures import add_case, example_settings, rows


@pytest.fixture
def env(tmp_path):
    settings = config.load(write_config(tmp_path))
    db = open_db(settings.database_path)

    def feed(data: bytes):
        return process_one(db, settings, RawMessage(data, Source("test")))

    feed.db, feed.settings = db, settings
    yield feed
    db.conn.close()


def audit_actions(db, case_id: int) -> list[str]:
    return [r["action"] for r in rows(db, "SELECT action FROM audit_log WHERE case_id = ? ORDER BY id", (case_id,))]


# -- 4. new information after a decision ---------------------------------------------

def test_a_reply_naming_a_new_account_after_the_decision_opens_a_case_for_it(env):
    first = env(email(sender="ana.l@gmail.com", body="akun @dewi_manja88 open BO"))
    ref = first.case_refs[0]
    triage.decide(env.db, env.settings, ref, by="rina", violation="prostitution")
    reply = env(email(sender="ana.l@gmail.com", subject=f"Re: [{ref}] Laporan",
                      body="Dia bikin akun baru: @dewi_manja99, masih open BO."))
    assert reply.kind == "reply" and reply.cases_opened == 1
    new = case_store.open_case_for(env.db, "dewi_manja99")
    assert new is not None
    new_case = case_store.case_by_id(env.db, new["id"])
    assert (new_case["reporters"], new_case["reports"], new_case["severity"]) == (1, 1, "high")
    assert audit_actions(env.db, new["id"]) == ["open_case"]
    decided = case_store.case_by_ref(env.db, ref)
    assert (decided["status"], decided["new_info"], decided["reports"]) == ("decided", 0, 1)


def test_a_reply_without_a_new_account_flags_the_decided_case_never_silently(env):
    first = env(email(sender="ana.l@gmail.com", body="akun @dewi_manja88 open BO"))
    ref = first.case_refs[0]
    triage.decide(env.db, env.settings, ref, by="rina", violation="prostitution")
    reply = env(email(sender="ana.l@gmail.com", subject=f"Re: [{ref}] Laporan",
                      body="Dia masih kirim pesan ke saya, ini screenshot lagi."))
    assert reply.kind == "reply" and reply.cases_opened == 0
    case = case_store.case_by_ref(env.db, ref)
    assert (case["status"], case["new_info"], case["reports"], case["decision"]) == \
        ("decided", 1, 2, "violation")
    assert [c["ref"] for c in _queue(env.db, new_info=True)] == [ref]
    assert audit_actions(env.db, case["id"])[-1] == "new_information"
    lifecycle.seen_new_info(env.db, ref, by="rina", note="same as before")
    assert _queue(env.db, new_info=True) == []
    with pytest.raises(InvalidActionError, match="no new information"):
        lifecycle.seen_new_info(env.db, ref, by="rina")


# -- 9. minors raise the severity to critical -------------------------------------------

MINOR = [
    "anak saya umur 14 tahun diajak VCS sama akun @om_baik77",
    "i told him im 15 and he kept asking for pics, @om_baik77",
    "Dia masih SMP, akun @om_baik77 minta foto",
    "my daughter is 13 years old and @om_baik77 sent her messages",
    "anak SD diajak ketemuan oleh @om_baik77",
    "she is underage and @om_baik77 keeps messaging her",
    "usianya 12 thn, @om_baik77 ngajak video call",
    "my little sister (she's fifteen) got messages from @om_baik77",
    "My niece is in 8th grade. @om_baik77 added her",
    "adik saya yg masih kelas 3 SMP diajak ketemuan @om_baik77",
    "@om_baik77 ngajakin vcs anak2 cewek smp di grup sekolah",
]
NOT_MINOR = [
    "umur akun 14 hari tapi @om_baik77 sudah open BO",
    "14 tahun yang lalu saya kenal dia, sekarang @om_baik77 open BO",
    "@om_baik77 open BO, I'm 5 minutes from the hotel",
    "@om_baik77 open BO, umur 25 tahun",
    "@om_baik77 open BO, umur akunnya 14 hari",
    "kami menikah 14 tahun, @om_baik77 open BO",
    "@om_baik77 open BO, she is 5 minutes from here",
    "@om_baik77 open BO, I'm one of your oldest users",
    "@om_baik77 open BO ke anak kos",
]


@pytest.mark.parametrize("text", MINOR)
def test_a_minor_named_in_the_report_makes_it_critical(text):
    settings = example_settings()
    ext = extract(text, [], "", "Laporan", "ana@example.com", "Ana", settings)
    assert (ext.severity, ext.minor) == ("critical", True)
    assert ext.category == "human_trafficking"  # the shipped config's critical category


@pytest.mark.parametrize("text", NOT_MINOR)
def test_ages_of_other_things_and_times_ago_do_not(text):
    settings = example_settings()
    ext = extract(text, [], "", "Laporan", "ana@example.com", "Ana", settings)
    assert ext.minor is False and ext.severity != "critical"


def test_the_intake_opens_a_minor_case_as_critical(env):
    out = env(email(body="anak saya umur 14 tahun diajak VCS sama akun @om_baik77"))
    case = case_store.case_by_ref(env.db, out.case_refs[0])
    assert case["severity"] == "critical"
    assert [c["ref"] for c in _queue(env.db, status="waiting", severity="critical")] == out.case_refs


def test_minor_patterns_come_from_config(tmp_path):
    settings = example_settings(tmp_path, categories={"minor_patterns": [r"\bbocil\b"]})
    assert extract("@om_baik77 ngajak bocil ketemuan", [], "", "", None, "", settings).severity == "critical"
    # The defaults are replaced, not extended.
    assert extract("anak saya umur 14 tahun, @om_baik77", [], "", "", None, "", settings).minor is False
    with pytest.raises(ConfigError, match="minor_patterns"):
        example_settings(tmp_path, categories={"minor_patterns": ["(unclosed"]})


def test_minor_patterns_stay_fast_on_hostile_text():
    import time
    settings = example_settings()
    hostile = ("umur " * 40_000) + ("im 1" * 40_000) + ("9" * 100_000)
    start = time.perf_counter()
    ext = extract(hostile, [], "", "", None, "", settings)
    # A bound, not a speed measurement: a backtracking pattern would take minutes.
    assert time.perf_counter() - start < 10
    assert ext is not None


# -- 6. bulk: each case its own ladder step ----------------------------------------------

def test_bulk_decide_uses_each_accounts_own_history(tmp_path):
    settings = example_settings(tmp_path, database={"path": str(tmp_path / "db.sqlite")})
    db = open_db(settings.database_path)
    try:
        with transaction(db):
            earlier = add_case(db, account_id="repeat_one")
        triage.decide(db, settings, earlier["ref"], by="rina", violation="prostitution",
                      now=utcnow() - timedelta(days=10))
        with transaction(db):
            a = add_case(db, account_id="repeat_one")
            b = add_case(db, account_id="fresh_two")
        items = lifecycle.decide_many(db, settings, [a["ref"], b["ref"], "OB-424242", a["ref"]], by="rina",
                                      violation="prostitution")
        assert [(i.ref, i.ok) for i in items] == [(a["ref"], True), (b["ref"], True), ("OB-424242", False)]
        first, second, missing = items
        assert (first.decision.sanction.violation_number, first.decision.sanction.action) == (2, "ban")
        assert (second.decision.sanction.violation_number, second.decision.sanction.action) == (1, "restrict")
        assert "no case OB-424242" in missing.error
        with pytest.raises(InvalidActionError, match="no case references"):
            lifecycle.decide_many(db, settings, [" "], by="rina", violation="prostitution")
    finally:
        db.conn.close()


# -- 1. reopening next to a newer open case --------------------------------------------------

def test_reopen_folds_the_accounts_newer_open_case_into_the_reopened_one(env):
    first = env(email(sender="ana.l@gmail.com", body="akun @dewi_manja88 open BO"))
    ref = first.case_refs[0]
    triage.decide(env.db, env.settings, ref, by="rina", violation="prostitution")
    later = env(email(sender="bob.k@gmail.com", body="akun @dewi_manja88 masih open BO"))
    assert later.case_refs != [ref]
    result = lifecycle.reopen(env.db, env.settings, ref, by="lead", note="decided too early")
    assert (result.status, result.merged_from) == ("open", later.case_refs[0])
    case = case_store.case_by_ref(env.db, ref)
    assert (case["status"], case["reporters"], case["reports"]) == ("open", 2, 2)
    assert case_store.case_by_ref(env.db, later.case_refs[0])["status"] == "merged"
    assert case_store.open_case_for(env.db, "dewi_manja88")["ref"] == ref


# -- 7. a cancel that lands while `send` runs -------------------------------------------------

def test_send_skips_an_email_cancelled_after_it_read_the_queue(env, monkeypatch):
    first = env(email(sender="ana.l@gmail.com", body="akun @dewi_manja88 open BO"))
    [ack] = outbox_store.list_emails(env.db)
    real_hold = notify_outbox._hold

    def cancel_then_check_the_cap(db, settings, row, now, result):
        # Runs after the row was claimed and committed, before it is sent: staff cancel it meanwhile.
        lifecycle.cancel_email(env.db, row["id"], by="rina", note="stop it")
        return real_hold(db, settings, row, now, result)

    monkeypatch.setattr(notify_outbox, "_hold", cancel_then_check_the_cap)
    result = notify_outbox.deliver_pending(env.db, env.settings)
    assert result.sent == 0
    assert outbox_store.get(env.db, ack["id"])["status"] == "cancelled"
    # The web case page's list of the case's emails shows it, cancelled.
    assert [(e["id"], e["status"]) for e in lifecycle.emails_of_case(env.db, first.case_refs[0])] == \
        [(ack["id"], "cancelled")]
    with pytest.raises(InvalidActionError, match="is cancelled"):
        lifecycle.cancel_email(env.db, ack["id"], by="rina", note="again")


# -- 1. the undo window, and corrections for a changed measure ----------------------------------

def test_outcomes_wait_out_the_delay_then_go(tmp_path, smtp_server):
    settings = example_settings(tmp_path, database={"path": str(tmp_path / "db.sqlite")},
                                outgoing={"url": smtp_server.url()}, notify={"outcome_delay_minutes": 15})
    db = open_db(settings.database_path)
    try:
        with transaction(db):
            c = add_case(db, account_id="dewi_manja88")
        triage.decide(db, settings, c["ref"], by="rina", violation="prostitution")
        assert notify_outbox.deliver_pending(db, settings).sent == 0
        assert notify_outbox.deliver_pending(db, settings, now=utcnow() + timedelta(minutes=14)).sent == 0
        assert notify_outbox.deliver_pending(db, settings, now=utcnow() + timedelta(minutes=16)).sent == 1
        assert len(smtp_server.messages) == 1
    finally:
        db.conn.close()


def test_a_changed_measure_is_corrected_and_a_closed_needs_info_case_reopens_as_needs_info(tmp_path, smtp_server):
    settings = example_settings(tmp_path, database={"path": str(tmp_path / "db.sqlite")},
                                outgoing={"url": smtp_server.url()})
    db = open_db(settings.database_path)
    try:
        with transaction(db):
            c = add_case(db, account_id="dewi_manja88", reporters=[("ana@example.com", "en")])
            n = add_case(db, account_id=None)
        triage.decide(db, settings, c["ref"], by="rina", violation="prostitution")  # restrict 30 days
        notify_outbox.deliver_pending(db, settings)
        lifecycle.reopen(db, settings, c["ref"], by="lead", note="it was worse")
        d = triage.decide(db, settings, c["ref"], by="rina", violation="prostitution", measure="ban",
                          reason="sold other people too")
        assert d.corrected == ("ana@example.com",)
        notify_outbox.deliver_pending(db, settings)
        msg = smtp_server.messages[-1].message()
        assert "Correction" in msg["Subject"]
        assert "The account has been banned." in msg.get_body(preferencelist=("plain",)).get_content()

        triage.decide(db, settings, n["ref"], by="rina", violation=None, reason="not_actionable")
        back = lifecycle.reopen(db, settings, n["ref"], by="lead", note="the reporter sent the ID")
        assert back.status == "needs_info"
        assert case_store.case_by_ref(db, n["ref"])["decision_reason"] is None
    finally:
        db.conn.close()
