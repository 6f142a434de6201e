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
    # first token of a phrase -> the phrase lengths (in tokens) starting with it, longest first
    first_tokens: dict[str, tuple[int, ...]]


def compile_category_rules(categories: dict[str, Category]) -> CategoryRules:
    phrases: dict[str, list[tuple[int, str]]] = {}
    lengths: dict[str, set[int]] = {}
    for idx, cat in enumerate(categories.values()):
        for word in cat.words:
            toks = tokenize(word)
            if not toks:
                continue
            lengths.setdefault(toks[0], set()).add(len(toks))
            entries = phrases.setdefault(" ".join(toks), [])
            if all(i != idx for i, _ in entries):
                entries.append((idx, word))
    return CategoryRules(
        names=tuple(categories),
        severities=tuple(c.severity for c in categories.values()),
        phrases={k: tuple(v) for k, v in phrases.items()},
        first_tokens={t: tuple(sorted(ls, reverse=True)) for t, ls in lengths.items()},
    )


def classify(rules: CategoryRules, texts: list[str]) -> tuple[str | None, str | None, list[str]]:
    """(category, severity, matched words) for the texts; (None, None, []) when
    no configured word occurs. Most severe category wins; ties go to the one
    with more distinct matched words, then to the one listed first in config."""
    return classify_tokens(rules, [tokenize(t) for t in texts if t])


def classify_tokens(rules: CategoryRules, token_lists: list[list[str]]) -> tuple[str | None, str | None, list[str]]:
    """classify() on texts already split by tokenize()."""
    hits: dict[int, set[str]] = {}
    matched: dict[str, None] = {}  # ordered set of configured words
    phrases, first = rules.phrases, rules.first_tokens
    for toks in token_lists:
        n = len(toks)
        covered = 0  # tokens before this index belong to an earlier match
        for i in [i for i, t in enumerate(toks) if t in first]:
            if i < covered:
                continue
            # Longest phrase wins at each position and covers its tokens, so
            # "sexual harassment" is not also counted as "harassment".
            for length in first[toks[i]]:
                if i + length > n:
                    continue
                found = phrases.get(toks[i] if length == 1 else " ".join(toks[i:i + length]))
                if found:
                    for idx, word in found:
                        hits.setdefault(idx, set()).add(word)
                        matched.setdefault(word, None)
                    covered = i + length
                    break
    if not hits:
        return None, None, []
    best = max(hits, key=lambda i: (SEVERITY_RANK[rules.severities[i]], len(hits[i]), -i))
    return rules.names[best], rules.severities[best], list(matched)
