"""`abuse-intake backup` taken while a poll runs, and restoring it (README "Backup and restore")."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time

from helpers import cli, cli_json, email


def _reports(n: int, start: int = 0) -> list[bytes]:
    return [email(sender=f"r{i}@gmail.com", body=f"akun @pelaku_{i:04d} open BO") for i in range(start, start + n)]


def _consistent(path) -> int:
    """A backup is one commit's state: every stored UID is at or below the cursor, and none missing."""
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        n = c.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        top = c.execute("SELECT MAX(uid) FROM messages").fetchone()[0] or 0
        cursor = c.execute("SELECT COALESCE(MAX(last_uid), 0) FROM mailbox_cursors").fetchone()[0]
        assert top == cursor and n == cursor  # UIDs 1..N, one message each
        assert c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == n
    return n


def _restore(backup, db) -> None:
    """The documented restore: service stopped, the copy put in place, the old -wal/-shm removed."""
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    shutil.copyfile(backup, db)


def test_backup_during_a_poll_then_restore_and_poll_on(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path, mailbox__done_action="flag", mailbox__batch_size=20)
    dovecot.append_many(_reports(400))
    db = tmp_path / "abuse-intake.db"
    assert cli(conf, "init").returncode == 0
    poll = subprocess.Popen([sys.executable, "-m", "abuse_intake", "--config", str(conf), "poll", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    copies = []
    # The library in a tight loop (a CLI process takes longer to start than this poll to run) ...
    from abuse_intake.store.backup import backup
    from abuse_intake.store.db import open_db
    source = open_db(db)
    while poll.poll() is None:
        target = tmp_path / f"copy-{len(copies)}.db"
        result = backup(source, target)
        assert result.check == "ok"
        copies.append((target, result.messages))
        time.sleep(0.02)
    source.conn.close()
    assert poll.wait() == 0, poll.stderr.read()
    # ... and the command itself.
    result = cli_json(conf, "backup", str(tmp_path / "final.db"))
    assert result["check"] == "ok" and result["messages"] == 400
    copies.append((tmp_path / "final.db", 400))
    counts = [_consistent(path) for path, _ in copies]
    assert counts == [n for _, n in copies]
    mid = next(((p, n) for p, n in copies if 0 < n < 400), None)
    assert mid is not None, counts  # at least one copy was taken mid-run
    assert all(oct(p.stat().st_mode)[-3:] == "600" for p, _ in copies)

    _restore(mid[0], db)
    after = cli_json(conf, "poll")
    assert after["stored"] == 400 - mid[1]  # what the copy lacked is read again (flag mode keeps it in INBOX)
    assert _consistent(db) == 400  # nothing lost, nothing twice


def test_restore_with_move_rescans_the_done_folder(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path)
    dovecot.append_many(_reports(6))
    assert cli_json(conf, "poll", "--limit", "3")["stored"] == 3
    assert cli(conf, "backup", str(tmp_path / "b.db")).returncode == 0
    assert cli(conf, "backup", str(tmp_path / "b.db")).returncode == 73  # never overwritten silently
    assert cli_json(conf, "poll")["stored"] == 3
    _restore(tmp_path / "b.db", tmp_path / "abuse-intake.db")
    assert cli_json(conf, "poll")["fetched"] == 0  # the rest was moved to Processed already
    rescan = dovecot.config_toml(tmp_path, mailbox__url=dovecot.url.replace("/INBOX", "/Processed"),
                                 mailbox__done_action="none")
    again = cli_json(rescan, "poll")
    assert (again["fetched"], again["stored"]) == (6, 3)
    with sqlite3.connect(tmp_path / "abuse-intake.db") as c:
        assert c.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 6
        assert c.execute("SELECT COUNT(*) FROM reports").fetchone()[0] == 6
