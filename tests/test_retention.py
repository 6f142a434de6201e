"""Retention (issue 14.5): `purge` deletes raw bytes and attachment contents past
[retention], keeps rows, hashes and decisions, never touches open, needs_info,
appealed or held referral cases, keeps shared blobs a kept row names, and gives
the space back in short transactions."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from abuse_intake import config
from abuse_intake.cases import retention
from abuse_intake.errors import InvalidActionError
from abuse_intake.store import blobs
from abuse_intake.store.db import open_db, transaction
from helpers import add_case, add_message, add_report, add_sanction, decide, rows, run, run_json, write_config

NOW = datetime(2027, 12, 1, tzinfo=timezone.utc)  # decided 2026-04-21 (helpers.decide): 589 days before
OLD = "2026-04-20T00:00:00Z"


@pytest.fixture
def store(tmp_path):
    path = write_config(tmp_path)
    settings = config.load(path)
    db = open_db(settings.database_path)
    db.config = path
    db.settings = settings
    yield db
    db.conn.close()


def give_bytes(db, message_row: int, data: bytes, attachments: list[bytes] = ()) -> None:
    """Real blobs for a helper's message row (helpers store rows only)."""
    digest = blobs.put_raw(db, data)
    db.execute("UPDATE messages SET raw_sha256 = ?, size = ? WHERE id = ?", (digest, len(data), message_row))
    for content in attachments:
        sha = blobs.put_attachment(db, content)
        db.execute("INSERT INTO attachments (message_id, sha256, filename, content_type, size) VALUES (?,?,?,?,?)",
                   (message_row, sha, "photo.jpg", "image/jpeg", len(content)))


def report_rows(db, case_id: int) -> list[int]:
    return [r["message_id"] for r in rows(db, "SELECT r.message_id FROM reports r JOIN case_reports cr "
                                              "ON cr.report_id = r.id WHERE cr.case_id = ?", (case_id,))]


def decided_case(db, account: str, *, body: bytes, attachment: bytes | None = None, at: str = OLD) -> dict:
    case = add_case(db, account_id=account, reporters=[("ana@example.com", "id")], at=at)
    decide(db, case["id"], "violation", "prostitution")
    give_bytes(db, report_rows(db, case["id"])[0], body, [attachment] if attachment else [])
    return case


def has_raw(db, message_row: int) -> bool:
    digest = db.execute("SELECT raw_sha256 FROM messages WHERE id = ?", (message_row,)).fetchone()[0]
    return blobs.get_raw(db, digest) is not None


