"""Faults (issue 5, guarantee 2): servers that stop, stall or refuse, a busy
database, a changed UIDVALIDITY, a database that is full or cannot be opened. Each one ends
in a clear one-line error with the documented exit code, nothing lost and
nothing marked done on the server that is not committed; the next run
catches up.

Real servers throughout (Dovecot, aiosmtpd, a socket that never answers);
the only staging is that a run is paused at an exact point
(tests/crash_harness.py) while the test stops a server, and that "time
passes" for retry back-off by moving next_attempt_at into the past.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from abuse_intake import config
from abuse_intake.flow.poll import poll
from abuse_intake.errors import StoreBusyError
from abuse_intake.intake import open_source
from abuse_intake.store.db import open_db
from crash_harness import Paused, integrity_problems, missing_raw, rows, sha256
from helpers import cli, cli_json, email, make_maildir, write_config
from support.dovecot import free_port

EX_IOERR, EX_TEMPFAIL = 74, 75


def _reports(n: int, tag: str = "f") -> list[bytes]:
    return [email(sender=f"pelapor{i}.{tag}@gmail.com", name=f"Pelapor {i}", message_id=f"{tag}-{i}@example.test",
                  body=f"Akun @pelaku_{tag}{i:03d} menawarkan open BO, tarif 300rb.") for i in range(n)]


def _one_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _stored(db: Path) -> list[str]:
    return sorted(r["raw_sha256"] for r in rows(db, "SELECT raw_sha256 FROM messages"))


def _all_stored_once(db: Path, mails: list[bytes]) -> None:
    assert _stored(db) == sorted(sha256(m) for m in mails)
    assert integrity_problems(db) == [] and missing_raw(db) == []


# -- IMAP server stopped in the middle of a run ---------------------------------------

@pytest.mark.parametrize("at, committed", [
    ("fetch:2", 2),  # batch 1 committed and moved; the server goes before batch 2 is fetched
    ("before_commit:2", 4),  # batch 2 fetched and being committed; marking it done fails
    ("after_commit:1", 2),  # between the commit of batch 1 and marking it done
], ids=["before-fetch-2", "inside-batch-2", "commit-to-mark"])
def test_imap_stopped_mid_run_exits_75_and_next_run_resumes(dovecot, tmp_path, at, committed):
    conf = dovecot.config_toml(tmp_path, mailbox__batch_size=2, mailbox__mark_done_every=1)
    assert cli(conf, "init").returncode == 0  # the database exists (init), so stderr holds only the error
    mails = _reports(6)
    dovecot.append_many(mails)
    run = Paused(conf, "poll", at=at, workdir=tmp_path / "pause")
    run.wait_paused()
    dovecot.stop()
    proc = run.resume()
    assert proc.returncode == EX_TEMPFAIL
    assert "imap" in _one_line(proc).lower()
    db = tmp_path / "abuse-intake.db"
    assert len(_stored(db)) == committed
    dovecot.start()
    # Only what was committed may have left the INBOX.
    moved = dovecot.folder_count("Processed")
    assert moved <= committed and len(dovecot.uids("INBOX")) == len(mails) - moved
    again = cli_json(conf, "poll")
    assert again["stored"] == len(mails) - committed
    _all_stored_once(db, mails)
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == len(mails)
    assert len(cli_json(conf, "cases", "list")) == len(mails)


# -- UIDVALIDITY changed under a half-finished run -------------------------------------

def test_uidvalidity_change_after_a_crash_rescans_without_duplicates(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path, mailbox__batch_size=2, mailbox__mark_done_every=1)
    mails = _reports(4, "u")
    dovecot.append_many(mails)
    # Batch 1 committed, not moved; batch 2 never read.
    assert cli(conf, "poll", env={"ABUSE_INTAKE_CRASH_AT": "after_commit:1"}).returncode == -9
    dovecot.set_uidvalidity(dovecot.uidvalidity() + 1000)
    late = _reports(1, "u2")
    dovecot.append_many(late)
    counts = cli_json(conf, "poll")
    assert counts["uidvalidity_changed"] is True
    # Two re-read byte for byte (not stored again), three new.
    assert (counts["fetched"], counts["stored"], counts["cases_opened"]) == (5, 3, 3)
    db = tmp_path / "abuse-intake.db"
    _all_stored_once(db, mails + late)
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == 5
    acks = rows(db, "SELECT recipient FROM outbox WHERE kind = 'ack'")
    assert len(acks) == 5 and len({a["recipient"] for a in acks}) == 5
    assert len(list((tmp_path / "sent").glob("*.eml"))) == 5


# -- the database cannot be opened, or fills up ------------------------------------------

def test_an_old_storage_section_is_a_clear_config_error(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path, storage__data_dir=str(tmp_path / "data"))
    dovecot.append_many(_reports(1, "o"))
    proc = cli(conf, "poll")
    assert proc.returncode == 78
    assert "storage.data_dir" in _one_line(proc) and "in the database" in _one_line(proc)
    assert len(dovecot.uids("INBOX")) == 1


def test_database_under_a_file_is_a_clear_error(dovecot, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    conf = dovecot.config_toml(tmp_path, database__path=str(blocker / "abuse-intake.db"))
    dovecot.append_many(_reports(2, "b"))
    proc = cli(conf, "poll")
    assert proc.returncode == EX_IOERR
    assert "abuse-intake.db" in _one_line(proc)
    assert len(dovecot.uids("INBOX")) == 2


def test_database_full_mid_run_keeps_the_batch_on_the_server(dovecot, tmp_path):
    """SQLite's own SQLITE_FULL in batch 2 (a page limit on the run's connection makes it
    real): batch 1 stays committed and moved, batch 2 is rolled back and left in the
    INBOX, the run raises a StoreError; with room again, the next run catches up."""
    from abuse_intake.errors import StoreError
    small = _reports(2, "s")
    big = [email(sender=f"besar{i}@gmail.com", message_id=f"big-{i}@example.test",
                 body=f"Akun @pelaku_big{i} open BO. " + "bukti panjang sekali. " * 20000) for i in range(2)]
    conf = dovecot.config_toml(tmp_path, mailbox__batch_size=2, mailbox__mark_done_every=1)
    dovecot.append_many(small + big)
    settings = config.load(conf)
    db = open_db(settings.database_path)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 150}")  # ~600 KB: batch 1 fits, batch 2 (~1 MB) cannot
    with pytest.raises(StoreError, match="full"):
        poll(db, settings, open_source(settings))
    db.conn.close()
    path = tmp_path / "abuse-intake.db"
    assert _stored(path) == sorted(sha256(m) for m in small)
    assert len(dovecot.uids("INBOX")) == 2 and dovecot.folder_count("Processed") == 2
    assert cli_json(conf, "poll")["stored"] == 2
    _all_stored_once(path, small + big)
    assert dovecot.uids("INBOX") == []


# -- the database locked by another writer ---------------------------------------------

def _hold_write_lock(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def _maildir_setup(tmp_path: Path, mails: list[bytes], **replace) -> Path:
    make_maildir(tmp_path / "mailbox", mails)
    conf = write_config(tmp_path, replace=replace or None)
    assert cli(conf, "config", "check").returncode == 0
    return conf


def test_busy_database_is_waited_for_then_the_run_succeeds(tmp_path):
    mails = _reports(3, "w")
    conf = _maildir_setup(tmp_path, mails)
    db = tmp_path / "db.sqlite"
    open_db(db).conn.close()  # the schema exists, so the lock below is a plain writer's
    holder = _hold_write_lock(db)
    lock = db.with_name(db.name + ".lock")
    proc = subprocess.Popen([sys.executable, "-m", "abuse_intake", "--config", str(conf), "poll", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None and not (lock.exists() and lock.read_text().strip() == str(proc.pid)):
            time.sleep(0.01)
        time.sleep(0.5)
        # Holding its run lock, blocked on ours: a run that gave up at once would have exited.
        assert proc.poll() is None, proc.communicate()
    finally:
        holder.execute("COMMIT")
        holder.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out)["stored"] == 3
    _all_stored_once(db, mails)


def test_database_locked_past_the_busy_timeout_exits_75_with_one_line(tmp_path):
    conf = _maildir_setup(tmp_path, _reports(2, "l"))
    db = tmp_path / "db.sqlite"
    open_db(db).conn.close()
    holder = _hold_write_lock(db)
    try:
        proc = cli(conf, "poll")  # waits out the busy timeout (10 s), then gives up
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert proc.returncode == EX_TEMPFAIL
    assert "locked" in _one_line(proc)
    assert _stored(db) == []


def test_busy_database_mid_run_marks_nothing_done(dovecot, tmp_path):
    """The batch transaction cannot start: StoreBusyError, and the INBOX is untouched.
    In-process, so the busy timeout can be short."""
    conf = dovecot.config_toml(tmp_path, mailbox__batch_size=2, mailbox__mark_done_every=1)
    mails = _reports(4, "x")
    dovecot.append_many(mails)
    settings = config.load(conf)
    db = open_db(settings.database_path, busy_timeout_ms=200)
    holder = _hold_write_lock(settings.database_path)
    try:
        with pytest.raises(StoreBusyError):
            poll(db, settings, open_source(settings))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(dovecot.uids("INBOX")) == 4 and dovecot.folder_count("Processed") == 0
    assert _stored(settings.database_path) == []
    summary = poll(db, settings, open_source(settings))
    db.conn.close()
    assert summary.stored == 4 and dovecot.uids("INBOX") == []


# -- SMTP: down, silent, slow, 4xx, 5xx -------------------------------------------------

OUT_TIMEOUT = {'from_name = "Obrolan Support"\ntimeout = 30': 'from_name = "Obrolan Support"\ntimeout = 0.5'}


def _outbox(db: Path) -> list[dict]:
    return rows(db, "SELECT id, recipient, status, attempts, last_error, message_id FROM outbox ORDER BY id")


def _time_passes(db: Path) -> None:
    """Retry back-off is minutes long: make every deferred row due now."""
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00Z' WHERE status = 'pending'")
    conn.close()


def _smtp_conf(tmp_path: Path, url: str, mails: list[bytes]) -> Path:
    make_maildir(tmp_path / "mailbox", mails)
    conf = write_config(tmp_path, outgoing_url=url, replace=OUT_TIMEOUT)
    assert cli(conf, "init").returncode == 0  # the database exists (init), so stderr holds only the error
    return conf


def test_smtp_down_intake_goes_on_and_the_emails_wait(tmp_path, smtp_server):
    mails = _reports(3, "s")
    conf = _smtp_conf(tmp_path, smtp_server.url(), mails)
    smtp_server.stop()
    proc = cli(conf, "poll")
    assert proc.returncode == EX_TEMPFAIL
    assert "unreachable" in _one_line(proc)
    db = tmp_path / "db.sqlite"
    _all_stored_once(db, mails)
    out = _outbox(db)
    # The queue is deferred as it is, no email backed off (issue 13 item 7).
    assert [(o["status"], o["attempts"]) for o in out] == [("pending", 0)] * 3
    assert all(o["last_error"] for o in out)
    smtp_server.start()
    _time_passes(db)
    assert cli(conf, "send").returncode == 0
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == sorted(o["recipient"] for o in out)
    assert {o["status"] for o in _outbox(db)} == {"sent"}


def test_smtp_silent_past_the_timeout_is_temporary(tmp_path, smtp_server):
    mails = _reports(2, "t")
    with socket.socket() as silent:  # accepts the connection, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"smtp://127.0.0.1:{silent.getsockname()[1]}"
        conf = _smtp_conf(tmp_path, url, mails)
        proc = cli(conf, "poll")
    assert proc.returncode == EX_TEMPFAIL
    assert "timed out" in _one_line(proc)
    db = tmp_path / "db.sqlite"
    _all_stored_once(db, mails)
    assert {o["status"] for o in _outbox(db)} == {"pending"}
    # Pointed at a working server, the same rows go out.
    conf.write_text(conf.read_text().replace(url, smtp_server.url()))
    _time_passes(db)
    assert cli(conf, "send").returncode == 0
    assert len(smtp_server.messages) == 2 and {o["status"] for o in _outbox(db)} == {"sent"}


class _SlowData:
    """Takes each message only after `delay` seconds: past the client's timeout."""

    def __init__(self, delay: float):
        self.delay = delay
        self.received: list[bytes] = []
        self.finished = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        try:
            await asyncio.sleep(self.delay)
            self.received.append(envelope.original_content or envelope.content)
            return "250 OK"
        finally:
            self.finished.set()


