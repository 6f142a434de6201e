"""Is this report a re-send of an earlier one by the same reporter?

People who get no instant answer send their report again, often with a line
added ("Tolong segera ditindak!"). Same reporter, same accounts and nearly the
same words within the window is one report, not two.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)
# Quoted earlier mail and signature noise should not make two texts look different.
_QUOTE_LINE = re.compile(r"^\s*>.*$", re.MULTILINE)

SIMILARITY = 0.8
MAX_WORDS = 400  # the opening of a report is enough to recognise it; keeps cost flat

# Only the opening is read: a prefix of the text that ends before a line break
# holds exactly the first words of the whole (quote lines are whole lines, and
# lower() looks no further than a line break), so it is enough once it has
# MAX_WORDS of them. ~3,000 characters of prose do; more is read when not.
_PREFIX = 3000
# ASCII words (\w+ is [a-z0-9_]+ there after lower()): everything else becomes
# a space and str.split() cuts, several times faster than findall.
_NON_WORD = str.maketrans({chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")})


def _words(text: str) -> list[str]:
    if ">" in text:
        text = _QUOTE_LINE.sub("", text)
    low = text.lower()
    if low.isascii():
        return low.translate(_NON_WORD).split()
    return _WORD.findall(low)


def fingerprint(text: str) -> str:
    """Lower-cased words of the reporter's text, space-separated."""
    size = _PREFIX
    while True:
        end = text.find("\n", size) if size < len(text) else -1
        words = _words(text if end < 0 else text[:end])
        if end < 0 or len(words) >= MAX_WORDS:
            return " ".join(words[:MAX_WORDS])
        size = max(2 * size, end + 1)


def similar(a: str, b: str) -> bool:
    """Near-identical: most words of the shorter text are in the longer one."""
    if a == b:
        return True
    wa, wb = set(a.split()), set(b.split())
    if not wa or not wb:
        return not wa and not wb
    overlap = len(wa & wb) / min(len(wa), len(wb))
    size = min(len(wa), len(wb)) / max(len(wa), len(wb))
    return overlap >= SIMILARITY and size >= 0.6


def same_accounts(a: list[str], b: list[str]) -> bool:
    return sorted(set(a)) == sorted(set(b))
