"""Make values taken from an email safe to put in a header of ours.

A reporter controls their Subject, display name and Message-ID. A CR or LF in
any of them would start a new header line (e.g. an injected `Bcc:`), so every
such value loses its control characters before it reaches a header; an
address must be one plain addr-spec or it is refused.
"""

from __future__ import annotations

import re
import unicodedata

# Line and paragraph separators count as line breaks to some mail software.
_BREAKING = {"Cc", "Zl", "Zp"}
_SPACES = re.compile(r"\s+")

# One addr-spec in its plain dot-atom form: no display name, no quotes, no
# comments, no route, no second address. Stricter than RFC 5322 on purpose:
# an address we cannot read at a glance is not one we write to.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
_MSGID = re.compile(r"[\x21-\x3b\x3d\x3f-\x7e]{1,250}@[\x21-\x3b\x3d\x3f-\x7e]{1,250}")

SUBJECT_MAX = 200
NAME_MAX = 100


def clean_text(value: str | None, max_len: int = SUBJECT_MAX) -> str:
    """One line of printable text: control characters become spaces, runs of
    whitespace collapse to one, and the result is cut to max_len characters."""
    if not value:
        return ""
    text = str(value)
    # isprintable() is False for every Cc, Zl and Zp character, so a printable
    # value (nearly all of them) skips the per-character look-up.
    if not text.isprintable():
        text = "".join(" " if unicodedata.category(ch) in _BREAKING else ch for ch in text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > max_len:
        text = text[: max_len - 1].rstrip() + "…"
    return text


def plain_address(value: str | None) -> str | None:
    """The address, lower-cased, if it is exactly one plain addr-spec; else None."""
    if not value or not isinstance(value, str):
        return None
    candidate = value.strip()
    if len(candidate) > 254 or not _ADDR.fullmatch(candidate):
        return None
    return candidate.lower()


def clean_message_id(value: str | None) -> str | None:
    """A Message-ID without its angle brackets, or None if it is not one."""
    if not value:
        return None
    text = str(value)
    if not text.isprintable():  # see clean_text
        text = "".join(ch for ch in text if unicodedata.category(ch) not in _BREAKING)
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return text if _MSGID.fullmatch(text) else None


def clean_message_ids(values) -> list[str]:
    """Valid ids from a list, in order, without repeats."""
    out: list[str] = []
    for v in values or ():
        mid = clean_message_id(v)
        if mid and mid not in out:
            out.append(mid)
    return out
