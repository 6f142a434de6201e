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
from itertools import compress

from ..config import SEVERITY_RANK, Category

# Word characters and '+' ("18+"), dots only between them (handles, domains).
_TOKEN = re.compile(r"[\w+]+(?:\.[\w+]+)*")

# The same tokens of ASCII text, 4x faster than findall (which pays per token
# and per Unicode \w test): every character that cannot be in a token becomes
# a space, so does every dot without token characters on both sides, and
# str.split() cuts the rest.
_SPACES = str.maketrans({chr(c): " " for c in range(128) if chr(c) not in "abcdefghijklmnopqrstuvwxyz0123456789_+."})


def tokenize(text: str) -> list[str]:
    low = text.lower()
    if not low.isascii():
        return _TOKEN.findall(low)
    low = low.translate(_SPACES)
    if "." in low:
        # Dots next to a dot, a space or an end: pairs of dots first (an odd
        # run leaves one dot next to a space), then dots after and before a
        # space; no step makes a new dot lone, and a dot between token
        # characters is never touched.
        low = f" {low} ".replace("..", "  ").replace(" .", "  ").replace(". ", "  ")
    return low.split()


@dataclass(frozen=True)
class CategoryRules:
    names: tuple[str, ...]  # config order
    severities: tuple[str, ...]
    # "open bo" -> ((category index, word as configured), ...)
    phrases: dict[str, tuple[tuple[int, str], ...]]
    # first token of a phrase -> the phrase lengths (in tokens) starting with it, longest first
    first_tokens: dict[str, tuple[int, ...]]
    # first token -> the second tokens of its longer phrases: common first tokens
    # ("di" of "di bawah umur", "akun" of "akun palsu") are rarely a phrase
    second_tokens: dict[str, frozenset[str]]
    # [categories] minor_patterns: a report naming a minor as the one harmed is critical
    minor: tuple[re.Pattern, ...] = ()


def compile_category_rules(categories: dict[str, Category], minor_patterns: tuple[str, ...] = ()) -> CategoryRules:
    phrases: dict[str, list[tuple[int, str]]] = {}
    lengths: dict[str, set[int]] = {}
    seconds: dict[str, set[str]] = {}
    for idx, cat in enumerate(categories.values()):
        for word in cat.words:
            toks = tokenize(word)
            if not toks:
                continue
            lengths.setdefault(toks[0], set()).add(len(toks))
            seconds.setdefault(toks[0], set()).update(toks[1:2])
            entries = phrases.setdefault(" ".join(toks), [])
            if all(i != idx for i, _ in entries):
                entries.append((idx, word))
    return CategoryRules(
        names=tuple(categories),
        severities=tuple(c.severity for c in categories.values()),
        phrases={k: tuple(v) for k, v in phrases.items()},
        first_tokens={t: tuple(sorted(ls, reverse=True)) for t, ls in lengths.items()},
        second_tokens={t: frozenset(s) for t, s in seconds.items()},
        minor=_compile_minor(minor_patterns),
    )


def _compile_minor(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    """The minor patterns as one alternation when that means the same: re has
    no literal prefix to skip ahead on for patterns opening with \\b, so each
    pattern walks the whole text, and one alternation walks it once (5x
    faster on the bench mix). Kept apart when a pattern has groups (its
    back-references would be renumbered) or a global flag (only legal first)."""
    compiled = tuple(re.compile(p) for p in patterns)
    if len(compiled) < 2 or any(c.groups for c in compiled):
        return compiled
    try:
        return (re.compile("|".join(f"(?:{p})" for p in patterns)),)
    except re.error:
        return compiled


def mentions_minor(rules: CategoryRules, texts: list[str]) -> bool:
    """Does any text say the person harmed is under 18 ("umur 14", "im 15", "anak SMP")?

    Regexes on the lower-cased text rather than tokens: ages and their
    qualifiers ("14 tahun yang lalu") are about word order and digits. The
    patterns are plain alternations with bounded look-aheads, linear in the text."""
    if not rules.minor:
        return False
    for text in texts:
        if text:
            low = text.lower()
            if any(p.search(low) for p in rules.minor):
                return True
    return False


def raise_for_minor(rules: CategoryRules, texts: list[str], category: str | None,
                    severity: str | None) -> tuple[str | None, str | None, bool]:
    """(category, severity, minor): a minor named makes the report critical. Its
    category becomes the first critical one in config (minors offered for sex
    are trafficking in the shipped config) unless it already is critical; with
    no critical category configured it keeps its own (or "other")."""
    if not mentions_minor(rules, texts):
        return category, severity, False
    if severity != "critical":
        critical = [n for n, sev in zip(rules.names, rules.severities) if sev == "critical"]
        category = critical[0] if critical else (category or "other")
    return category, "critical", True


def classify(rules: CategoryRules, texts: list[str]) -> tuple[str | None, str | None, list[str]]:
    """(category, severity, matched words) for the texts; (None, None, []) when
    no configured word occurs. Most severe category wins; ties go to the one
    with more distinct matched words, then to the one listed first in config."""
    return classify_tokens(rules, [tokenize(t) for t in texts if t])


def classify_tokens(rules: CategoryRules, token_lists: list[list[str]]) -> tuple[str | None, str | None, list[str]]:
    """classify() on texts already split by tokenize()."""
    hits: dict[int, set[str]] = {}
    matched: dict[str, None] = {}  # ordered set of configured words
    phrases, first, second = rules.phrases, rules.first_tokens, rules.second_tokens
    for toks in token_lists:
        n = len(toks)
        covered = 0  # tokens before this index belong to an earlier match
        for i in compress(range(n), map(first.__contains__, toks)):  # in C: most tokens are no phrase
            if i < covered:
                continue
            # Longest phrase wins at each position and covers its tokens, so
            # "sexual harassment" is not also counted as "harassment".
            for length in first[toks[i]]:
                if i + length > n or (length > 1 and toks[i + 1] not in second[toks[i]]):
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
