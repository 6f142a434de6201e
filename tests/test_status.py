"""`abuse-intake status` (--json, --check, --prometheus) and `init`, through the real CLI."""

from __future__ import annotations

import json
import stat

from helpers import cli, email, make_maildir, write_config
from support.dovecot import free_port


def _reports(n: int) -> list[bytes]:
    return [email(sender=f"r{i}@gmail.com", body=f"akun @pelaku_{i:04d} open BO") for i in range(n)]


def _status(conf) -> dict:
    proc = cli(conf, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_status_before_and_after_a_poll_with_the_relay_down(tmp_path):
    make_maildir(tmp_path / "mailbox", _reports(2))
    conf = write_config(tmp_path, outgoing_url=f"smtp://127.0.0.1:{free_port()}")
    missing = cli(conf, "status", "--json")
    assert missing.returncode == 78 and "database.path" in missing.stderr
    assert not (tmp_path / "db.sqlite").exists()  # status never creates one

    init = cli(conf, "init")
    assert init.returncode == 0 and init.stdout.startswith("database created: ")
    fresh = _status(conf)
    assert fresh["last_poll_ok_at"] is None and fresh["outbox_pending"] == 0 and fresh["health"] == "critical"
    check = cli(conf, "status", "--check")
    assert check.returncode == 2 and check.stdout.startswith("ABUSE-INTAKE CRITICAL: no successful poll yet")

    assert cli(conf, "poll").returncode == 75  # intake done, both acks wait for the relay
    st = _status(conf)
    assert st["last_poll_ok_at"] is not None and st["last_poll_ok_age_seconds"] < 120
    assert st["outbox_pending"] == 2 and st["outbox_oldest_pending_age_seconds"] is not None
    assert st["open_cases"]["high"]["count"] == 2 and st["quarantined"] == 0
    assert st["health"] == "ok" and cli(conf, "status", "--check").returncode == 0

    warn = write_config(tmp_path, outgoing_url=f"smtp://127.0.0.1:{free_port()}",
                        replace={"outbox_pending_warn = 100": "outbox_pending_warn = 2"})
    w = cli(warn, "status", "--check")
    assert w.returncode == 1 and w.stdout.strip() == "ABUSE-INTAKE WARNING: 2 emails pending"
    crit = write_config(tmp_path, outgoing_url=f"smtp://127.0.0.1:{free_port()}",
                        replace={"last_poll_warn_minutes = 15": "last_poll_warn_minutes = 0",
                                 "last_poll_crit_minutes = 60": "last_poll_crit_minutes = 0"})
    assert cli(crit, "status", "--check").returncode == 2


def test_prometheus_textfile(tmp_path):
    make_maildir(tmp_path / "mailbox", _reports(3))
    conf = write_config(tmp_path)
    assert cli(conf, "poll").returncode == 0
    out = tmp_path / "abuse_intake.prom"
    proc = cli(conf, "status", "--prometheus", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    text = out.read_text()
    assert 'abuse_intake_outbox_emails{status="sent"} 3' in text
    assert 'abuse_intake_open_cases{severity="high"} 3' in text
    assert "abuse_intake_health 0" in text
    assert "# TYPE abuse_intake_last_poll_ok_timestamp_seconds gauge" in text
    for line in text.splitlines():  # every sample line is `name{labels} number`
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert cli(conf, "status", "--prometheus").stdout == text
