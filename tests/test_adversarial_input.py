"""Adversarial inputs (issue 15, the input side): numbers that overflow, terminal
escapes from mail, hostile extensions and symlinks in export folders, a store in
a shared folder, secrets, corrupt databases, too many accounts in one report,
oversize messages and headers. Real CLI subprocesses, real SQLite files, a real
Dovecot and a real aiosmtpd where a server is involved."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from crash_harness import rows
from helpers import cli, cli_json, email, make_maildir, write_config
from support.dovecot import IMAP_PASSWORD_ENV

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    # The first run on a new store also says so on stderr (issue 13: a mistyped
    # database path must be noticed); that notice is not part of the error.
    lines = [line for line in proc.stderr.strip().splitlines()
             if not line.startswith("abuse-intake: created a new database at ")]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _with_parts(parts: list[tuple[str, bytes, str]], sender: str = "ana@gmail.com", subject: str = "bukti",
                body: str = "akun @dewi_manja88 open BO") -> bytes:
    """A report with attachments: (content type header value, payload, file name)."""
    out = [f"From: Ana <{sender}>\r\nTo: support@obrolan.example\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
           f"Message-ID: <{os.urandom(6).hex()}@example.test>\r\nContent-Type: multipart/mixed; boundary=S\r\n\r\n"
           f"--S\r\nContent-Type: text/plain\r\n\r\n{body}\r\n".encode()]
    for ctype, payload, name in parts:
        out.append(f"--S\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n"
                   f"Content-Disposition: attachment; filename={name}\r\n\r\n".encode()
                   + base64.encodebytes(payload).replace(b"\n", b"\r\n") + b"\r\n")
    out.append(b"--S--\r\n")
    return b"".join(out)


def _polled(tmp_path: Path, mails: list[bytes], extra: str = "", **replace) -> Path:
    make_maildir(tmp_path / "mailbox", mails)
    conf = write_config(tmp_path, extra=extra, replace=replace or None)
    proc = cli(conf, "poll")
    assert proc.returncode == 0, proc.stderr
    return conf


# -- 11. numbers: finite and in range --------------------------------------------------

@pytest.mark.parametrize("key, value", [
    ("busy_timeout", "inf"), ("busy_timeout", "nan"), ("busy_timeout", "1e308"), ("busy_timeout", "-inf"),
    ("resend_window_hours", "inf"), ("resend_window_hours", "nan"), ("resend_window_hours", "1e308"),
    ("timeout", "inf"),
])
def test_non_finite_or_huge_numbers_are_one_line_config_errors(tmp_path, key, value):
    text = (Path(__file__).resolve().parent.parent / "config.example.toml").read_text()
    line = next(l for l in text.splitlines() if l.startswith(f"{key} ="))
    conf = write_config(tmp_path, replace={line: f"{key} = {value}"})
    make_maildir(tmp_path / "mailbox", [email()])
    for args in (("config", "check"), ("poll",)):
        proc = cli(conf, *args)
        assert proc.returncode == 78, (args, proc.stderr)
        assert key in _one_line_error(proc)


def test_a_row_id_beyond_sqlite_integers_is_not_found_in_one_line(tmp_path):
    conf = _polled(tmp_path, [email()])
    for args in (("messages", "raw", "99999999999999999999"), ("quarantine", "replay", "99999999999999999999"),
                 ("sanctions", "revoke", "99999999999999999999", "--by", "rina", "--note", "x"),
                 ("messages", "list", "--after", "99999999999999999999"),
                 ("outbox", "list", "--after", "99999999999999999999")):
        proc = cli(conf, *args)
        assert proc.returncode == 65, (args, proc.stderr)
        assert "99999999999999999999" in _one_line_error(proc)


def test_sanctions_export_since_before_the_calendar_means_everything(tmp_path):
    conf = _polled(tmp_path, [email()])
    proc = cli(conf, "sanctions", "export", "--since", "99999999d")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


# -- 12. terminal escapes never reach the terminal ----------------------------------------

ESCAPES = ("\x1b", "\x07", "\x9b", "\x08", "\u202e")


def test_terminal_escapes_from_mail_are_stripped_from_every_printed_value(tmp_path):
    evil_type = "image/x\x1b]0;pwned\x07\x1b[2J; name=a.png"
    mail = _with_parts([(evil_type, b"x" * 10, "a\x1b[31m.png")], sender="ana@gmail.com",
                       subject="=?utf-8?q?bukti=1B=5B31m_merah=C2=9B2J?=")
    mail = mail.replace(b"From: Ana", "From: =?utf-8?q?Ana=1B]0;x=07?=".encode())
    conf = _polled(tmp_path, [mail])
    ref = cli_json(conf, "cases", "list")[0]["ref"]
    for args in (("cases", "show", ref), ("cases", "list"), ("messages", "list"), ("outbox", "list"),
                 ("cases", "evidence", ref, "--dir", str(tmp_path / "ev"))):
        proc = cli(conf, *args)
        assert proc.returncode == 0, proc.stderr
        for ch in ESCAPES:
            assert ch not in proc.stdout and ch not in proc.stderr, (args, repr(ch))
    # JSON stays exact: the same value once parsed, with every control character escaped.
    proc = cli(conf, "cases", "show", ref, "--json")
    assert not any(ch in proc.stdout for ch in ESCAPES)
    shown = json.loads(proc.stdout)
    assert shown["reports"][0]["attachments"][0]["content_type"] == "image/x\x1b]0"


# -- 13. evidence extensions from an allow-list ---------------------------------------

def test_evidence_extensions_come_from_a_safe_allow_list(tmp_path):
    parts = [("image/png", base64.b64decode(PNG), "a.png"), ("image/jpeg", b"\xff\xd8jpeg", "b.jpg"),
             ("application/pdf", b"%PDF-1.4", "c.pdf"), ("text/plain", b"plain", "d.txt"),
             ("text/html", b"<script>1</script>", "e.html"), ("application/javascript", b"alert(1)", "f.js"),
             ("application/hta", b"<hta>", "g.hta"), ("image/svg+xml", b"<svg onload=x>", "h.svg"),
             ("application/x-msdownload", b"MZ", "i.exe"), ("application/x-sh", b"#!/bin/sh", "j.sh")]
    conf = _polled(tmp_path, [_with_parts(parts)])
    ref = cli_json(conf, "cases", "list")[0]["ref"]
    files = cli_json(conf, "cases", "evidence", ref, "--dir", str(tmp_path / "ev"))
    by_type = {f["content_type"]: Path(f["path"]).suffix for f in files if f["kind"] == "attachment"}
    assert by_type == {"image/png": ".png", "image/jpeg": ".jpg", "application/pdf": ".pdf",
                       "text/plain": ".txt", "text/html": ".bin", "application/javascript": ".bin",
                       "application/hta": ".bin", "image/svg+xml": ".bin",
                       "application/x-msdownload": ".bin", "application/x-sh": ".bin"}


# -- 7. exports never write through a planted name -----------------------------------

def test_exports_write_through_no_planted_symlink_and_leave_no_temp_files(tmp_path):
    conf = _polled(tmp_path, [_with_parts([("image/png", base64.b64decode(PNG), "a.png")])])
    ref = cli_json(conf, "cases", "list")[0]["ref"]
    victim = tmp_path / "victim"
    victim.write_text("precious")
    folder = tmp_path / "ev"
    folder.mkdir()
    # Every name the old code would have used as its temporary file, for the next few pids.
    eml = f"{ref}-report1-message1.eml"
    out = tmp_path / "out.eml"
    for pid in range(os.getpid(), os.getpid() + 3000):
        for target in (folder / f".{eml}.{pid}.tmp", tmp_path / f".out.eml.{pid}.tmp"):
            target.symlink_to(victim)
    files = cli_json(conf, "cases", "evidence", ref, "--dir", str(folder))
    assert victim.read_text() == "precious"
    assert (folder / eml).read_bytes().startswith(b"From: Ana")
    assert stat.S_IMODE((folder / eml).stat().st_mode) == 0o600 and not (folder / eml).is_symlink()
    assert {Path(f["path"]).name for f in files} <= {p.name for p in folder.iterdir()}
    proc = cli(conf, "messages", "raw", "1", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious" and out.read_bytes().startswith(b"From: Ana")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    leftovers = [p.name for p in [*folder.iterdir(), *tmp_path.iterdir()]
                 if p.name.endswith(".tmp") and not p.is_symlink()]
    assert leftovers == []


def test_an_export_onto_a_symlink_replaces_the_link_not_its_target(tmp_path):
    conf = _polled(tmp_path, [email()])
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out.eml"
    out.symlink_to(victim)
    proc = cli(conf, "messages", "raw", "1", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious" and not out.is_symlink()


# -- 6. a store in a shared folder ------------------------------------------------------

NOBODY = 65534


def _store_conf(tmp_path: Path) -> tuple[Path, Path]:
    make_maildir(tmp_path / "mailbox", [email()])
    store = tmp_path / "store"
    store.mkdir(mode=0o700)
    conf = write_config(tmp_path, replace={f'path = "{tmp_path}/db.sqlite"': f'path = "{store}/abuse-intake.db"'})
    return conf, store


@pytest.mark.parametrize("planted", ["abuse-intake.db.lock", "abuse-intake.db", "abuse-intake.db-wal"])
def test_a_planted_symlink_in_the_store_is_refused_and_never_followed(tmp_path, planted):
    conf, store = _store_conf(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (store / planted).symlink_to(victim)
    proc = cli(conf, "poll")
    assert proc.returncode in (74, 78), proc.stderr
    assert planted.split("-")[-1].split(".")[-1] in _one_line_error(proc) or "symlink" in proc.stderr
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("planted", ["abuse-intake.db", "abuse-intake.db.lock"])
@pytest.mark.parametrize("how", ["world-writable", "group-writable", "another-owner"])
def test_a_store_or_lock_others_can_write_is_refused(tmp_path, planted, how):
    conf, store = _store_conf(tmp_path)
    path = store / planted
    path.touch()
    if how == "world-writable":
        path.chmod(0o666)
    elif how == "group-writable":
        path.chmod(0o620)
    else:
        path.chmod(0o600)
        os.chown(path, NOBODY, NOBODY)
    proc = cli(conf, "poll")
    assert proc.returncode in (74, 78), proc.stderr
    line = _one_line_error(proc)
    assert planted in line and ("owned by" in line or "writable" in line)
    assert rows_or_none(store / "abuse-intake.db") in (None, 0)


def rows_or_none(db: Path) -> int | None:
    """Messages stored in db (None: no usable database was made)."""
    if not db.exists() or db.stat().st_size == 0:
        return None
    return len(rows(db, "SELECT id FROM messages"))


def test_a_group_or_world_writable_store_folder_is_warned_about(tmp_path):
    conf, store = _store_conf(tmp_path)
    store.chmod(0o777)
    proc = cli(conf, "poll")
    assert proc.returncode == 0, proc.stderr
    assert "writable by group or others" in proc.stderr and str(store) in proc.stderr
    proc = cli(conf, "cases", "list")
    assert proc.returncode == 0 and "writable by group or others" in proc.stderr


# -- 9. a corrupt database -----------------------------------------------------------

def _corrupt(db: Path) -> None:
    """Keep the header, overwrite the pages after it: 'database disk image is malformed'."""
    data = bytearray(db.read_bytes())
    for i in range(4096 * 2, len(data), 4096):
        data[i:i + 4096] = os.urandom(min(4096, len(data) - i))
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["garbage", "malformed"])
def test_a_corrupt_database_is_exit_74_in_one_line(tmp_path, damage):
    conf = _polled(tmp_path, [email(body=f"akun @dewi_manja{i} open BO") for i in range(30)])
    db = tmp_path / "db.sqlite"
    assert cli(conf, "cases", "list").returncode == 0
    for side in ("-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)
    if damage == "garbage":
        db.write_bytes(os.urandom(64 * 1024))
    else:
        _corrupt(db)
    make_maildir(tmp_path / "mailbox", [email(sender="late@gmail.com")])
    for args in (("poll",), ("cases", "list"), ("messages", "list"), ("cases", "show", "OB-000001")):
        proc = cli(conf, *args)
        assert proc.returncode == 74, (args, proc.stderr)
        assert "database" in _one_line_error(proc)


def test_serve_smtp_answers_451_on_a_corrupt_database(tmp_path):
    import smtplib

    from abuse_intake import config
    from abuse_intake.flow.smtp_listener import SmtpIntake
    from support.dovecot import free_port

    settings = config.load(write_config(tmp_path))
    settings.database_path.write_bytes(os.urandom(64 * 1024))
    port = free_port()
    server = SmtpIntake(settings, "127.0.0.1", port)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            with pytest.raises(smtplib.SMTPDataError) as err:
                client.sendmail("rudi.h@gmail.com", ["support@obrolan.example"], email())
    finally:
        server.stop()
    assert err.value.smtp_code == 451


# -- 10. secrets ---------------------------------------------------------------------

def test_a_password_file_others_can_read_is_warned_about(dovecot, tmp_path):
    secret = tmp_path / "imap-password"
    secret.write_text(dovecot.password + "\n")
    secret.chmod(0o644)
    conf = dovecot.config_toml(tmp_path, mailbox__password_env=None, mailbox__password_file=str(secret))
    dovecot.append(email())
    for args in (("config", "check"), ("poll",)):
        proc = cli(conf, *args)
        assert proc.returncode == 0, proc.stderr
        assert "readable by group or others" in proc.stderr and str(secret) in proc.stderr
    secret.chmod(0o600)
    proc = cli(conf, "config", "check")
    assert proc.returncode == 0 and proc.stderr == ""


@pytest.mark.parametrize("section", ["mailbox", "outgoing"])
def test_config_check_fails_when_a_password_file_is_missing(tmp_path, section):
    missing = tmp_path / "nowhere" / "password"
    conf = write_config(tmp_path, extra="")
    text = conf.read_text()
    anchor = "[mailbox]\n" if section == "mailbox" else "[outgoing]\n"
    conf.write_text(text.replace(anchor, f'{anchor}password_file = "{missing}"\n', 1))
    proc = cli(conf, "config", "check")
    assert proc.returncode == 78, proc.stderr
    assert f"{section}.password_file" in _one_line_error(proc) and str(missing) in proc.stderr


def test_the_enforcement_command_inherits_no_password_variables(tmp_path):
    script = tmp_path / "enforce.py"
    seen = tmp_path / "env.json"
    script.write_text(f"import json, os, sys\nsys.stdin.read()\nopen({str(seen)!r}, 'w').write(json.dumps(dict(os.environ)))\n")
    conf = _polled(tmp_path, [email()])
    text = conf.read_text().replace("command = []", f"command = ['{sys.executable}', '{script}']")
    text = text.replace("[outgoing]\n", '[outgoing]\npassword_env = "MY_SMTP_SECRET"\n', 1)
    conf.write_text(text)
    env = {"ABUSE_INTAKE_IMAP_PASSWORD": "imap-s3cret", "MY_SMTP_SECRET": "smtp-s3cret", "KEEP_ME": "1"}
    ref = cli_json(conf, "cases", "list")[0]["ref"]
    proc = cli(conf, "decide", ref, "--violation", "prostitution", "--by", "rina", env=env)
    assert proc.returncode == 0, proc.stderr
    child = json.loads(seen.read_text())
    assert child.get("KEEP_ME") == "1"
    assert "ABUSE_INTAKE_IMAP_PASSWORD" not in child and "MY_SMTP_SECRET" not in child
    assert "imap-s3cret" not in seen.read_text() and "smtp-s3cret" not in seen.read_text()


def test_a_rejected_imap_login_is_a_configuration_error(dovecot, tmp_path):
    conf = dovecot.config_toml(tmp_path)
    assert cli(conf, "init").returncode == 0  # the database exists, so stderr holds only the error
    dovecot.append(email())
    proc = cli(conf, "poll", env={IMAP_PASSWORD_ENV: "Wr0ng-pa55"})
    assert proc.returncode == 78, proc.stderr
    assert "login" in _one_line_error(proc) and "Wr0ng-pa55" not in proc.stderr
    assert len(dovecot.uids("INBOX")) == 1


# -- 2. a report naming too many accounts ---------------------------------------------

def _handles_mail(n: int, sender: str = "forged.victim@gmail.com") -> bytes:
    body = "Tolong blokir akun-akun ini, semua open BO:\n" + "\n".join(f"@pelaku_{i:06d}" for i in range(n))
    return email(sender=sender, subject="laporan massal", body=body)


def _peak_rss_mb(conf: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI in a fresh parent so RUSAGE_CHILDREN is this run's alone."""
    probe = ("import resource, subprocess, sys, json\n"
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "print(json.dumps([p.returncode, p.stdout, p.stderr, "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))\n")
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "abuse_intake", "--config", str(conf),
                          *args], capture_output=True, text=True, timeout=600)
    code, stdout, stderr, mb = json.loads(out.stdout)
    return subprocess.CompletedProcess(args, code, stdout, stderr), mb


