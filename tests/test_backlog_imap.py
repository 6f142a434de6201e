"""A backlog over IMAP (issue 6): fetched ahead by a process of its own and
marked done in the background, against a real Dovecot. Whatever happens to
the server, the fetcher or the run, every message is stored exactly once and
nothing is marked done before its commit."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from abuse_intake import config
from abuse_intake.errors import MailboxError
from abuse_intake.flow import prefetch
from abuse_intake.flow.poll import poll
from abuse_intake.intake import open_source
from abuse_intake.store.db import open_db
from crash_harness import integrity_problems, missing_raw, rows, sha256
from helpers import cli, cli_json, email

N = prefetch.MIN_BACKLOG + 60  # a backlog: the fetcher starts


@pytest.fixture(scope="module")
def mails() -> list[bytes]:
    return [email(sender=f"pelapor{i % 37}@gmail.com", message_id=f"bl-{i}@example.test",
                  body=f"Akun @pelaku_bl{i % 97:03d} menawarkan open BO, tarif {i}00rb.\r\n" + _FILLER)
            for i in range(N)]


# ~6 KB a message: the backlog outgrows the pipe, so the fetcher is still at work mid-run.
_FILLER = "Saya sudah lihat profilnya beberapa kali dan ini sangat meresahkan.\r\n" * 90


def _conf(dovecot, tmp_path, **extra):
    return dovecot.config_toml(tmp_path, mailbox__batch_size=20, mailbox__mark_done_every=100,
                               processing__workers=2, **extra)


def _left_running(conf) -> list[int]:
    """Processes still running with this config on their command line (forked helpers share it)."""
    import time
    for _ in range(50):  # PR_SET_PDEATHSIG is delivered right away, but reaping takes a moment
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if str(conf).encode() in cmdline and state != "Z":
                found.append(int(pid))
        if not found:
            return []
        time.sleep(0.1)
    return found


def _all_stored_once(db, mails: list[bytes]) -> None:
    stored = sorted(r["raw_sha256"] for r in rows(db, "SELECT raw_sha256 FROM messages"))
    assert stored == sorted(sha256(m) for m in mails)
    assert integrity_problems(db) == [] and missing_raw(db) == []


def test_a_backlog_is_fetched_ahead_and_marked_in_the_background(dovecot, tmp_path, mails):
    conf = _conf(dovecot, tmp_path)
    dovecot.append_many(mails)
    proc = cli(conf, "-v", "poll", "--json", "--no-send")
    assert proc.returncode == 0, proc.stderr
    assert f"backlog of {N} messages: fetching ahead" in proc.stderr
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == N
    db = tmp_path / "abuse-intake.db"
    _all_stored_once(db, mails)
    # the same cases as reading them one batch at a time would give: one per account
    cases = rows(db, "SELECT account_id, reports FROM cases ORDER BY account_id")
    assert [c["account_id"] for c in cases] == sorted(f"pelaku_bl{i:03d}" for i in range(97))
    assert sum(c["reports"] for c in cases) == N


def test_the_result_does_not_depend_on_fetching_ahead(dovecot, tmp_path, mails):
    dovecot.append_many(mails)
    results = []
    for ahead in (True, False):
        root = tmp_path / f"ahead-{ahead}"
        root.mkdir()
        settings = config.load(_conf(dovecot, root, mailbox__done_action="none"))
        db = open_db(settings.database_path)
        source = open_source(settings)
        source.prefetch = ahead
        poll(db, settings, source)
        results.append([tuple(r) for r in db.execute(
            "SELECT m.uid, m.kind, m.raw_sha256, c.ref, c.account_id FROM messages m "
            "LEFT JOIN reports r ON r.message_id = m.id LEFT JOIN case_reports cr ON cr.report_id = r.id "
            "LEFT JOIN cases c ON c.id = cr.case_id ORDER BY m.id").fetchall()])
        db.conn.close()
    assert results[0] == results[1] and len(results[0]) == N


def test_server_gone_mid_backlog_raises_and_the_next_run_catches_up(dovecot, tmp_path, mails):
    dovecot.append_many(mails)
    settings = config.load(_conf(dovecot, tmp_path))
    db = open_db(settings.database_path)
    batches = []

    def stop_after_three(summary):
        batches.append(summary.fetched)
        if len(batches) == 3:
            dovecot.stop()

    with pytest.raises(MailboxError):
        poll(db, settings, open_source(settings), on_batch=stop_after_three)
    db.conn.close()
    path = tmp_path / "abuse-intake.db"
    committed = len(rows(path, "SELECT id FROM messages"))
    assert 60 <= committed < N  # what the fetcher had already read is stored; nothing is invented
    dovecot.start()
    moved = dovecot.folder_count("Processed")
    assert moved <= committed and len(dovecot.uids("INBOX")) == N - moved
    again = cli_json(_conf(dovecot, tmp_path), "poll", "--no-send")
    assert again["stored"] == N - committed
    _all_stored_once(path, mails)
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == N


def test_a_dead_fetcher_costs_time_never_a_message(dovecot, tmp_path, mails):
    # ~60 KB each: far more than the pipe and the read-ahead hold, so the fetcher
    # is still at work when the first batch is committed.
    mails = [m.replace(b"\r\n\r\n", b"\r\n\r\n" + _FILLER.encode() * 9, 1) for m in mails]
    dovecot.append_many(mails)
    settings = config.load(_conf(dovecot, tmp_path))
    db = open_db(settings.database_path)
    killed = []

    def kill_the_fetcher(summary):
        if killed:
            return
        for proc in multiprocessing.active_children():
            if proc.name == prefetch.PROCESS_NAME:
                os.kill(proc.pid, signal.SIGKILL)
                killed.append(proc.pid)

    summary = poll(db, settings, open_source(settings), on_batch=kill_the_fetcher)
    db.conn.close()
    assert killed, "the fetcher was running"
    assert summary.fetched == N and summary.stored == N
    _all_stored_once(tmp_path / "abuse-intake.db", mails)
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == N


@pytest.mark.parametrize("at", ["after_commit:4", "after_mark_done:1", "before_commit:9"])
def test_a_killed_backlog_run_loses_nothing(dovecot, tmp_path, mails, at):
    conf = _conf(dovecot, tmp_path)
    dovecot.append_many(mails)
    killed = cli(conf, "poll", "--no-send", env={"ABUSE_INTAKE_CRASH_AT": at})
    assert killed.returncode == -signal.SIGKILL
    assert _left_running(conf) == []  # its fetcher and parser workers died with it
    path = tmp_path / "abuse-intake.db"
    committed = {r["uid"] for r in rows(path, "SELECT uid FROM messages")}
    # Nothing left the INBOX that is not committed.
    assert set(range(1, N + 1)) - set(dovecot.uids("INBOX")) <= committed
    assert cli_json(conf, "poll", "--no-send")["fetched"] == N - len(committed)
    _all_stored_once(path, mails)
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == N
