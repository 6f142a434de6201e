"""The command line as an operator uses it: a real Maildir, a real SQLite file; subprocesses
for polls, exit codes and locks, in-process (CliRunner) for what only reads and prints."""

from __future__ import annotations

import fcntl
import json
import os

import click
import pytest

from abuse_intake.cli import cli as root
from helpers import cli, cli_json, email, make_maildir, run, run_json, write_config

POLL_KEYS = {"fetched", "stored", "reports", "replies", "duplicates", "resends", "robots",
             "non_reports", "quarantined", "cases_opened"}


@pytest.fixture
def setup(tmp_path):
    make_maildir(tmp_path / "mailbox", [
        email(sender="a.one@gmail.com", body="akun @dewi_manja88 open BO tarif 300rb"),
        email(sender="b.two@gmail.com", body="User id dewi_manja88 offers paid sex. Also ID: om.genit_77 asked for nudes."),
        email(sender="c.three@gmail.com", subject="lupa password", body="Saya lupa kata sandi, tolong bantu."),
        email(sender="d.four@gmail.com", subject="Out of office", body="I am away.",
              headers={"Auto-Submitted": "auto-replied"}),
    ])
    conf = write_config(tmp_path)
    assert cli(conf, "init").returncode == 0  # as an installation would (else a notice on stderr)
    return conf


def test_poll_json_counts_then_rerun_is_a_no_op(setup):
    first = cli_json(setup, "poll")
    assert POLL_KEYS <= set(first)
    assert (first["fetched"], first["stored"], first["reports"], first["non_reports"], first["robots"],
            first["cases_opened"]) == (4, 4, 2, 1, 1, 2)
    second = cli_json(setup, "poll")
    assert (second["fetched"], second["stored"], second["duplicates"], second["cases_opened"]) == (4, 0, 4, 0)


def test_poll_prints_one_summary_line(setup):
    proc = cli(setup, "poll")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1 and "4 fetched" in proc.stdout


def test_cases_list_and_show_json(setup):
    cli_json(setup, "poll")
    cases = run_json(setup, "cases", "list")
    assert [c["account_id"] for c in cases] == ["dewi_manja88", "om.genit_77"]  # 2 reporters first
    for key in ("ref", "status", "account_id", "category", "severity", "reporters", "reports",
                "opened_at", "updated_at"):
        assert key in cases[0]
    shown = run_json(setup, "cases", "show", cases[0]["ref"])
    assert shown["ref"] == cases[0]["ref"] and len(shown["reports"]) == 2
    for key in ("message_id", "reporter", "received_at", "language", "category", "account_ids", "text",
                "attachments"):
        assert key in shown["reports"][0]
    # the raw email as received, by the row `cases show` names
    row = shown["reports"][0]["message_row"]
    target = setup.parent / "m.eml"
    assert run(setup, "messages", "raw", str(row), "-o", str(target)).returncode == 0
    import hashlib
    import sqlite3
    from abuse_intake import config
    digest = sqlite3.connect(config.load(setup).database_path).execute(
        "SELECT raw_sha256 FROM messages WHERE id = ?", (row,)).fetchone()[0]
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    assert shown["reports"][0]["message_id"].encode() in target.read_bytes()
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    missing = cli(setup, "messages", "raw", "999")
    assert missing.returncode == 65 and "no message 999" in missing.stderr


def test_cases_evidence_writes_the_reports_emails(setup, tmp_path):
    cli_json(setup, "poll")
    ref = run_json(setup, "cases", "list")[0]["ref"]
    files = run_json(setup, "cases", "evidence", ref, "--dir", str(tmp_path / "ev"))
    assert [f["kind"] for f in files] == ["email", "email"]
    assert set(files[0]) == {"path", "kind", "report", "message_row", "size", "sha256", "filename", "content_type"}
    import hashlib
    from pathlib import Path
    for f in files:
        data = Path(f["path"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f["size"], f["sha256"])


def test_messages_list_kinds(setup):
    cli_json(setup, "poll")
    rows = run_json(setup, "messages", "list")
    assert [r["kind"] for r in rows].count("report") == 2
    robots = run_json(setup, "messages", "list", "--kind", "robot")
    assert len(robots) == 1 and robots[0]["reason"].startswith("auto_reply")
    for key in ("message_id", "reporter", "subject", "kind", "reason", "received_at", "case_refs"):
        assert key in rows[0]


def test_second_poll_while_one_runs_exits_73(setup, tmp_path):
    from abuse_intake import config
    lock = config.load(setup).lock_path
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = cli(setup, "poll")
    assert proc.returncode == 73
    assert len(proc.stderr.strip().splitlines()) == 1 and "another poll is running" in proc.stderr


@pytest.mark.parametrize("bad, key", [
    ('batch_size = 50', 'batch_size = "fifty"'),
    ('url = "maildir:', 'url = "pop3://host/x" #'),
    ('lookback_days = 365', 'lookback_days = 0'),
    ('[limits]', '[limits]\nmax_emails_per_recipent_per_day = 3'),
])
def test_bad_config_exits_78_naming_the_key(tmp_path, bad, key):
    path = write_config(tmp_path, replace={bad: key})
    proc = cli(path, "poll")
    assert proc.returncode == 78
    expected = {"batch_size": "mailbox.batch_size", "pop3": "mailbox.url", "lookback_days": "policy.lookback_days",
                "recipent": "limits.max_emails_per_recipent_per_day"}
    name = next(v for k, v in expected.items() if k in key)
    assert len(proc.stderr.strip().splitlines()) == 1 and name in proc.stderr, proc.stderr


def test_missing_config_file_exits_78(tmp_path):
    proc = cli(tmp_path / "nope.toml", "poll")
    assert proc.returncode == 78 and "not found" in proc.stderr


def test_config_show_masks_nothing_secret(tmp_path):
    path = write_config(tmp_path, mailbox_url="imap://support@127.0.0.1:1/INBOX")
    proc = cli(path, "config", "show", env={"ABUSE_INTAKE_IMAP_PASSWORD": "s3cret-pw"})
    assert proc.returncode == 0
    assert "s3cret-pw" not in proc.stdout
    assert json.loads(proc.stdout)["mailbox"]["password_env"] == "ABUSE_INTAKE_IMAP_PASSWORD"


def test_mailbox_unreachable_exits_75_and_hides_password(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    path = write_config(tmp_path, mailbox_url=f"imap://support@127.0.0.1:{port}/INBOX")
    assert cli(path, "init").returncode == 0  # the database exists (init), so stderr holds only the error
    proc = cli(path, "poll", env={"ABUSE_INTAKE_IMAP_PASSWORD": "s3cret-pw"})
    assert proc.returncode == 75, proc.stderr
    assert "s3cret-pw" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1


def _all_commands(group: click.Group, prefix=()):
    # list_commands/get_command, not .commands: the groups load their commands lazily
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in _all_commands(root)])
def test_every_command_has_help_with_an_example(path):
    cmd = root
    for part in path.split():
        cmd = cmd.get_command(click.Context(cmd), part)
    ctx = click.Context(cmd, info_name=path)
    text = cmd.get_help(ctx)
    assert "Example" in text and "abuse-intake" in text, path


