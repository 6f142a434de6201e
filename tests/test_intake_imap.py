"""ImapSource against a real Dovecot (tests/support/dovecot.py)."""

from __future__ import annotations

import dataclasses
import os
import signal
from datetime import datetime, timedelta, timezone

import pytest

from abuse_intake import config
from abuse_intake.errors import ConfigError, MailboxError
from abuse_intake.intake import open_source
from abuse_intake.intake.base import MailSource
from abuse_intake.models import Cursor
from abuse_intake.intake.imap import ImapSource, source_name
from abuse_intake.models import Source
from abuse_intake.store import messages as msg_store
from abuse_intake.store.db import open_db
from helpers import cli, cli_json, email

KEYWORD = "AbuseIntakeDone"


def message(i: int, extra: bytes = b"") -> bytes:
    """A CRLF message (Dovecot returns exactly the bytes appended when they are CRLF)."""
    return (
        f"From: Pelapor {i} <pelapor{i}@example.net>\r\n"
        f"To: support@obrolan.example\r\n"
        f"Subject: Laporan akun nomor {i}\r\n"
        f"Message-ID: <m{i}@example.net>\r\n"
        f"Date: Mon, 03 Jun 2024 10:00:00 +0700\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n"
        f"\r\n"
        f"Tolong cek akun @penipu{i}, dia minta transfer dp dulu. Terima kasih — ü\r\n"
    ).encode("utf-8") + extra


def settings_for(server, **changes) -> config.MailboxSettings:
    base = config.MailboxSettings(
        scheme="imap", host=server.host, port=server.port, user=server.user, folder="INBOX",
        batch_size=50, timeout=5, done_action="move", done_folder="Processed",
        done_keyword=KEYWORD, url=server.url,
    )
    return dataclasses.replace(base, **changes)


def source(server, password: str | None = None, **changes) -> ImapSource:
    return ImapSource(settings_for(server, **changes), server.password if password is None else password)


def fetch_all(src: ImapSource, cursor: Cursor, limit: int | None = None):
    return [batch for batch in src.fetch_new(cursor, limit)]


def uids_of(batches) -> list[int]:
    return [m.source.uid for batch in batches for m in batch]


# ---------------------------------------------------------------- fetching


def test_fetch_new_batches_in_uid_order_with_identical_bytes_and_leaves_them_unseen(dovecot):
    raws = [message(i) for i in range(7)]
    dovecot.append_many(raws)
    with source(dovecot, batch_size=3) as src:
        validity = src.uidvalidity()
        batches = fetch_all(src, Cursor(validity, 0))

    assert [len(b) for b in batches] == [3, 3, 1]
    got = [m for b in batches for m in b]
    assert [m.data for m in got] == raws
    uids = uids_of(batches)
    assert uids == sorted(uids) and len(set(uids)) == 7
    assert uids == dovecot.uids()
    for m in got:
        assert m.source == Source(mailbox=src.name, uidvalidity=validity, uid=m.source.uid)
    flags = dovecot.fetch_flags("INBOX")
    assert all(b"\\Seen" not in f for f in flags.values()), flags


def test_message_content_never_reaches_a_log_record_even_at_debug(dovecot, caplog):
    """imapclient turns imaplib's protocol tracing on for its logger; with it, every
    fetched message was formatted into a debug line (costly, and reporters' words
    in logs). The fetch must run with that tracing off."""
    import logging
    marker = "RAHASIA-PELAPOR-7731"
    dovecot.append_many([message(1, extra=f"{marker}\r\n".encode())])
    with caplog.at_level(logging.DEBUG):
        with source(dovecot) as src:
            [[got]] = fetch_all(src, Cursor(src.uidvalidity(), 0))
    assert marker.encode() in got.data
    assert caplog.records, "debug logging was on"
    assert not [r for r in caplog.records if marker in r.getMessage()]


def test_received_at_is_the_internaldate_in_utc(dovecot):
    when = datetime(2024, 6, 3, 17, 30, 5, tzinfo=timezone(timedelta(hours=7)))
    dovecot.append(message(1), when=when)
    with source(dovecot) as src:
        [[msg]] = fetch_all(src, Cursor(src.uidvalidity(), 0))
    assert msg.received_at == when
    assert msg.received_at.utcoffset() == timedelta(0)
    assert msg.received_at.hour == 10


