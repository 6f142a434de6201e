"""The one printable-text filter: text from email (names, subjects, bodies)
must not carry control characters into a terminal, a table or the audit log."""

from __future__ import annotations


def printable(text: str, keep_newlines: bool = False) -> str:
    """`text` with every non-printable character (controls, line and paragraph
    separators, format characters) replaced by a space; newlines and tabs
    survive when `keep_newlines`."""
    if text.isprintable():  # nearly every value: no per-character pass
        return text
    return "".join(ch if ch.isprintable() or (keep_newlines and ch in "\n\t") else " " for ch in text)