def test_store_is_owner_only(setup, tmp_path):
    cli_json(setup, "poll")
    from abuse_intake import config
    s = config.load(setup)
    assert oct(os.stat(s.database_path).st_mode & 0o777) == "0o600"


def _with_attachment(data: bytes, i: int) -> bytes:
    """The same report as multipart/mixed with a small PNG-ish attachment."""
    import base64
    head, body = data.split(b"\r\n\r\n", 1)
    head = head.replace(b'Content-Type: text/plain; charset="utf-8"',
                        b'Content-Type: multipart/mixed; boundary="bb"')
    blob = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes([i % 256]) * (100 + i))
    return (head + b"\r\n\r\n--bb\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body +
            b"\r\n--bb\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"shot%d.png\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" % i + blob + b"\r\n--bb--\r\n")


def test_backlog_parsed_by_workers_gives_the_same_result_as_serial(tmp_path):
    """Full batches go to worker processes; the stored outcome must not depend on it (attachment
    contents come back from the workers through the pipes)."""
    import sqlite3
    from abuse_intake import config

    mails = []
    for i in range(45):
        mail = email(sender=f"r{i % 7}@gmail.com", body=f"akun @pelaku_{i % 11:03d} open BO tarif {i}00rb")
        mails.append(_with_attachment(mail, i) if i % 3 == 0 else mail)
        if i % 9 == 0:
            mails.append(mails[-1])  # a byte-identical re-delivery
    mails.append(email(sender="away@gmail.com", subject="Out of office", body="away",
                       headers={"Auto-Submitted": "auto-replied"}))
    results = {}
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        root.mkdir()
        make_maildir(root / "mailbox", mails)
        conf = write_config(root, replace={"batch_size = 50": "batch_size = 20", "workers = 0": f"workers = {workers}"})
        counts = cli_json(conf, "poll", "--no-send")
        messages = [(m["kind"], m["reporter"], tuple(m["case_refs"])) for m in cli_json(conf, "messages", "list")]
        cases = [(c["ref"], c["account_id"], c["reporters"], c["reports"]) for c in cli_json(conf, "cases", "list")]
        settings = config.load(conf)
        db = sqlite3.connect(settings.database_path)
        attachments = db.execute("SELECT m.raw_sha256, a.sha256, a.filename, a.size FROM attachments a "
                                 "JOIN messages m ON m.id = a.message_id ORDER BY a.id").fetchall()
        for raw_digest, digest, _, size in attachments:
            assert db.execute("SELECT size FROM raw_messages WHERE sha256 = ?", (raw_digest,)).fetchone()
            assert db.execute("SELECT length(data) FROM attachment_contents WHERE sha256 = ?",
                              (digest,)).fetchone() == (size,)
        assert db.execute("SELECT COUNT(*) FROM raw_messages").fetchone()[0] == len(set(mails))
        results[workers] = (counts, messages, cases, attachments)
    assert results[1] == results[2]
    counts = results[2][0]
    assert counts["fetched"] == len(mails) and counts["robots"] == 1 and counts["duplicates"] == 5
    assert len(results[2][3]) == 15


def test_quiet_by_default_and_verbose_on_request(setup):
    quiet = cli(setup, "poll", "-q")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    make_maildir(setup.parent / "mailbox", [email(sender="e.five@gmail.com", body="akun @pelaku_999 open BO")])
    loud = cli(setup, "-v", "poll", "-q")
    assert loud.returncode == 0 and "INFO: committed 5 messages" in loud.stderr
