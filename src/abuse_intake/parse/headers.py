"""Header values: unfolding, 8-bit bytes, RFC 2047 words, addresses,
Message-IDs, and the dates of the Date and Received headers."""

from __future__ import annotations

import binascii
import re
from datetime import datetime, timedelta, timezone
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from .decode import b64_lenient, decode_bytes
from .state import State

try:  # bounded, linear scanners; internal modules, so keep a stdlib path too
    from mailparser.dates import parse_mail_date
    from mailparser.received import split_received
except ImportError:  # pragma: no cover - depends on the installed mail-parser
    parse_mail_date = None
    split_received = None


_ADDRESS_HEADER_MAX = 4096
UTC = timezone.utc
_EPOCH_MIN = datetime(1990, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=2)

# Headers kept in ParsedMessage.headers: what robots.py and later stages read.
SIGNAL_HEADERS = (
    "from", "sender", "to", "cc", "reply-to", "return-path",
    "auto-submitted", "x-autoreply", "x-autorespond", "x-auto-response-suppress",
    "precedence", "list-id", "list-unsubscribe", "list-post", "list-help",
    "x-loop", "x-failed-recipients", "x-mailer", "user-agent",
    "content-language", "accept-language", "x-priority", "importance",
    "x-spam-flag", "authentication-results",  # backscatter signals (robots.backscatter_reason)
)
HEADER_VALUE_MAX = 4096
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]*)\?=")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_ANGLE_IDS = re.compile(r"<([^<>\s]+)>")
ADDRESS = re.compile(r'[^\s\x00-\x1f\x7f@<>()\[\]\\,;:"]+@[^\s\x00-\x1f\x7f@<>()\[\]\\,;:"]+')

# The common From/Return-Path shapes; anything else goes to getaddresses.
# No two adjacent pieces can match the same text, so no backtracking.
_SIMPLE_MAILBOX = re.compile(r'(?:"([^"\\]*)"[ \t]*|([^"<>,;:\\()@]*))<([^<>\s"(),;:\\]+)>')


def raw_headers(msg: Message) -> dict[str, list[str]]:
    """Header values as parsed (8-bit bytes kept as surrogates), by lower-cased name."""
    raw: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        raw.setdefault(str(name).strip().lower(), []).append(value if isinstance(value, str) else str(value))
    return raw


def first_header(raw: dict[str, list[str]], name: str) -> str | None:
    values = raw.get(name)
    return values[0] if values else None


def signal_headers(raw: dict[str, list[str]], st: State) -> dict[str, str]:
    out = {}
    for name in SIGNAL_HEADERS:
        value = first_header(raw, name)
        if value is not None:
            out[name] = header_text(value[: HEADER_VALUE_MAX * 2], st)[:HEADER_VALUE_MAX].replace("\x00", "")
    return out


def unfold(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


def fix_8bit(value: str) -> str:
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


def header_text(value: str, st: State) -> str:
    """A header value as text: unfolded, 8-bit bytes and RFC 2047 words decoded."""
    value = fix_8bit(unfold(value)).strip()
    return decode_words(value, st) if "=?" in value else value


def decode_words(value: str, st: State) -> str:
    """RFC 2047: decode encoded words; adjacent words of one charset are joined
    before decoding (a UTF-8 character may be split across two words)."""
    out: list[str] = []
    pending: list = []  # [charset, bytearray] of adjacent encoded words
    pos = 0

    def flush() -> None:
        if pending:
            out.append(decode_bytes(bytes(pending[1]), pending[0], st, "header"))
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
    return b64_lenient(text.encode("ascii", "replace"))


def first_mailbox(value: str | None, st: State, label: str) -> tuple[str, str | None]:
    """(decoded display name, lower-cased address or None) of the first mailbox."""
    if value is None:
        return "", None
    value = fix_8bit(unfold(value)).strip()[:_ADDRESS_HEADER_MAX]  # getaddresses is slow on huge input
    simple = _SIMPLE_MAILBOX.fullmatch(value)
    if simple is not None:  # "Name <a@b>", "\"Name\" <a@b>", "<a@b>": most mail, 10x faster
        name, addr = (simple.group(1) if simple.group(1) is not None else simple.group(2)).strip(), simple.group(3)
    elif ADDRESS.fullmatch(value):
        name, addr = "", value
    else:
        name, addr = "", ""
        for name, addr in getaddresses([value]):
            if addr:
                break
    name = decode_words(name, st) if "=?" in name else name
    name = name.replace("\x00", "").strip()
    addr = addr.strip().lower()
    if ADDRESS.fullmatch(addr) is None:
        if value.strip():
            st.defect(f"{label} has no usable address")
        return name, None
    return name, addr


def parse_return_path(value: str | None, st: State) -> str | None:
    if value is None:
        return None
    bare = fix_8bit(unfold(value)).strip()
    if bare.replace("<", "").replace(">", "").strip() == "":
        return ""  # the null reverse-path <>: a bounce
    _, addr = first_mailbox(bare, st, "Return-Path")
    return addr if addr is not None else bare.strip("<> ").lower()


def first_message_id(value: str | None) -> str | None:
    if value is None:
        return None
    value = fix_8bit(unfold(value))
    m = _ANGLE_ID.search(value)
    found = "".join((m.group(1) if m else value).split()).strip("<>")
    return found or None


def message_ids(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    value = fix_8bit(unfold(value))
    ids = _ANGLE_IDS.findall(value) or [v.strip("<>") for v in value.split() if v.strip("<>")]
    if len(ids) > 100:  # keep the thread root and the most recent parents
        ids = ids[:1] + ids[-99:]
    return tuple(ids)


def header_date(value: str | None) -> datetime | None:
    """A date-time field as aware UTC, or None. The stdlib reader is tried
    first (2.5x faster); mail-parser's reads some obsolete forms it rejects."""
    if not value:
        return None
    value = fix_8bit(unfold(value)).strip()[:300]
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        dt = None
    if dt is not None:
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    if parse_mail_date is None:
        return None
    try:
        found = parse_mail_date(value).value
    except Exception:  # noqa: BLE001 - an unreadable date is simply absent
        return None
    return found.astimezone(UTC) if found is not None else None


def plausible(dt: datetime | None, reference: datetime) -> bool:
    return dt is not None and _EPOCH_MIN <= dt <= reference + _FUTURE_SLACK


def checked_date(dt: datetime | None, reference: datetime, label: str, st: State) -> datetime | None:
    if dt is not None and not plausible(dt, reference):
        st.defect(f"{label} {dt.isoformat()} is implausible: ignored")
        return None
    return dt


def newest_received_date(values, now: datetime) -> datetime | None:
    """Date of the newest (topmost) Received header that has a usable one.

    The stamp nearly always follows the last ";"; mail-parser's trace-field
    scanner (linear but per-character, so slower) handles the odd layouts."""
    for value in list(values)[:5]:
        value = unfold(value)[:4000]
        dt = header_date(value.rpartition(";")[2]) if ";" in value else None
        if dt is None and split_received is not None:
            try:
                dt = header_date(split_received(value)[1])
            except Exception:  # noqa: BLE001 - malformed trace field
                dt = None
        if plausible(dt, now):
            return dt
    return None
