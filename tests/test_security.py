"""Security (issue 5, guarantee 4): an owner-only store, secrets never shown,
no shell ever given email content, and reporters kept apart from each other
and from the reported account."""

from __future__ import annotations

import ast
import json
import os
import stat
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from crash_harness import rows
from helpers import REPO, cli, cli_json, email, make_maildir, write_config
from support.dovecot import IMAP_PASSWORD_ENV

SRC = REPO / "src" / "abuse_intake"


def _cli_umask0(config: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI with umask 0: only the program's own modes protect its files."""
    return subprocess.run([sys.executable, "-m", "abuse_intake", "--config", str(config), *args],
                          capture_output=True, text=True, umask=0, timeout=120)


def _loose(root: Path) -> list[str]:
    """Files and directories under root that group or others can use."""
    out = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            out.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return out


# -- owner-only store ----------------------------------------------------------------

def test_the_store_and_everything_in_it_are_owner_only(tmp_path):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    with_attachment = (
        "From: Ana <ana@gmail.com>\r\nTo: support@obrolan.example\r\nSubject: bukti\r\nMIME-Version: 1.0\r\n"
        "Message-ID: <sec-1@example.test>\r\nContent-Type: multipart/mixed; boundary=S\r\n\r\n--S\r\n"
        "Content-Type: text/plain\r\n\r\nakun @dewi_manja88 open BO\r\n--S\r\nContent-Type: image/png\r\n"
        f"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=bukti.png\r\n\r\n{png}\r\n--S--\r\n"
    ).encode()
    make_maildir(tmp_path / "mailbox", [with_attachment, email(sender="budi@gmail.com")])
    store = tmp_path / "store"  # does not exist yet: created by the run
    conf = write_config(tmp_path, replace={
        f'path = "{tmp_path}/db.sqlite"': f'path = "{store}/abuse-intake.db"',
        f'url = "dir:{tmp_path}/sent"': f'url = "dir:{store}/sent"'})
    proc = _cli_umask0(conf, "poll")
    assert proc.returncode == 0, proc.stderr
    # A reader keeps the database open while a second run writes: -wal and -shm exist then.
    make_maildir(tmp_path / "mailbox", [email(sender="citra@gmail.com")])
    import sqlite3
    reader = sqlite3.connect(str(store / "abuse-intake.db"))
    try:
        reader.execute("SELECT COUNT(*) FROM messages").fetchone()
        assert _cli_umask0(conf, "poll").returncode == 0
        names = {p.name for p in store.iterdir()}
        assert {"abuse-intake.db", "abuse-intake.db-wal", "abuse-intake.db-shm", "abuse-intake.db.lock",
                "sent"} <= names, names
        assert reader.execute("SELECT COUNT(*) FROM attachment_contents").fetchone()[0] == 1
        assert list((store / "sent").glob("*.eml")), "replies were written"
        assert _loose(store) == []
    finally:
        reader.close()


# -- secrets -------------------------------------------------------------------------

def _everything_written(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_config_show_masks_passwords(tmp_path, monkeypatch):
    monkeypatch.setenv("SEC_IMAP_PW", "imap-SECRET-7f3a")
    (tmp_path / "smtp-pw").write_text("smtp-SECRET-91c2\n")
    conf = write_config(tmp_path, mailbox_url="imaps://support%40obrolan.example@mail.example:993/INBOX",
                        outgoing_url="smtp+starttls://relay@mail.example:587",
                        replace={'password_env = "ABUSE_INTAKE_IMAP_PASSWORD"': 'password_env = "SEC_IMAP_PW"',
                                 '# password_file = "/etc/abuse-intake/smtp-password"':
                                 f'password_file = "{tmp_path}/smtp-pw"'})
    proc = cli(conf, "config", "show")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert "SECRET" not in proc.stdout + proc.stderr
    assert shown["mailbox"]["password_env"] == "SEC_IMAP_PW"  # where it comes from is shown, not what it is
    assert "SECRET" not in cli(conf, "-vv", "config", "check").stdout


def test_password_inside_a_url_is_refused_without_echoing_it(tmp_path):
    conf = write_config(tmp_path, mailbox_url="imap://support:hunter2-SECRET@127.0.0.1:1/INBOX")
    for args in (("config", "show"), ("poll",), ("-vv", "poll")):
        proc = cli(conf, *args)
        assert proc.returncode == 78
        assert "hunter2" not in proc.stdout + proc.stderr
        assert "mailbox.url" in proc.stderr


def test_imap_password_never_in_output_errors_or_the_store(dovecot, tmp_path, monkeypatch):
    conf = dovecot.config_toml(tmp_path)
    dovecot.append_many([email(sender="ana@gmail.com")])
    wrong = "wrong-SECRET-" + dovecot.password[-6:]
    refused = cli(conf, "-vv", "poll", env={IMAP_PASSWORD_ENV: wrong})
    assert refused.returncode == 78 and "login" in refused.stderr  # refused: configuration (issue 15)
    ok = cli(conf, "-vv", "poll", "--json")
    assert ok.returncode == 0, ok.stderr
    for proc in (refused, ok):
        for secret in (wrong, dovecot.password):
            assert secret not in proc.stdout + proc.stderr
    on_disk = _everything_written(tmp_path)
    assert wrong.encode() not in on_disk and dovecot.password.encode() not in on_disk
    errors = [r["error"] for r in rows(tmp_path / "abuse-intake.db", "SELECT error FROM poll_runs")]
    assert any(errors), "the failed run's error is recorded, without the password"


def test_smtp_password_never_in_errors(tmp_path, smtp_starttls_server, trust_test_cert, monkeypatch):
    monkeypatch.setenv("SEC_SMTP_PW", "smtp-SECRET-wrong")
    make_maildir(tmp_path / "mailbox", [email(sender="ana@gmail.com")])
    conf = write_config(tmp_path, outgoing_url=smtp_starttls_server.url("smtp+starttls", user="relay-user"),
                        replace={'# password_env = "ABUSE_INTAKE_SMTP_PASSWORD"': 'password_env = "SEC_SMTP_PW"'})
    for args in (("poll",), ("-vv", "send")):
        proc = cli(conf, *args)
        assert proc.returncode == 78, proc.stderr  # a refused login is a configuration problem
        assert "refused" in proc.stderr and "SECRET" not in proc.stdout + proc.stderr
    assert b"smtp-SECRET-wrong" not in _everything_written(tmp_path)


# -- no shell ------------------------------------------------------------------------

def _shell_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput") or \
                name.startswith("os.exec") or name.startswith("os.spawn"):
            found.append(f"{name} at line {node.lineno}")
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                found.append(f"{name}(shell=...) at line {node.lineno}")
        if name.startswith("subprocess.") and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr)):
            found.append(f"{name} with a command string at line {node.lineno}")
    return found


