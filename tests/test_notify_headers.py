"""Values from an email never change our headers; addresses must be plain."""

from __future__ import annotations

import email
from datetime import datetime, timezone
from email import policy

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from abuse_intake.errors import DeliveryError
from abuse_intake.notify.headers import clean_message_id, clean_message_ids, clean_text, plain_address
from abuse_intake.notify.smtp import build_message

HEADERS = ["from", "to", "subject", "date", "message-id", "in-reply-to", "references", "auto-submitted",
           "x-auto-response-suppress", "mime-version", "content-type"]


@pytest.mark.parametrize("raw, clean", [
    ("Report\r\nBcc: victim@evil.example", "Report Bcc: victim@evil.example"),
    ("a\nb\rc\x00d\x1b[31me\x7f", "a b c d [31me"),
    ("line\u2028sep\u2029para\x85nel", "line sep para nel"),
    ("  many   spaces\t\there ", "many spaces here"),
    ("Grüße 🙂 akun", "Grüße 🙂 akun"),
    (None, ""),
])
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


def test_clean_text_cuts_long_values():
    out = clean_text("x" * 1000, 50)
    assert len(out) == 50 and out.endswith("…")


@pytest.mark.parametrize("value, expect", [
    ("ana@example.com", "ana@example.com"),
    ("  Ana.Putri+tag@Mail.Example.COM ", "ana.putri+tag@mail.example.com"),
    ("Ana <ana@example.com>", None),
    ("ana@example.com, bob@example.com", None),
    ("ana@example.com\r\nBcc: x@evil.example", None),
    ('"ana"@example.com', None),
    ("ana@localhost", None),
    ("@example.com", None),
    ("ana@-bad.example", None),
    ("ana..x@example.com", None),
    ("", None),
    (None, None),
])
def test_plain_address(value, expect):
    assert plain_address(value) == expect


@pytest.mark.parametrize("value, expect", [
    ("<CAYYHIJq+wy0@mail.gmail.com>", "CAYYHIJq+wy0@mail.gmail.com"),
    ("abc@host", "abc@host"),
    ("<a@b>\r\nBcc: x@evil.example", None),
    ("no-at-sign", None),
    ("<a b@c>", None),
    (None, None),
])
def test_clean_message_id(value, expect):
    assert clean_message_id(value) == expect


def test_clean_message_ids_keeps_order_drops_bad_and_repeats():
    assert clean_message_ids(["<a@b>", "bad", "c@d", "<a@b>"]) == ["a@b", "c@d"]


def _build(**over):
    args = dict(from_name="Obrolan Support", from_address="support@obrolan.example", to="ana@example.com",
                subject="[OB-000001] Re: hi", text="Halo\n", html="<p>Halo</p>\n",
                message_id="abc123@obrolan.example", in_reply_to="orig@mail.example.com",
                references=["orig@mail.example.com"], date=datetime(2026, 4, 20, tzinfo=timezone.utc))
    args.update(over)
    return build_message(**args)


def _header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return [l.split(b":", 1)[0].decode().lower() for l in head.split(b"\r\n") if l and not l[:1].isspace()]


@settings(max_examples=200, deadline=None)
@given(subject=st.text(), name=st.text(), parent=st.text())
# The stdlib's folding, which these subjects went through before we folded
# Subject ourselves, added or lost a space where it folded (issue 15, item 14):
@example(subject="a" * 75 + " b", name="", parent="")
@example(subject="x" * 60 + " \U0001f600 b", name="", parent="")
@example(subject="0:=?aaaaaaaaaaaaaaaaa;a:( a)aaaaaaaaaaaaaaaaa=?;(::?=)=? ( <\U0001f600", name="", parent="")
def test_no_value_adds_a_header_line(subject, name, parent):
    raw = _build(subject=subject, from_name=name, in_reply_to=parent)
    names = _header_names(raw)
    assert set(names) <= set(HEADERS) and len(names) == len(set(names))
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert [a.addr_spec for a in msg["To"].addresses] == ["ana@example.com"]
    assert msg["Bcc"] is None and msg["Cc"] is None
    assert str(msg["Subject"]) == clean_text(subject, 300)


def test_message_is_seven_bit_crlf_quoted_printable():
    raw = _build(subject="Laporan akun — Grüße", text="Terima kasih — ✓\n", html="<p>✓</p>\n")
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "Laporan akun — Grüße"
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Terima kasih — ✓\n"


def test_unplain_recipient_is_refused():
    with pytest.raises(DeliveryError):
        _build(to="ana@example.com, victim@evil.example")


@settings(max_examples=150, deadline=None)
@given(subject=st.text(), name=st.text(), parent=st.text(), text=st.text(), refs=st.lists(st.text(), max_size=4))
def test_the_cached_header_classes_build_the_same_bytes_as_the_stock_policy(subject, name, parent, text, refs):
    """notify.smtp keeps one header class per name instead of the stdlib's one per
    header; what it builds must not change by a byte (against the same policy with
    the stock registry: Subject and msg-id headers are folded by notify.smtp itself)."""
    from abuse_intake.notify import smtp
    ours = _build(subject=subject, from_name=name, in_reply_to=parent, text=text, references=refs)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(smtp, "POLICY", smtp._Policy(linesep="\r\n"))
        stock = _build(subject=subject, from_name=name, in_reply_to=parent, text=text, references=refs)
    # The MIME boundary is random per message: compare with it masked.
    import re
    mask = lambda raw: re.sub(rb"===============\d+==", b"=B=", raw)  # noqa: E731
    assert mask(ours) == mask(stock)
