"""`abuse-intake poll` against a real Dovecot on loopback, through the real CLI."""

from __future__ import annotations

import json

from helpers import cli, cli_json, email
from support.dovecot import IMAP_PASSWORD_ENV  # noqa: F401  (the fixture sets it)


def _reports(n: int, start: int = 0) -> list[bytes]:
    return [email(sender=f"reporter{i}@gmail.com", body=f"akun @pelaku_{i:04d} open BO tarif 300rb")
            for i in range(start, start + n)]


def test_poll_moves_messages_and_second_poll_adds_nothing(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path, mailbox__batch_size=3)
    dovecot.append_many(_reports(7) + [email(sender="away@gmail.com", subject="Out of office",
                                             headers={"Auto-Submitted": "auto-replied"}, body="away")])
    first = cli_json(conf, "poll")
    assert (first["fetched"], first["stored"], first["reports"], first["robots"], first["cases_opened"]) == (8, 8, 7, 1, 7)
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == 8
    cases = cli_json(conf, "cases", "list")
    assert sorted(c["account_id"] for c in cases) == [f"pelaku_{i:04d}" for i in range(7)]
    again = cli_json(conf, "poll")
    assert again["fetched"] == 0 and again["stored"] == 0
    # new mail after that is picked up, and only it
    dovecot.append_many(_reports(2, start=7))
    third = cli_json(conf, "poll")
    assert (third["fetched"], third["stored"], third["cases_opened"]) == (2, 2, 2)


def test_flag_mode_marks_seen_and_keyword(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path, mailbox__done_action="flag")
    dovecot.append_many(_reports(3))
    assert cli_json(conf, "poll")["stored"] == 3
    flags = dovecot.fetch_flags("INBOX")
    assert len(flags) == 3
    for f in flags.values():
        assert b"\\Seen" in f and b"AbuseIntakeDone" in f
    assert cli_json(conf, "poll")["fetched"] == 0


def test_uidvalidity_change_rescans_without_duplicates(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path, mailbox__done_action="none")
    dovecot.append_many(_reports(4))
    assert cli_json(conf, "poll")["stored"] == 4
    dovecot.set_uidvalidity(dovecot.uidvalidity() + 1000)
    dovecot.append_many(_reports(1, start=4))
    after = cli_json(conf, "poll")
    assert after["uidvalidity_changed"] is True
    assert (after["fetched"], after["stored"], after["duplicates"], after["cases_opened"]) == (5, 1, 4, 1)
    messages = cli_json(conf, "messages", "list")
    assert len(messages) == 5


def test_server_stopped_mid_run_exits_75_and_next_run_catches_up(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path, mailbox__batch_size=2)
    dovecot.append_many(_reports(6))
    # A crash point stops the run right after the first batch is committed; then the server goes away.
    proc = cli(conf, "poll", "--json", env={"ABUSE_INTAKE_CRASH_AT": "after_commit"})
    assert proc.returncode != 0
    dovecot.stop()
    down = cli(conf, "poll")
    assert down.returncode == 75 and len(down.stderr.strip().splitlines()) == 1, down.stderr
    dovecot.start()
    up = cli_json(conf, "poll")
    # the first batch was committed but not moved: it is marked done now, not stored again
    assert up["leftovers_marked"] == 2 and up["stored"] == 4 and up["fetched"] == 4
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == 6
    assert len(cli_json(conf, "messages", "list")) == 6


def test_imap_acknowledgments_reach_smtp(dovecot, smtp_server, tmp_path):
    conf = dovecot.config_toml(tmp_path, outgoing__url=smtp_server.url())
    dovecot.append_many(_reports(2))
    counts = cli_json(conf, "poll")
    assert counts["emails_sent"] == 2
    got = sorted(m.message()["To"] for m in smtp_server.messages)
    assert got == ["reporter0@gmail.com", "reporter1@gmail.com"]
    outbox = cli_json(conf, "outbox", "list", "--status", "all")
    assert {o["status"] for o in outbox} == {"sent"}
    assert json.dumps(outbox)  # JSON-able