def test_cursor_at_the_last_uid_returns_nothing(dovecot):
    """`UID N:*` answers with the highest message even when its UID < N."""
    dovecot.append_many(message(i) for i in range(3))
    last = dovecot.uids()[-1]
    with source(dovecot) as src:
        v = src.uidvalidity()
        assert fetch_all(src, Cursor(v, last)) == []
        assert fetch_all(src, Cursor(v, last + 10)) == []
        assert uids_of(fetch_all(src, Cursor(v, last - 1))) == [last]


def test_cursor_in_the_middle_returns_only_newer(dovecot):
    dovecot.append_many(message(i) for i in range(6))
    uids = dovecot.uids()
    with source(dovecot, batch_size=2) as src:
        assert uids_of(fetch_all(src, Cursor(src.uidvalidity(), uids[2]))) == uids[3:]


def test_limit_caps_the_total_across_batches(dovecot):
    dovecot.append_many(message(i) for i in range(7))
    uids = dovecot.uids()
    with source(dovecot, batch_size=3) as src:
        v = src.uidvalidity()
        batches = fetch_all(src, Cursor(v, 0), limit=4)
        assert [len(b) for b in batches] == [3, 1]
        assert uids_of(batches) == uids[:4]
        assert fetch_all(src, Cursor(v, 0), limit=0) == []
        assert uids_of(fetch_all(src, Cursor(v, uids[3]), limit=100)) == uids[4:]


def test_empty_folder_yields_no_batches(dovecot):
    with source(dovecot) as src:
        assert fetch_all(src, Cursor(src.uidvalidity(), 0)) == []
        assert src.leftovers(Cursor(src.uidvalidity(), 0)) == []


def test_large_mailbox_in_batches_of_100(dovecot):
    raws = [message(i) for i in range(300)]
    dovecot.append_many(raws)
    with source(dovecot, batch_size=100) as src:
        sizes, got = [], []
        for batch in src.fetch_new(Cursor(src.uidvalidity(), 0), None):
            sizes.append(len(batch))
            got.extend(m.data for m in batch)
            src.mark_done([m.source for m in batch])
    assert sizes == [100, 100, 100]
    assert got == raws
    assert dovecot.folder_count("INBOX") == 0
    assert dovecot.folder_count("Processed") == 300


# ---------------------------------------------------------------- marking done


def test_mark_done_move_puts_messages_in_the_done_folder(dovecot):
    raws = [message(i) for i in range(4)]
    dovecot.append_many(raws)
    with source(dovecot) as src:
        [batch] = fetch_all(src, Cursor(src.uidvalidity(), 0))
        src.mark_done([m.source for m in batch[:3]])
    assert dovecot.uids("INBOX") == [batch[3].source.uid]
    assert dovecot.folder_count("Processed") == 3
    assert sorted(dovecot.fetch_bodies("Processed").values()) == sorted(raws[:3])


def test_mark_done_copy_fallback_when_server_lacks_move(dovecot):
    dovecot.append_many(message(i) for i in range(3))
    with source(dovecot) as src:
        src._use_move = False  # Dovecot has MOVE; exercise the COPY + \Deleted + UID EXPUNGE path on it
        [batch] = fetch_all(src, Cursor(src.uidvalidity(), 0))
        src.mark_done([m.source for m in batch[:2]])
    assert dovecot.uids("INBOX") == [batch[2].source.uid]
    assert dovecot.folder_count("Processed") == 2
    assert all(b"\\Deleted" not in f for f in dovecot.fetch_flags("Processed").values())


def test_missing_done_folder_is_created(dovecot):
    dovecot.append(message(1))
    with source(dovecot, done_folder="Abuse Handled") as src:
        [batch] = fetch_all(src, Cursor(src.uidvalidity(), 0))
        src.mark_done([m.source for m in batch])
    assert dovecot.folder_count("Abuse Handled") == 1
    assert dovecot.uids("INBOX") == []