def test_decided_case_purged_others_never(store):
    db, settings = store, store.settings.retention
    with transaction(db):
        gone = decided_case(db, "gone_1", body=b"raw gone " * 50, attachment=b"JPEG-gone" * 30)
        open_ = add_case(db, account_id="still_open", reporters=[("b@example.com", "en")], at=OLD)
        info = add_case(db, account_id=None, reporters=[("c@example.com", "en")], at=OLD)  # needs_info
        held = decided_case(db, "referred_1", body=b"raw held " * 50)
        db.execute("UPDATE cases SET referral = 1 WHERE id = ?", (held["id"],))
        appealed = decided_case(db, "appealed_1", body=b"raw appealed " * 50)
        add_sanction(db, appealed["id"], "appealed_1", "ban")
        sanction = db.execute("SELECT id FROM sanctions WHERE case_id = ?", (appealed["id"],)).fetchone()[0]
        appeal_msg, _ = add_message(db, kind="appeal", at=OLD)
        give_bytes(db, appeal_msg, b"please lift my ban " * 20)
        db.execute("INSERT INTO appeals (message_id, kind, account_id, sanction_id, case_id, appellant, "
                   "received_at, status) VALUES (?,?,?,?,?,?,?,?)",
                   (appeal_msg, "sanction", "appealed_1", sanction, appealed["id"], "x@example.com", OLD, "open"))
        for c in (open_, info):
            give_bytes(db, report_rows(db, c["id"])[0], f"raw {c['ref']} ".encode() * 50)
        news = decided_case(db, "news_1", body=b"raw news " * 50)
        db.execute("UPDATE cases SET new_info = 1 WHERE id = ?", (news["id"],))
        recent = decided_case(db, "recent_1", body=b"raw recent " * 50, at="2027-11-01T00:00:00Z")
        db.execute("UPDATE cases SET decided_at = '2027-11-02T00:00:00Z' WHERE id = ?", (recent["id"],))
        robot, _ = add_message(db, kind="robot", at="2027-10-01T00:00:00Z")   # 61 days: past other_days
        young, _ = add_message(db, kind="non_report", at="2027-11-20T00:00:00Z")  # 11 days: kept
        quarantined, _ = add_message(db, kind="quarantined", at=OLD)
        for m in (robot, young, quarantined):
            give_bytes(db, m, f"raw message {m} ".encode() * 40)
    gone_msg = report_rows(db, gone["id"])[0]
    dry = retention.purge(db, settings, dry_run=True, now=NOW)
    assert dry.messages == 2 and dry.case_refs == [gone["ref"]] and dry.bytes_freed > 0
    assert has_raw(db, gone_msg)  # a dry run deletes nothing

    result = retention.purge(db, settings, now=NOW)
    assert (result.messages, result.raw_deleted, result.attachments_deleted) == (2, 2, 1)
    assert result.case_refs == [gone["ref"]]
    assert not has_raw(db, gone_msg) and not has_raw(db, robot)
    for c in (open_, info, held, appealed, news, recent):
        assert has_raw(db, report_rows(db, c["id"])[0]), c["ref"]
    for m in (young, quarantined, appeal_msg):
        assert has_raw(db, m)
    # rows, hashes and decisions stay; purged_at says when the bytes went
    msg = rows(db, "SELECT raw_sha256, size, purged_at, text FROM messages WHERE id = ?", (gone_msg,))[0]
    assert len(msg["raw_sha256"]) == 64 and msg["size"] == 450 and msg["purged_at"] == "2027-12-01T00:00:00Z"
    att = rows(db, "SELECT sha256, size, purged_at FROM attachments WHERE message_id = ?", (gone_msg,))[0]
    assert att["sha256"] == blobs.sha256(b"JPEG-gone" * 30) and att["purged_at"]
    assert rows(db, "SELECT decision FROM cases WHERE id = ?", (gone["id"],))[0]["decision"] == "violation"
    audit = rows(db, "SELECT actor, detail FROM audit_log WHERE action = 'purge'")
    assert len(audit) == 1 and gone["ref"] in audit[0]["detail"] and audit[0]["actor"] == "system"
    # nothing left to do: a second run purges nothing
    assert retention.purge(db, settings, now=NOW).messages == 0

    # the appeal decided: that case (and the appeal's own mail) may go
    with transaction(db):
        db.execute("UPDATE appeals SET status = 'upheld', decided_at = ?", (OLD,))
    again = retention.purge(db, settings, now=NOW)
    assert again.case_refs == [appealed["ref"]] and not has_raw(db, appeal_msg)