def test_a_report_naming_too_many_accounts_opens_one_flagged_case(tmp_path):
    conf = _polled(tmp_path, [_handles_mail(500), email(sender="ok@gmail.com",
                                                         body="akun @satu_dua dan @tiga_empat open BO")])
    listed = cli_json(conf, "cases", "list", "--status", "all")
    flagged = [c for c in listed if c["flag"] == "too_many_accounts"]
    assert len(listed) == 3 and len(flagged) == 1, listed
    [case] = flagged
    assert case["status"] == "needs_info" and case["account_id"] is None
    shown = cli_json(conf, "cases", "show", case["ref"])
    detail = shown["flag_detail"]
    assert detail["limit"] == 10 and detail["truncated"] is True
    assert detail["accounts"][:3] == ["pelaku_000000", "pelaku_000001", "pelaku_000002"]
    assert 10 < len(detail["accounts"]) <= 100
    text = cli(conf, "cases", "show", case["ref"]).stdout
    assert "too many accounts" in text and "pelaku_000042" in text
    assert "too_many_accounts" in cli(conf, "cases", "list", "--status", "all").stdout
    # One email to the (maybe forged) sender, naming one case, small.
    sent = rows(tmp_path / "db.sqlite", "SELECT recipient, case_refs, length(body_text) AS n FROM outbox "
                                         "WHERE recipient = 'forged.victim@gmail.com'")
    assert len(sent) == 1 and json.loads(sent[0]["case_refs"]) == [case["ref"]], sent
    # The limit itself is fine: ten accounts open ten cases.
    ten = _handles_mail(10, sender="ten@gmail.com")
    make_maildir(tmp_path / "mailbox", [ten])
    assert cli_json(conf, "poll")["cases_opened"] == 10