def test_mark_done_flag_sets_seen_and_keyword_and_keeps_messages(dovecot):
    dovecot.append_many(message(i) for i in range(3))
    with source(dovecot, done_action="flag") as src:
        v = src.uidvalidity()
        [batch] = fetch_all(src, Cursor(v, 0))
        last = batch[-1].source.uid
        assert [s.uid for s in src.leftovers(Cursor(v, last))] == [m.source.uid for m in batch]
        src.mark_done([m.source for m in batch])
        assert src.leftovers(Cursor(v, last)) == []
    flags = dovecot.fetch_flags("INBOX")
    assert len(flags) == 3
    for f in flags.values():
        assert b"\\Seen" in f and KEYWORD.encode() in f
    assert dovecot.folder_count("Processed") == 0


def test_done_action_none_leaves_messages_untouched(dovecot):
    dovecot.append_many(message(i) for i in range(2))
    with source(dovecot, done_action="none") as src:
        v = src.uidvalidity()
        [batch] = fetch_all(src, Cursor(v, 0))
        src.mark_done([m.source for m in batch])
        assert src.leftovers(Cursor(v, batch[-1].source.uid)) == []
    assert len(dovecot.uids("INBOX")) == 2
    assert all(b"\\Seen" not in f for f in dovecot.fetch_flags("INBOX").values())


# ---------------------------------------------------------------- leftovers and UIDVALIDITY


def test_leftovers_are_committed_but_unmarked_uids_only(dovecot):
    """A run committed UIDs 1-5, marked 1-2 done, then died; 6-7 arrived since."""
    dovecot.append_many(message(i) for i in range(7))
    uids = dovecot.uids()
    with source(dovecot, batch_size=5) as src:
        v = src.uidvalidity()
        first = next(iter(src.fetch_new(Cursor(v, 0), None)))
        src.mark_done([m.source for m in first[:2]])
    cursor = Cursor(v, uids[4])
    with source(dovecot, batch_size=5) as src:
        left = src.leftovers(cursor)
        assert left == [Source(mailbox=src.name, uidvalidity=v, uid=u) for u in uids[2:5]]
        src.mark_done(left)
        assert src.leftovers(cursor) == []
        assert uids_of(fetch_all(src, cursor)) == uids[5:]
    assert dovecot.uids("INBOX") == uids[5:]
    assert dovecot.folder_count("Processed") == 5


def test_flag_mode_leftovers_ignore_messages_already_flagged(dovecot):
    dovecot.append_many(message(i) for i in range(4))
    uids = dovecot.uids()
    with source(dovecot, done_action="flag") as src:
        v = src.uidvalidity()
        [batch] = fetch_all(src, Cursor(v, 0))
        src.mark_done([batch[0].source, batch[2].source])
        assert [s.uid for s in src.leftovers(Cursor(v, uids[3]))] == [uids[1], uids[3]]
        assert [s.uid for s in src.leftovers(Cursor(v, uids[2]))] == [uids[1]]


def test_uidvalidity_change_is_seen_and_old_uids_are_never_touched(dovecot):
    dovecot.append_many(message(i) for i in range(3))
    with source(dovecot) as src:
        old = src.uidvalidity()
        [old_batch] = fetch_all(src, Cursor(old, 0))
    new = old + 1000
    dovecot.set_uidvalidity(new)
    assert dovecot.uidvalidity() == new
    with source(dovecot) as src:
        assert src.uidvalidity() == new
        # The pipeline voids the stale cursor: a full re-scan under the new validity.
        assert src.leftovers(Cursor(old, 3)) == []
        src.mark_done([m.source for m in old_batch])  # stale UIDs: ignored
        assert len(dovecot.uids("INBOX")) == 3
        rescanned = [m for b in fetch_all(src, Cursor(new, 0)) for m in b]
    assert [m.data for m in rescanned] == [m.data for m in old_batch]
    assert {m.source.uidvalidity for m in rescanned} == {new}


# ---------------------------------------------------------------- failures


def test_server_down_at_connect_is_a_mailbox_error(dovecot):
    dovecot.stop()
    with pytest.raises(MailboxError) as err:
        with source(dovecot):
            pass
    text = str(err.value)
    assert "connection refused" in text and str(dovecot.port) in text
    assert "\n" not in text


