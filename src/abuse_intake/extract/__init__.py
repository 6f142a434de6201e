"""extract: a parsed email's text -> account IDs, category + severity, language.

flow/process.py calls `extract(...)`; the regexes and word tables it needs are
built once per Settings object (compile_rules) and reused for every message.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import Settings
from ..models import Extraction
from .accounts import AccountRules, compile_account_rules, find_accounts
from .category import CategoryRules, classify_tokens, compile_category_rules, raise_for_minor, tokenize
from .language import detect_language_tokens

__all__ = ["Rules", "compile_rules", "extract"]

# Words asking for action against someone: with them an email is a report even
# when it names no category's words (tokens as category.tokenize makes them).
_REPORT_WORDS = frozenset(
    "lapor laporin melaporkan dilaporkan laporkan blokir diblokir blok diblok block blocked ban banned "
    "tindak ditindak ditindaklanjuti report reporting reported harassing grooming creepy stalking "
    "hapus dihapus remove suspend act action tindakan laporan diproses".split())


@dataclass(frozen=True)
class Rules:
    accounts: AccountRules
    categories: CategoryRules


# Settings holds dicts, so it is not hashable: cache by identity, keeping the
# object itself so a recycled id() can never return another config's rules.
_CACHE: dict[int, tuple[Settings, Rules]] = {}
_CACHE_MAX = 8
_LOCK = threading.Lock()


def compile_rules(settings: Settings) -> Rules:
    hit = _CACHE.get(id(settings))
    if hit is not None and hit[0] is settings:
        return hit[1]
    rules = Rules(
        accounts=compile_account_rules(settings.accounts, settings.own_addresses, settings.platform_name),
        categories=compile_category_rules(settings.categories, settings.minor_patterns),
    )
    with _LOCK:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[id(settings)] = (settings, rules)
    return rules


def extract(
    text: str,
    html_links: Sequence[str],
    forwarded_text: str,
    subject: str,
    reporter_address: str | None,
    reporter_name: str,
    settings: Settings,
) -> Extraction:
    rules = compile_rules(settings)
    text, forwarded_text, subject = text or "", forwarded_text or "", subject or ""
    # Tokenize once: the sender's own words serve both category and language.
    own_tokens = [tokenize(subject), tokenize(text)]
    fwd_tokens = tokenize(forwarded_text)
    category, severity, words = classify_tokens(rules.categories, [*own_tokens, fwd_tokens])
    category, severity, minor = raise_for_minor(rules.categories, [subject, text, forwarded_text], category, severity)
    # Bare handles ("cindy.manja21 open bo") only in an email that is a report by
    # its words: a category's, or the sender asking for action ("tolong diblokir",
    # "please ban him"); else only by their shape (chat speakers, notifications).
    report = category is not None or any(not _REPORT_WORDS.isdisjoint(t) for t in own_tokens)
    limit = settings.limits.max_accounts_per_report
    cap = collection_cap(limit)
    account_ids = find_accounts(
        rules.accounts, text, tuple(html_links or ()), forwarded_text, subject,
        reporter_address, reporter_name or "",
        bare=settings.accounts.bare_handles, report=report, cap=cap,
        text_tokens=own_tokens[1], forwarded_tokens=fwd_tokens, subject_tokens=own_tokens[0],
    )
    excess: list[str] = []
    if len(account_ids) > limit:  # a list of handles, not a report about one: staff decide
        excess, account_ids = account_ids, []
    return Extraction(
        account_ids=account_ids,
        category=category,
        severity=severity,
        matched_words=words,
        language=detect_language_tokens(own_tokens),
        excess_accounts=excess,
        excess_truncated=len(excess) >= cap,
        minor=minor,
    )


def collection_cap(limit: int) -> int:
    """How many distinct handles extraction collects at most: well above the limit, so
    staff see the list, yet a 20 MB message of handles costs bounded time and memory."""
    return max(100, 10 * limit)
