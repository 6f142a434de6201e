"""Issue 13 item 7 through the real CLI: a relay outage defers the queue; `send --now` flushes it."""

from __future__ import annotations

import sqlite3

from helpers import cli, cli_json, email, make_maildir, write_config


def _outbox(db):
    with sqlite3.connect(db) as c:
        c.row_factory = sqlite3.Row
        return [dict(r) for r in c.execute("SELECT id, status, attempts, next_attempt_at FROM outbox ORDER BY id")]


def test_outage_then_send_delivers_everything_and_send_now_ignores_backoff(tmp_path, smtp_server):
    make_maildir(tmp_path / "mailbox", [email(sender=f"r{i}@gmail.com", body=f"akun @pelaku_{i:04d} open BO")
                                        for i in range(3)])
    conf = write_config(tmp_path, outgoing_url=smtp_server.url())
    smtp_server.stop()
    assert cli(conf, "poll").returncode == 75
    assert [(o["attempts"], o["next_attempt_at"]) for o in _outbox(tmp_path / "db.sqlite")] == [(0, None)] * 3
    assert cli(conf, "send").returncode == 75  # still down: one connection attempt, nothing changes
    smtp_server.start()
    smtp_server.fail("451 4.3.0 Try again later", stage="RCPT")  # one email's own failure
    out = cli_json(conf, "send")
    assert (out["sent"], out["deferred"]) == (2, 1)
    assert cli_json(conf, "send")["sent"] == 0  # that one backs off
    now = cli_json(conf, "send", "--now")
    assert now["sent"] == 1 and now["remaining"] == 0 and len(smtp_server.messages) == 3
    help_ = cli(conf, "send", "--help").stdout
    assert "--now" in help_ and "Example" in help_ or "send --now" in help_