def test_server_stopped_mid_run_is_a_mailbox_error_and_next_run_catches_up(dovecot):
    dovecot.append_many(message(i) for i in range(6))
    uids = dovecot.uids()
    seen = []
    with pytest.raises(MailboxError):
        with source(dovecot, batch_size=3) as src:
            v = src.uidvalidity()
            for batch in src.fetch_new(Cursor(v, 0), None):
                seen.extend(m.source.uid for m in batch)
                dovecot.stop()
    assert seen == uids[:3]
    dovecot.start()
    with source(dovecot, batch_size=3) as src:
        assert uids_of(fetch_all(src, Cursor(v, uids[2]))) == uids[3:]


def test_mark_done_after_server_stopped_is_a_mailbox_error(dovecot):
    dovecot.append(message(1))
    with source(dovecot) as src:
        [batch] = fetch_all(src, Cursor(src.uidvalidity(), 0))
        dovecot.stop()
        with pytest.raises(MailboxError, match="move messages"):
            src.mark_done([m.source for m in batch])
    dovecot.start()
    assert len(dovecot.uids("INBOX")) == 1


def test_wrong_password_is_a_mailbox_error_without_the_password(dovecot):
    wrong = "Wr0ng-S3cret-Pa55"
    with pytest.raises(MailboxError) as err:
        with source(dovecot, password=wrong):
            pass
    text = str(err.value)
    assert "login" in text and dovecot.user in text
    assert wrong not in text and dovecot.password not in text
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_silent_server_times_out_as_a_mailbox_error(dovecot):
    """A frozen server (SIGSTOP) accepts the TCP connection but never answers."""
    dovecot.append(message(1))
    with source(dovecot, timeout=0.5) as src:
        v = src.uidvalidity()
        os.killpg(dovecot._proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(MailboxError, match="no answer within 0.5 s"):
                fetch_all(src, Cursor(v, 0))
            with pytest.raises(MailboxError, match="no answer"):
                with source(dovecot, timeout=0.5):
                    pass
        finally:
            os.killpg(dovecot._proc.pid, signal.SIGCONT)


def test_missing_folder_is_a_mailbox_error(dovecot):
    with pytest.raises(MailboxError, match="open folder 'Nope'"):
        with source(dovecot, folder="Nope"):
            pass


def test_done_folder_equal_to_source_folder_is_a_config_error(dovecot):
    for done in ("INBOX", "inbox"):
        with pytest.raises(ConfigError) as err:
            source(dovecot, done_folder=done)
        assert err.value.key == "mailbox.done_folder"
    source(dovecot, done_folder="INBOX", done_action="flag")  # flagging in place is fine


# ---------------------------------------------------------------- identity and the fixture's config


def test_name_is_a_stable_cursor_key(dovecot):
    s = settings_for(dovecot)
    expected = f"imap://support%40obrolan.example@127.0.0.1:{dovecot.port}/INBOX"
    assert source_name(s) == expected
    assert source_name(dataclasses.replace(s, scheme="imap+starttls")) == expected
    src = ImapSource(s, dovecot.password)
    assert src.name == expected
    assert isinstance(src, MailSource)


def test_config_toml_points_at_the_server(dovecot, tmp_path):
    path = dovecot.config_toml(tmp_path, mailbox__batch_size=7, mailbox__done_action="flag")
    settings = config.load(path)
    mb = settings.mailbox
    assert (mb.scheme, mb.host, mb.port, mb.user, mb.folder) == ("imap", "127.0.0.1", dovecot.port, dovecot.user, "INBOX")
    assert (mb.batch_size, mb.done_action) == (7, "flag")
    assert config.load(dovecot.config_toml(tmp_path)).mailbox.done_action == "move"
    assert mb.password() == dovecot.password
    assert settings.database_path == tmp_path / "abuse-intake.db"
    assert settings.outgoing.scheme == "dir" and settings.outgoing.path == tmp_path / "sent"
    assert set(settings.categories) == {"human_trafficking", "prostitution", "sexual_solicitation",
                                        "sexual_content", "other"}
    dovecot.append(message(1))
    with ImapSource(mb, mb.password()) as src:
        assert len(uids_of(fetch_all(src, Cursor(None, 0)))) == 1


# ---------------------------------------------------------------- TLS


@pytest.mark.parametrize("scheme", ["imaps", "imap+starttls"])
def test_tls_schemes_fetch_over_a_verified_connection(dovecot_tls, monkeypatch, scheme):
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot_tls.cert))
    raw = message(1)
    dovecot_tls.append(raw)
    port = dovecot_tls.tls_port if scheme == "imaps" else dovecot_tls.port
    with source(dovecot_tls, scheme=scheme, port=port) as src:
        [[msg]] = fetch_all(src, Cursor(src.uidvalidity(), 0))
        assert src._client._imap.sock.version().startswith("TLS")
        src.mark_done([msg.source])
    assert msg.data == raw
    assert dovecot_tls.folder_count("Processed") == 1


