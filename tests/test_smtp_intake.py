"""The SMTP intake: 250 only after the commit, and the message flows like a polled one."""

from __future__ import annotations

import smtplib

from abuse_intake import config
from abuse_intake.flow.smtp_listener import SmtpIntake
from abuse_intake.store.db import open_db
from helpers import email, write_config
from support.dovecot import free_port


def test_smtp_intake_stores_and_queues_ack(tmp_path):
    settings = config.load(write_config(tmp_path))
    port = free_port()
    server = SmtpIntake(settings, "127.0.0.1", port)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            data = email(sender="rudi.h@gmail.com", body="akun @dewi_manja88 open BO tarif 300rb")
            code, reply = client.ehlo()
            client.sendmail("rudi.h@gmail.com", ["support@obrolan.example"], data)
            # the same message again: accepted, and a no-op
            client.sendmail("rudi.h@gmail.com", ["support@obrolan.example"], data)
    finally:
        server.stop()
    db = open_db(settings.database_path)
    assert db.execute("SELECT kind FROM messages").fetchall() == [("report",)]
    assert db.execute("SELECT recipient, kind FROM outbox").fetchall() == [("rudi.h@gmail.com", "ack")]


def test_smtp_intake_answers_451_when_the_store_fails(tmp_path):
    # A file where the database's folder should be: unusable even for root (tests run as root here).
    (tmp_path / "blocker").write_text("not a directory")
    settings = config.load(write_config(tmp_path, replace={f'path = "{tmp_path}/db.sqlite"':
                                                           f'path = "{tmp_path}/blocker/db.sqlite"'}))
    port = free_port()
    server = SmtpIntake(settings, "127.0.0.1", port)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            try:
                client.sendmail("rudi.h@gmail.com", ["support@obrolan.example"], email())
                raised = None
            except smtplib.SMTPDataError as exc:
                raised = exc
    finally:
        server.stop()
    assert raised is not None and raised.smtp_code == 451
