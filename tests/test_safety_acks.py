"""Acks of critical reports (issue 14.7): prioritised, with [platform]
safety_contacts in the reporter's language, never "cannot review it yet".
Real pipeline, real SQLite, delivered to a real aiosmtpd server."""

from __future__ import annotations

from abuse_intake.flow.process import process_one
from abuse_intake.models import RawMessage, Source
from abuse_intake.notify.outbox import deliver_pending
from abuse_intake.store.db import open_db
from helpers import email, make_settings


def _ack(settings, db, smtp_server, data: bytes):
    out = process_one(db, settings, RawMessage(data, Source("t")))
    assert out.kind == "report" and out.outbox_id is not None
    deliver_pending(db, settings)
    msg = smtp_server.messages[-1].message()
    return msg.get_body(preferencelist=("plain",)).get_content(), msg.get_body(preferencelist=("html",)).get_content()


def test_critical_ack_is_prioritised_and_lists_the_safety_contacts(tmp_path, smtp_server):
    settings = make_settings(tmp_path, outgoing_url=smtp_server.url())
    db = open_db(settings.database_path)
    text, html = _ack(settings, db, smtp_server, email(
        sender="ayu@example.com", subject="tolong",
        body="Akun @papi.rendy menjual anak SMP, masih di bawah umur. Tolong segera."))
    assert "kami prioritaskan" in text and "SAPA 129" in text and "Darurat: 112" in text
    assert "kami prioritaskan" in html and "<li>Polisi: 110</li>" in html
    # English reporter, English contacts.
    text, _ = _ack(settings, db, smtp_server, email(
        sender="hannah@example.com", subject="child",
        body="The account kitty.jasmine offers paid dates with a girl, she is 15 years old."))
    assert "has been prioritised" in text and "Emergency: 112" in text and "Darurat" not in text
    # Not critical: no such wording.
    text, _ = _ack(settings, db, smtp_server, email(
        sender="bagus@example.com", subject="bo", body="Akun @nadia_vip.bdg menawarkan open BO 500rb."))
    assert "prioriti" not in text and "SAPA" not in text
    db.conn.close()


def test_critical_report_without_an_account_is_not_told_it_cannot_be_reviewed(tmp_path, smtp_server):
    settings = make_settings(tmp_path, outgoing_url=smtp_server.url())
    db = open_db(settings.database_path)
    text, _ = _ack(settings, db, smtp_server, email(
        sender="tono@example.com", subject="perdagangan orang",
        body="Ada yang menawarkan anak umur 14 tahun lewat chat, saya tidak tahu ID akunnya."))
    assert "belum bisa kami periksa" not in text and "kami prioritaskan" in text
    text, _ = _ack(settings, db, smtp_server, email(
        sender="nita@example.com", subject="pelecehan", body="Ada yang mengirim ajakan seks ke saya, tolong."))
    assert "belum bisa kami periksa" in text  # a non-critical one still says so
    db.conn.close()
