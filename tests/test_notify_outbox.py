"""Queueing: one ack per report, unique per (kind, case, recipient), outcomes
per reporter, nothing to our own or malformed addresses."""

from __future__ import annotations

import dataclasses

import json

import pytest

from abuse_intake.errors import InvalidActionError, NotFoundError
from abuse_intake.notify import outbox
from abuse_intake.notify.render import Renderer
from abuse_intake.store import outbox as store
from abuse_intake.store.db import transaction
from notify_fixtures import add_case, add_message, add_reporter, add_sanction, db_for, decide, settings_for


@pytest.fixture
def env(tmp_path):
    settings = settings_for(tmp_path)
    db = db_for(settings)
    yield settings, db, Renderer(settings)
    db.conn.close()


def _reply(env, cases, *, recipient="ana@example.com", language="id", source=None, name="Ana",
           subject="Laporan akun", parent="orig-1@mail.example.com"):
    settings, db, renderer = env
    if source is None:
        source, _ = add_message(db, reporter=recipient)
    with transaction(db):
        return outbox.queue_report_reply(db, settings, renderer, source_message=source, recipient=recipient,
                                         language=language, reporter_name=name, reply_to_message_id=parent,
                                         reporter_subject=subject, cases=cases)


def test_one_ack_lists_all_refs_of_the_report(env):
    settings, db, _ = env
    c1, c2 = add_case(db, account_id="dewi_manja88"), add_case(db, account_id="bang.jago_vcs")
    oid = _reply(env, [c1, c2])
    row = store.get(db, oid)
    assert row["kind"] == "ack" and row["status"] == "pending"
    assert row["case_refs"] == [c1["ref"], c2["ref"]]
    assert f"[{c1['ref']}] [{c2['ref']}]" in row["subject"]
    assert row["language"] == "id" and "Terima kasih" in row["body_text"]
    assert row["in_reply_to"] == "orig-1@mail.example.com" and row["refs"] == ["orig-1@mail.example.com"]
    assert row["message_id"].endswith("@obrolan.example") and len(row["message_id"]) > 40
    links = db.execute("SELECT case_id, kind, recipient FROM outbox_cases WHERE outbox_id = ?", (oid,)).fetchall()
    assert sorted(links) == sorted([(c1["id"], "ack", "ana@example.com"), (c2["id"], "ack", "ana@example.com")])


def test_no_account_means_needs_info(env):
    _, db, _ = env
    c = add_case(db, account_id=None)
    row = store.get(db, _reply(env, [c], language="en"))
    assert row["kind"] == "needs_info"
    assert "Which account" in row["subject"] and row["language"] == "en"


def test_case_already_acked_to_this_recipient_is_left_out(env):
    _, db, _ = env
    c1, c2 = add_case(db, account_id="dewi_manja88"), add_case(db, account_id="bang.jago_vcs")
    assert _reply(env, [c1]) is not None
    second = _reply(env, [c1, c2])
    assert store.get(db, second)["case_refs"] == [c2["ref"]]
    assert _reply(env, [c1, c2]) is None  # everything already told
    # Another reporter of the same case still gets their own ack.
    assert _reply(env, [c1], recipient="budi@example.com") is not None


def test_same_message_twice_is_queued_once(env):
    _, db, _ = env
    c = add_case(db, account_id="dewi_manja88")
    source, _ = add_message(db)
    assert _reply(env, [c], source=source) is not None
    assert _reply(env, [c], source=source) is None
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1


@pytest.mark.parametrize("recipient", [
    None, "", "support@obrolan.example", "NoReply@Obrolan.example", "abuse@obrolan.example",
    "a@b.example, victim@evil.example", "Ana <ana@example.com>", "ana@example.com\r\nBcc: x@evil.example",
    "ana@@example.com", "ana example.com",
])
def test_never_queued_to_own_or_unplain_addresses(env, recipient):
    _, db, _ = env
    c = add_case(db, account_id="dewi_manja88")
    assert _reply(env, [c], recipient=recipient) is None
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_recipient_is_stored_lower_case(env):
    _, db, _ = env
    c = add_case(db, account_id="dewi_manja88")
    assert store.get(db, _reply(env, [c], recipient="Ana.Putri@Example.COM"))["recipient"] == "ana.putri@example.com"