def test_referral_hold_needs_a_lead_and_a_year(store):
    db = store
    settings = config.RetentionSettings(other_days=30, decided_days=30, referral_days=365)
    with transaction(db):
        held = decided_case(db, "referred_2", body=b"evidence " * 100)
        db.execute("UPDATE cases SET referral = 1, decided_at = '2027-06-01T00:00:00Z' WHERE id = ?", (held["id"],))
        plain = decided_case(db, "plain_2", body=b"plain " * 100)
        db.execute("INSERT INTO users (name, role, password_hash, created_at, password_changed_at) "
                   "VALUES ('tri', 'triager', 'x', ?, ?)", (OLD, OLD))
    msg = report_rows(db, held["id"])[0]
    assert retention.purge(db, settings, now=NOW).case_refs == [plain["ref"]]  # 183 days: the hold keeps it
    with pytest.raises(InvalidActionError, match="only a lead"):
        retention.release_hold(db, settings, held["ref"], by="tri", note="done")
    with pytest.raises(InvalidActionError, match="not flagged for referral"):
        retention.release_hold(db, settings, plain["ref"], by="lead_ayu", note="done")
    done = retention.release_hold(db, settings, held["ref"], by="lead_ayu", note="NCMEC report closed", now=NOW)
    assert done.purgeable_from == "2028-05-31T00:00:00Z"
    with pytest.raises(InvalidActionError, match="already released"):
        retention.release_hold(db, settings, held["ref"], by="lead_ayu", note="again")
    # released, but the year since the decision is not over
    assert retention.purge(db, settings, now=NOW).messages == 0 and has_raw(db, msg)
    later = retention.purge(db, settings, now=datetime(2028, 6, 1, tzinfo=timezone.utc))
    assert later.case_refs == [held["ref"]] and not has_raw(db, msg)
    audit = rows(db, "SELECT actor FROM audit_log WHERE action = 'release_hold' AND case_id = ?", (held["id"],))
    assert audit == [{"actor": "lead_ayu"}]


def test_shared_blob_kept_while_a_kept_row_names_it(store):
    db, settings = store, store.settings.retention
    photo = b"the same screenshot" * 100
    with transaction(db):
        gone = decided_case(db, "gone_3", body=b"first " * 40, attachment=photo)
        kept = add_case(db, account_id="open_3", reporters=[("d@example.com", "en")], at=OLD)
        give_bytes(db, report_rows(db, kept["id"])[0], b"second " * 40, [photo])
    result = retention.purge(db, settings, now=NOW)
    assert result.case_refs == [gone["ref"]] and result.attachments_deleted == 0
    assert blobs.get_attachment(db, blobs.sha256(photo)) == photo
    # the last row naming it goes: so does the content
    with transaction(db):
        decide(db, kept["id"], "no_violation")
    assert retention.purge(db, settings, now=NOW).attachments_deleted == 1
    assert blobs.get_attachment(db, blobs.sha256(photo)) is None


def _fill(db, n: int, size: int) -> None:
    with transaction(db):
        for i in range(n):
            m, _ = add_message(db, kind="non_report", at=OLD)
            give_bytes(db, m, bytes([i % 251]) * size + str(i).encode())


def test_store_shrinks_by_incremental_vacuum(store):
    db = store
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # a new store is made incremental
    _fill(db, 300, 20_000)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    result = retention.purge(db, store.settings.retention, slice_size=50, now=NOW)
    assert result.messages == 300 and result.vacuum == "incremental" and result.pages_vacuumed > 1000
    assert db.execute("PRAGMA page_count").fetchone()[0] < pages // 4
    assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0
    # one audit entry, one transaction, per slice of 50
    assert rows(db, "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'purge'") == [{"n": 6}]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert store.settings.database_path.stat().st_size < pages * 4096 // 4


def test_old_store_without_auto_vacuum_reuses_pages(tmp_path):
    path = write_config(tmp_path)
    settings = config.load(path)
    conn = sqlite3.connect(settings.database_path)  # a store made before auto_vacuum was set
    conn.execute("CREATE TABLE made_before (x)")
    conn.close()
    db = open_db(settings.database_path)
    try:
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
        _fill(db, 50, 20_000)
        result = retention.purge(db, settings.retention, now=NOW)
        assert result.messages == 50 and result.vacuum == "none" and result.pages_vacuumed == 0
        assert db.execute("PRAGMA freelist_count").fetchone()[0] > 200  # kept for reuse, not vacuumed
    finally:
        db.conn.close()


