"""Issue 15 item 4: mail whose sender is likely forged (spam-flagged, failing
SPF/DMARC at our own MTA, carrying an executable, or with a null envelope
sender at serve-smtp) is stored, a report among it still opens a case, but
no email answers it: the outbox row is 'withheld' with the reason."""

from __future__ import annotations

import base64
import smtplib

import pytest

from abuse_intake import config
from abuse_intake.flow.smtp_listener import SmtpIntake
from abuse_intake.parse.message import parse_message
from abuse_intake.parse.robots import backscatter_reason
from abuse_intake.store.db import open_db
from helpers import cli, cli_json, email, make_maildir, write_config
from support.dovecot import free_port

TRUSTED = 'trusted_authserv_ids = ["mx.obrolan.example"]\n'
REPORT = "Akun @{acct} menawarkan open BO, tarif 300rb."


def _with_attachment(filename: str, sender: str, acct: str, ctype: str = "application/octet-stream") -> bytes:
    payload = base64.b64encode(b"MZ\x90\x00 not really a program").decode()
    return "\r\n".join([
        f"From: Andi <{sender}>", "To: support@obrolan.example", "Subject: Laporan akun",
        f"Message-ID: <att-{acct}@example.test>", "Date: Mon, 02 Nov 2026 08:00:00 +0000", "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b1"', "", "--b1", "Content-Type: text/plain; charset=utf-8", "",
        REPORT.format(acct=acct), "--b1", f'Content-Type: {ctype}; name="{filename}"',
        f'Content-Disposition: attachment; filename="{filename}"', "Content-Transfer-Encoding: base64", "",
        payload, "--b1--", ""]).encode()


def _cfg(tmp_path, trusted: str = TRUSTED):
    cfg = write_config(tmp_path)
    text = cfg.read_text()
    assert "trusted_authserv_ids = []\n" in text
    return _with(cfg, text.replace("trusted_authserv_ids = []\n", trusted, 1) if trusted else text)


def _with(cfg, text):
    cfg.write_text(text)
    return cfg


CASES = [
    ("spam", email(sender="a1@example.com", body=REPORT.format(acct="pelaku_bs01"),
                   headers={"X-Spam-Flag": "YES", "X-Spam-Status": "Yes, score=9.1"}), "X-Spam-Flag: YES"),
    ("spf", email(sender="a2@example.com", body=REPORT.format(acct="pelaku_bs02"), headers={
        "Authentication-Results": "mx.obrolan.example; spf=fail (sender IP is 203.0.113.9) "
                                  "smtp.mailfrom=example.com; dkim=none; dmarc=none"}), "SPF failed"),
    ("dmarc", email(sender="a3@example.com", body=REPORT.format(acct="pelaku_bs03"), headers={
        "Authentication-Results": "MX.Obrolan.Example; spf=pass smtp.mailfrom=example.com; "
                                  "dkim=fail header.d=example.com; dmarc=fail (p=reject) header.from=example.com"}),
     "DMARC failed"),
    ("exe", _with_attachment("invoice.jpg.exe", "a4@example.com", "pelaku_bs04"), "executable attachment (.exe)"),
    ("scr", _with_attachment("photo.scr", "a5@example.com", "pelaku_bs05"), "executable attachment (.scr)"),
]