def test_smtp_slow_at_data_is_retried_and_any_copy_has_the_same_message_id(tmp_path, smtp_server):
    """Timed out waiting for DATA's reply: we cannot know whether the server kept
    the message (RFC 1047). The row stays pending and is sent again, so the
    recipient gets it once or twice, always with the same Message-ID."""
    slow = _SlowData(delay=1.5)
    port = free_port()
    controller = Controller(slow, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mails = _reports(1, "slow")
        conf = _smtp_conf(tmp_path, f"smtp://127.0.0.1:{port}", mails)
        proc = cli(conf, "poll")
        assert proc.returncode == EX_TEMPFAIL
        assert "timed out" in _one_line(proc)
        db = tmp_path / "db.sqlite"
        [row] = _outbox(db)
        assert row["status"] == "pending" and row["attempts"] == 1 and "timed out" in row["last_error"]
        assert slow.finished.wait(10)  # the server's side of that attempt is over (kept or dropped)
    finally:
        controller.stop()
    conf.write_text(conf.read_text().replace(f"smtp://127.0.0.1:{port}", smtp_server.url()))
    _time_passes(db)
    assert cli(conf, "send").returncode == 0
    [after] = _outbox(db)
    assert after["status"] == "sent"
    copies = [*slow.received, *(m.raw for m in smtp_server.messages)]
    assert 1 <= len(copies) <= 2
    assert {_message_id(c) for c in copies} == {row["message_id"]}


def _message_id(raw: bytes) -> str:
    import email as stdlib_email
    return str(stdlib_email.message_from_bytes(raw)["Message-ID"]).strip().strip("<>")


def test_smtp_4xx_defers_and_5xx_fails_for_good(tmp_path, smtp_server):
    mails = _reports(3, "c")
    conf = _smtp_conf(tmp_path, smtp_server.url(), mails)
    smtp_server.fail("451 4.3.0 try again later", "DATA")
    smtp_server.fail("550 5.1.1 no such user", "RCPT")
    proc = cli(conf, "poll")
    # The server answered: nothing is unreachable, the counts tell the story.
    assert proc.returncode == 0, proc.stderr
    assert "1 sent, 1 deferred, 1 failed" in proc.stdout
    db = tmp_path / "db.sqlite"
    _all_stored_once(db, mails)
    out = _outbox(db)
    assert sorted(o["status"] for o in out) == ["failed", "pending", "sent"]
    failed = next(o for o in out if o["status"] == "failed")
    deferred = next(o for o in out if o["status"] == "pending")
    assert failed["last_error"].startswith("RCPT TO: 550") and deferred["last_error"].startswith("DATA: 451")
    assert len(smtp_server.messages) == 1
    _time_passes(db)
    assert cli(conf, "send").returncode == 0
    # The 4xx one goes out now; the 5xx one is never tried again.
    assert len(smtp_server.messages) == 2
    assert failed["recipient"] not in {m.rcpt_tos[0] for m in smtp_server.messages}
    final = {o["id"]: o for o in _outbox(db)}
    assert final[failed["id"]]["status"] == "failed" and final[failed["id"]]["attempts"] == failed["attempts"]
    assert final[deferred["id"]]["status"] == "sent"
