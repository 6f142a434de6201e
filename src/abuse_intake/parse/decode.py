"""Bytes to text: declared charsets with the fallbacks real mail needs, and
lenient base64 (junk, missing padding, a truncated tail)."""

from __future__ import annotations

import binascii
import re

from .state import State

_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_LATIN1_NAMES = frozenset({"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819"})
_ASCII_NAMES = frozenset({"us-ascii", "ascii", "unknown-8bit", "x-unknown", "unknown", "8bit", "default"})


def b64_lenient(data: bytes | memoryview) -> bytes:
    """Base64 that tolerates junk, missing padding and a truncated tail."""
    clean = _B64_JUNK.sub(b"", data)
    if len(clean) % 4 == 1:
        clean = clean[:-1]  # a lone 6-bit tail carries no whole byte
    clean += b"=" * (-len(clean) % 4)
    return binascii.a2b_base64(clean)


def decode_bytes(octets: bytes, charset: str | None, st: State, where: str) -> str:
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
