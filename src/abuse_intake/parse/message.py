"""Raw bytes -> ParsedMessage.

The stdlib parser with policy compat32 does the work (faster than
mail-parser and loses nothing); mail-parser is the fallback when that path
raises (fallback.py), and lends its bounded Received/Date scanners. One
module per concern:

  hollow.py    large base64 bodies cut out before the stdlib parser runs
  mime.py      the walk over the MIME tree: text, attachments, forwards
  headers.py   header values, addresses, Message-IDs, dates
  decode.py    bytes to text (charsets), lenient base64
  state.py     what one parse collects (defects, attachments within limits)
  fallback.py  the mail-parser second chance
"""

from __future__ import annotations

import re

from datetime import datetime
from email.parser import BytesParser
from email.policy import compat32

from mailparser.exceptions import MailParserRecursionError

from ..config import Limits
from ..errors import ParseError
from ..models import ParsedMessage
from . import hollow as hollowing
from .fallback import parse_with_mailparser
from .headers import (
    UTC, checked_date, first_header, first_mailbox, first_message_id, header_date, header_text, message_ids,
    newest_received_date, parse_return_path, raw_headers, signal_headers,
)
from .mime import MAX_TEXT_CHARS, choose_text, clip_mime_headers, read_forwards, walk
from .state import MAX_ATTACHMENT_RECORDS, State

MAX_MULTIPARTS = 200
# A top-level header field longer than this is cut before parsing (see _clip_long_headers):
# RFC 5322 lines stop at 998 bytes; a long References chain of ~200 ids still fits.
MAX_HEADER_FIELD = 16_384
MAX_SUBJECT_CHARS = 1000  # what is kept (and stored) of a decoded Subject
_HEADER_FIELD = re.compile(rb"[^ \t\r\n][^\n]*(?:\n[ \t][^\n]*)*")


