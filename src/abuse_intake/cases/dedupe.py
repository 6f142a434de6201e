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


def fingerprint(text: str) -> str:
    """Lower-cased words of the reporter's text, space-separated."""
    words = _WORD.findall(_QUOTE_LINE.sub("", text).lower())
    return " ".join(words[:MAX_WORDS])


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