def test_a_20_mb_message_of_handles_costs_bounded_memory_and_opens_one_case(tmp_path):
    big = _handles_mail(1_400_000)
    assert 19 * 2**20 < len(big) < 25 * 2**20
    make_maildir(tmp_path / "mailbox", [big])
    conf = write_config(tmp_path)
    proc, peak_mb = _peak_rss_mb(conf, "poll", "--json")
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    assert counts["cases_opened"] == 1 and counts["reports"] == 1
    [case] = cli_json(conf, "cases", "list", "--status", "all")
    assert case["flag"] == "too_many_accounts"
    assert len(cli_json(conf, "cases", "show", case["ref"])["flag_detail"]["accounts"]) <= 100
    # The message itself is ~20 MB and is kept whole: a few copies, not hundreds of MB.
    print(f"peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 400, peak_mb


# -- 8. sizes enforced before the work ---------------------------------------------------

def test_a_10_mb_subject_is_cut_before_decoding_and_never_stored_whole(tmp_path):
    subject = "=?utf-8?q?Laporan_akun_=40dewi=5Fmanja88_?= " * 250_000 + "Laporan " * 300_000
    mail = email(sender="big.subject@gmail.com", subject=subject, body="akun @dewi_manja88 open BO")
    assert len(mail) > 10 * 2**20
    make_maildir(tmp_path / "mailbox", [mail])
    conf = write_config(tmp_path)
    proc, peak_mb = _peak_rss_mb(conf, "poll", "--json")
    assert proc.returncode == 0, proc.stderr
    [row] = rows(tmp_path / "db.sqlite", "SELECT id, kind, subject, defects, size FROM messages")
    assert row["kind"] == "report" and row["size"] == len(mail)
    assert 0 < len(row["subject"]) <= 1000 and row["subject"].startswith("Laporan akun @dewi_manja88")
    assert "cut" in row["defects"]
    assert [c["account_id"] for c in cli_json(conf, "cases", "list")] == ["dewi_manja88"]
    raw = subprocess.run([sys.executable, "-m", "abuse_intake", "--config", str(conf), "messages", "raw",
                          str(row["id"])], capture_output=True, timeout=120).stdout
    assert raw == mail  # the raw message itself is kept exactly
    [out] = rows(tmp_path / "db.sqlite", "SELECT length(subject) + length(body_text) AS n FROM outbox")
    assert out["n"] < 20_000
    assert peak_mb < 300, peak_mb


def test_serve_smtp_answers_others_while_one_message_is_being_processed(tmp_path, monkeypatch):
    """A message that takes long to process (staged: its preparation waits for the test)
    must not hold up the next sender's message."""
    import smtplib
    import threading

    from abuse_intake import config
    from abuse_intake.flow import process as pipeline
    from abuse_intake.flow.smtp_listener import SmtpIntake
    from support.dovecot import free_port

    release, started = threading.Event(), threading.Event()
    real_prepare = pipeline.prepare

    def slow_prepare(data, settings):
        if b"SLOW-ONE" in data:
            started.set()
            release.wait(60)
        return real_prepare(data, settings)

    monkeypatch.setattr(pipeline, "prepare", slow_prepare)
    settings = config.load(write_config(tmp_path))
    port = free_port()
    server = SmtpIntake(settings, "127.0.0.1", port)
    server.start()
    answers: dict[str, object] = {}

    def send(name: str, data: bytes) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail(f"{name}@gmail.com", ["support@obrolan.example"], data)
            answers[name] = 250
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            answers[name] = exc

    slow = threading.Thread(target=send, args=("slow", email(sender="slow@gmail.com", body="SLOW-ONE @dewi_manja88 open BO")))
    try:
        slow.start()
        assert started.wait(30), "the slow message never reached processing"
        send("quick", email(sender="quick@gmail.com", body="akun @sari.bo_jkt open BO"))
        assert answers.get("quick") == 250, answers
        assert "slow" not in answers  # still being processed when the other was stored
        db = sqlite_rows(settings.database_path, "SELECT reporter FROM messages")
        assert db == [{"reporter": "quick@gmail.com"}]
    finally:
        release.set()
        slow.join(60)
        server.stop()
    assert answers["slow"] == 250, answers
    assert sorted(r["reporter"] for r in sqlite_rows(settings.database_path, "SELECT reporter FROM messages")) == \
        ["quick@gmail.com", "slow@gmail.com"]


def sqlite_rows(db: Path, sql: str) -> list[dict]:
    return rows(db, sql)


def _sized(i: int, body_bytes: int) -> bytes:
    line = "akun @dewi_manja88 open BO, ini buktinya. " * 2 + "\r\n"
    body = (f"BODY-START-{i}\r\n" + line * (body_bytes // len(line) + 1))[:body_bytes]
    return (f"From: Besar {i} <besar{i}@example.net>\r\nTo: support@obrolan.example\r\n"
            f"Subject: laporan {i}\r\nMessage-ID: <big{i}@example.net>\r\nDate: Mon, 03 Jun 2024 10:00:00 +0700\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def test_imap_messages_over_the_size_limit_are_never_fetched_whole(dovecot, tmp_path):
    small, big = _sized(1, 2_000), _sized(2, 400_000)
    dovecot.append_many([small, big, _sized(3, 3_000)])
    conf = dovecot.config_toml(tmp_path, limits__max_message_bytes=100_000)
    counts = cli_json(conf, "poll")
    assert (counts["fetched"], counts["quarantined"], counts["reports"]) == (3, 1, 2)
    [q] = cli_json(conf, "quarantine", "list")
    assert "400" in q["reason"] and "max_message_bytes" in q["reason"] and "headers" in q["reason"]
    stored = subprocess.run([sys.executable, "-m", "abuse_intake", "--config", str(conf), "messages", "raw",
                             str(q["id"])], capture_output=True, timeout=60).stdout
    assert b"Message-ID: <big2@example.net>" in stored and b"BODY-START-2" not in stored
    assert len(stored) < 2_000
    # Nothing is lost: the whole message is in the done folder on the server.
    assert any(b == big for b in dovecot.fetch_bodies("Processed").values())
    # It cannot be replayed from its headers alone.
    proc = cli(conf, "quarantine", "replay", str(q["id"]))
    assert proc.returncode == 65 and "headers" in _one_line_error(proc)


# -- 5 (IMAP side). a total deadline, not only a per-read timeout ---------------------------

class _TricklingServer:
    """An IMAP 'server' that never finishes its greeting: one byte every 0.2 s, so no
    single read ever times out. A real Dovecot cannot be made to do this."""

    def __init__(self):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn) -> None:
        import time
        try:
            for ch in iter(lambda: b"* OK hello, this greeting never ends " * 4, None):
                for i in range(len(ch)):
                    if self.stop.is_set():
                        return
                    conn.sendall(ch[i:i + 1])
                    time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def test_an_imap_server_that_trickles_is_cut_off_at_the_total_deadline(tmp_path):
    server = _TricklingServer()
    try:
        conf = write_config(tmp_path, mailbox_url=f"imap://u@127.0.0.1:{server.port}/INBOX", replace={
            "timeout = 30": "timeout = 1", "deadline = 900": "deadline = 3"})
        assert cli(conf, "init").returncode == 0  # the database exists, so stderr holds only the error
        proc = cli(conf, "poll", timeout=60, env={"ABUSE_INTAKE_IMAP_PASSWORD": "never-sent-pw"})
    finally:
        server.close()
    assert proc.returncode == 75, proc.stderr
    line = _one_line_error(proc)
    assert "mailbox.deadline" in line and "3 s" in line


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1", "1e308"])
def test_the_imap_deadline_is_validated(tmp_path, value):
    conf = write_config(tmp_path, replace={"deadline = 900": f"deadline = {value}"})
    proc = cli(conf, "config", "check")
    assert proc.returncode == 78 and "mailbox.deadline" in _one_line_error(proc)
