"""`abuse-intake doctor` against a real Dovecot and a real aiosmtpd, through the real CLI."""

from __future__ import annotations

from helpers import cli
from support.dovecot import IMAP_PASSWORD_ENV, free_port


def _lines(proc) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        level, rest = line.split(None, 1)
        out.setdefault(rest.split(":", 1)[0], []).append(level)
    return out


def test_all_good_is_exit_0_and_nothing_is_touched(dovecot, smtp_server, tmp_path):
    conf = dovecot.config_toml(tmp_path, outgoing__url=smtp_server.url())
    assert cli(conf, "init").returncode == 0
    dovecot.append(b"Subject: x\r\n\r\nhello\r\n")
    proc = cli(conf, "doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = _lines(proc)
    for name in ("config", "permissions", "database", "disk", "templates", "mailbox", "outgoing", "enforcement"):
        assert seen.get(name) and set(seen[name]) == {"ok"}, (name, proc.stdout)
    assert "done folder 'Processed' exists" in proc.stdout and "quick_check ok, schema " in proc.stdout
    assert smtp_server.messages == [] and len(dovecot.uids("INBOX")) == 1  # nothing sent, nothing marked


def test_a_readable_password_file_is_a_warning(dovecot, smtp_server, tmp_path, monkeypatch):
    pw = tmp_path / "imap-password"
    pw.write_text(dovecot.password)
    pw.chmod(0o644)
    monkeypatch.delenv(IMAP_PASSWORD_ENV)
    conf = dovecot.config_toml(tmp_path, outgoing__url=smtp_server.url(), mailbox__password_env=None,
                               mailbox__password_file=str(pw))
    assert cli(conf, "init").returncode == 0
    proc = cli(conf, "doctor")
    assert proc.returncode == 1, proc.stdout
    assert f"WARN  permissions: mailbox.password_file: {pw} is world-readable (mode 0644)" in proc.stdout
    pw.chmod(0o600)
    assert cli(conf, "doctor").returncode == 0


def test_failures_are_exit_2_one_line_each(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path, outgoing__url=f"smtp://127.0.0.1:{free_port()}",
                               enforcement__command=[str(tmp_path / "no-such-tool")])
    proc = cli(conf, "doctor")
    assert proc.returncode == 2
    seen = _lines(proc)
    assert seen["database"] == ["FAIL"] and "abuse-intake init" in proc.stdout  # and none was created
    assert not (tmp_path / "abuse-intake.db").exists()
    assert seen["outgoing"] == ["FAIL"] and seen["enforcement"] == ["FAIL"]
    assert seen["mailbox"] == ["ok"]
    dovecot.stop()
    down = cli(conf, "doctor")
    assert _lines(down)["mailbox"] == ["FAIL"] and "connection refused" in down.stdout
    assert dovecot.password not in down.stdout + down.stderr