def test_backscatter_is_stored_becomes_a_case_and_gets_no_email(tmp_path):
    cfg = _cfg(tmp_path)
    normal = email(sender="ok@example.com", body=REPORT.format(acct="pelaku_bs09"))
    make_maildir(tmp_path / "mailbox", [m for _, m, _ in CASES] + [normal])
    summary = cli_json(cfg, "poll")
    assert summary["stored"] == len(CASES) + 1
    assert summary["cases_opened"] == len(CASES) + 1  # each report still becomes a case
    rows = {r["to"]: r for r in cli_json(cfg, "outbox", "list")}
    for (name, _, reason), n in zip(CASES, range(1, 6)):
        row = rows[f"a{n}@example.com"]
        assert row["status"] == "withheld", name
        assert reason in row["last_error"], (name, row["last_error"])
    assert rows["ok@example.com"]["status"] == "sent"
    sent = list((tmp_path / "sent").glob("*.eml"))
    assert len(sent) == 1  # only the normal report was answered
    assert cli(cfg, "send").returncode == 0 and len(list((tmp_path / "sent").glob("*.eml"))) == 1
    # The outcome of a withheld reporter's case is withheld too.
    ref = next(c["ref"] for c in cli_json(cfg, "cases", "list") if c["account_id"] == "pelaku_bs01")
    assert cli(cfg, "decide", ref, "--no-violation", "--by", "rina").returncode == 0
    outcome = [r for r in cli_json(cfg, "outbox", "list") if r["kind"].startswith("outcome")]
    assert [(r["to"], r["status"]) for r in outcome] == [("a1@example.com", "withheld")]


def test_authentication_results_count_only_from_trusted_hosts(tmp_path):
    forged = email(sender="f@example.com", body=REPORT.format(acct="pelaku_bs10"), headers={
        "Authentication-Results": "mx.attacker.example; spf=fail smtp.mailfrom=example.com"})
    settings = config.load(_cfg(tmp_path))
    assert backscatter_reason(parse_message(forged, settings.limits), settings.mailbox.trusted_authserv_ids) is None
    [_, spf, _] = CASES[0], CASES[1], CASES[2]
    parsed = parse_message(spf[1], settings.limits)
    assert backscatter_reason(parsed, ()) is None  # nothing trusted configured: nothing believed
    assert "SPF failed" in backscatter_reason(parsed, settings.mailbox.trusted_authserv_ids)


@pytest.mark.parametrize("filename,withheld", [
    ("a.exe", True), ("A.JPG.EXE", True), ("x.bat", True), ("x.js", True), ("x.vbs", True), ("x.cmd", True),
    ("x.com", True), ("x.pif", True), ("x.msi", True), ("x.jar", True), ("trailing.exe.", True),
    ("screenshot.png", False), ("bukti.pdf", False), ("notes.txt", False), ("exe", False),
])
def test_executable_attachments(tmp_path, filename, withheld):
    settings = config.load(write_config(tmp_path))
    parsed = parse_message(_with_attachment(filename, "x@example.com", "pelaku_bs11"), settings.limits)
    assert (backscatter_reason(parsed) is not None) == withheld


def test_trusted_authserv_ids_are_validated(tmp_path):
    cfg = _cfg(tmp_path, 'trusted_authserv_ids = ["mx ok; spf=pass"]\n')
    proc = cli(cfg, "config", "check")
    assert proc.returncode == 78 and "mailbox.trusted_authserv_ids[0]" in proc.stderr


def test_serve_smtp_never_answers_a_null_envelope_sender(tmp_path):
    settings = config.load(write_config(tmp_path))
    port = free_port()
    server = SmtpIntake(settings, "127.0.0.1", port)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("", ["support@obrolan.example"],
                            email(sender="n@example.com", body=REPORT.format(acct="pelaku_bs20")))
            client.sendmail("r@example.com", ["support@obrolan.example"],
                            email(sender="r@example.com", body=REPORT.format(acct="pelaku_bs21")))
    finally:
        server.stop()
    db = open_db(settings.database_path)
    try:
        assert db.execute("SELECT kind FROM messages ORDER BY id").fetchall() == [("report",), ("report",)]
        assert db.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 2
        assert db.execute("SELECT recipient, status, last_error FROM outbox ORDER BY id").fetchall() == [
            ("n@example.com", "withheld", "withheld: null envelope sender (MAIL FROM:<>); "
                                          "no automatic reply to this sender"),
            ("r@example.com", "pending", None)]
    finally:
        db.conn.close()
