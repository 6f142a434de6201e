"""Raw bytes -> ParsedMessage.

The stdlib parser with policy compat32 does the work (faster than
mail-parser and loses nothing); mail-parser is the fallback when that path
raises, and lends its bounded Received/Date scanners. The MIME tree is
walked once, iteratively (no recursion of ours), and every payload is
decoded once.

Large base64 bodies are cut out before the stdlib parser runs ("hollowing",
see _hollow): it handles every line in Python and holds ~8 copies of a big
body; those parts are decoded straight from the raw bytes instead.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

import mailparser
from mailparser.exceptions import MailParserRecursionError

from ..config import Limits
from ..errors import ParseError
from ..models import Attachment, ParsedMessage
from .arf import arf_fields
from .html import html_links, html_to_text

try:  # bounded, linear scanners; internal modules, so keep a stdlib path too
    from mailparser.dates import parse_mail_date
    from mailparser.received import split_received
except ImportError:  # pragma: no cover - depends on the installed mail-parser
    parse_mail_date = None
    split_received = None

# mail-parser logs a warning per odd part to stderr; cron output must stay quiet.
_MP_LOG = logging.getLogger("mailparser")
_MP_LOG.setLevel(logging.CRITICAL)
_MP_LOG.addHandler(logging.NullHandler())

MAX_DEPTH = 50  # MIME levels we walk; real mail uses < 10
MAX_DEFECTS = 50
MAX_ATTACHMENT_RECORDS = 1000  # records kept even when payloads are skipped
MAX_PARAM_HEADER = 1024  # see _clip_mime_headers
# Nobody writes 2 MB of prose; past that, text is junk and costs every later
# stage (HTML conversion ~0.3 s/MB). The raw message keeps everything.
MAX_TEXT_CHARS = 2_000_000
_ADDRESS_HEADER_MAX = 4096
_UTC = timezone.utc
_EPOCH_MIN = datetime(1990, 1, 1, tzinfo=_UTC)
_FUTURE_SLACK = timedelta(days=2)

# Headers kept in ParsedMessage.headers: what robots.py and later stages read.
SIGNAL_HEADERS = (
    "from", "sender", "to", "cc", "reply-to", "return-path",
    "auto-submitted", "x-autoreply", "x-autorespond", "x-auto-response-suppress",
    "precedence", "list-id", "list-unsubscribe", "list-post", "list-help",
    "x-loop", "x-failed-recipients", "x-mailer", "user-agent",
    "content-language", "accept-language", "x-priority", "importance",
)
_HEADER_VALUE_MAX = 4096

_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]*)\?=")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_ANGLE_IDS = re.compile(r"<([^<>\s]+)>")
_ADDRESS = re.compile(r'[^\s\x00-\x1f\x7f@<>()\[\]\\,;:"]+@[^\s\x00-\x1f\x7f@<>()\[\]\\,;:"]+')
# The common From/Return-Path shapes; anything else goes to getaddresses.
# No two adjacent pieces can match the same text, so no backtracking.
_SIMPLE_MAILBOX = re.compile(r'(?:"([^"\\]*)"[ \t]*|([^"<>,;:\\()@]*))<([^<>\s"(),;:\\]+)>')
# Spelled out rather than re.I: 8x faster over a whole message.
_MIME_PARAM_NAME = rb"[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-(?:[Tt][Yy][Pp][Ee]|[Dd][Ii][Ss][Pp][Oo][Ss][Ii][Tt][Ii][Oo][Nn])[ \t]*:"
_MIME_PARAM_HEADER = re.compile(rb"\n" + _MIME_PARAM_NAME)
_MIME_PARAM_FIRST = re.compile(_MIME_PARAM_NAME)
_CHARSET = re.compile(r"""(?:^|;)\s*charset\s*=\s*["']?([^"';\s]+)""", re.I)
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_LATIN1_NAMES = frozenset({"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819"})
_ASCII_NAMES = frozenset({"us-ascii", "ascii", "unknown-8bit", "x-unknown", "unknown", "8bit", "default"})


MAX_MULTIPARTS = 200

# Base64 bodies at least this long are cut out before parsing (see _hollow);
# None switches hollowing off (the tests compare both ways).
HOLLOW_MIN_BYTES: int | None = 2048
_HOLLOW_CHUNK = 1 << 20
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_CTE_BASE64_LINE = re.compile(rb"content-transfer-encoding[ \t]*:[ \t]*base64[ \t]*\r?")
_HOLLOW_TAIL = 256  # a region ending in more blank lines than this is left alone


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


# ---------------------------------------------------------------- stdlib path


class _State:
    """What one walk over the MIME tree collects."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.defects: dict[str, None] = {}
        self.attachments: list[Attachment] = []
        self.unrecorded = 0
        self.stored_bytes = 0
        self.forwards: list[tuple[Message, int]] = []
        self.forwarded_texts: list[str] = []
        self.report_type: str | None = None
        self.saw_delivery_status = False
        self.arf: dict[str, str] | None = None
        self.raw = b""  # the original bytes, when regions were hollowed out of them
        self.hollow: dict[int, tuple[int, int]] = {}  # id(part) -> its base64 region in raw

    def defect(self, text: str) -> None:
        if len(self.defects) < MAX_DEFECTS:
            self.defects[text] = None


def _parse_stdlib(data: bytes, limits: Limits) -> ParsedMessage:
    st = _State(limits)
    hollowed, prefix, spans = (data, "", []) if HOLLOW_MIN_BYTES is None else _hollow(data, HOLLOW_MIN_BYTES)
    msg = BytesParser(policy=compat32).parsebytes(_clip_mime_headers(hollowed, st))
    del hollowed
    if spans:
        st.raw = data
        _unhollow(msg, prefix, spans, st)
    raw = _raw_headers(msg)
    now = datetime.now(_UTC)

    received_date = _received_date(raw.get("received", ()), now)
    date = _checked_date(_header_date(_first(raw, "date")), received_date or now, "Date", st)
    from_raw = _first(raw, "from")
    if from_raw is None:
        st.defect("no From header")
    from_name, from_address = _address(from_raw, st, "From")
    _, reply_to = _address(_first(raw, "reply-to"), st, "Reply-To")

    plain, html = _walk(msg, st, forwarded=False, depth0=0)
    text, links = _choose_text(plain, html)
    forwarded_text = _forwarded(st)

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
        message_id=_message_id(_first(raw, "message-id")),
        from_address=from_address,
        from_name=from_name,
        reply_to=reply_to,
        return_path=_return_path(_first(raw, "return-path"), st),
        subject=_header_text(_first(raw, "subject") or "", st).replace("\x00", ""),
        date=date,
        received_date=received_date,
        in_reply_to=_ids(_first(raw, "in-reply-to")),
        references=_ids(_first(raw, "references")),
        headers=_signal_headers(raw, st),
        text=text,
        html_links=links,
        forwarded_text=forwarded_text,
        attachments=st.attachments,
        content_type=msg.get_content_type(),
        report_type=st.report_type,
        arf=st.arf,
        defects=tuple(st.defects),
    )


def _clip_mime_headers(data: bytes, st: _State) -> bytes:
    """Cut absurdly long Content-Type/-Disposition values before parsing.

    compat32's parameter splitter (used by get_boundary/get_param) is
    quadratic in a value's length: 32 KB of ";" inside quotes took ~1 s here,
    so a crafted header of a few MB would stall the run. Legitimate values
    are a few hundred bytes. The raw message itself is stored unchanged.
    """
    cuts = []
    first = _MIME_PARAM_FIRST.match(data)
    for m in ([first] if first else []) + list(_MIME_PARAM_HEADER.finditer(data)):
        start = m.end()
        end = start
        while True:  # the header ends at a line break not followed by WSP
            nl = data.find(b"\n", end)
            if nl < 0 or data[nl + 1 : nl + 2] not in (b" ", b"\t"):
                end = len(data) if nl < 0 else nl
                break
            end = nl + 1
        if end - start > MAX_PARAM_HEADER:
            cuts.append((start, end))
    if not cuts:
        return data
    st.defect(f"{len(cuts)} Content-Type/Content-Disposition header(s) over {MAX_PARAM_HEADER} bytes cut short")
    out, pos = [], 0
    for start, end in cuts:
        cut = data[start : start + MAX_PARAM_HEADER].replace(b"\r", b"").replace(b"\n", b"")
        out += [data[pos:start], cut]
        pos = end
    out.append(data[pos:])
    return b"".join(out)


def _hollow(data: bytes, min_bytes: int) -> tuple[bytes, str, list[tuple[int, int]]]:
    """Cut large base64 bodies out of data before the stdlib parser sees them.

    Returns (hollowed bytes, marker prefix, [(start, end) of each region in
    data]). Region i is replaced by one line prefix+str(i), keeping the
    region's own final line ending. A region is whole lines of the base64
    alphabet only, none of them blank, starting at a line start: such lines
    hold no "-" (no boundary), no ":" and no leading white space (no header
    or continuation), and no blank line (header/body separator, the end of
    a delivery-status block). The marker line has the same properties, so
    the parser sees the same MIME structure, headers and defects; only the
    payload text differs, and _unhollow settles that. Finding the regions
    is a heuristic (a Content-Transfer-Encoding: base64 line, then the next
    blank line); the safety rests only on what a region contains.
    Every search starts past the previous one's result, so the cost stays
    linear in len(data), and the bodies cut out are not searched again.
    """
    n = len(data)
    spans: list[tuple[int, int]] = []
    pieces: list[bytes] = []
    prefix = ""
    pos = 0  # data[pos:] is not yet in pieces
    resume = 0  # nothing before this is looked at again
    lo = up = dd = -2  # next "ase64", "ASE64", "\n--" at or after resume (-1: none left)
    while True:
        if lo != -1 and lo < resume:
            lo = data.find(b"ase64", resume)  # "base64", "Base64"
        if up != -1 and up < resume:
            up = data.find(b"ASE64", resume)
        if lo < 0 and up < 0:
            break
        hit = lo if up < 0 or 0 <= lo < up else up
        resume = hit + 5
        ls = data.rfind(b"\n", max(0, hit - 64), hit) + 1  # the header name is 25 bytes
        le = data.find(b"\n", hit, hit + 64)
        if (ls == 0 and hit > 64) or le < 0 or not _CTE_BASE64_LINE.fullmatch(data[ls:le].lower()):
            continue
        start = _blank_line_end(data, le)
        if start < 0:
            break  # no blank line left: no more bodies
        while start < n and data[start] in (10, 13):  # blank lines stay: the region starts at text
            start += 1
        resume = start
        if dd != -1 and dd < start:
            dd = data.find(b"\n--", start)
        end = n if dd < 0 else dd + 1
        if end - start < min_bytes:
            continue
        tail_lo = max(start, end - _HOLLOW_TAIL)
        last = tail_lo + len(data[tail_lo:end].rstrip(b"\r\n"))  # just after the last base64 character
        if last == tail_lo or last - start < min_bytes or not _base64_lines(data, start, last):
            continue
        if not prefix:  # random per call: a sender cannot write a marker of ours
            prefix = f"AbuseIntakeHollow{secrets.token_hex(8)}x"
        pieces += [data[pos:start], f"{prefix}{len(spans)}".encode("ascii")]
        spans.append((start, last))
        pos = resume = last  # the line ending after `last` stays, ending the marker line
    if not spans:
        return data, "", spans
    pieces.append(data[pos:])
    return b"".join(pieces), prefix, spans


def _blank_line_end(data: bytes, le: int) -> int:
    """Just after the first blank line ("\\n\\n" or "\\n\\r\\n") at or after le, or -1.
    A header block is short: look near first, then everywhere."""
    for hi in (le + 4096, len(data)):
        nn = data.find(b"\n\n", le, hi)
        nrn = data.find(b"\n\r\n", le, nn + 2 if nn >= 0 else hi)
        if nrn >= 0:
            return nrn + 3
        if nn >= 0:
            return nn + 2
        if hi >= len(data):
            break
    return -1


def _base64_lines(data: bytes, start: int, last: int) -> bool:
    """Whether data[start:last] is lines of the base64 alphabet, none blank
    (it starts and ends with an alphabet character)."""
    eols = 0
    for i in range(start, last, _HOLLOW_CHUNK):  # in slices: a 20 MB body is never copied whole
        rest = data[i : min(i + _HOLLOW_CHUNK, last)].translate(None, _B64_ALPHABET)
        if rest.translate(None, b"\r\n"):
            return False
        eols += len(rest)
    # Fast path, the usual encoder output: every line but the last `width`
    # long, so the line ends sit at a fixed stride and are all there is.
    width = data.find(b"\n", start, last) - start
    if width > 0 and data[start + width - 1] == 13:  # "\r\n"
        width -= 1
    elif width < 0:
        width = data.find(b"\r", start, last) - start
    if width > 0:
        eol = b"\r\n" if data.startswith(b"\r\n", start + width) else data[start + width : start + width + 1]
        stride = width + len(eol)
        ends = [data[start + width + j : last : stride] for j in range(len(eol))]
        if all(e.count(eol[j : j + 1]) == len(e) == len(ends[0]) for j, e in enumerate(ends)) \
                and eols == len(eol) * len(ends[0]):
            return True
    if eols == 0:
        return True
    # Anything else: no two line-break characters in a row but "\r\n".
    return data.find(b"\n\n", start, last) < 0 and data.find(b"\r\r", start, last) < 0 \
        and data.find(b"\n\r", start, last) < 0


def _unhollow(root: Message, prefix: str, spans: list[tuple[int, int]], st: _State) -> None:
    """After parsing the hollowed bytes: a base64 part whose payload is just one
    marker is recorded on st.hollow (_payload_bytes decodes it from st.raw,
    which gives what decoding the stdlib's payload would: a2b_base64 skips
    line breaks and white space); every other text holding a marker gets the
    region back, as the stdlib would have produced it."""
    stack = [root]
    while stack:
        part = stack.pop()
        for attr in ("preamble", "epilogue"):
            value = getattr(part, attr, None)
            if isinstance(value, str) and prefix in value:
                setattr(part, attr, _restore(value, prefix, spans, st.raw))
        payload = _raw_payload(part)
        if isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
        elif isinstance(payload, str) and prefix in payload:
            index = _lone_marker(payload, prefix, len(spans))
            # message/* text is re-parsed or read as headers, not through _payload_bytes
            if index is not None and part.get_content_maintype() != "message" and _cte(part) == "base64":
                st.hollow[id(part)] = spans[index]
            else:
                part._payload = _restore(payload, prefix, spans, st.raw)  # noqa: SLF001


def _lone_marker(text: str, prefix: str, count: int) -> int | None:
    """The region index if text is one marker and white space, else None."""
    text = text.strip()
    digits = text[len(prefix):]
    if text.startswith(prefix) and digits.isascii() and digits.isdigit() and int(digits) < count:
        return int(digits)
    return None


def _restore(text: str, prefix: str, spans: list[tuple[int, int]], data: bytes) -> str:
    """text with each marker replaced by its region (without the region's final
    line ending, which the marker line kept)."""
    out = []
    pos = 0
    while (i := text.find(prefix, pos)) >= 0:
        j = k = i + len(prefix)
        while k < len(text) and text[k] in "0123456789":
            k += 1
        out.append(text[pos:i])
        if j < k and int(text[j:k]) < len(spans):
            start, end = spans[int(text[j:k])]
            out.append(data[start:end].decode("ascii"))
        else:  # cannot happen (a marker line always ends after its digits); keep the text
            out.append(text[i:k])
        pos = k
    out.append(text[pos:])
    return "".join(out)


def _raw_headers(msg: Message) -> dict[str, list[str]]:
    """Header values as parsed (8-bit bytes kept as surrogates), by lower-cased name."""
    raw: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        raw.setdefault(str(name).strip().lower(), []).append(value if isinstance(value, str) else str(value))
    return raw


def _first(raw: dict[str, list[str]], name: str) -> str | None:
    values = raw.get(name)
    return values[0] if values else None


def _signal_headers(raw: dict[str, list[str]], st: _State) -> dict[str, str]:
    out = {}
    for name in SIGNAL_HEADERS:
        value = _first(raw, name)
        if value is not None:
            out[name] = _header_text(value[: _HEADER_VALUE_MAX * 2], st)[:_HEADER_VALUE_MAX].replace("\x00", "")
    return out


# ------------------------------------------------------------ header values


def _unfold(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


def _fix_8bit(value: str) -> str:
    """Raw 8-bit header bytes (kept by the parser as surrogates): UTF-8, else cp1252."""
    if value.isascii():
        return value
    try:
        octets = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # already real text
    try:
        return octets.decode("utf-8")
    except UnicodeDecodeError:
        return octets.decode("cp1252", "replace")


def _header_text(value: str, st: _State) -> str:
    """A header value as text: unfolded, 8-bit bytes and RFC 2047 words decoded."""
    value = _fix_8bit(_unfold(value)).strip()
    return _decode_words(value, st) if "=?" in value else value


def _decode_words(value: str, st: _State) -> str:
    """RFC 2047: decode encoded words; adjacent words of one charset are joined
    before decoding (a UTF-8 character may be split across two words)."""
    out: list[str] = []
    pending: list = []  # [charset, bytearray] of adjacent encoded words
    pos = 0

    def flush() -> None:
        if pending:
            out.append(_decode_bytes(bytes(pending[1]), pending[0], st, "header"))
            pending.clear()

    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos : m.start()]
        if not (pending and gap.strip() == ""):  # whitespace between words is dropped
            flush()
            out.append(gap)
        pos = m.end()
        charset = m.group(1).split("*", 1)[0].lower()
        try:
            octets = _word_bytes(m.group(2).lower(), m.group(3))
        except (binascii.Error, ValueError):
            st.defect("undecodable RFC 2047 word kept as written")
            flush()
            out.append(m.group(0))
            continue
        if pending and pending[0] == charset:
            pending[1] += octets
        else:
            flush()
            pending[:] = [charset, bytearray(octets)]
    flush()
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding == "q":
        return binascii.a2b_qp(text.encode("ascii", "replace"), header=True)
    return _b64_lenient(text.encode("ascii", "replace"))


def _b64_lenient(data: bytes | memoryview) -> bytes:
    """Base64 that tolerates junk, missing padding and a truncated tail."""
    clean = _B64_JUNK.sub(b"", data)
    if len(clean) % 4 == 1:
        clean = clean[:-1]  # a lone 6-bit tail carries no whole byte
    clean += b"=" * (-len(clean) % 4)
    return binascii.a2b_base64(clean)


def _decode_bytes(octets: bytes, charset: str | None, st: _State, where: str) -> str:
    """Bytes to text in the declared charset; unknown or wrong -> utf-8, else cp1252."""
    cs = (charset or "").strip().strip("\"'").lower()
    if not cs or cs in _ASCII_NAMES:
        return _utf8_or_cp1252(octets)  # ASCII is a subset; 8-bit "ascii" is usually UTF-8
    if cs in _LATIN1_NAMES:
        try:  # senders labelling cp1252 as Latin-1 is the common case (smart quotes)
            return octets.decode("cp1252")
        except UnicodeDecodeError:
            return octets.decode("latin-1")
    try:
        return octets.decode(cs)
    except UnicodeDecodeError:
        st.defect(f"{where}: bytes invalid in declared charset {cs[:40]!r}")
        try:
            return octets.decode("utf-8")
        except UnicodeDecodeError:
            pass
        try:
            return octets.decode(cs, "replace")
        except Exception:  # noqa: BLE001 - codecs such as idna refuse "replace"
            return octets.decode("cp1252", "replace")
    except Exception:  # LookupError (unknown charset), or a codec that is not text
        st.defect(f"{where}: unknown charset {cs[:40]!r}")
        return _utf8_or_cp1252(octets)


def _utf8_or_cp1252(octets: bytes) -> str:
    try:
        return octets.decode("utf-8")
    except UnicodeDecodeError:
        return octets.decode("cp1252", "replace")


def _address(value: str | None, st: _State, label: str) -> tuple[str, str | None]:
    """(decoded display name, lower-cased address or None) of the first mailbox."""
    if value is None:
        return "", None
    value = _fix_8bit(_unfold(value)).strip()[:_ADDRESS_HEADER_MAX]  # getaddresses is slow on huge input
    simple = _SIMPLE_MAILBOX.fullmatch(value)
    if simple is not None:  # "Name <a@b>", "\"Name\" <a@b>", "<a@b>": most mail, 10x faster
        name, addr = (simple.group(1) if simple.group(1) is not None else simple.group(2)).strip(), simple.group(3)
    elif _ADDRESS.fullmatch(value):
        name, addr = "", value
    else:
        name, addr = "", ""
        for name, addr in getaddresses([value]):
            if addr:
                break
    name = _decode_words(name, st) if "=?" in name else name
    name = name.replace("\x00", "").strip()
    addr = addr.strip().lower()
    if _ADDRESS.fullmatch(addr) is None:
        if value.strip():
            st.defect(f"{label} has no usable address")
        return name, None
    return name, addr


def _return_path(value: str | None, st: _State) -> str | None:
    if value is None:
        return None
    bare = _fix_8bit(_unfold(value)).strip()
    if bare.replace("<", "").replace(">", "").strip() == "":
        return ""  # the null reverse-path <>: a bounce
    _, addr = _address(bare, st, "Return-Path")
    return addr if addr is not None else bare.strip("<> ").lower()


def _message_id(value: str | None) -> str | None:
    if value is None:
        return None
    value = _fix_8bit(_unfold(value))
    m = _ANGLE_ID.search(value)
    found = "".join((m.group(1) if m else value).split()).strip("<>")
    return found or None


def _ids(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    value = _fix_8bit(_unfold(value))
    ids = _ANGLE_IDS.findall(value) or [v.strip("<>") for v in value.split() if v.strip("<>")]
    if len(ids) > 100:  # keep the thread root and the most recent parents
        ids = ids[:1] + ids[-99:]
    return tuple(ids)


# ------------------------------------------------------------------- dates


def _header_date(value: str | None) -> datetime | None:
    """A date-time field as aware UTC, or None. The stdlib reader is tried
    first (2.5x faster); mail-parser's reads some obsolete forms it rejects."""
    if not value:
        return None
    value = _fix_8bit(_unfold(value)).strip()[:300]
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        dt = None
    if dt is not None:
        return dt.replace(tzinfo=_UTC) if dt.tzinfo is None else dt.astimezone(_UTC)
    if parse_mail_date is None:
        return None
    try:
        found = parse_mail_date(value).value
    except Exception:  # noqa: BLE001 - an unreadable date is simply absent
        return None
    return found.astimezone(_UTC) if found is not None else None


def _plausible(dt: datetime | None, reference: datetime) -> bool:
    return dt is not None and _EPOCH_MIN <= dt <= reference + _FUTURE_SLACK


def _checked_date(dt: datetime | None, reference: datetime, label: str, st: _State) -> datetime | None:
    if dt is not None and not _plausible(dt, reference):
        st.defect(f"{label} {dt.isoformat()} is implausible: ignored")
        return None
    return dt


def _received_date(values, now: datetime) -> datetime | None:
    """Date of the newest (topmost) Received header that has a usable one.

    The stamp nearly always follows the last ";"; mail-parser's trace-field
    scanner (linear but per-character, so slower) handles the odd layouts."""
    for value in list(values)[:5]:
        value = _unfold(value)[:4000]
        dt = _header_date(value.rpartition(";")[2]) if ";" in value else None
        if dt is None and split_received is not None:
            try:
                dt = _header_date(split_received(value)[1])
            except Exception:  # noqa: BLE001 - malformed trace field
                dt = None
        if _plausible(dt, now):
            return dt
    return None


# ---------------------------------------------------------------- MIME walk


def _walk(root: Message, st: _State, forwarded: bool, depth0: int) -> tuple[list[str], list[str]]:
    """Texts of one message (plain parts, HTML parts), in document order.

    Attachments are recorded on st; attached messages are queued on
    st.forwards and read afterwards, so their words never mix with these.
    """
    plain: list[str] = []
    html: list[str] = []
    stack = [(root, depth0)]
    while stack:
        part, depth = stack.pop()
        for d in part.defects:
            st.defect(type(d).__name__)
        ctype = part.get_content_type()
        payload = _raw_payload(part)
        if ctype in ("message/rfc822", "message/global"):
            _queue_forward(part, payload, depth, st)
            continue
        if ctype == "message/delivery-status":
            st.saw_delivery_status = st.saw_delivery_status or not forwarded
            continue
        if ctype == "message/feedback-report":
            if not forwarded and st.arf is None:
                st.arf = arf_fields(part)
            continue
        if isinstance(payload, list):
            if depth >= MAX_DEPTH:
                st.defect(f"MIME nesting deeper than {MAX_DEPTH} levels: inner parts ignored")
                continue
            if ctype == "multipart/report" and not forwarded and st.report_type is None:
                st.report_type = str(part.get_param("report-type") or "").strip().lower() or None
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
            continue
        _leaf(part, ctype, st, plain, html)
    return plain, html


def _queue_forward(part: Message, payload, depth: int, st: _State) -> None:
    if depth >= MAX_DEPTH:
        st.defect(f"MIME nesting deeper than {MAX_DEPTH} levels: inner parts ignored")
        return
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte in ("base64", "quoted-printable"):
        # Not allowed for message/rfc822, but sent: the parser took the encoded
        # text for a message without headers. Decode it and parse that.
        inner = payload[0] if isinstance(payload, list) and len(payload) == 1 else None
        body = _raw_payload(inner) if inner is not None and not inner.keys() else payload
        if isinstance(body, str):
            octets = body.encode("ascii", "surrogateescape")
            octets = _b64_lenient(octets) if cte == "base64" else binascii.a2b_qp(octets)
            st.defect(f"message/rfc822 with {cte} transfer encoding")
            st.forwards.append((BytesParser(policy=compat32).parsebytes(octets), depth + 1))
            return
    if isinstance(payload, list):
        st.forwards.extend((p, depth + 1) for p in payload if isinstance(p, Message))
    elif isinstance(payload, str) and payload.strip():
        st.forwards.append((BytesParser(policy=compat32).parsebytes(payload.encode("ascii", "surrogateescape")), depth + 1))


def _leaf(part: Message, ctype: str, st: _State, plain: list[str], html: list[str]) -> None:
    # Raw header strings, read once: the stdlib's parameter helpers cost more
    # than the rest of the walk together.
    ct_raw = str(part.get("content-type", ""))
    cd_raw = part.get("content-disposition")
    disposition = str(cd_raw).split(";", 1)[0].strip().lower() if cd_raw is not None else None
    named = "name" in ct_raw.lower() or (cd_raw is not None and "name" in str(cd_raw).lower())
    filename = _filename(part, st) if named else ""
    maintype = ctype.partition("/")[0]
    named_file = disposition == "attachment" or (filename and disposition != "inline")
    if ctype in ("text/plain", "text/html") and not named_file:
        text = _decode_bytes(_payload_bytes(part, st), _charset(ct_raw, part), st, ctype)
        (plain if ctype == "text/plain" else html).append(text)
    elif maintype == "multipart":  # no usable boundary: the body is all there is
        st.defect(f"{ctype} without usable boundary: body read as text")
        plain.append(_decode_bytes(_payload_bytes(part, st), None, st, ctype))
    elif ctype == "text/rfc822-headers":  # headers of a returned or reported message
        st.forwarded_texts.append(_decode_bytes(_payload_bytes(part, st), None, st, ctype))
    elif filename or disposition != "inline" or maintype == "image":
        _attachment(st, ctype, filename, lambda: _payload_bytes(part, st))


def _charset(ct_raw: str, part: Message) -> str | None:
    if "*" in ct_raw:  # RFC 2231 parameters: let the stdlib untangle them
        return part.get_content_charset()
    m = _CHARSET.search(ct_raw)
    return m.group(1) if m else None


def _filename(part: Message, st: _State) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - malformed RFC 2231 parameters
        st.defect("unreadable attachment file name")
        return ""
    if not name:
        return ""
    return _header_text(str(name), st).replace("\x00", "")


def _raw_payload(part: Message):
    """The payload as parsed: a list of parts, or str (8-bit bytes as surrogates).

    Not get_payload(): without decode=True it decodes 8-bit text with the
    declared charset, which costs time and raises for codecs such as idna."""
    return part._payload  # noqa: SLF001 - stable compat32 attribute (mail-parser reads it too)


def _cte(part: Message) -> str:
    return str(part.get("content-transfer-encoding", "")).strip().lower()


def _payload_bytes(part: Message, st: _State) -> bytes:
    """The transfer-decoded payload. Base64 is decoded here, not by the stdlib,
    which returns the undecoded text when a truncated tail leaves a bad length."""
    span = st.hollow.get(id(part)) if st.hollow else None
    if span is not None:  # hollowed: decode from the raw bytes, no copy of the text
        view = memoryview(st.raw)[span[0] : span[1]]
        try:
            return binascii.a2b_base64(view)
        except binascii.Error:
            st.defect("base64 payload truncated or malformed: decoded leniently")
            return _b64_lenient(view)
    raw = _raw_payload(part)
    if isinstance(raw, str) and _cte(part) == "base64":
        octets = raw.encode("ascii", "surrogateescape")
        try:
            return binascii.a2b_base64(octets)  # ignores line breaks and stray characters
        except binascii.Error:
            st.defect("base64 payload truncated or malformed: decoded leniently")
            return _b64_lenient(octets)
    try:
        octets = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a decoder failing on hostile input
        st.defect("payload could not be transfer-decoded: kept as written")
        octets = raw.encode("ascii", "surrogateescape") if isinstance(raw, str) else b""
    return octets or b""


def _attachment(st: _State, ctype: str, filename: str, load: Callable[[], bytes]) -> None:
    """Record one attachment; the payload is decoded only if a limit lets it be stored."""
    limits = st.limits
    if len(st.attachments) >= MAX_ATTACHMENT_RECORDS:
        st.unrecorded += 1
        return
    if len(st.attachments) >= limits.max_attachments:
        reason = f"over limits.max_attachments ({limits.max_attachments})"
        st.attachments.append(Attachment(filename, ctype, b"", skipped_reason=reason))
        return
    payload = load()
    if st.stored_bytes + len(payload) > limits.max_attachment_bytes:
        reason = f"over limits.max_attachment_bytes ({limits.max_attachment_bytes}) in total"
        st.attachments.append(Attachment(filename, ctype, b"", skipped_reason=reason))
        return
    st.stored_bytes += len(payload)
    st.attachments.append(Attachment(filename, ctype, payload, hashlib.sha256(payload).hexdigest()))


def _choose_text(plain: list[str], html: list[str]) -> tuple[str, tuple[str, ...]]:
    """The sender's words: the plain parts, else the HTML turned into text.
    Links come from the HTML parts either way (a handle may be only in an href)."""
    text = "\n".join(t.replace("\r\n", "\n").strip("\n") for t in plain if t.strip())
    links: dict[str, None] = {}
    html_texts = []
    for markup in html:
        markup = markup[:MAX_TEXT_CHARS]
        if text:
            found = html_links(markup)
        else:
            converted, found = html_to_text(markup)
            html_texts.append(converted)
        links.update(dict.fromkeys(found))
    if not text:
        text = "\n".join(t for t in html_texts if t)
    return text, tuple(links)


def _forwarded(st: _State) -> str:
    """Text of every attached message: its From/Date/Subject, then its words.
    The queue grows while it is read (a forward inside a forward)."""
    chunks = list(st.forwarded_texts)
    i = 0
    while i < len(st.forwards):
        sub, depth = st.forwards[i]
        i += 1
        if depth > MAX_DEPTH:
            st.defect(f"MIME nesting deeper than {MAX_DEPTH} levels: inner parts ignored")
            continue
        raw = _raw_headers(sub)
        lines = [f"{label}: {_header_text(v, st)}" for label in ("From", "Date", "Subject") if (v := _first(raw, label.lower()))]
        plain, html = _walk(sub, st, forwarded=True, depth0=depth)
        text, links = _choose_text(plain, html)
        if not any(t.strip() for t in plain) and links:
            text += "\n" + "\n".join(links)  # an href may be the only place a handle is named
        chunks.append("\n".join(lines + [""] + [text]).strip())
    return "\n\n".join(c.replace("\r\n", "\n") for c in chunks if c.strip())


# ------------------------------------------------------- mail-parser fallback


def parse_with_mailparser(data: bytes, limits: Limits, reason: str) -> ParsedMessage:
    """Second chance when the stdlib path raised: mail-parser's view of the message.

    Coarser than the main path: mail-parser puts an attached message's text
    next to the sender's own (forwarded_text stays empty), so this is recorded
    as a defect. Each field is taken on its own; a failing one is left empty.
    """
    st = _State(limits)
    st.defect(f"parsed by the mail-parser fallback after: {reason[:200]}")
    st.defect("fallback: forwarded text is not separated from the sender's text")
    parsed = mailparser.MailParser.from_bytes(data)
    now = datetime.now(_UTC)

    def get(fn, default):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - one bad field must not lose the rest
            st.defect(f"fallback: {type(exc).__name__} reading a field")
            return default

    senders = get(lambda: [(n, a) for n, a in parsed.from_ if a], [])
    from_name, from_address = senders[0] if senders else ("", None)
    from_address = from_address.strip().lower() if from_address else None
    if from_address and _ADDRESS.fullmatch(from_address) is None:
        from_address = None
    reply_tos = get(lambda: [a.strip().lower() for _, a in parsed.reply_to if a], [])
    headers = get(lambda: {str(k).lower(): str(v) for k, v in parsed.headers.items()}, {})
    received_date = get(lambda: _mailparser_received(parsed.received, now), None)
    date = get(lambda: _checked_date(parsed.date.astimezone(_UTC) if parsed.date else None, received_date or now, "Date", st), None)
    return_path_raw = headers.get("return-path")
    text, links = _fallback_text(get(lambda: list(parsed.text_plain), []), get(lambda: list(parsed.text_html), []))
    for item in get(lambda: list(parsed.attachments), []):
        get(lambda: _mailparser_attachment(item, st), None)
    report_type = get(lambda: parsed.message.get_param("report-type"), None)
    return ParsedMessage(
        message_id=_message_id(get(lambda: parsed.message_id, None) or None),
        from_address=from_address,
        from_name=str(from_name or "").replace("\x00", ""),
        reply_to=reply_tos[0] if reply_tos and _ADDRESS.fullmatch(reply_tos[0]) else None,
        return_path=_return_path(return_path_raw, st) if return_path_raw is not None else None,
        subject=str(get(lambda: parsed.subject, "") or "").replace("\x00", ""),
        date=date,
        received_date=received_date,
        in_reply_to=_ids(headers.get("in-reply-to")),
        references=_ids(headers.get("references")),
        headers={k: v[:_HEADER_VALUE_MAX] for k, v in headers.items() if k in SIGNAL_HEADERS},
        text=text.replace("\x00", ""),
        html_links=links,
        forwarded_text="",
        attachments=st.attachments,
        content_type=get(lambda: parsed.message.get_content_type(), "text/plain"),
        report_type=str(report_type).lower() if report_type else None,
        arf=None,
        defects=tuple(st.defects),
    )


def _fallback_text(plain: list[str], html: list[str]) -> tuple[str, tuple[str, ...]]:
    """All plain parts, plus each HTML part that does not repeat one of them:
    with forwards mixed in, "plain else HTML" could drop the sender's words."""
    texts = [t.replace("\r\n", "\n").strip() for t in plain if t.strip()]
    seen = {" ".join(t.split()) for t in texts}
    links: dict[str, None] = {}
    for markup in html:
        converted, found = html_to_text(markup)
        links.update(dict.fromkeys(found))
        if converted and " ".join(converted.split()) not in seen:
            texts.append(converted)
    return "\n\n".join(texts), tuple(links)


def _mailparser_received(hops, now: datetime) -> datetime | None:
    # mail-parser numbers hops from the oldest; the newest is last.
    for hop in reversed(hops or []):
        stamp = hop.get("date_utc") if isinstance(hop, dict) else None
        if stamp:
            dt = datetime.fromisoformat(str(stamp))
            dt = dt.replace(tzinfo=_UTC) if dt.tzinfo is None else dt.astimezone(_UTC)
            if _plausible(dt, now):
                return dt
    return None


def _mailparser_attachment(item: dict, st: _State) -> None:
    ctype = str(item.get("mail_content_type") or "application/octet-stream").lower()
    if ctype.startswith("message/"):
        return  # its text is already in text_plain (see the docstring above)
    payload = item.get("payload") or ""
    if item.get("binary"):
        octets = _b64_lenient(payload.encode("ascii", "replace"))
    else:
        octets = payload.encode("utf-8", "surrogateescape")
    _attachment(st, ctype, str(item.get("filename") or "").replace("\x00", ""), lambda: octets)


__all__ = ["parse_message", "parse_with_mailparser", "SIGNAL_HEADERS", "MAX_DEPTH"]
