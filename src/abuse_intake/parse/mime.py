"""The MIME walk: one pass over the parsed tree, iteratively (no recursion of
ours), every payload decoded once; the sender's text, attachments, attached
messages kept apart, and the report parts (DSN, ARF)."""

from __future__ import annotations

import binascii
import re
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from .arf import arf_fields
from .decode import b64_lenient, decode_bytes
from .headers import first_header, header_text, raw_headers
from .html import html_links, html_to_text
from .state import State, add_attachment

MAX_DEPTH = 50  # MIME levels we walk; real mail uses < 10
MAX_PARAM_HEADER = 1024  # see clip_mime_headers

# Nobody writes 2 MB of prose; past that, text is junk and costs every later
# stage (HTML conversion ~0.3 s/MB). The raw message keeps everything.
MAX_TEXT_CHARS = 2_000_000

# Spelled out rather than re.I: 8x faster over a whole message.
_MIME_PARAM_NAME = rb"[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-(?:[Tt][Yy][Pp][Ee]|[Dd][Ii][Ss][Pp][Oo][Ss][Ii][Tt][Ii][Oo][Nn])[ \t]*:"
_MIME_PARAM_HEADER = re.compile(rb"\n" + _MIME_PARAM_NAME)
_MIME_PARAM_FIRST = re.compile(_MIME_PARAM_NAME)
_CHARSET = re.compile(r"""(?:^|;)\s*charset\s*=\s*["']?([^"';\s]+)""", re.I)


def clip_mime_headers(data: bytes, st: State) -> bytes:
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


def walk(root: Message, st: State, forwarded: bool, depth0: int) -> tuple[list[str], list[str]]:
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
        payload = raw_payload(part)
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


def _queue_forward(part: Message, payload, depth: int, st: State) -> None:
    if depth >= MAX_DEPTH:
        st.defect(f"MIME nesting deeper than {MAX_DEPTH} levels: inner parts ignored")
        return
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte in ("base64", "quoted-printable"):
        # Not allowed for message/rfc822, but sent: the parser took the encoded
        # text for a message without headers. Decode it and parse that.
        inner = payload[0] if isinstance(payload, list) and len(payload) == 1 else None
        body = raw_payload(inner) if inner is not None and not inner.keys() else payload
        if isinstance(body, str):
            octets = body.encode("ascii", "surrogateescape")
            octets = b64_lenient(octets) if cte == "base64" else binascii.a2b_qp(octets)
            st.defect(f"message/rfc822 with {cte} transfer encoding")
            st.forwards.append((BytesParser(policy=compat32).parsebytes(octets), depth + 1))
            return
    if isinstance(payload, list):
        st.forwards.extend((p, depth + 1) for p in payload if isinstance(p, Message))
    elif isinstance(payload, str) and payload.strip():
        st.forwards.append((BytesParser(policy=compat32).parsebytes(payload.encode("ascii", "surrogateescape")), depth + 1))


def _leaf(part: Message, ctype: str, st: State, plain: list[str], html: list[str]) -> None:
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
        text = decode_bytes(payload_bytes(part, st), _charset(ct_raw, part), st, ctype)
        (plain if ctype == "text/plain" else html).append(text)
    elif maintype == "multipart":  # no usable boundary: the body is all there is
        st.defect(f"{ctype} without usable boundary: body read as text")
        plain.append(decode_bytes(payload_bytes(part, st), None, st, ctype))
    elif ctype == "text/rfc822-headers":  # headers of a returned or reported message
        st.forwarded_texts.append(decode_bytes(payload_bytes(part, st), None, st, ctype))
    elif filename or disposition != "inline" or maintype == "image":
        add_attachment(st, ctype, filename, lambda: payload_bytes(part, st))


def _charset(ct_raw: str, part: Message) -> str | None:
    if "*" in ct_raw:  # RFC 2231 parameters: let the stdlib untangle them
        return part.get_content_charset()
    m = _CHARSET.search(ct_raw)
    return m.group(1) if m else None


def _filename(part: Message, st: State) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - malformed RFC 2231 parameters
        st.defect("unreadable attachment file name")
        return ""
    if not name:
        return ""
    return header_text(str(name), st).replace("\x00", "")


def raw_payload(part: Message):
    """The payload as parsed: a list of parts, or str (8-bit bytes as surrogates).

    Not get_payload(): without decode=True it decodes 8-bit text with the
    declared charset, which costs time and raises for codecs such as idna."""
    return part._payload  # noqa: SLF001 - stable compat32 attribute (mail-parser reads it too)


def transfer_encoding(part: Message) -> str:
    return str(part.get("content-transfer-encoding", "")).strip().lower()


def payload_bytes(part: Message, st: State) -> bytes:
    """The transfer-decoded payload. Base64 is decoded here, not by the stdlib,
    which returns the undecoded text when a truncated tail leaves a bad length."""
    span = st.hollow.get(id(part)) if st.hollow else None
    if span is not None:  # hollowed: decode from the raw bytes, no copy of the text
        view = memoryview(st.raw)[span[0] : span[1]]
        try:
            return binascii.a2b_base64(view)
        except binascii.Error:
            st.defect("base64 payload truncated or malformed: decoded leniently")
            return b64_lenient(view)
    raw = raw_payload(part)
    if isinstance(raw, str) and transfer_encoding(part) == "base64":
        octets = raw.encode("ascii", "surrogateescape")
        try:
            return binascii.a2b_base64(octets)  # ignores line breaks and stray characters
        except binascii.Error:
            st.defect("base64 payload truncated or malformed: decoded leniently")
            return b64_lenient(octets)
    try:
        octets = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a decoder failing on hostile input
        st.defect("payload could not be transfer-decoded: kept as written")
        octets = raw.encode("ascii", "surrogateescape") if isinstance(raw, str) else b""
    return octets or b""


def choose_text(plain: list[str], html: list[str]) -> tuple[str, tuple[str, ...]]:
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


def read_forwards(st: State) -> str:
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
        raw = raw_headers(sub)
        lines = [f"{label}: {header_text(v, st)}" for label in ("From", "Date", "Subject") if (v := first_header(raw, label.lower()))]
        plain, html = walk(sub, st, forwarded=True, depth0=depth)
        text, links = choose_text(plain, html)
        if not any(t.strip() for t in plain) and links:
            text += "\n" + "\n".join(links)  # an href may be the only place a handle is named
        chunks.append("\n".join(lines + [""] + [text]).strip())
    return "\n\n".join(c.replace("\r\n", "\n") for c in chunks if c.strip())