@pytest.mark.parametrize("scheme", ["imaps", "imap+starttls"])
def test_untrusted_certificate_is_a_mailbox_error(dovecot_tls, scheme):
    port = dovecot_tls.tls_port if scheme == "imaps" else dovecot_tls.port
    with pytest.raises(MailboxError, match="TLS certificate not trusted") as err:
        with source(dovecot_tls, scheme=scheme, port=port):
            pass
    assert dovecot_tls.password not in str(err.value)


def test_starttls_against_a_server_without_it_is_a_mailbox_error(dovecot):
    with pytest.raises(MailboxError, match="STARTTLS"):
        with source(dovecot, scheme="imap+starttls"):
            pass


def test_after_a_lost_connection_every_call_is_a_mailbox_error(dovecot):
    dovecot.append(message(1))
    with source(dovecot) as src:
        v = src.uidvalidity()
        dovecot.stop()
        with pytest.raises(MailboxError):
            fetch_all(src, Cursor(v, 0))
        dovecot.start()
        with pytest.raises(MailboxError, match="not connected"):
            src.leftovers(Cursor(v, 1))
        with pytest.raises(MailboxError, match="not connected"):
            src.mark_done([Source(mailbox=src.name, uidvalidity=v, uid=1)])
    assert dovecot.uids("INBOX") == [1]


# ---------------------------------------------------------------- end to end: poll against Dovecot


def reports_for(n: int) -> list[bytes]:
    return [email(sender=f"pelapor{i}@gmail.com", body=f"Akun @penipu_nomor{i} open BO tarif 300rb")
            for i in range(n)]


def open_pipeline(cfg):
    # Imported here: the flow pulls in every stage, the IMAP tests above need none of them.
    from abuse_intake.flow import poll as pipeline

    settings = config.load(cfg)
    return pipeline, settings, open_db(settings.database_path)


def test_e2e_poll_files_cases_moves_mail_and_a_rerun_adds_nothing(dovecot, tmp_path):
    dovecot.append_many([
        email(sender="a.one@gmail.com", body="akun @dewi_manja88 open BO tarif 300rb"),
        email(sender="b.two@gmail.com", body="User id dewi_manja88 offers paid sex, rates in bio."),
        email(sender="c.three@gmail.com", subject="lupa password", body="Saya lupa kata sandi, tolong bantu."),
        email(sender="d.four@gmail.com", subject="Out of office", body="I am away.",
              headers={"Auto-Submitted": "auto-replied"}),
    ])
    cfg = dovecot.config_toml(tmp_path, mailbox__batch_size=3)
    first = cli_json(cfg, "poll")
    assert (first["fetched"], first["stored"], first["reports"], first["non_reports"], first["robots"],
            first["cases_opened"]) == (4, 4, 2, 1, 1, 1)
    assert dovecot.uids("INBOX") == []
    assert dovecot.folder_count("Processed") == 4
    # The next run reads only what arrived since: nothing old again, the new report joins the case.
    dovecot.append(email(sender="e.five@gmail.com", body="akun @dewi_manja88 masih open BO"))
    second = cli_json(cfg, "poll")
    assert (second["fetched"], second["stored"], second["cases_opened"], second["duplicates"]) == (1, 1, 0, 0)
    cases = cli_json(cfg, "cases", "list")
    assert [(c["account_id"], c["reporters"], c["reports"]) for c in cases] == [("dewi_manja88", 3, 3)]
    assert dovecot.folder_count("Processed") == 5


def test_e2e_server_down_exits_75_and_the_next_run_catches_up(dovecot, tmp_path):
    dovecot.append_many(reports_for(2))
    cfg = dovecot.config_toml(tmp_path)
    assert cli(cfg, "init").returncode == 0  # the database exists (init), so stderr holds only the error
    dovecot.stop()
    proc = cli(cfg, "poll", "--json")
    assert proc.returncode == 75, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "connection refused" in lines[0], proc.stderr
    assert dovecot.password not in proc.stderr + proc.stdout
    dovecot.start()
    out = cli_json(cfg, "poll")
    assert (out["fetched"], out["reports"], out["cases_opened"]) == (2, 2, 2)