def test_bad_parent_message_id_is_dropped_not_copied(env):
    _, db, _ = env
    c = add_case(db, account_id="dewi_manja88")
    row = store.get(db, _reply(env, [c], parent="<x@y>\r\nBcc: victim@evil.example"))
    assert row["in_reply_to"] is None and row["refs"] == []


def test_not_a_report_honours_the_setting(tmp_path):
    for flag, expect in ((True, 1), (False, 0)):
        settings = settings_for(tmp_path / str(flag), classify={"send_not_a_report": flag})
        db = db_for(settings)
        source, mid = add_message(db, kind="non_report")
        with transaction(db):
            oid = outbox.queue_not_a_report(db, settings, Renderer(settings), source_message=source,
                                            recipient="ana@example.com", language="en", reporter_name="Ana",
                                            reply_to_message_id=mid, reporter_subject="Lupa password")
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == expect
        if flag:
            row = store.get(db, oid)
            assert row["kind"] == "not_a_report" and row["subject"] == "This address handles abuse reports only"
            assert row["case_refs"] == [] and row["in_reply_to"] == mid
        db.conn.close()


def _two_reporters(db):
    case = add_case(db, account_id="dewi_manja88")
    _, mid_a = add_message(db, reporter="ana@example.com", from_name="Ana Putri", subject="Akun prostitusi")
    _, mid_b = add_message(db, reporter="bob@example.com", from_name="Bob Lee", subject="Escort account",
                           language="en")
    add_reporter(db, case["id"], "ana@example.com", "id", mid_a)
    add_reporter(db, case["id"], "bob@example.com", "en", mid_b)
    return case, mid_a, mid_b


def test_minimal_outcome_detail_says_action_was_taken_but_not_the_measures_details(env):
    settings, db, renderer = env
    assert settings.outcome_detail == "minimal"  # the default
    case, _, _ = _two_reporters(db)
    decide(db, case["id"], "violation", "prostitution")
    add_sanction(db, case["id"], "dewi_manja88", "restrict", ["message_new_contacts", "post_status"],
                 until="2026-05-21T00:00:00Z")
    with transaction(db):
        ids = outbox.queue_outcome(db, settings, renderer, case_id=case["id"])
    for row in (store.get(db, i) for i in ids):
        assert row["kind"] == "outcome_actioned"
        for body in (row["body_text"], row["body_html"]):
            assert "2026-05-21" not in body
            assert "posting status updates" not in body and "mengirim pesan ke kontak baru" not in body
        assert ("prostitusi" if row["language"] == "id" else "prostitution") in row["body_text"]


def test_outcome_one_email_per_reporter_in_their_language_naming_nobody_else(env):
    settings, db, renderer = env
    settings = dataclasses.replace(settings, outcome_detail="full")  # the measure's details too
    case, mid_a, mid_b = _two_reporters(db)
    decide(db, case["id"], "violation", "prostitution")
    add_sanction(db, case["id"], "dewi_manja88", "restrict", ["message_new_contacts", "post_status"],
                 until="2026-05-21T00:00:00Z")
    with transaction(db):
        ids = outbox.queue_outcome(db, settings, renderer, case_id=case["id"])
    rows = {store.get(db, i)["recipient"]: store.get(db, i) for i in ids}
    assert set(rows) == {"ana@example.com", "bob@example.com"}
    ana, bob = rows["ana@example.com"], rows["bob@example.com"]
    assert ana["kind"] == "outcome_actioned" and ana["language"] == "id" and bob["language"] == "en"
    assert "sampai 2026-05-21" in ana["body_text"] and "mengirim pesan ke kontak baru" in ana["body_text"]
    assert "until 2026-05-21" in bob["body_text"] and "posting status updates" in bob["body_text"]
    assert "prostitusi" in ana["body_text"] and "Halo Ana Putri" in ana["body_text"]
    assert ana["in_reply_to"] == mid_a and bob["in_reply_to"] == mid_b
    # Privacy: neither email mentions the other reporter in any way.
    for mine, other in ((ana, ("bob", "Bob Lee", mid_b)), (bob, ("ana", "Ana Putri", mid_a))):
        blob = json.dumps(mine)
        assert all(o not in blob for o in other)
    # Queued once: a second call adds nothing.
    with transaction(db):
        assert outbox.queue_outcome(db, settings, renderer, case_id=case["id"]) == []


