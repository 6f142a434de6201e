"""parse/message.py (+ html.py, arf.py): raw bytes -> ParsedMessage, on literal bytes."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from abuse_intake.config import Limits
from abuse_intake.errors import ParseError
from abuse_intake.models import ParsedMessage
from abuse_intake.parse import message as message_mod
from abuse_intake.parse.arf import arf_fields
from abuse_intake.parse.html import html_links, html_to_text
from abuse_intake.parse.fallback import parse_with_mailparser
from abuse_intake.parse.message import parse_message
from abuse_intake.parse.mime import MAX_DEPTH, MAX_TEXT_CHARS

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
EMAILS = Path(__file__).resolve().parent / "emails"
LIMITS = Limits()
UTC = timezone.utc


def mail(*lines: str, body: str = "hello", sep: str = "\n") -> bytes:
    return (sep.join(lines) + sep + sep + body).encode("utf-8")


def parse(data: bytes, limits: Limits = LIMITS) -> ParsedMessage:
    return parse_message(data, limits)


def sample(name: str) -> ParsedMessage:
    (path,) = SAMPLES.glob(f"{name}_*.eml")
    return parse(path.read_bytes())


def email_file(name: str) -> ParsedMessage:
    return parse((EMAILS / name).read_bytes())


# ------------------------------------------------------------------ refusals


def test_message_over_the_size_limit_is_refused_with_its_size():
    data = mail("From: a@example.org", body="x" * 2000)
    with pytest.raises(ParseError, match=rf"message is {len(data)} bytes, over limits.max_message_bytes"):
        parse(data, Limits(max_message_bytes=1000))


@pytest.mark.parametrize("data", [b"", b"  \r\n\r\n  "], ids=["empty", "blank"])
def test_empty_message_is_refused(data):
    with pytest.raises(ParseError, match="empty"):
        parse(data)


def test_non_bytes_is_refused():
    with pytest.raises(ParseError, match="not bytes"):
        parse_message("From: a@b.example\n\nhi", LIMITS)  # type: ignore[arg-type]


# ------------------------------------------------------------------- headers


def test_basic_headers():
    m = parse(
        mail(
            "From: =?utf-8?Q?Dewi_=E2=80=93_Bandung?= <Dewi.S@Gmail.COM>",
            "Reply-To: Other <Other@Example.org>",
            "Return-Path: <Dewi.S@gmail.com>",
            "Subject: Laporan akun",
            "Message-ID:  <  abc.123@mail.gmail.com > ",
            "In-Reply-To: <obr-1.x@obrolan.example>",
            "References: <root@a.example>\n <obr-1.x@obrolan.example>",
            "Date: Tue, 14 Apr 2026 07:20:49 +0700",
        )
    )
    assert m.from_address == "dewi.s@gmail.com"
    assert m.from_name == "Dewi – Bandung"
    assert m.reply_to == "other@example.org"
    assert m.return_path == "dewi.s@gmail.com"
    assert m.subject == "Laporan akun"
    assert m.message_id == "abc.123@mail.gmail.com"
    assert m.in_reply_to == ("obr-1.x@obrolan.example",)
    assert m.references == ("root@a.example", "obr-1.x@obrolan.example")
    assert m.date == datetime(2026, 4, 14, 0, 20, 49, tzinfo=UTC)
    assert m.text == "hello"
    assert m.content_type == "text/plain"
    assert m.defects == ()


def test_missing_headers_give_empty_values():
    m = parse(mail("To: support@obrolan.example"))
    assert (m.from_address, m.from_name, m.reply_to, m.return_path) == (None, "", None, None)
    assert (m.message_id, m.subject, m.date, m.received_date) == (None, "", None, None)
    assert m.in_reply_to == m.references == ()
    assert "no From header" in m.defects


def test_null_return_path_is_empty_string():
    assert parse(mail("From: MAILER-DAEMON@mx.example", "Return-Path: <>")).return_path == ""
    assert parse(mail("From: a@b.example", "Return-Path: < >")).return_path == ""


def test_from_without_an_address_is_none_with_a_defect():
    m = parse(mail("From: just a name"))
    assert m.from_address is None
    assert "From has no usable address" in m.defects


def test_from_with_a_comment_form_and_a_group_is_read_by_getaddresses():
    m = parse(mail("From: MAILER-DAEMON@relay.example (Mail Delivery System)"))
    assert (m.from_address, m.from_name) == ("mailer-daemon@relay.example", "Mail Delivery System")
    m = parse(mail('From: "Doe, Jane" <jane@x.example>, bob@y.example'))
    assert (m.from_address, m.from_name) == ("jane@x.example", "Doe, Jane")


def test_raw_8bit_headers_are_decoded_utf8_then_cp1252():
    latin = "From: Jürgen Grüße <j@x.example>\nSubject: Grüße aus Köln\n\nhi".encode("latin-1")
    m = parse(latin)
    assert (m.from_name, m.subject) == ("Jürgen Grüße", "Grüße aus Köln")
    utf8 = "From: Jürgen <j@x.example>\nSubject: Grüße\n\nhi".encode("utf-8")
    assert parse(utf8).subject == "Grüße"


def test_rfc2047_words_split_inside_a_utf8_character_are_joined():
    # "é" (c3 a9) split across two B-encoded words.
    m = parse(mail("From: a@b.example", "Subject: =?utf-8?B?Y2Fmw6k=?= =?utf-8?B?IMOp?= =?utf-8?Q?t=C3=A9?= plain"))
    assert m.subject == "café été plain"
    m = parse(mail("From: a@b.example", "Subject: =?utf-8?B?w6k=?=", "X: y"))
    assert m.subject == "é"
    m = parse(mail("From: a@b.example", "Subject: =?utf-8?B?w?= =?utf-8?B?qQ==?="))  # split mid-base64
    assert "\x00" not in m.subject


def test_subject_keeps_decoded_crlf_for_the_sanitiser():
    m = parse(mail("From: a@b.example", "Subject: =?UTF-8?B?UmVwb3J0DQpCY2M6IHhAeS5leGFtcGxl?="))
    assert m.subject == "Report\r\nBcc: x@y.example"


def test_unknown_charset_in_a_header_word_is_a_defect_not_an_error():
    m = parse(mail("From: a@b.example", "Subject: =?x-nonsense?Q?caf=C3=A9?="))
    assert m.subject == "café"
    assert any("unknown charset 'x-nonsense'" in d for d in m.defects)


def test_signal_headers_are_kept_lower_cased_and_decoded():
    m = parse(
        mail(
            "From: a@b.example",
            "AUTO-SUBMITTED: auto-replied",
            "X-Auto-Response-Suppress: All",
            "List-Id: <x.list.example>",
            "Precedence: bulk",
            "Content-Language: id-ID",
            "X-Mailer: =?utf-8?Q?M=C3=A4iler?=",
            "X-Unrelated: dropped",
        )
    )
    assert m.headers["auto-submitted"] == "auto-replied"
    assert m.headers["x-auto-response-suppress"] == "All"
    assert m.headers["list-id"] == "<x.list.example>"
    assert m.headers["precedence"] == "bulk"
    assert m.headers["content-language"] == "id-ID"
    assert m.headers["x-mailer"] == "Mäiler"
    assert "x-unrelated" not in m.headers


# --------------------------------------------------------------------- dates

RECEIVED = "Received: from a.example by mx.example with ESMTP id 1;\n\tMon, 13 Apr 2026 13:23:08 +0000 (UTC)"


def test_received_date_comes_from_the_topmost_received_header():
    older = "Received: by b.example with SMTP id 2; Mon, 13 Apr 2026 06:23:00 -0700 (PDT)"
    m = parse(mail("From: a@b.example", RECEIVED, older, "Date: Mon, 13 Apr 2026 20:22:59 +0700"))
    assert m.received_date == datetime(2026, 4, 13, 13, 23, 8, tzinfo=UTC)
    assert m.date == datetime(2026, 4, 13, 13, 22, 59, tzinfo=UTC)


def test_received_with_an_odd_layout_uses_mail_parsers_scanner():
    # Two ";" at top level: the date is after the second (a known MTA shape).
    odd = "Received: from a.example by mx.example id 9; for <s@o.example>; Mon, 13 Apr 2026 13:23:08 +0000"
    assert parse(mail("From: a@b.example", odd)).received_date == datetime(2026, 4, 13, 13, 23, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    "date",
    ["Date: yesterday-ish", "Date: Mon, 1 Jan 1979 00:00:00 +0000", "Date: Fri, 17 Apr 2026 13:23:09 +0000", "Date: "],
    ids=["garbage", "before-1990", "future-vs-received", "empty"],
)
def test_absurd_or_unreadable_dates_are_none(date):
    m = parse(mail("From: a@b.example", RECEIVED, date))
    assert m.date is None
    assert m.received_date is not None


def test_date_is_checked_against_now_without_received():
    future = datetime.now(UTC) + timedelta(days=5)
    m = parse(mail("From: a@b.example", f"Date: {future.strftime('%a, %d %b %Y %H:%M:%S +0000')}"))
    assert m.date is None
    assert any("implausible" in d for d in m.defects)


def test_date_without_zone_is_taken_as_utc():
    m = parse(mail("From: a@b.example", "Date: Mon, 13 Apr 2026 13:23:08"))
    assert m.date == datetime(2026, 4, 13, 13, 23, 8, tzinfo=UTC)


# ---------------------------------------------------------------------- text


def multipart(ctype: str, *parts: str, boundary: str = "BND", head: tuple[str, ...] = ("From: a@b.example",)) -> bytes:
    body = "".join(f"--{boundary}\n{p}\n" for p in parts) + f"--{boundary}--\n"
    return mail(*head, "MIME-Version: 1.0", f'Content-Type: {ctype}; boundary="{boundary}"', body=body)


def test_plain_part_is_preferred_and_links_come_from_the_html_part():
    m = parse(
        multipart(
            "multipart/alternative",
            'Content-Type: text/plain; charset="UTF-8"\n\nReport this user please',
            'Content-Type: text/html; charset="UTF-8"\n\n<div>Report <a href="https://obrolan.example/u/x.y_z">this user</a> please</div>',
        )
    )
    assert m.text == "Report this user please"
    assert m.html_links == ("https://obrolan.example/u/x.y_z",)


def test_html_only_is_turned_into_text():
    html = (
        "<html><head><title>t</title><style>p {color: red}</style></head><body>"
        "<div>Hello,&nbsp;admin</div><div><br></div><p>Akun <b>@nakal_01</b> &amp; teman&#8217;nya</p>"
        "<ul><li>satu</li><li>dua</li></ul><script>alert('x')</script><!-- hidden --></body></html>"
    )
    m = parse(mail("From: a@b.example", "Content-Type: text/html; charset=utf-8", body=html))
    assert m.text == "Hello, admin\n\nAkun @nakal_01 & teman’nya\n\nsatu\ndua"
    assert "color" not in m.text and "alert" not in m.text and "hidden" not in m.text


def test_inline_text_parts_around_an_image_are_joined_in_order():
    m = email_file("parse_apple_split_text.eml")
    assert m.text == "Pagi admin, akun ini kirim foto vulgar.\nID: contoh.akun_satu\nDikirim dari iPhone saya"
    assert m.from_name == "Budi Santoso – Jakarta"
    assert m.from_address == "budi.santoso@icloud.com"
    assert m.subject == "Laporan akun 🚨"
    assert m.message_id == "0974E84B-1111@icloud.com"
    assert [(a.filename, a.content_type) for a in m.attachments] == [("IMG_0001.png", "image/png")]
    assert m.attachments[0].payload.startswith(b"\x89PNG")


def test_crlf_text_is_normalised_to_lf():
    m = parse(mail("From: a@b.example", body="line one\r\nline two\r\n", sep="\r\n"))
    assert m.text == "line one\nline two"


def test_unknown_body_charset_falls_back_with_a_defect():
    data = b"From: a@b.example\nContent-Type: text/plain; charset=x-klingon\n\ncaf\xc3\xa9 and \xe9"
    m = parse(data)
    assert m.text == "cafÃ© and é"  # not UTF-8 as a whole: every byte read as cp1252
    assert any("unknown charset 'x-klingon'" in d for d in m.defects)
    data = b"From: a@b.example\nContent-Type: text/plain; charset=x-klingon\n\ncaf\xc3\xa9"
    assert parse(data).text == "café"


def test_latin1_label_with_cp1252_bytes_gives_smart_quotes():
    data = b"From: a@b.example\nContent-Type: text/plain; charset=iso-8859-1\n\n\x93short time\x94 \x96 caf\xe9"
    assert parse(data).text == "“short time” – café"


def test_wrong_declared_charset_is_a_defect():
    data = b"From: a@b.example\nContent-Type: text/plain; charset=utf-8\n\ncaf\xe9"
    m = parse(data)
    assert m.text == "caf\ufffd"
    assert any("invalid in declared charset 'utf-8'" in d for d in m.defects)


def test_missing_charset_with_8bit_body_tries_utf8_then_cp1252():
    assert parse(b"From: a@b.example\n\ncaf\xc3\xa9").text == "café"
    assert parse(b"From: a@b.example\n\ncaf\xe9").text == "café"


def test_nul_bytes_are_removed_from_text():
    m = parse(b"From: a@b.example\nSubject: a\x00b\n\nhel\x00lo")
    assert m.text == "hello"
    assert m.subject == "ab"
    assert "NUL characters removed from text" in m.defects


def test_multipart_without_its_boundary_is_read_as_text():
    data = mail("From: a@b.example", "Content-Type: multipart/mixed", body="akun @tanpa_batas kirim spam")
    m = parse(data)
    assert "akun @tanpa_batas kirim spam" in m.text
    assert any("without usable boundary" in d for d in m.defects)


# ----------------------------------------------------------------- forwards


def test_attached_message_text_is_kept_apart():
    m = parse(
        multipart(
            "multipart/mixed",
            "Content-Type: text/plain\n\nForwarding the spam below.",
            "Content-Type: message/rfc822\n\nFrom: Spam <s@spam.example>\nSubject: Hot\n\nAdd me: @spam.account_1",
        )
    )
    assert m.text == "Forwarding the spam below."
    assert "@spam.account_1" not in m.text
    assert m.forwarded_text == "From: Spam <s@spam.example>\nSubject: Hot\n\nAdd me: @spam.account_1"


def test_forwarded_html_keeps_its_links_in_forwarded_text():
    m = email_file("parse_forward_html_only.eml")
    assert m.text == "Tolong cek spam di bawah ini."
    assert m.html_links == ()
    assert "Subject: Kenalan yuk 😘" in m.forwarded_text
    assert "https://obrolan.example/u/spam.cewek_99" in m.forwarded_text


def test_a_forward_inside_a_forward_is_forwarded_text_too():
    inner = "From: c@c.example\nSubject: inner\n\ninner words"
    middle = f'From: b@b.example\nSubject: middle\nContent-Type: multipart/mixed; boundary="m"\n\n--m\nContent-Type: text/plain\n\nmiddle words\n--m\nContent-Type: message/rfc822\n\n{inner}\n--m--'
    m = parse(multipart("multipart/mixed", "Content-Type: text/plain\n\nmine", f"Content-Type: message/rfc822\n\n{middle}"))
    assert m.text == "mine"
    assert "middle words" in m.forwarded_text and "inner words" in m.forwarded_text


def test_base64_encoded_attached_message_is_still_read():
    import base64

    inner = base64.b64encode(b"From: s@spam.example\nSubject: x\n\nencoded words").decode()
    m = parse(
        multipart(
            "multipart/mixed",
            "Content-Type: text/plain\n\nsee attached",
            f"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n{inner}",
        )
    )
    assert "encoded words" in m.forwarded_text
    assert m.text == "see attached"


def test_delivery_status_notification():
    m = parse(
        multipart(
            "multipart/report; report-type=delivery-status",
            "Content-Type: text/plain\n\nCould not deliver.",
            "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; x@y.example\nAction: failed",
            "Content-Type: message/rfc822\n\nFrom: support@obrolan.example\nSubject: ack\n\nakun @returned_one",
        )
    )
    assert m.report_type == "delivery-status"
    assert m.text == "Could not deliver."
    assert "@returned_one" in m.forwarded_text


def test_delivery_status_part_outside_multipart_report_still_marks_a_bounce():
    m = parse(
        multipart(
            "multipart/mixed",
            "Content-Type: text/plain\n\nfailed",
            "Content-Type: message/delivery-status\n\nAction: failed",
        )
    )
    assert m.report_type == "delivery-status"


# ----------------------------------------------------------------------- ARF


def test_arf_fields_and_headers_only_original():
    m = email_file("parse_arf_headers_only.eml")
    assert m.report_type == "feedback-report"
    assert m.arf == {
        "feedback-type": "abuse",
        "user-agent": "PartnerFBL/1.0",
        "version": "1",
        "original-rcpt-to": "<a@partner.example>, <b@partner.example>",
        "source-ip": "203.0.113.9",
    }
    assert "@tante.genit_01" in m.forwarded_text
    assert m.text == "This is an abuse report."


def test_arf_fields_from_an_unparsed_body():
    from email.message import Message

    part = Message()
    part["Content-Type"] = "message/feedback-report"
    part.set_payload("Feedback-Type: abuse\nSource-IP: 192.0.2.1\n")
    assert arf_fields(part) == {"feedback-type": "abuse", "source-ip": "192.0.2.1"}


# --------------------------------------------------------------- attachments


def test_attachments_are_decoded_hashed_and_named_as_data():
    m = email_file("parse_rfc2231_filename.eml")
    assert m.text == "Bukti terlampir, café “Melati”."
    pdf, note = m.attachments
    assert (pdf.filename, pdf.content_type) == ("bukti percakapan ✓.pdf", "application/pdf")
    assert pdf.payload.startswith(b"%PDF-1.4")
    assert pdf.sha256 == hashlib.sha256(pdf.payload).hexdigest()
    assert (note.filename, note.content_type, note.payload) == ("catatan.txt", "text/plain", b"isi catatan")
    assert "isi catatan" not in m.text


def test_path_like_filename_is_kept_verbatim():
    m = parse(
        multipart(
            "multipart/mixed",
            "Content-Type: text/plain\n\nsee file",
            'Content-Type: image/jpeg; name="../../../etc/passwd"\nContent-Disposition: attachment; filename="../../../etc/passwd"\nContent-Transfer-Encoding: base64\n\n/9j/4AAQ',
        )
    )
    assert m.attachments[0].filename == "../../../etc/passwd"
    assert m.attachments[0].payload == b"\xff\xd8\xff\xe0\x00\x10"


def test_unnamed_inline_image_is_an_attachment_but_unnamed_inline_octets_are_not():
    m = parse(
        multipart(
            "multipart/related",
            "Content-Type: text/html\n\n<p>hi</p>",
            "Content-Type: image/gif\nContent-Disposition: inline\nContent-Transfer-Encoding: base64\n\nR0lGODlh",
            "Content-Type: application/pgp-signature\nContent-Disposition: inline\n\nsig",
        )
    )
    assert [(a.filename, a.content_type) for a in m.attachments] == [("", "image/gif")]


def test_attachment_count_limit_keeps_the_record_without_payload():
    parts = [f'Content-Type: image/png; name="{i}.png"\nContent-Transfer-Encoding: base64\n\niVBORw0K' for i in range(4)]
    m = parse(multipart("multipart/mixed", "Content-Type: text/plain\n\nhi", *parts), Limits(max_attachments=2))
    assert [a.filename for a in m.attachments] == ["0.png", "1.png", "2.png", "3.png"]
    assert [bool(a.payload) for a in m.attachments] == [True, True, False, False]
    assert m.attachments[2].skipped_reason == "over limits.max_attachments (2)"
    assert m.attachments[2].sha256 == ""


def test_attachment_total_bytes_limit():
    parts = [f'Content-Type: application/octet-stream; name="{i}.bin"\n\n{"x" * 60}' for i in range(3)]
    m = parse(multipart("multipart/mixed", *parts), Limits(max_attachment_bytes=130))
    assert [len(a.payload) for a in m.attachments] == [60, 60, 0]
    assert m.attachments[2].skipped_reason == "over limits.max_attachment_bytes (130) in total"


def test_truncated_base64_and_missing_closing_boundary():
    data = (
        b"From: a@b.example\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain\n\n"
        b"akun @masih_ada\n\n--zz\nContent-Type: image/png; name=s.png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgoAAAANSUhEU"
    )
    m = parse(data)
    assert m.text == "akun @masih_ada"
    assert m.attachments[0].payload.startswith(b"\x89PNG\r\n\x1a\n")
    assert "CloseBoundaryNotFoundDefect" in m.defects


# --------------------------------------------------------- hostile structure


def nested(levels: int) -> bytes:
    head = b"From: a@b.example\nContent-Type: multipart/mixed; boundary=b0\n\n"
    body = b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(levels))
    return head + body + b"--b%d\nContent-Type: text/plain\n\nhello deep\n" % levels


def test_nesting_past_our_depth_is_a_defect():
    m = parse(nested(MAX_DEPTH + 10))
    assert any("nesting deeper than" in d for d in m.defects)
    assert m.from_address == "a@b.example"


def test_shallow_nesting_is_read():
    assert parse(nested(10)).text == "hello deep"


def test_nesting_that_defeats_the_stdlib_parser_is_a_parse_error():
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(nested(5000))


def test_hundreds_of_multipart_containers_are_refused_before_parsing():
    with pytest.raises(ParseError, match="multipart containers"):
        parse(nested(message_mod.MAX_MULTIPARTS + 1))
    assert parse(nested(message_mod.MAX_MULTIPARTS - 5)).from_address == "a@b.example"


def test_huge_header_and_huge_mime_parameter_do_not_break_parsing():
    m = parse(b"From: a@b.example\nSubject: " + b"x" * 2_000_000 + b"\n\nbody")
    # Issue 15: the subject is cut before decoding (it was kept whole and cost seconds downstream).
    assert m.text == "body" and m.subject == "x" * 1000
    assert any("header field(s) over" in d for d in m.defects) and "Subject cut to 1000 characters" in m.defects
    quoted = b'From: a@b.example\nContent-Type: multipart/mixed; boundary="x"; junk="' + b";" * 500_000 + b'"\n\n--x\nContent-Type: text/plain\n\nhi\n--x--\n'
    m = parse(quoted)
    assert any("cut short" in d for d in m.defects)


def test_binary_junk_is_lenient():
    m = parse(b"\x00\x01\x02 garbage \xff\xfe")
    assert m.from_address is None
    assert "garbage" in m.text


# ----------------------------------------------------------------- fallback


def test_mailparser_fallback_reads_a_message_directly():
    data = (SAMPLES / "029_missing-closing-boundary.eml").read_bytes()
    m = parse_with_mailparser(data, LIMITS, "RuntimeError: forced")
    assert m.from_address == "ratih.purnama@gmail.com"
    assert m.message_id == "CABTlljPnrIB9MJTJ7FPtO8Tl8cyoHHv3AE4@mail.gmail.com"
    assert "foto.panas_daily" in m.text
    assert m.attachments[0].filename == "Screenshot_20260423-091502.png"
    assert m.attachments[0].payload.startswith(b"\x89PNG")
    assert m.received_date == datetime(2026, 4, 23, 2, 20, 55, tzinfo=UTC)
    assert m.date == datetime(2026, 4, 23, 2, 20, 53, tzinfo=UTC)
    assert m.return_path == "ratih.purnama@gmail.com"
    assert any("mail-parser fallback after: RuntimeError: forced" in d for d in m.defects)


def test_parse_message_falls_back_when_the_stdlib_path_raises(monkeypatch):
    # Fault injection: no real input makes our stdlib path raise today.
    def broken(data, limits):
        raise ValueError("simulated bug")

    monkeypatch.setattr(message_mod, "_parse_stdlib", broken)
    m = parse((SAMPLES / "026_outlook-fwd-rfc822.eml").read_bytes())
    assert m.from_address == "george.tan@outlook.com"
    assert "Forwarding this spam email" in m.text
    assert any("ValueError: simulated bug" in d for d in m.defects)


def test_parse_error_when_both_parsers_fail(monkeypatch):
    def broken(data, limits):
        raise ValueError("simulated bug")

    monkeypatch.setattr(message_mod, "_parse_stdlib", broken)
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(nested(5000))


def test_mailparser_logger_is_quiet():
    assert logging.getLogger("mailparser").getEffectiveLevel() >= logging.CRITICAL


# ---------------------------------------------------------------------- HTML


def test_html_to_text_and_links():
    text, links = html_to_text(
        '<p>a &lt; b</p>1 < 2<br>x<a HREF = \'/u/one\'>one</a><a href=/u/two>two</a><a name="n">no</a>'
        '<a title="t" href="https://x.example/?a=1&amp;b=2">three</a><a href="/u/one">dup</a>'
    )
    assert text == "a < b\n\n1 < 2\nxonetwonothreedup"
    assert links == ("/u/one", "/u/two", "https://x.example/?a=1&b=2")
    assert html_links('<a href="/u/one"><a\nhref="/u/two">') == ("/u/one", "/u/two")


def test_html_table_cells_are_kept_apart():
    # A browser shows cells side by side; their texts must not run into one
    # word ("user.name" + "posts ..." -> "user.nameposts") (issue 16, file 124).
    text = html_to_text("<table><tr><th>Username</th><th>Reason</th></tr>"
                        "<tr><td>anna.b_12</td><td>posts porn</td></tr></table>")[0]
    assert text == "Username Reason\nanna.b_12 posts porn"
    assert html_to_text("a<td>b</td>c")[0] == "a b c"


def test_html_unclosed_constructs():
    assert html_to_text("before<!-- never closed <a href=x>")[0] == "before"
    assert html_to_text("before<style>p{}")[0] == "before"
    assert html_to_text("<head><title>t</title>text without body")[0] == "text without body"
    assert html_to_text("tail <a href='x'")[0] == "tail"


@pytest.mark.parametrize("junk", ["<!--", "</", "<a ", "<![", "&#", "<", "<style>", '<a href="'])
def test_html_adversarial_repetition_completes(junk):
    # html.parser is quadratic on these; the scanner must simply finish.
    text, _ = html_to_text(junk * 50_000)
    assert isinstance(text, str)
    assert isinstance(html_links(junk * 50_000), tuple)


# ------------------------------------------------------------------ samples


def test_sample_007_handle_only_in_href():
    m = sample("007")
    assert "https://obrolan.example/u/om.genit_77" in m.html_links
    assert "om.genit_77" not in m.text
    assert "I want to report this user." in m.text
    assert "font-family" not in m.text


def test_sample_026_forward_kept_apart():
    m = sample("026")
    assert "jessy.escort_bdg" in m.forwarded_text
    assert "jessy.escort_bdg" not in m.text
    assert "Forwarding this spam email as an attachment" in m.text


def test_sample_029_truncated_still_has_text():
    m = sample("029")
    assert m.text.strip()
    assert "foto.panas_daily" in m.text
    assert m.attachments and m.attachments[0].filename == "Screenshot_20260423-091502.png"


def test_sample_016_filename_is_data():
    m = sample("016")
    assert [a.filename for a in m.attachments] == ["../../../etc/passwd"]
    assert m.attachments[0].payload.startswith(b"\xff\xd8")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("021", ["Pecinta Café Bandung", "± 3 hari", "@bang.jago_vcs"]),
        ("025", ["ID Obrolan: tante.hot_live", "foto bugil", "Hormat saya,\nYosef Manurung"]),
        ("010", ["I’d like to report ID Obrolan: Sinta_BO.jkt – it sent", "“short time”"]),
    ],
)
def test_samples_text_decodes(name, words):
    m = sample(name)
    for word in words:
        assert word in m.text
    assert "\ufffd" not in m.text


def test_sample_024_subject_decoded_with_its_crlf():
    assert sample("024").subject == "Report: bang.jago_vcs\r\nBcc: victim@evil.example"


def test_sample_030_arf():
    m = sample("030")
    assert m.arf is not None and m.arf["feedback-type"] == "abuse"
    assert "@lisa.panggilan_mdn" in m.forwarded_text
    assert "Subject: Teman malam di Medan" in m.forwarded_text
    assert "lisa.panggilan_mdn" not in m.text


def test_sample_031_no_from():
    m = sample("031")
    assert m.from_address is None and m.return_path is None
    assert "mami.rosa_vip" in m.text


def test_sample_022_dsn_returned_message_is_forwarded_text():
    m = sample("022")
    assert m.return_path == ""
    assert m.report_type == "delivery-status"
    assert "bang.jago_vcs" in m.forwarded_text


def test_codec_that_refuses_replace_is_survived():
    data = b"From: a@b.example\nContent-Type: text/plain; charset=idna\n\n\xff\xfe bad"
    m = parse(data)
    assert "bad" in m.text
    assert any("invalid in declared charset 'idna'" in d for d in m.defects)


def test_non_text_codec_name_is_an_unknown_charset():
    m = parse(b"From: a@b.example\nContent-Type: text/plain; charset=base64\n\nplain words")
    assert m.text == "plain words"
    assert any("unknown charset 'base64'" in d for d in m.defects)


def test_very_long_text_is_cut_with_a_defect():
    m = parse(mail("From: a@b.example", body="kata " * (MAX_TEXT_CHARS // 4)))
    assert len(m.text) == MAX_TEXT_CHARS
    assert any("text cut to" in d for d in m.defects)
