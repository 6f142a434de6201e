"""Issue 13 item 6: the sharp edges an operator hit, each through the real CLI."""

from __future__ import annotations

import json
import sys

from abuse_intake import config
from abuse_intake.store.db import open_db, transaction
from helpers import cli, cli_json, email, make_maildir, write_config
from triage_fixtures import add_case

SECRET_WORDS = "kata-rahasia-dalam-isi-pesan"


def test_a_new_database_is_announced_even_under_q(tmp_path):
    make_maildir(tmp_path / "mailbox", [email(body="akun @dewi_manja88 open BO")])
    conf = write_config(tmp_path)
    first = cli(conf, "poll", "-q")
    assert first.returncode == 0 and first.stdout == ""
    assert first.stderr == f"abuse-intake: created a new database at {tmp_path / 'db.sqlite'}\n"
    again = cli(conf, "poll", "-q")
    assert again.returncode == 0 and again.stderr == ""
    assert cli(conf, "init").stdout.startswith("database exists: ")


def test_init_creates_the_database_quietly_on_stderr(tmp_path):
    conf = write_config(tmp_path)
    proc = cli(conf, "init")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith(f"database created: {tmp_path / 'db.sqlite'} (schema ")
    assert (tmp_path / "db.sqlite").stat().st_mode & 0o077 == 0


def test_a_missing_or_non_maildir_folder_is_a_configuration_error(tmp_path):
    conf = write_config(tmp_path)  # maildir:<tmp>/mailbox, which does not exist
    missing = cli(conf, "poll")
    assert missing.returncode == 78
    assert missing.stderr.strip().endswith(f"config: mailbox.url: Maildir {tmp_path / 'mailbox'} does not exist")
    (tmp_path / "mailbox").mkdir()
    plain = cli(conf, "poll")
    assert plain.returncode == 78 and "is not a Maildir (no cur/ or new/ folder)" in plain.stderr


def test_vv_logs_one_line_per_message_without_its_text(tmp_path):
    make_maildir(tmp_path / "mailbox", [
        email(body=f"akun @dewi_manja88 open BO {SECRET_WORDS}"),
        email(subject="Out of office", body=f"away {SECRET_WORDS}", headers={"Auto-Submitted": "auto-replied"}),
    ])
    conf = write_config(tmp_path)
    proc = cli(conf, "-vv", "poll")
    assert proc.returncode == 0, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if ": DEBUG: message key " in l]
    assert len(lines) == 2, proc.stderr
    assert any(l.endswith(": report") for l in lines)
    assert any(": robot (auto_reply" in l or ": robot (" in l for l in lines)
    assert SECRET_WORDS not in proc.stderr and "Out of office" not in proc.stderr
    # The Maildir source has no IMAP cursor to tell of.
    assert "cursor at UID" not in proc.stderr and "committed 2 messages" in proc.stderr
    one_v = cli(conf, "-v", "poll")
    assert "DEBUG" not in one_v.stderr


def test_enforce_all_hands_over_sanctions_decided_before_the_command_existed(tmp_path):
    conf = write_config(tmp_path)
    db = open_db(config.load(conf).database_path)
    with transaction(db):
        cases = [add_case(db, account_id="dewi_manja88"), add_case(db, account_id="om.genit_77")]
    db.conn.close()
    for c in cases:
        assert cli(conf, "decide", c["ref"], "--violation", "prostitution", "--by", "rina").returncode == 0
    revoked = cli_json(conf, "sanctions", "list")[1]["id"]
    assert cli(conf, "sanctions", "revoke", str(revoked), "--by", "rina", "--note", "appeal").returncode == 0
    out = tmp_path / "handed.jsonl"
    script = tmp_path / "enforce.py"
    script.write_text(f"import sys\nopen({str(out)!r}, 'a').write(sys.stdin.read())\n")
    later = write_config(tmp_path, replace={"command = []": f"command = ['{sys.executable}', '{script}']"})
    assert "0 done, 0 failed" in cli(later, "sanctions", "enforce").stdout  # as before: nothing due
    proc = cli(later, "sanctions", "enforce", "--all")
    assert proc.returncode == 0 and "1 done, 0 failed" in proc.stdout, proc.stderr
    [handed] = [json.loads(l) for l in out.read_text().splitlines()]
    assert handed["account_id"] == "dewi_manja88"  # the one in force, not the revoked one
    assert "0 done, 0 failed" in cli(later, "sanctions", "enforce", "--all").stdout  # once only