def test_outcome_references_our_ack(env):
    settings, db, renderer = env
    case = add_case(db, account_id="dewi_manja88")
    source, mid = add_message(db, reporter="ana@example.com")
    add_reporter(db, case["id"], "ana@example.com", "id", mid)
    ack = store.get(db, _reply(env, [case], source=source, parent=mid))
    decide(db, case["id"], "no_violation")
    with transaction(db):
        [oid] = outbox.queue_outcome(db, settings, renderer, case_id=case["id"])
    row = store.get(db, oid)
    assert row["kind"] == "outcome_no_violation"
    assert row["in_reply_to"] == mid and row["refs"] == [mid, ack["message_id"]]


def test_outcome_skips_own_addresses_and_needs_a_decision(env):
    settings, db, renderer = env
    case = add_case(db, account_id="dewi_manja88")
    add_reporter(db, case["id"], "abuse@obrolan.example", "en", None)
    with pytest.raises(InvalidActionError):
        outbox.queue_outcome(db, settings, renderer, case_id=case["id"])
    with pytest.raises(NotFoundError):
        outbox.queue_outcome(db, settings, renderer, case_id=9999)
    decide(db, case["id"], "violation", "prostitution")
    with transaction(db):
        assert outbox.queue_outcome(db, settings, renderer, case_id=case["id"]) == []


def test_ban_outcome_without_until(env):
    settings, db, renderer = env
    case = add_case(db, account_id="dewi_manja88")
    add_reporter(db, case["id"], "ana@example.com", "en", None)
    decide(db, case["id"], "violation", "human_trafficking")
    add_sanction(db, case["id"], "dewi_manja88", "ban")
    with transaction(db):
        [oid] = outbox.queue_outcome(db, settings, renderer, case_id=case["id"])
    row = store.get(db, oid)
    assert "has been banned" in row["body_text"] and "human trafficking" in row["body_text"]
    assert row["in_reply_to"] is None and row["refs"] == []


def test_clean_message_id_fast_path_cleans_as_before():
    import re
    import unicodedata

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from abuse_intake.notify.headers import clean_message_id

    msgid = re.compile(r"[\x21-\x3b\x3d\x3f-\x7e]{1,250}@[\x21-\x3b\x3d\x3f-\x7e]{1,250}")

    def reference(value):  # before the printable fast path
        if not value:
            return None
        text = "".join(ch for ch in str(value) if unicodedata.category(ch) not in {"Cc", "Zl", "Zp"}).strip()
        if text.startswith("<") and text.endswith(">"):
            text = text[1:-1].strip()
        return text if msgid.fullmatch(text) else None

    @settings(max_examples=500, deadline=None)
    @given(st.text(alphabet="<>@ab.\r\n\x00\x85\u2028\t é") | st.text())
    def check(value):
        assert clean_message_id(value) == reference(value)

    check()
    for value in ("<abc@mail.example.com>", "<abc@mail\r\n.example.com>", " <a\u2028b@c> ", "a b@c", None):
        assert clean_message_id(value) == reference(value)
    assert clean_message_id("<abc@mail\r\n.example.com>") == "abc@mail.example.com"
