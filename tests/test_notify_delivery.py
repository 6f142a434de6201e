"""Delivery against a real aiosmtpd server: what arrives, retries, failures,
the daily cap, header injection, TLS/AUTH and the dir: transport."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest

from abuse_intake.errors import EX_CONFIG, TransportConfigError
from abuse_intake.notify import outbox
from abuse_intake.notify.outbox import backoff, deliver_pending
from abuse_intake.notify.render import Renderer
from abuse_intake.store import outbox as store
from abuse_intake.store.db import transaction
from notify_fixtures import (REPO, add_case, add_message, add_reporter, db_for, decide,
                             sample_subject_and_sender, settings_for)
from support.smtp import SMTP_PASSWORD, SMTP_USER

_accounts = itertools.count(1)
# The smtps fixture requires AUTH on a TLS-from-the-start session, which aiosmtpd warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
T0 = datetime(2026, 4, 20, 8, 0, 0, tzinfo=timezone.utc)


class Env:
    def __init__(self, settings):
        self.settings = settings
        self.db = db_for(settings)
        self.renderer = Renderer(settings)

    def ack(self, recipient="ana@example.com", *, language="id", name="Ana Putri", subject="Laporan akun",
            parent="orig-1@mail.example.com") -> int:
        source, _ = add_message(self.db, reporter=recipient)
        # One open case per account: each ack gets its own account.
        case = add_case(self.db, account_id=f"account_{next(_accounts)}")
        with transaction(self.db):
            return outbox.queue_report_reply(
                self.db, self.settings, self.renderer, source_message=source, recipient=recipient,
                language=language, reporter_name=name, reply_to_message_id=parent, reporter_subject=subject,
                cases=[case])

    def row(self, oid):
        return store.get(self.db, oid)

    def attempts(self, oid):
        return store.attempts_of(self.db, oid)


@pytest.fixture
def env(tmp_path, smtp_server):
    e = Env(settings_for(tmp_path, outgoing_url=smtp_server.url()))
    yield e
    e.db.conn.close()


def test_received_message_headers_threading_and_alternatives(env, smtp_server):
    oid = env.ack(language="id")
    result = deliver_pending(env.db, env.settings, now=T0)
    assert (result.sent, result.deferred, result.failed, result.held) == (1, 0, 0, 0)
    [got] = smtp_server.messages
    assert got.mail_from == "support@obrolan.example" and got.rcpt_tos == ["ana@example.com"]
    row = env.row(oid)
    msg = got.message()
    assert msg["From"].addresses[0].display_name == "Obrolan Support"
    assert msg["From"].addresses[0].addr_spec == "support@obrolan.example"
    assert str(msg["To"]) == "ana@example.com"
    assert msg["Subject"] == row["subject"] and msg["Subject"].startswith("[OB-")
    assert msg["Message-ID"] == f"<{row['message_id']}>"
    assert msg["In-Reply-To"] == "<orig-1@mail.example.com>"
    assert msg["References"] == "<orig-1@mail.example.com>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert parsedate_to_datetime(msg["Date"]) == T0
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p for p in msg.iter_parts()]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert "Terima kasih atas laporan Anda" in parts[0].get_content()
    assert "<strong>account_" in parts[1].get_content()
    # CRLF on the wire, no bare LF anywhere.
    assert b"\r\n" in got.raw and b"\n" not in got.raw.replace(b"\r\n", b"")
    # The row: sent, one attempt recorded with the server's reply.
    assert row["status"] == "sent" and row["attempts"] == 1 and row["sent_at"] == "2026-04-20T08:00:00Z"
    [attempt] = env.attempts(oid)
    assert attempt["result"] == "sent" and attempt["detail"].startswith("250")


def test_english_reporter_gets_english(env, smtp_server):
    env.ack(language="en", name="Bob")
    deliver_pending(env.db, env.settings, now=T0)
    text = smtp_server.messages[0].message().get_body(("plain",)).get_content()
    assert text.startswith("Hello Bob,") and "Thank you for your report" in text


def test_smtp_down_defers_the_queue_and_the_next_run_delivers_it(env, smtp_server):
    # Issue 13 item 7: an unreachable relay defers the queue, not each email's own backoff.
    oids = [env.ack(f"user{i}@example.com") for i in range(3)]
    smtp_server.stop()
    result = deliver_pending(env.db, env.settings, now=T0)
    assert result.unreachable and result.sent == 0 and result.deferred == 3 and result.remaining == 3
    for oid in oids:
        row = env.row(oid)
        assert row["status"] == "pending" and row["attempts"] == 0
        assert "unreachable" in row["last_error"]
        assert row["next_attempt_at"] is None and env.attempts(oid) == []
    smtp_server.start()
    # The relay is back: the very next run delivers what waits.
    later = deliver_pending(env.db, env.settings, now=T0 + timedelta(seconds=30))
    assert later.sent == 3 and not later.unreachable and later.remaining == 0
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [f"user{i}@example.com" for i in range(3)]


def test_a_4xx_to_one_recipient_backs_off_that_email_only_and_flush_sends_it_at_once(env, smtp_server):
    first, second = env.ack("busy@example.com"), env.ack("fine@example.com")
    smtp_server.fail("450 4.2.1 Mailbox busy", stage="RCPT")
    r = deliver_pending(env.db, env.settings, now=T0)
    assert (r.sent, r.deferred, r.unreachable) == (1, 1, False)
    assert env.row(first)["attempts"] == 1 and env.row(first)["next_attempt_at"] == "2026-04-20T08:01:00Z"
    assert deliver_pending(env.db, env.settings, now=T0 + timedelta(seconds=10)).sent == 0  # backing off
    flushed = deliver_pending(env.db, env.settings, now=T0 + timedelta(seconds=10), flush=True)
    assert flushed.sent == 1 and env.row(first)["status"] == "sent" and env.row(second)["status"] == "sent"


def test_4xx_is_deferred_with_exponential_backoff(env, smtp_server):
    oid = env.ack()
    smtp_server.fail("451 4.3.0 Try again later", stage="RCPT", times=3)
    now = T0
    for n in (1, 2, 3):
        r = deliver_pending(env.db, env.settings, now=now)
        row = env.row(oid)
        assert r.deferred == 1 and row["status"] == "pending" and row["attempts"] == n
        assert "451" in row["last_error"]
        assert row["next_attempt_at"] == (now + timedelta(minutes=2 ** (n - 1))).strftime("%Y-%m-%dT%H:%M:%SZ")
        now = now + timedelta(minutes=2 ** (n - 1))
    r = deliver_pending(env.db, env.settings, now=now)
    assert r.sent == 1 and len(smtp_server.messages) == 1
    assert [a["result"] for a in env.attempts(oid)] == ["temporary"] * 3 + ["sent"]
    assert env.row(oid)["attempts"] == 4


def test_backoff_is_capped_at_six_hours():
    assert backoff(1) == timedelta(minutes=1)
    assert backoff(4) == timedelta(minutes=8)
    assert backoff(30) == timedelta(hours=6)


def test_5xx_fails_and_is_never_retried(env, smtp_server):
    bad = env.ack("gone@example.com")
    good = env.ack("ana@example.com")
    smtp_server.fail("550 5.1.1 No such user", stage="DATA")
    r = deliver_pending(env.db, env.settings, now=T0)
    # The connection is reused for the next row after the 5xx.
    assert (r.sent, r.failed) == (1, 1) and any("550" in e for e in r.errors)
    assert env.row(bad)["status"] == "failed" and "550" in env.row(bad)["last_error"]
    assert env.row(good)["status"] == "sent"
    r = deliver_pending(env.db, env.settings, now=T0 + timedelta(days=2))
    assert r.sent == r.failed == r.deferred == 0
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ana@example.com"]]
    assert [a["result"] for a in env.attempts(bad)] == ["permanent"]


def test_crlf_in_subject_and_name_never_adds_a_header(env, smtp_server):
    env.ack(name="Ana\r\nBcc: victim@evil.example", subject="Hi\r\nBcc: victim2@evil.example\nX-Evil: 1",
            parent="<a@b>\r\nBcc: victim3@evil.example")
    deliver_pending(env.db, env.settings, now=T0)
    [got] = smtp_server.messages
    assert got.rcpt_tos == ["ana@example.com"]
    names = [n.lower() for n in got.header_names()]
    assert "bcc" not in names and "x-evil" not in names
    assert sorted(names) == sorted(["from", "to", "subject", "date", "message-id", "auto-submitted",
                                    "x-auto-response-suppress", "mime-version", "content-type"])
    msg = got.message()
    # Our Subject never carries the sender's; the injected text survives only as
    # words on one line of the body's quote.
    assert "\n" not in msg["Subject"] and "Bcc" not in msg["Subject"]
    assert '"Hi Bcc: victim2@evil.example X-Evil: 1"' in msg.get_body(("plain",)).get_content()
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_sample_024_bcc_injection_adds_no_recipient(env, smtp_server, samples_dir):
    subject, name, address, message_id = sample_subject_and_sender(samples_dir / "024_subject-crlf-bcc.eml")
    assert "\n" in subject and "Bcc:" in subject  # the sample does carry the injection
    env.ack(address, language="en", name=name, subject=subject, parent=message_id)
    deliver_pending(env.db, env.settings, now=T0)
    [got] = smtp_server.messages
    assert got.rcpt_tos == ["emma.clarke.sg@gmail.com"]
    assert "bcc" not in [n.lower() for n in got.header_names()]
    msg = got.message()
    assert "\n" not in msg["Subject"] and "Bcc" not in msg["Subject"]
    assert "Report: bang.jago_vcs Bcc: victim@evil.example" in msg.get_body(("plain",)).get_content()
    assert msg["In-Reply-To"] == message_id


def test_jinja_and_html_in_report_reach_the_server_literally(env, smtp_server):
    env.ack(language="en", name='<img src=x onerror="alert(1)">', subject="{{ config }} {% for x in range(3) %}X{% endfor %}")
    deliver_pending(env.db, env.settings, now=T0)
    msg = smtp_server.messages[0].message()
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "{{ config }} {% for x in range(3) %}X{% endfor %}" in text and "XXX" not in text
    assert "<img" not in html and "&lt;img src=x" in html
    assert '<img src=x onerror="alert(1)">' in text


def test_daily_cap_holds_the_rest_then_releases(tmp_path, smtp_server):
    env = Env(settings_for(tmp_path, outgoing_url=smtp_server.url(),
                           limits={"max_emails_per_recipient_per_day": 2}))
    oids = [env.ack("ana@example.com") for _ in range(3)] + [env.ack("bob@example.com")]
    r = deliver_pending(env.db, env.settings, now=T0)
    assert (r.sent, r.held) == (3, 1) and r.remaining == 1
    held = env.row(oids[2])
    assert held["status"] == "held" and held["next_attempt_at"] == "2026-04-21T08:00:01Z"
    assert store.list_emails(env.db, status="held")[0]["id"] == oids[2]
    # Still within 24 h of the first two: stays held, nothing sent.
    r = deliver_pending(env.db, env.settings, now=T0 + timedelta(hours=23))
    assert r.sent == 0 and env.row(oids[2])["status"] == "held"
    r = deliver_pending(env.db, env.settings, now=T0 + timedelta(hours=24, seconds=2))
    assert r.sent == 1 and env.row(oids[2])["status"] == "sent"
    assert [m.rcpt_tos[0] for m in smtp_server.messages].count("ana@example.com") == 3
    assert env.row(oids[2])["attempts"] == 1  # being held is not a delivery attempt


def test_own_and_malformed_addresses_are_never_mailed(env, smtp_server):
    # Rows written by something other than queue_* (an old version, a hand edit) are still refused.
    env.ack("ana@example.com")
    for bad in ("abuse@obrolan.example", "Support@Obrolan.Example", "x@y.example, victim@evil.example"):
        env.db.execute("UPDATE outbox SET recipient = ? WHERE id = 1", (bad,))
        env.db.execute("UPDATE outbox SET status = 'pending', attempts = 0 WHERE id = 1")
        r = deliver_pending(env.db, env.settings, now=T0)
        assert r.failed == 1 and r.sent == 0
        assert env.row(1)["status"] == "failed" and "never mailed" in env.row(1)["last_error"]
    assert smtp_server.messages == []


def test_nothing_due_does_not_connect(tmp_path):
    # Port 9 (discard) is closed here: connecting would report unreachable.
    env = Env(settings_for(tmp_path, outgoing_url="smtp://127.0.0.1:9"))
    r = deliver_pending(env.db, env.settings, now=T0)
    assert not r.unreachable and r.sent == 0


def test_limit_sends_only_n(env, smtp_server):
    for i in range(3):
        env.ack(f"u{i}@example.com")
    r = deliver_pending(env.db, env.settings, now=T0, limit=2)
    assert r.sent == 2 and r.remaining == 1


def test_dir_transport_writes_eml_files(tmp_path):
    env = Env(settings_for(tmp_path, outgoing_url=f"dir:{tmp_path}/sent"))
    oid = env.ack(language="en")
    r = deliver_pending(env.db, env.settings, now=T0)
    assert r.sent == 1
    row = env.row(oid)
    [path] = list((tmp_path / "sent").glob("*.eml"))
    assert path.name == f"{row['message_id']}.eml"
    raw = path.read_bytes()
    assert b"\r\nAuto-Submitted: auto-replied\r\n" in raw and row["subject"].encode() in raw
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_starttls_with_auth(tmp_path, smtp_starttls_server, trust_test_cert, monkeypatch):
    monkeypatch.setenv("TEST_SMTP_PW", SMTP_PASSWORD)
    env = Env(settings_for(tmp_path, outgoing_url=smtp_starttls_server.url("smtp+starttls", SMTP_USER),
                           outgoing={"password_env": "TEST_SMTP_PW"}))
    env.ack()
    assert deliver_pending(env.db, env.settings, now=T0).sent == 1
    assert smtp_starttls_server.messages[0].rcpt_tos == ["ana@example.com"]


def test_smtps_with_auth_from_password_file(tmp_path, smtp_tls_server, trust_test_cert):
    (tmp_path / "pw").write_text(SMTP_PASSWORD + "\n")
    env = Env(settings_for(tmp_path, outgoing_url=smtp_tls_server.url("smtps", SMTP_USER),
                           outgoing={"password_file": str(tmp_path / "pw")}))
    env.ack()
    assert deliver_pending(env.db, env.settings, now=T0).sent == 1
    assert len(smtp_tls_server.messages) == 1


def test_wrong_password_is_a_delivery_error_and_rows_stay(tmp_path, smtp_starttls_server, trust_test_cert,
                                                          monkeypatch):
    monkeypatch.setenv("TEST_SMTP_PW", "wrong")
    env = Env(settings_for(tmp_path, outgoing_url=smtp_starttls_server.url("smtp+starttls", SMTP_USER),
                           outgoing={"password_env": "TEST_SMTP_PW"}))
    oid = env.ack()
    with pytest.raises(TransportConfigError, match="login") as exc:
        deliver_pending(env.db, env.settings, now=T0)
    assert exc.value.permanent and exc.value.exit_code == EX_CONFIG
    row = env.row(oid)
    assert row["status"] == "pending" and row["attempts"] == 0 and smtp_starttls_server.messages == []


def test_untrusted_certificate_is_a_delivery_error(tmp_path, smtp_tls_server, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(REPO / "pyproject.toml"))  # trusts nothing
    monkeypatch.setenv("TEST_SMTP_PW", SMTP_PASSWORD)
    env = Env(settings_for(tmp_path, outgoing_url=smtp_tls_server.url("smtps", SMTP_USER),
                           outgoing={"password_env": "TEST_SMTP_PW"}))
    env.ack()
    with pytest.raises(TransportConfigError, match="certificate"):
        deliver_pending(env.db, env.settings, now=T0)


def test_auth_over_plain_smtp_is_refused(tmp_path, smtp_server, monkeypatch):
    monkeypatch.setenv("TEST_SMTP_PW", SMTP_PASSWORD)
    env = Env(settings_for(tmp_path, outgoing_url=smtp_server.url("smtp", SMTP_USER),
                           outgoing={"password_env": "TEST_SMTP_PW"}))
    env.ack()
    with pytest.raises(TransportConfigError, match="without TLS"):
        deliver_pending(env.db, env.settings, now=T0)
    assert smtp_server.messages == []


# -- the crash window ----------------------------------------------------------

_CHILD = """
import json, sys
from datetime import datetime
from abuse_intake.notify.outbox import deliver_pending
sys.path.insert(0, sys.argv[2])
from notify_fixtures import db_for, settings_for
from pathlib import Path
args = json.loads(sys.argv[1])
settings = settings_for(Path(args["tmp"]), outgoing_url=args["url"])
deliver_pending(db_for(settings), settings, now=datetime.fromisoformat(args["now"]))
"""


def _deliver_in_child(tmp_path, url, crash_at):
    args = json.dumps({"tmp": str(tmp_path), "url": url, "now": T0.isoformat()})
    return subprocess.run([sys.executable, "-c", _CHILD, args, str(REPO / "tests")],
                          env={**os.environ, "ABUSE_INTAKE_CRASH_AT": crash_at}, capture_output=True,
                          timeout=60)


def test_crash_after_250_resends_once_the_documented_window(env, smtp_server, tmp_path):
    oid = env.ack()
    proc = _deliver_in_child(tmp_path, smtp_server.url(), "after_smtp_250")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(smtp_server.messages) == 1
    assert env.row(oid)["status"] == "pending"  # the commit never happened
    r = deliver_pending(env.db, env.settings, now=T0)
    assert r.sent == 1
    first, second = smtp_server.messages
    # The duplicate is recognisable: the same Message-ID.
    assert first.message()["Message-ID"] == second.message()["Message-ID"]
    assert [a["result"] for a in env.attempts(oid)] == ["sent"]
    assert deliver_pending(env.db, env.settings, now=T0 + timedelta(hours=1)).sent == 0
    assert len(smtp_server.messages) == 2


def test_crash_before_send_loses_nothing_and_duplicates_nothing(env, smtp_server, tmp_path):
    first = env.ack("ana@example.com")
    second = env.ack("bob@example.com")
    # Killed at the second row: the first was sent and committed.
    proc = _deliver_in_child(tmp_path, smtp_server.url(), "before_send:2")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ana@example.com"]]
    assert env.row(first)["status"] == "sent" and env.row(second)["status"] == "pending"
    assert deliver_pending(env.db, env.settings, now=T0).sent == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ana@example.com"], ["bob@example.com"]]


def test_crashpoint_unset_is_a_no_op(monkeypatch):
    from abuse_intake import crashpoints
    monkeypatch.delenv(crashpoints.ENV, raising=False)
    crashpoints.hit("after_smtp_250")
    monkeypatch.setenv(crashpoints.ENV, "something_else")
    crashpoints.hit("after_smtp_250")


def test_missing_password_env_is_a_config_error(tmp_path, smtp_starttls_server, trust_test_cert, monkeypatch):
    monkeypatch.delenv("TEST_SMTP_PW", raising=False)
    env = Env(settings_for(tmp_path, outgoing_url=smtp_starttls_server.url("smtp+starttls", SMTP_USER),
                           outgoing={"password_env": "TEST_SMTP_PW"}))
    env.ack()
    with pytest.raises(TransportConfigError, match="TEST_SMTP_PW"):
        deliver_pending(env.db, env.settings, now=T0)


def test_silent_server_times_out_as_temporary(tmp_path):
    # A listener that never greets: the kind of hang a real relay can show.
    import socket
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        port = listener.getsockname()[1]
        env = Env(settings_for(tmp_path, outgoing_url=f"smtp://127.0.0.1:{port}", outgoing={"timeout": 0.3}))
        oid = env.ack()
        r = deliver_pending(env.db, env.settings, now=T0)
    assert r.unreachable and r.deferred == 1
    row = env.row(oid)
    # The relay never greeted: the queue waits as it is (issue 13 item 7).
    assert row["status"] == "pending" and row["attempts"] == 0 and "timed out" in row["last_error"]


# -- claims taken in batches (issue 13.8) -----------------------------------

def test_two_batch_claims_never_share_a_row(env):
    ids = [env.ack(f"r{i}@example.com") for i in range(7)]
    now, until = "2026-04-20T08:00:00Z", "2026-04-20T08:10:00Z"
    with transaction(env.db):
        first = store.claim_batch(env.db, owner="a", now=now, lease_until=until, limit=3)
    with transaction(env.db):
        second = store.claim_batch(env.db, owner="b", now=now, lease_until="2026-04-20T08:30:00Z", limit=10)
    assert [r["id"] for r in first] == ids[:3]  # oldest first
    assert [r["id"] for r in second] == ids[3:]  # nothing a live lease holds
    with transaction(env.db):
        assert store.claim_batch(env.db, owner="c", now=now, lease_until=until, limit=10) == []
    # Once a's lease has run out (a crashed claimant), its rows are taken over, and a's
    # late renewal gets nothing: it may send none of them.
    later = "2026-04-20T08:11:00Z"
    with transaction(env.db):
        taken = store.claim_batch(env.db, owner="c", now=later, lease_until="2026-04-20T08:20:00Z", limit=10)
        assert [r["id"] for r in taken] == ids[:3]
        assert store.renew_claims(env.db, "a", ids[:3], "2026-04-20T08:30:00Z") == set()
        assert store.renew_claims(env.db, "b", ids[3:5], "2026-04-20T08:40:00Z") == set(ids[3:5])


def test_a_run_sends_every_row_of_several_batches_once(env, smtp_server, monkeypatch):
    monkeypatch.setattr(outbox, "CLAIM_BATCH", 3)
    ids = [env.ack(f"r{i}@example.com") for i in range(8)]
    r = deliver_pending(env.db, env.settings, now=T0)
    assert r.sent == 8 and r.remaining == 0
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == sorted(f"r{i}@example.com" for i in range(8))
    assert all(env.row(i)["status"] == "sent" and env.row(i)["claimed_by"] is None for i in ids)


def test_limit_gives_back_the_rest_of_the_batch(env, smtp_server):
    ids = [env.ack(f"r{i}@example.com") for i in range(5)]
    assert deliver_pending(env.db, env.settings, now=T0, limit=2).sent == 2
    rows = [env.row(i) for i in ids]
    assert [r["status"] for r in rows] == ["sent", "sent", "pending", "pending", "pending"]
    assert all(r["claimed_by"] is None and r["lease_until"] is None for r in rows)


def test_a_row_cancelled_after_its_batch_was_claimed_is_not_sent(env, smtp_server, monkeypatch):
    first, second = env.ack("ana@example.com"), env.ack("bob@example.com")
    real = store.claim_batch

    def claim_then_cancel(db, **kw):
        rows = real(db, **kw)
        store.cancel_email(db, second, "staff cancelled it")  # inside the claim's transaction
        return rows

    monkeypatch.setattr(store, "claim_batch", claim_then_cancel)
    assert deliver_pending(env.db, env.settings, now=T0).sent == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ana@example.com"]]
    assert env.row(second)["status"] == "cancelled"
