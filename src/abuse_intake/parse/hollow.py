"""Hollowing: large base64 bodies cut out of the raw bytes before the stdlib
parser runs (it handles every line in Python and holds ~8 copies of a big
body); those parts are then decoded straight from the raw bytes (see
mime.payload_bytes). The tests compare parsing with and without it.
"""

from __future__ import annotations

import re
import secrets
from email.message import Message

from .mime import raw_payload, transfer_encoding
from .state import State

# Base64 bodies at least this long are cut out before parsing (see hollow);
# None switches hollowing off (the tests compare both ways).
HOLLOW_MIN_BYTES: int | None = 2048
_HOLLOW_CHUNK = 1 << 20
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_CTE_BASE64_LINE = re.compile(rb"content-transfer-encoding[ \t]*:[ \t]*base64[ \t]*\r?")
_HOLLOW_TAIL = 256  # a region ending in more blank lines than this is left alone


def hollow(data: bytes, min_bytes: int) -> tuple[bytes, str, list[tuple[int, int]]]:
    """Cut large base64 bodies out of data before the stdlib parser sees them.

    Returns (hollowed bytes, marker prefix, [(start, end) of each region in
    data]). Region i is replaced by one line prefix+str(i), keeping the
    region's own final line ending. A region is whole lines of the base64
    alphabet only, none of them blank, starting at a line start: such lines
    hold no "-" (no boundary), no ":" and no leading white space (no header
    or continuation), and no blank line (header/body separator, the end of
    a delivery-status block). The marker line has the same properties, so
    the parser sees the same MIME structure, headers and defects; only the
    payload text differs, and unhollow settles that. Finding the regions
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


def unhollow(root: Message, prefix: str, spans: list[tuple[int, int]], st: State) -> None:
    """After parsing the hollowed bytes: a base64 part whose payload is just one
    marker is recorded on st.hollow (payload_bytes decodes it from st.raw,
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
        payload = raw_payload(part)
        if isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
        elif isinstance(payload, str) and prefix in payload:
            index = _lone_marker(payload, prefix, len(spans))
            # message/* text is re-parsed or read as headers, not through payload_bytes
            if index is not None and part.get_content_maintype() != "message" and transfer_encoding(part) == "base64":
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