def test_e2e_server_stopped_mid_run_keeps_committed_batches_and_resumes(dovecot, tmp_path):
    dovecot.append_many(reports_for(6))
    pipeline, settings, db = open_pipeline(dovecot.config_toml(tmp_path, mailbox__batch_size=2,
                                                               mailbox__mark_done_every=1))

    def stop_after_first_batch(summary):
        dovecot.stop()

    with pytest.raises(MailboxError):
        pipeline.poll(db, settings, open_source(settings), on_batch=stop_after_first_batch)
    assert len(msg_store.list_messages(db)) == 2
    dovecot.start()
    assert dovecot.folder_count("Processed") == 2  # the committed batch was marked before the stop
    summary = pipeline.poll(db, settings, open_source(settings))
    assert (summary.fetched, summary.stored, summary.duplicates, summary.cases_opened) == (4, 4, 0, 4)
    assert len(msg_store.list_messages(db)) == 6
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == 6


def test_e2e_grouped_marking_leaves_committed_batches_for_the_next_run(dovecot, tmp_path):
    """With marking grouped (the default), a run stopped mid-way has committed batches still in
    the INBOX: the next run marks them as leftovers and stores nothing twice."""
    dovecot.append_many(reports_for(6))
    pipeline, settings, db = open_pipeline(dovecot.config_toml(tmp_path, mailbox__batch_size=2))
    assert settings.mailbox.mark_done_every > 6

    def stop_after_second_batch(summary):
        if summary.fetched == 4:
            dovecot.stop()

    with pytest.raises(MailboxError):
        pipeline.poll(db, settings, open_source(settings), on_batch=stop_after_second_batch)
    dovecot.start()
    assert dovecot.folder_count("Processed") == 0 and len(dovecot.uids("INBOX")) == 6
    summary = pipeline.poll(db, settings, open_source(settings))
    assert (summary.leftovers_marked, summary.fetched, summary.stored) == (4, 2, 2)
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == 6
    assert len(msg_store.list_messages(db)) == 6


def test_e2e_uidvalidity_change_rescans_without_duplicates(dovecot, tmp_path):
    """Flag mode keeps mail in INBOX, so a new UIDVALIDITY makes every message look new."""
    dovecot.append_many(reports_for(3))
    pipeline, settings, db = open_pipeline(dovecot.config_toml(tmp_path, mailbox__done_action="flag"))
    first = pipeline.poll(db, settings, open_source(settings))
    assert (first.fetched, first.reports, first.cases_opened) == (3, 3, 3)
    assert all(KEYWORD.encode() in f and b"\\Seen" in f for f in dovecot.fetch_flags("INBOX").values())
    dovecot.set_uidvalidity(dovecot.uidvalidity() + 7)
    again = pipeline.poll(db, settings, open_source(settings))
    assert again.uidvalidity_changed
    assert (again.fetched, again.stored, again.duplicates, again.cases_opened) == (3, 0, 3, 0)
    calm = pipeline.poll(db, settings, open_source(settings))
    assert (calm.fetched, calm.uidvalidity_changed) == (0, False)
    assert len(msg_store.list_messages(db)) == 3


def test_e2e_crash_between_commit_and_marking_is_finished_by_the_next_run(dovecot, tmp_path):
    dovecot.append_many(reports_for(3))
    cfg = dovecot.config_toml(tmp_path)
    proc = cli(cfg, "poll", env={"ABUSE_INTAKE_CRASH_AT": "after_commit"})
    assert proc.returncode == -signal.SIGKILL
    assert len(dovecot.uids("INBOX")) == 3  # committed, never marked
    out = cli_json(cfg, "poll", "--no-send")
    assert (out["fetched"], out["stored"], out["leftovers_marked"]) == (0, 0, 3)
    assert dovecot.uids("INBOX") == [] and dovecot.folder_count("Processed") == 3
    _, settings, db = open_pipeline(cfg)
    assert len(msg_store.list_messages(db)) == 3