def parse_message(data: bytes, limits: Limits) -> ParsedMessage:
    """Parse one raw email. Raises ParseError only when nothing usable can be made."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParseError(f"message is {type(data).__name__}, not bytes")
    data = bytes(data)
    if len(data) > limits.max_message_bytes:
        raise ParseError(f"message is {len(data)} bytes, over limits.max_message_bytes ({limits.max_message_bytes})")
    if not data[:4096].strip() and not data.strip():  # strip() copies: not on a 20 MB message
        raise ParseError("message is empty")
    # Real mail has a handful of multipart containers; hundreds mean an attack on the
    # parser's recursion (seconds of CPU per message), so refuse before parsing.
    containers = data.count(b"boundary=") + data.count(b"BOUNDARY=")
    if containers > MAX_MULTIPARTS:
        raise ParseError(f"MIME structure nested too deeply: {containers} multipart containers "
                         f"(over {MAX_MULTIPARTS}); not parsed")
    try:
        return _parse_stdlib(data, limits)
    except RecursionError:
        # The stdlib parser recurses once per MIME level and mail-parser uses
        # the same parser, so a fallback cannot do better.
        raise ParseError("MIME structure nested too deeply to parse") from None
    except Exception as exc:  # any other failure: let mail-parser try
        reason = f"{type(exc).__name__}: {exc}"[:300]
    try:
        return parse_with_mailparser(data, limits, reason)
    except (RecursionError, MailParserRecursionError):
        raise ParseError("MIME structure nested too deeply to parse") from None
    except Exception as exc:
        raise ParseError(f"unparseable ({reason}); mail-parser fallback: {type(exc).__name__}: {str(exc)[:300]}") from None


def _parse_stdlib(data: bytes, limits: Limits) -> ParsedMessage:
    st = State(limits)
    min_bytes = hollowing.HOLLOW_MIN_BYTES
    hollowed, prefix, spans = (data, "", []) if min_bytes is None else hollowing.hollow(data, min_bytes)
    msg = BytesParser(policy=compat32).parsebytes(clip_mime_headers(_clip_long_headers(hollowed, st), st))
    del hollowed
    if spans:
        st.raw = data
        hollowing.unhollow(msg, prefix, spans, st)
    raw = raw_headers(msg)
    now = datetime.now(UTC)

    received_date = newest_received_date(raw.get("received", ()), now)
    date = checked_date(header_date(first_header(raw, "date")), received_date or now, "Date", st)
    from_raw = first_header(raw, "from")
    if from_raw is None:
        st.defect("no From header")
    from_name, from_address = first_mailbox(from_raw, st, "From")
    _, reply_to = first_mailbox(first_header(raw, "reply-to"), st, "Reply-To")

    plain, html = walk(msg, st, forwarded=False, depth0=0)
    text, links = choose_text(plain, html)
    forwarded_text = read_forwards(st)

    if st.report_type is None and st.saw_delivery_status:
        st.report_type = "delivery-status"  # a DSN part outside multipart/report
    if len(text) > MAX_TEXT_CHARS or len(forwarded_text) > MAX_TEXT_CHARS:
        st.defect(f"text cut to {MAX_TEXT_CHARS} characters")
        text, forwarded_text = text[:MAX_TEXT_CHARS], forwarded_text[:MAX_TEXT_CHARS]
    if "\x00" in text or "\x00" in forwarded_text:
        st.defect("NUL characters removed from text")
        text, forwarded_text = text.replace("\x00", ""), forwarded_text.replace("\x00", "")
    if st.unrecorded:
        st.defect(f"{st.unrecorded} more attachments not recorded (over {MAX_ATTACHMENT_RECORDS})")

    return ParsedMessage(
        message_id=first_message_id(first_header(raw, "message-id")),
        from_address=from_address,
        from_name=from_name,
        reply_to=reply_to,
        return_path=parse_return_path(first_header(raw, "return-path"), st),
        subject=_subject(first_header(raw, "subject") or "", st),
        date=date,
        received_date=received_date,
        in_reply_to=message_ids(first_header(raw, "in-reply-to")),
        references=message_ids(first_header(raw, "references")),
        headers=signal_headers(raw, st),
        text=text,
        html_links=links,
        forwarded_text=forwarded_text,
        attachments=st.attachments,
        content_type=msg.get_content_type(),
        report_type=st.report_type,
        arf=st.arf,
        defects=tuple(st.defects),
    )


__all__ = ["parse_message", "parse_with_mailparser", "MAX_MULTIPARTS"]


def _clip_long_headers(data: bytes, st: State) -> bytes:
    """Cut each top-level header field to MAX_HEADER_FIELD bytes before parsing.

    A 10 MB Subject cost 36 s and 472 MB downstream (decoding, extraction, the
    stored row, the reply) and was stored whole. Nothing legitimate is that long;
    the raw message itself is stored unchanged.
    """
    end = _header_block_end(data)
    if end <= MAX_HEADER_FIELD:
        return data
    cuts = [(m.start(), m.end()) for m in _HEADER_FIELD.finditer(data, 0, end)
            if m.end() - m.start() > MAX_HEADER_FIELD]
    if not cuts:
        return data
    st.defect(f"{len(cuts)} header field(s) over {MAX_HEADER_FIELD} bytes cut short")
    out, pos = [], 0
    for start, stop in cuts:
        out += [data[pos:start], data[start:start + MAX_HEADER_FIELD].replace(b"\r", b"").replace(b"\n", b"")]
        pos = stop
    out.append(data[pos:])
    return b"".join(out)


def _header_block_end(data: bytes) -> int:
    """Offset of the blank line that ends the top-level header block (or the end)."""
    ends = [i for i in (data.find(b"\n\r\n"), data.find(b"\n\n")) if i >= 0]
    return min(ends) + 1 if ends else len(data)


def _subject(value: str, st: State) -> str:
    text = header_text(value, st).replace("\x00", "")
    if len(text) > MAX_SUBJECT_CHARS:
        st.defect(f"Subject cut to {MAX_SUBJECT_CHARS} characters")
        text = text[:MAX_SUBJECT_CHARS]
    return text
