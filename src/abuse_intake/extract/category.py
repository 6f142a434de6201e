"""Violation category + severity from the configured word lists.

Words and phrases are matched on tokens, not with one giant regex: the text
is lower-cased and split once into tokens, and every configured word is split
by the same tokenizer, so "ST/LT", "st lt" and "open  BO" line up without any
per-word regex and matching costs one dict look-up per token (linear time, no
backtracking). A token keeps dots between word characters ("sinta_bo.jkt",
"obrolan.example") so words hidden inside handles and domains never match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import SEVERITY_RANK, Category

# Word characters and '+' ("18+"), dots only between them (handles, domains).
_TOKEN = re.compile(r"[\w+]+(?:\.[\w+]+)*")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class CategoryRules:
    names: tuple[str, ...]  # config order
    severities: tuple[str, ...]
    # "open bo" -> ((category index, word as configured), ...)
    phrases: dict[str, tuple[tuple[int, str], ...]]
    first_tokens: frozenset[str]
    max_len: int  # longest phrase, in tokens


def compile_category_rules(categories: dict[str, Category]) -> CategoryRules:
    phrases: dict[str, list[tuple[int, str]]] = {}
    max_len = 1
    for idx, cat in enumerate(categories.values()):
        for word in cat.words:
            toks = tokenize(word)
            if not toks:
                continue
            max_len = max(max_len, len(toks))
            entries = phrases.setdefault(" ".join(toks), [])
            if all(i != idx for i, _ in entries):
                entries.append((idx, word))
    return CategoryRules(
        names=tuple(categories),
        severities=tuple(c.severity for c in categories.values()),
        phrases={k: tuple(v) for k, v in phrases.items()},
        first_tokens=frozenset(k.split(" ", 1)[0] for k in phrases),
        max_len=max_len,
    )


def classify(rules: CategoryRules, texts: list[str]) -> tuple[str | None, str | None, list[str]]:
    """(category, severity, matched words) for the texts; (None, None, []) when
    no configured word occurs. Most severe category wins; ties go to the one
    with more distinct matched words, then to the one listed first in config."""
    hits: dict[int, set[str]] = {}
    matched: dict[str, None] = {}  # ordered set of configured words
    phrases, first, max_len = rules.phrases, rules.first_tokens, rules.max_len
    for text in texts:
        if not text:
            continue
        toks = tokenize(text)
        n = len(toks)
        i = 0
        while i < n:
            tok = toks[i]
            if tok not in first:
                i += 1
                continue
            # Longest phrase wins at each position and covers its tokens, so
            # "sexual harassment" is not also counted as "harassment".
            found = None
            for length in range(min(max_len, n - i), 0, -1):
                found = phrases.get(tok if length == 1 else " ".join(toks[i:i + length]))
                if found:
                    break
            if not found:
                i += 1
                continue
            for idx, word in found:
                hits.setdefault(idx, set()).add(word)
                matched.setdefault(word, None)
            i += length
    if not hits:
        return None, None, []
    best = max(hits, key=lambda i: (SEVERITY_RANK[rules.severities[i]], len(hits[i]), -i))
    return rules.names[best], rules.severities[best], list(matched)
