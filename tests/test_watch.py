"""`abuse-intake watch` against a real Dovecot (IDLE) and a real aiosmtpd, as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from helpers import cli_json, email, make_maildir, write_config

WAIT = 20.0  # a bound for a stuck test, not a timing claim


def _start(conf, *args):
    return subprocess.Popen([sys.executable, "-m", "abuse_intake", "--config", str(conf), *args, "watch"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _until(predicate, what: str, limit: float = WAIT):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stored(conf) -> int:
    return len(cli_json(conf, "messages", "list"))


def _stop(proc) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=WAIT)
    return proc.returncode, err


def _report(i: int) -> bytes:
    return email(sender=f"r{i}@gmail.com", body=f"akun @pelaku_{i:04d} open BO")


def test_new_mail_is_stored_and_acked_within_seconds_and_sigterm_exits_0(dovecot, smtp_server, tmp_path):
    conf = dovecot.config_toml(tmp_path, outgoing__url=smtp_server.url(), watch__idle_renew=5)
    dovecot.append(_report(0))  # waiting before the start: the catch-up run takes it
    proc = _start(conf, "-vv")
    try:
        _until(lambda: _stored(conf) == 1, "the catch-up run")
        time.sleep(1.0)  # let it enter IDLE
        appended = time.monotonic()
        dovecot.append(_report(1))
        _until(lambda: len(smtp_server.messages) == 2, "the ack of the appended message")
        took = time.monotonic() - appended
        assert _stored(conf) == 2 and dovecot.folder_count("Processed") == 2
        assert took < 10, took  # IDLE, not the 25-minute renewal
        time.sleep(5.5)  # one renewal of IDLE (idle_renew = 5)
    finally:
        code, err = _stop(proc)
    assert code == 0, err
    assert "IDLE announced new mail" in err and "IDLE renewed" in err
    assert "Traceback" not in err


def test_sigterm_during_a_batch_finishes_it(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path, mailbox__batch_size=5)
    dovecot.append_many([_report(i) for i in range(300)])
    proc = _start(conf)
    _until(lambda: dovecot.folder_count("Processed") > 0, "the first batch")
    code, err = _stop(proc)
    assert code == 0, err
    # Every committed message was marked done and nothing is stored twice.
    stored = _stored(conf)
    assert stored == dovecot.folder_count("Processed") and stored + len(dovecot.uids("INBOX")) == 300
    assert cli_json(conf, "poll")["stored"] == 300 - stored


def test_outage_is_retried_with_backoff_and_logged_once(dovecot, tmp_path):
    # idle_renew = 5: a run falls inside the outage even if the idling connection
    # outlives the server's stop (its imap process may take a moment to die).
    conf = dovecot.config_toml(tmp_path, watch__idle_renew=5)
    proc = _start(conf)
    try:
        time.sleep(1.5)
        dovecot.stop()
        time.sleep(9)  # a renewal's run, then attempts after 1 s, 2 s, 4 s
        dovecot.start()
        dovecot.append(_report(7))
        try:
            _until(lambda: _stored(conf) == 1, "the message after the outage", limit=30)
        except AssertionError:
            proc.send_signal(signal.SIGTERM)
            raise AssertionError(proc.communicate(timeout=WAIT)[1][-2500:]) from None
    finally:
        code, err = _stop(proc) if proc.returncode is None else (proc.returncode, "")
    assert code == 0, err
    warnings = [l for l in err.splitlines() if "WARNING" in l]
    assert len(warnings) == 2, err[-3000:]  # the outage once, the recovery once
    assert "retrying with backoff" in warnings[0] and "is back after" in warnings[1]


def test_without_idle_the_mailbox_is_polled_every_interval(tmp_path):
    maildir = make_maildir(tmp_path / "mailbox", [])
    conf = write_config(tmp_path, replace={"interval = 60": "interval = 1"})
    proc = _start(conf)
    try:
        time.sleep(1.0)
        make_maildir(maildir, [_report(3)])
        _until(lambda: _stored(conf) == 1, "the interval poll", limit=10)
    finally:
        code, err = _stop(proc)
    assert code == 0, err