def test_no_code_path_hands_a_shell_anything():
    offenders = {}
    for path in SRC.rglob("*.py"):
        calls = _shell_calls(ast.parse(path.read_text(encoding="utf-8")))
        if calls:
            offenders[str(path.relative_to(REPO))] = calls
    assert offenders == {}


RECORDER = """\
import json, sys
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"argv": sys.argv[1:], "stdin": sys.stdin.read()}) + "\\n")
"""


def _reporters_case(tmp_path: Path, smtp_url: str, enforcement: list[str] | None = None) -> Path:
    payload = "$(touch {c}) `touch {c}`; touch {c} | touch {c} && touch {c}".format(c=tmp_path / "SHELL-RAN")
    a = email(sender="ana.pelapor@gmail.com", name="Ana Rahasia", subject=f"Laporan {payload}",
              body=f"akun @dewi_manja88 open BO. kata-sandi-ANA-77 {payload}")
    b = email(sender="budi.pelapor@yahoo.com", name="Budi Rahasia", subject="Lapor juga",
              body="Saya juga melaporkan @dewi_manja88, tarif 300rb. kata-sandi-BUDI-88")
    make_maildir(tmp_path / "mailbox", [a, b])
    replace = {}
    if enforcement:
        replace["command = []"] = "command = " + json.dumps(enforcement)
    return write_config(tmp_path, outgoing_url=smtp_url, replace=replace)


def test_email_content_never_reaches_a_shell_or_the_enforcement_arguments(tmp_path, smtp_server):
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    record = tmp_path / "enforcement.jsonl"
    command = [sys.executable, str(script), str(record)]
    conf = _reporters_case(tmp_path, smtp_server.url(), command)
    assert cli_json(conf, "poll")["cases_opened"] == 1
    [case] = cli_json(conf, "cases", "list")
    note = f"$(touch {tmp_path / 'SHELL-RAN'})"
    decided = cli(conf, "decide", case["ref"], "--violation", "prostitution", "--by", "rina", "--note", note)
    assert decided.returncode == 0, decided.stderr
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 1 and calls[0]["argv"] == [str(record)]  # exactly the configured arguments
    statement = json.loads(calls[0]["stdin"])
    assert statement["account_id"] == "dewi_manja88"
    assert not (tmp_path / "SHELL-RAN").exists()


def _texts(raw: bytes) -> str:
    """Headers and every decoded text part of an email, as one string."""
    msg = message_from_bytes(raw, policy=policy.default)
    out = [f"{k}: {v}" for k, v in msg.items()]
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            out.append(part.get_content())
    return "\n".join(out)


def test_a_reporter_never_learns_of_another_and_the_account_never_learns_of_them(tmp_path, smtp_server):
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    record = tmp_path / "enforcement.jsonl"
    conf = _reporters_case(tmp_path, smtp_server.url(), [sys.executable, str(script), str(record)])
    assert cli_json(conf, "poll")["emails_sent"] == 2
    [case] = cli_json(conf, "cases", "list")
    assert case["reporters"] == 2
    assert cli(conf, "decide", case["ref"], "--violation", "prostitution", "--by", "rina").returncode == 0
    assert cli(conf, "send").returncode == 0
    who = {
        "ana.pelapor@gmail.com": ("ana.pelapor", "Ana Rahasia", "kata-sandi-ANA-77"),
        "budi.pelapor@yahoo.com": ("budi.pelapor", "Budi Rahasia", "kata-sandi-BUDI-88"),
    }
    got = smtp_server.messages
    assert len(got) == 4  # an ack and an outcome each
    for m in got:
        assert len(m.rcpt_tos) == 1 and m.rcpt_tos[0] in who
        text = _texts(m.raw)
        for other, marks in who.items():
            if other != m.rcpt_tos[0]:
                leaked = [x for x in marks if x.lower() in text.lower()]
                assert leaked == [], f"email to {m.rcpt_tos[0]} names {leaked}"
    # What goes to the platform about the account: counts, never who or what they wrote.
    exported = cli(conf, "sanctions", "export")
    assert exported.returncode == 0, exported.stderr
    to_platform = (record.read_text() + exported.stdout).lower()
    assert "dewi_manja88" in to_platform
    for marks in who.values():
        assert [x for x in marks if x.lower() in to_platform] == []
