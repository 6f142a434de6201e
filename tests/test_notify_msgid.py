"""Issue 15 items 3 and 15: msg-id headers stay plain ASCII, folded only
between ids, on the wire (a real aiosmtpd) and in `dir:` files; subjects
fold without gaining or losing a space."""

from __future__ import annotations

import email
from datetime import datetime, timezone
from email import policy
from itertools import count

import pytest

from abuse_intake.notify import outbox
from abuse_intake.notify.outbox import deliver_pending
from abuse_intake.notify.render import Renderer
from abuse_intake.notify.smtp import build_message
from abuse_intake.store.db import transaction
from notify_fixtures import add_case, add_message, db_for, settings_for

T0 = datetime(2026, 4, 20, 8, 0, 0, tzinfo=timezone.utc)
_n = count(1)


def _id(length: int, tag: str) -> str:
    """An Exchange-looking id of exactly `length` characters."""
    domain = "@EXCH01.mail.example.com"
    local = f"{tag}{'A1b2C3d4E5' * 30}"[: length - len(domain)]
    return local + domain


def _header_lines(raw: bytes, name: str) -> list[bytes]:
    """The physical lines of one header, as on the wire."""
    lines, out, inside = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"), [], False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if inside:
                out.append(line)
            continue
        inside = line.lower().startswith(name.lower().encode() + b":")
        if inside:
            out.append(line)
    return out


def _check_ids(raw: bytes, name: str, ids: list[str]) -> None:
    lines = _header_lines(raw, name)
    assert lines, f"no {name} header"
    assert all(line.isascii() and b"=?" not in line and len(line) <= 998 for line in lines)
    # Every id whole on one line: folded only between ids.
    for mid in ids:
        assert sum(f"<{mid}>".encode() in line for line in lines) == 1, mid
    unfolded = b"".join(lines).decode()
    assert unfolded.split(":", 1)[1].split() == [f"<{m}>" for m in ids]
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert str(msg[name]).split() == [f"<{m}>" for m in ids]


def _queue(db, settings, parent: str, refs_extra: list[str]) -> int:
    source, _ = add_message(db, reporter="ana@example.com")
    case = add_case(db, account_id=f"acct_{next(_n)}")
    with transaction(db):
        oid = outbox.queue_report_reply(
            db, settings, Renderer(settings), source_message=source, recipient="ana@example.com",
            language="en", reporter_name="Ana", reply_to_message_id=parent, reporter_subject="Report",
            cases=[case])
        db.execute("UPDATE outbox SET refs = ? WHERE id = ?",
                   ('["' + '","'.join([parent, *refs_extra]) + '"]', oid))
    return oid


@pytest.mark.parametrize("length", [60, 77, 87, 130, 200])
def test_long_ids_on_the_wire_are_plain_and_whole(tmp_path, smtp_server, length):
    settings = settings_for(tmp_path, outgoing_url=smtp_server.url())
    db = db_for(settings)
    parent, other = _id(length, "p"), _id(length, "q")
    _queue(db, settings, parent, [other, "short@x.example"])
    assert deliver_pending(db, settings, now=T0).sent == 1
    [got] = smtp_server.messages
    _check_ids(got.raw, "In-Reply-To", [parent])
    _check_ids(got.raw, "References", [parent, other, "short@x.example"])
    _check_ids(got.raw, "Message-ID", [got.message()["Message-ID"].strip("<>")])


@pytest.mark.parametrize("length", [60, 130, 200])
def test_long_ids_in_dir_files_are_plain_and_whole(tmp_path, length):
    settings = settings_for(tmp_path, outgoing_url=f"dir:{tmp_path}/sent")
    db = db_for(settings)
    parent = _id(length, "d")
    _queue(db, settings, parent, [_id(length, "e")])
    assert deliver_pending(db, settings, now=T0).sent == 1
    [path] = (tmp_path / "sent").glob("*.eml")
    raw = path.read_bytes()
    _check_ids(raw, "In-Reply-To", [parent])
    _check_ids(raw, "References", [parent, _id(length, "e")])


def test_our_own_long_message_id_is_not_encoded():
    mid = _id(200, "own").replace("EXCH01.mail.example.com", "obrolan.example")
    raw = build_message(from_name="Support", from_address="support@obrolan.example", to="ana@example.com",
                        subject="s", text="t\n", html="<p>t</p>\n", message_id=mid, in_reply_to=None,
                        references=None, date=T0)
    _check_ids(raw, "Message-ID", [mid])


@pytest.mark.parametrize("subject", [
    "[OB-000001] " + "x" * 90,                       # one word longer than a line
    "[OB-000001] [OB-000002] " + " ".join(["kata"] * 40),
    "Laporan akun — " + "é" * 80 + " z",
])
def test_long_subjects_fold_without_a_leading_or_lost_space(subject):
    raw = build_message(from_name="Support", from_address="support@obrolan.example", to="ana@example.com",
                        subject=subject, text="t\n", html="<p>t</p>\n", message_id="a@obrolan.example",
                        in_reply_to=None, references=None, date=T0)
    first = _header_lines(raw, "Subject")[0]
    assert first.startswith(b"Subject: ") and len(first) > len(b"Subject: ")  # never folded at the colon
    assert str(email.message_from_bytes(raw, policy=policy.default)["Subject"]) == subject
