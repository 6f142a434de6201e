"""Concurrency (issue 5, guarantee 5): cron starts a poll while one still runs,
and staff decide cases while a poll works. A run is paused at an exact point
(tests/crash_harness.py) so the overlap is certain, not a race."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

from crash_harness import Paused, integrity_problems, rows, sha256
from helpers import cli, cli_json, email

EX_LOCKED = 73


def _report(i: int, account: str = "") -> bytes:
    return email(sender=f"pelapor{i}.cc@gmail.com", message_id=f"cc-{i}@example.test",
                 body=f"Akun @{account or f'pelaku_cc{i:03d}'} menawarkan open BO, tarif 300rb.")


def _consistent(db, mails: list[bytes]) -> None:
    stored = Counter(r["raw_sha256"] for r in rows(db, "SELECT raw_sha256 FROM messages"))
    assert stored == Counter(sha256(m) for m in mails)
    assert integrity_problems(db) == []
    open_per_account = Counter(r["account_id"] for r in rows(
        db, "SELECT account_id FROM cases WHERE status = 'open' AND account_id IS NOT NULL"))
    assert all(n == 1 for n in open_per_account.values())


def test_a_second_poll_exits_73_at_once_with_one_line(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path, mailbox__batch_size=2, mailbox__mark_done_every=1)
    mails: list[bytes] = []
    # Overlap inside a batch transaction, and during delivery (no transaction open).
    for n, at in enumerate(["before_commit:1", "before_send:1"]):
        batch = [_report(10 * n + i) for i in range(3)]
        mails += batch
        dovecot.append_many(batch)
        first = Paused(conf, "poll", at=at, workdir=tmp_path / f"pause{n}")
        try:
            first.wait_paused()
            # If the second run waited for the first, the first's pause would outlast it.
            second = cli(conf, "poll", "--json", timeout=30)
            assert second.returncode == EX_LOCKED
            assert second.stdout == ""
            assert len(second.stderr.strip().splitlines()) == 1
            assert "another poll is running" in second.stderr
            done = first.resume()
        finally:
            first.kill()
        assert done.returncode == 0, done.stderr
    db = tmp_path / "abuse-intake.db"
    _consistent(db, mails)
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == len(mails)
    # The refused runs left no trace; the two real ones finished.
    runs = rows(db, "SELECT finished_at, error FROM poll_runs")
    assert len(runs) == 2 and all(r["finished_at"] and not r["error"] for r in runs)
    assert cli_json(conf, "poll")["fetched"] == 0  # and a later run starts normally


def _open_case(dovecot, conf) -> tuple[dict, list[bytes]]:
    mails = [_report(1, "mami_rosa"), _report(2, "mami_rosa")]
    dovecot.append_many(mails)
    assert cli_json(conf, "poll")["cases_opened"] == 1
    [case] = cli_json(conf, "cases", "list")
    return case, mails


def test_decide_between_batches_of_a_running_poll(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path, mailbox__batch_size=2, mailbox__mark_done_every=1)
    case, mails = _open_case(dovecot, conf)
    more = [_report(3, "mami_rosa"), _report(4), _report(5), _report(6, "mami_rosa")]
    dovecot.append_many(more)
    poll = Paused(conf, "poll", at="after_mark_done:1", workdir=tmp_path / "pause")
    try:
        poll.wait_paused()
        decided = cli(conf, "decide", case["ref"], "--violation", "prostitution", "--by", "rina", timeout=30)
        assert decided.returncode == 0, decided.stderr
        done = poll.resume()
    finally:
        poll.kill()
    assert done.returncode == 0, done.stderr
    db = tmp_path / "abuse-intake.db"
    _consistent(db, mails + more)
    [row] = rows(db, "SELECT status, decision FROM cases WHERE ref = ?", (case["ref"],))
    assert (row["status"], row["decision"]) == ("decided", "violation")
    # The report that came after the decision opened a new case for the account.
    statuses = sorted(r["status"] for r in rows(db, "SELECT status FROM cases WHERE account_id = 'mami_rosa'"))
    assert statuses == ["decided", "open"]
    _outcome_for_every_reporter(db, case["ref"])


def test_decide_while_a_poll_holds_its_batch_transaction(dovecot, tmp_path):
    """The poll holds the write lock; decide waits on the busy timeout, then succeeds."""
    conf = dovecot.config_toml(tmp_path, mailbox__batch_size=2, mailbox__mark_done_every=1)
    case, mails = _open_case(dovecot, conf)
    more = [_report(3, "mami_rosa"), _report(4)]
    dovecot.append_many(more)
    poll = Paused(conf, "poll", at="before_commit:1", workdir=tmp_path / "pause")
    decide = None
    try:
        poll.wait_paused()
        decide = subprocess.Popen([sys.executable, "-m", "abuse_intake", "--config", str(conf), "decide",
                                   case["ref"], "--violation", "prostitution", "--by", "rina"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        # Blocked on the poll's transaction, not failed: a decide that gave up would have exited.
        assert decide.poll() is None, decide.communicate()
        done = poll.resume()
        out, err = decide.communicate(timeout=60)
    finally:
        poll.kill()
        if decide is not None and decide.poll() is None:
            decide.kill()
    assert done.returncode == 0, done.stderr
    assert decide.returncode == 0, err
    db = tmp_path / "abuse-intake.db"
    _consistent(db, mails + more)
    # The poll committed first, so the third report joined the case before it was decided.
    [row] = rows(db, "SELECT status, reporters FROM cases WHERE ref = ?", (case["ref"],))
    assert (row["status"], row["reporters"]) == ("decided", 3)
    _outcome_for_every_reporter(db, case["ref"])


def _outcome_for_every_reporter(db, ref: str) -> None:
    reporters = {r["reporter"] for r in rows(
        db, "SELECT reporter FROM case_reporters JOIN cases ON cases.id = case_id WHERE ref = ?", (ref,))}
    told = {r["recipient"] for r in rows(db, "SELECT recipient FROM outbox WHERE kind = 'outcome_actioned'")}
    assert reporters and told == reporters
