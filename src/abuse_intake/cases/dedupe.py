"""Is this report a re-send of an earlier one by the same reporter?

People who get no instant answer send their report again, reworded each time
("Tolong segera ditindak!", "kak ini akun yang kemarin masih aktif"). The
same reporter about the same accounts, while the case is still open, within
the window, naming no new account and attaching nothing new, is one report,
not two, whatever the words (resend_of). A report that names no account is
a resend only in nearly the same words (there is no case to compare).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class EarlierReport:
    """One of the reporter's reports within the window, oldest first."""
    message_row: int
    account_ids: tuple[str, ...]
    fingerprint: str
    attachments: frozenset[str]  # sha256 of its attachments
    open: bool  # every account of the new message has an open case that holds this report


def resend_of(account_ids: Iterable[str], attachments: Iterable[str], fp: str,
              earlier: Iterable[EarlierReport]) -> int | None:
    """The message row of the earlier report that this one repeats, or None.

    Adding an account or an attachment makes it a new report: there is
    something new to look at."""
    accounts, files = set(account_ids), set(attachments)
    for e in earlier:
        if not files <= e.attachments:
            continue
        if accounts:
            if accounts <= set(e.account_ids) and e.open:
                return e.message_row
        elif not e.account_ids and similar(fp, e.fingerprint):
            return e.message_row
    return None
