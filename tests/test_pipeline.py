"""The flow on emails of our own: grouping, dedupe, resends, replies, quarantine."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from abuse_intake import config
from abuse_intake.flow.process import prepare, process_one
from abuse_intake.flow.replay import replay
from abuse_intake.errors import ReplayError
from abuse_intake.models import RawMessage, Source
from abuse_intake.store import cases as case_store
from abuse_intake.store.db import open_db
from helpers import email, write_config


@pytest.fixture
def env(tmp_path):
    settings = config.load(write_config(tmp_path))
    db = open_db(settings.database_path)

    def feed(data: bytes):
        return process_one(db, settings, RawMessage(data, Source("test")))

    feed.db, feed.settings = db, settings
    yield feed
    db.conn.close()


def outbox(db, **where):
    clause = " AND ".join(f"{k} = ?" for k in where) or "1"
    cur = db.execute(f"SELECT * FROM outbox WHERE {clause} ORDER BY id", tuple(where.values()))
    return [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]


def test_one_report_three_accounts_three_cases_one_ack(env):
    out = env(email(body="Akun @dewi_manja88, akun @sari.bo_jkt dan ID: tante_vip99 semua open BO tarif ST."))
    assert out.kind == "report"
    assert sorted(out.account_ids) == ["dewi_manja88", "sari.bo_jkt", "tante_vip99"]
    assert out.cases_opened == 3 and len(out.case_refs) == 3
    acks = outbox(env.db, source_message=out.message_row)
    assert len(acks) == 1 and acks[0]["kind"] == "ack"
    assert sorted(json.loads(acks[0]["case_refs"])) == sorted(out.case_refs)


def test_second_reporter_joins_the_open_case(env):
    a = env(email(sender="a.one@gmail.com", body="akun @dewi_manja88 open BO"))
    b = env(email(sender="b.two@gmail.com", body="I report @DEWI_MANJA88 for prostitution, rates in bio."))
    assert a.case_refs == b.case_refs and b.cases_opened == 0
    case = case_store.case_by_ref(env.db, a.case_refs[0])
    assert case["reporters"] == 2 and case["reports"] == 2 and case["account_id"] == "dewi_manja88"
    # each reporter is acknowledged once
    assert len(outbox(env.db, recipient="a.one@gmail.com", kind="ack")) == 1
    assert len(outbox(env.db, recipient="b.two@gmail.com", kind="ack")) == 1


def test_case_takes_the_most_severe_category(env):
    a = env(email(sender="a.one@gmail.com", body="akun @mami_lusi penipuan"))
    assert case_store.case_by_ref(env.db, a.case_refs[0])["severity"] == "low"
    env(email(sender="b.two@gmail.com", body="akun @mami_lusi jual anak di bawah umur, perdagangan manusia"))
    case = case_store.case_by_ref(env.db, a.case_refs[0])
    assert (case["category"], case["severity"]) == ("human_trafficking", "critical")


def test_same_message_id_is_a_duplicate_and_same_bytes_a_no_op(env):
    data = email(message_id="same-1@example.test")
    first = env(data)
    again = env(data)
    assert again.kind == "duplicate" and not again.stored and again.duplicate_of == first.message_row
    relayed = env(b"Received: from backup-mx\r\n" + data)
    assert relayed.kind == "duplicate" and relayed.stored and relayed.duplicate_of == first.message_row
    assert env.db.execute("SELECT COUNT(*) FROM reports").fetchone()[0] == 1
    assert len(outbox(env.db, kind="ack")) == 1


def test_resend_within_window_but_not_after(env):
    t0 = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
    body = "Saya melaporkan akun @dewi_manja88 yang menawarkan open BO dengan tarif 300rb."
    first = env(email(body=body, date=t0))
    resend = env(email(body="Tolong cepat!\n" + body, date=t0 + timedelta(hours=3)))
    assert resend.kind == "resend" and resend.duplicate_of == first.message_row
    other = env(email(body="Saya melaporkan akun @lain_orang99 yang menawarkan open BO.", date=t0 + timedelta(hours=4)))
    assert other.kind == "report"
    late = env(email(body=body, date=t0 + timedelta(hours=49)))
    assert late.kind == "report" and late.case_refs == first.case_refs
    # acknowledged once per (case, reporter): the late report joins a case this reporter already heard about
    assert outbox(env.db, source_message=late.message_row) == []
    assert len(outbox(env.db, recipient="andi.wijaya@gmail.com")) == 2


def test_non_report_opens_no_case(env):
    out = env(email(subject="Lupa password", body="Saya lupa kata sandi akun Obrolan saya, bagaimana caranya?"))
    assert out.kind == "non_report" and out.case_refs == []
    assert case_store.count_cases(env.db) == 0
    rows = outbox(env.db, source_message=out.message_row)
    assert [r["kind"] for r in rows] == ["not_a_report"]


def test_report_without_account_needs_info_then_reply_links_it(env):
    first = env(email(subject="Ada foto bugil", body="Ada akun yang pasang foto bugil di profil, lihat screenshot."))
    assert first.kind == "report" and first.account_ids == []
    case = case_store.case_by_ref(env.db, first.case_refs[0])
    assert case["status"] == "needs_info" and case["account_id"] is None
    assert [r["kind"] for r in outbox(env.db, source_message=first.message_row)] == ["needs_info"]
    reply = env(email(subject=f"Re: [{case['ref']}] Ada foto bugil", body="IDnya: ID: foto.bugil_88"))
    assert reply.kind == "reply" and reply.case_refs == [case["ref"]]
    case = case_store.case_by_ref(env.db, case["ref"])
    assert case["status"] == "open" and case["account_id"] == "foto.bugil_88" and case["reports"] == 2
    assert outbox(env.db, source_message=reply.message_row) == []  # no new acknowledgement


def test_reply_by_threading_headers_without_tag(env):
    first = env(email(body="akun @dewi_manja88 open BO"))
    ack = outbox(env.db, source_message=first.message_row)[0]
    reply = env(email(subject="Re: terima kasih", body="Ini screenshot tambahan.",
                      headers={"In-Reply-To": f"<{ack['message_id']}>"}))
    assert reply.kind == "reply" and reply.case_refs == first.case_refs


def test_stranger_quoting_a_tag_starts_a_new_report(env):
    first = env(email(body="akun @dewi_manja88 open BO"))
    ref = first.case_refs[0]
    stranger = env(email(sender="orang.lain@yahoo.com", subject=f"Re: [{ref}]",
                         body="Saya juga mau lapor akun @dewi_manja88, tarif BO di bio."))
    assert stranger.kind == "report" and stranger.case_refs == [ref]
    assert len(outbox(env.db, recipient="orang.lain@yahoo.com", kind="ack")) == 1


def test_needs_info_reply_naming_an_account_with_an_open_case_merges(env):
    existing = env(email(sender="x.one@gmail.com", body="akun @dewi_manja88 open BO"))
    vague = env(email(sender="y.two@gmail.com", subject="laporan", body="ada yang open BO ke saya, tarif 500rb"))
    ref = vague.case_refs[0]
    env(email(sender="y.two@gmail.com", subject=f"Re: [{ref}]", body="akunnya @dewi_manja88"))
    merged = case_store.case_by_ref(env.db, existing.case_refs[0])
    assert merged["reporters"] == 2 and merged["reports"] == 3
    assert case_store.case_by_ref(env.db, ref)["status"] == "merged"


def test_a_needs_info_case_merged_by_reply_lends_its_severity_as_a_staff_link_does(env):
    # One rule for both ways a needs_info case gets its account (cases/linking.py): the
    # account's open case takes the more severe category of the case folded into it.
    existing = env(email(sender="x.one@gmail.com", body="tolong cek akun @dewi_manja88"))
    assert case_store.case_by_ref(env.db, existing.case_refs[0])["severity"] == "low"
    vague = env(email(sender="y.two@gmail.com", subject="laporan", body="ada mucikari jual anak sekolah di sini"))
    ref = vague.case_refs[0]
    assert case_store.case_by_ref(env.db, ref)["severity"] == "critical"
    env(email(sender="y.two@gmail.com", subject=f"Re: [{ref}]", body="akunnya @dewi_manja88, fotonya bugil"))
    merged = case_store.case_by_ref(env.db, existing.case_refs[0])
    assert (merged["category"], merged["severity"]) == ("human_trafficking", "critical")
    assert case_store.case_by_ref(env.db, ref)["status"] == "merged"


def test_decided_case_is_closed_and_a_new_report_opens_a_new_case(env):
    first = env(email(body="akun @dewi_manja88 open BO"))
    env.db.execute("UPDATE cases SET status = 'decided' WHERE ref = ?", (first.case_refs[0],))
    later = env(email(sender="z.three@gmail.com", body="akun @dewi_manja88 masih open BO"))
    assert later.cases_opened == 1 and later.case_refs != first.case_refs


def test_oversized_message_is_quarantined_with_raw_bytes_and_replayable(tmp_path):
    settings = config.load(write_config(tmp_path, replace={"max_message_bytes = 26214400": "max_message_bytes = 2048"}))
    db = open_db(settings.database_path)
    data = email(body="akun @dewi_manja88 open BO " + "x" * 4000)
    out = process_one(db, settings, RawMessage(data, Source("test")))
    assert out.kind == "quarantined" and "max_message_bytes" in out.reason
    digest = db.execute("SELECT raw_sha256 FROM messages WHERE id = ?", (out.message_row,)).fetchone()[0]
    from abuse_intake.store import blobs
    assert blobs.get_raw(db, digest) == data
    with pytest.raises(ReplayError):
        replay(db, settings, out.message_row)
    assert db.execute("SELECT kind FROM messages WHERE id = ?", (out.message_row,)).fetchone()[0] == "quarantined"
    # after raising the limit, replay stores it as what it is
    bigger = config.load(write_config(tmp_path))
    replayed = replay(db, bigger, out.message_row)
    assert replayed.kind == "report" and replayed.account_ids == ["dewi_manja88"]
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1


def test_unexpected_failure_quarantines_only_that_message(env, monkeypatch):
    """A bug in one stage must not stop the batch (the one place a fault is injected)."""
    import abuse_intake.flow.process as p
    real = p.extract

    def flaky(text, *a, **kw):
        if "BOOM" in text:
            raise ValueError("extractor fell over")
        return real(text, *a, **kw)

    monkeypatch.setattr(p, "extract", flaky)
    bad = env(email(body="BOOM akun @dewi_manja88"))
    good = env(email(body="akun @dewi_manja88 open BO"))
    assert bad.kind == "quarantined" and "extractor fell over" in bad.reason
    assert good.kind == "report"
    assert env.db.execute("SELECT COUNT(*) FROM reports").fetchone()[0] == 1


def test_missing_date_uses_receive_time(env):
    data = email(body="akun @dewi_manja88 open BO").replace(b"Date:", b"X-Old-Date:")
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    out = process_one(env.db, env.settings, RawMessage(data, Source("test"), when))
    row = env.db.execute("SELECT received_at FROM messages WHERE id = ?", (out.message_row,)).fetchone()
    assert row[0] == "2026-03-04T05:06:07Z"


def test_parser_defects_are_kept_on_the_message(env):
    data = email(body="akun @dewi_manja88 open BO").replace(
        b'Content-Type: text/plain; charset="utf-8"', b'Content-Type: text/plain; charset="x-no-such-charset"')
    out = env(data)
    assert out.kind == "report"
    defects = env.db.execute("SELECT defects FROM messages WHERE id = ?", (out.message_row,)).fetchone()[0]
    assert defects and "charset" in defects.lower()


def test_schema_is_migrated_to_the_latest_version(env):
    from abuse_intake.store.schema import MIGRATIONS
    assert env.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert env.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert env.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_preparer_uses_workers_only_for_full_batches(tmp_path):
    from abuse_intake.flow.workers import Preparer

    settings = config.load(write_config(tmp_path, replace={"batch_size = 50": "batch_size = 20",
                                                           "workers = 0": "workers = 2"}))
    raws = [RawMessage(email(body=f"akun @pelaku_{i:03d} open BO"), Source("t")) for i in range(45)]
    batches = [raws[0:20], raws[20:40], raws[40:45]]
    small = Preparer(settings, prepare)
    try:
        out = list(small.ahead(iter([raws[40:45]])))
        assert small.procs == [] and len(out[0][1]) == 5
    finally:
        small.close()
    big = Preparer(settings, prepare)
    try:
        seen_workers = []
        out = []
        for pair in big.ahead(iter(batches)):
            seen_workers.append(len(big.procs))
            out.append(pair)
        assert max(seen_workers) == 2
        assert [len(p) for _, p in out] == [20, 20, 5]
        assert [b for b, _ in out] == batches  # arrival order kept
        serial = [prepare(r.data, settings) for r in raws]
        assert [p.extraction.account_ids for _, ps in out for p in ps] == [p.extraction.account_ids for p in serial]
    finally:
        big.close()


def test_a_dead_worker_costs_time_never_a_message(tmp_path):
    import os
    import signal
    from abuse_intake.flow.workers import Preparer
    settings = config.load(write_config(tmp_path, replace={"batch_size = 50": "batch_size = 20",
                                                           "workers = 0": "workers = 2"}))
    raws = [RawMessage(email(body=f"akun @pelaku_{i:03d} open BO"), Source("t")) for i in range(60)]
    prep = Preparer(settings, prepare)
    out = []
    try:
        for i, (batch, preps) in enumerate(prep.ahead(iter([raws[0:20], raws[20:40], raws[40:60]]))):
            if i == 0:
                os.kill(prep.procs[0].pid, signal.SIGKILL)  # batch 2 is already with the workers
            out.append((batch, preps))
    finally:
        prep.close()
    assert [r for b, _ in out for r in b] == raws
    assert [p.extraction.account_ids for _, ps in out for p in ps] == [[f"pelaku_{i:03d}"] for i in range(60)]


def test_large_messages_do_not_deadlock_the_worker_pipes(tmp_path):
    """Results bigger than a pipe buffer while the next batch is handed out (a deadlock once)."""
    import threading
    from abuse_intake.flow.workers import Preparer

    settings = config.load(write_config(tmp_path, replace={"batch_size = 50": "batch_size = 20",
                                                           "workers = 0": "workers = 2"}))
    filler = "kata " * 40_000  # ~200 KB of text per message, well past a 64 KB pipe buffer
    raws = [RawMessage(email(body=f"akun @pelaku_{i:03d} open BO\n{filler}"), Source("t")) for i in range(60)]
    prep = Preparer(settings, prepare)
    out = []
    runner = threading.Thread(target=lambda: out.extend(prep.ahead(iter([raws[0:20], raws[20:40], raws[40:60]]))),
                              daemon=True)
    runner.start()
    runner.join(timeout=60)
    hung = runner.is_alive()
    for proc in prep.procs:
        proc.kill()
    assert not hung, "the preparer hung"
    prep.close()
    assert [len(p) for _, p in out] == [20, 20, 20]
    assert out[2][1][19].extraction.account_ids == ["pelaku_059"]


def test_a_full_store_stops_the_batch_never_quarantines_the_message(env):
    """SQLite's own "database or disk is full" (a page limit makes it real): a store error
    (the batch is rolled back, nothing marked done), not a fault of the message."""
    from abuse_intake.errors import StoreError
    from test_cli import _with_attachment
    data = _with_attachment(email(body="akun @dewi_manja88 open BO " + "kata " * 20000), 3)
    pages = env.db.execute("PRAGMA page_count").fetchone()[0]
    env.db.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(StoreError, match="full"):
        process_one(env.db, env.settings, RawMessage(data, Source("t")))
    env.db.execute("PRAGMA max_page_count = 1073741823")
    assert env.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0
    assert env.db.execute("SELECT COUNT(*) FROM raw_messages").fetchone()[0] == 0
    assert process_one(env.db, env.settings, RawMessage(data, Source("t"))).kind == "report"


def test_evidence_export_writes_what_was_received_under_names_we_make(env, tmp_path):
    from abuse_intake.cases.evidence import export_case, raw_message
    from test_cli import _with_attachment
    data = _with_attachment(email(body="akun @dewi_manja88 open BO"), 7).replace(
        b'filename="shot7.png"', b'filename="../../etc/passwd"')
    out = env(data)
    files = export_case(env.db, out.case_refs[0], tmp_path / "ev")
    assert [f.kind for f in files] == ["email", "attachment"]
    assert files[0].path.read_bytes() == data == raw_message(env.db, out.message_row)
    assert files[1].path.read_bytes() == b"\x89PNG\r\n\x1a\n" + bytes([7]) * 107
    assert files[1].filename == "../../etc/passwd" and files[1].path.parent == tmp_path / "ev"
    assert files[1].path.suffix == ".png"
    assert sorted(p.name for p in (tmp_path / "ev").iterdir()) == sorted(f.path.name for f in files)
    assert all(oct(f.path.stat().st_mode & 0o777) == "0o600" for f in files)


def test_classification_is_an_ordered_table_of_named_rules():
    # The order is the data a reader checks: the first rule that decides wins.
    from abuse_intake.flow.process import RULES
    assert [name for name, _ in RULES] == ["duplicate", "robot", "reply", "appeal", "non_report", "resend", "report"]
    assert all(callable(rule) for _, rule in RULES)