def test_purge_does_not_block_a_writer(store):
    """Another connection (a poll) writes while a long purge runs: it waits one slice at most."""
    db = store
    _fill(db, 600, 2_000)
    stop, ready, written, errors = threading.Event(), threading.Event(), [], []
    during = []

    def poll_like():
        writer = sqlite3.connect(store.settings.database_path, timeout=5, isolation_level=None)
        while not stop.is_set():
            try:
                writer.execute("BEGIN IMMEDIATE")
                writer.execute("INSERT INTO mailbox_cursors (mailbox, last_uid, updated_at) VALUES (?, 0, ?) "
                               "ON CONFLICT(mailbox) DO UPDATE SET last_uid = last_uid + 1", ("INBOX", OLD))
                writer.execute("COMMIT")
                written.append(1)
                ready.set()
                time.sleep(0.02)  # a poll commits per batch, not back to back
            except sqlite3.OperationalError as exc:  # the failure being tested for
                errors.append(exc)
                break
        writer.close()

    thread = threading.Thread(target=poll_like)
    thread.start()
    try:
        assert ready.wait(10)
        before = len(written)
        result = retention.purge(db, store.settings.retention, slice_size=20, now=NOW)
        during.append(len(written) - before)
    finally:
        stop.set()
        thread.join()
    assert result.messages == 600 and not errors
    assert during[0] > 0  # the writer got its turns while the purge went on


def test_cli_purge_and_release_hold(store):
    db = store
    with transaction(db):
        old, _ = add_message(db, kind="robot", at="2020-01-01T00:00:00Z")
        give_bytes(db, old, b"bounce " * 100)
        held = add_case(db, account_id="ref_cli", reporters=[("e@example.com", "en")], at="2020-01-01T00:00:00Z")
        decide(db, held["id"], "violation")
        db.execute("UPDATE cases SET referral = 1, decided_at = '2020-01-02T00:00:00Z' WHERE id = ?", (held["id"],))
    dry = run_json(db.config, "purge", "--dry-run")
    assert dry["dry_run"] is True and dry["messages"] == 1 and has_raw(db, old)
    out = run_json(db.config, "purge")
    assert (out["messages"], out["raw_deleted"], out["vacuum"]) == (1, 1, "incremental")
    assert not has_raw(db, old)
    raw = run(db.config, "messages", "raw", str(old))
    assert raw.returncode != 0 and "deleted by retention" in raw.stderr
    released = run_json(db.config, "cases", "release-hold", held["ref"], "--by", "lead_ayu", "--note", "closed")
    assert released["case_ref"] == held["ref"]
    assert run_json(db.config, "purge")["case_refs"] == [held["ref"]]
    again = run(db.config, "cases", "release-hold", held["ref"], "--by", "lead_ayu", "--note", "x")
    assert again.returncode == 65 and "already released" in again.stderr
    assert "Example" in run(db.config, "purge", "--help").stdout


def test_poll_purges_a_bounded_slice(tmp_path):
    from abuse_intake.flow import poll
    from helpers import make_maildir

    path = write_config(tmp_path, replace={"poll_slice = 200 ": "poll_slice = 3 "})
    settings = config.load(path)
    make_maildir(tmp_path / "mailbox", [])
    db = open_db(settings.database_path)
    try:
        with transaction(db):
            for _ in range(5):
                m, _ = add_message(db, kind="non_report", at="2020-01-01T00:00:00Z")
                give_bytes(db, m, f"old {m} ".encode() * 30)
        report = poll.run(settings, lambda: db)
        assert report.purged.messages == 3 and report.purged.more is True
        assert report.counts()["purged_messages"] == 3
        assert rows(db, "SELECT COUNT(*) AS n FROM messages WHERE purged_at IS NULL") == [{"n": 2}]
    finally:
        db.conn.close()


def test_retention_config(tmp_path):
    assert config.load(write_config(tmp_path)).retention == config.RetentionSettings(30, 400, 365, 200)
    with pytest.raises(config.ConfigError, match="retention.referral_days"):
        config.load(write_config(tmp_path, replace={"referral_days = 365 ": "referral_days = 30 "}))
