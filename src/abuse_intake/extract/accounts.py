"""Account IDs (handles) named in a report.

Three ways a handle is recognised, all driven by [accounts] in the config:
- after a label ("ID: x", "akun @x", "user id x"). After ':' or '@' any
  handle-shaped word counts unless it is an ordinary word (not_handles);
  after a plain space only a word that cannot be ordinary prose counts: it
  holds a digit, '.', '_' or an inner capital ("akun om.genit_77", but not
  "this account pretends" or "2 akun open BO");
- '@x' anywhere, except inside e-mail addresses and other sites' URLs,
  '@domain.tld' forms and other services' handles ("IG @x", "Telegram: @x");
- a profile link (accounts.profile_urls), in the text or in HTML hrefs.
Then the reporter's own handle ("my username is x", "akun saya x") and their
signature (a handle equal to their name or address local part, ignoring '.',
'_' and case) are dropped.

Every regex is compiled once per configuration (compile_account_rules); they
use bounded repetition only, so matching stays linear in the text length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import AccountSettings

# Words around a label that make the handle the reporter's own.
_OWN_BEFORE = r"(?:my|my\s+own)"
_OWN_AFTER = r"(?:\s{1,4}(?:saya|aku|gue|gw|sendiri)|ku)\b"
_CONNECTOR = r"(?:\s{0,4}[:：]|\s{1,4}(?:is|adalah|yaitu)\b)?"

# Never glued to a label or '@' in running text: what precedes these is part
# of a URL, an e-mail address or a longer word.
_BEFORE_CLASS = r"[\w.@/?&=#+-]"
_BEFORE = rf"(?<!{_BEFORE_CLASS})"
# A handle ends where no handle character, '@' or '/' follows (else it is
# the local part of an address, a domain in a URL, or longer than allowed).
_AFTER = r"(?![\w.@/])"
_OPEN_QUOTE = r"[\"'“‘(\[]?"

# '@domain.tld' is an address fragment, not a handle. Country codes count as
# a TLD only after a second-level label ("yahoo.co.id"), since handles like
# "sinta.id" are common.
_TLDS = frozenset(
    "com net org info biz edu gov mil int io me app dev xyz online site store shop "
    "example test invalid localhost".split()
)
_SECOND_LEVEL = frozenset("co ac go or sch web net my com org gov edu mil".split())
_STRIP = "._"
_CAMEL = re.compile(r"[a-z][A-Z]")

# "IG @x", "Telegram: @x", "MiChat ID: x" name an account on another service.
_OTHER_SITE = re.compile(
    r"\b(?:instagram|insta|ig|twitter|tiktok|telegram|tele|tg|facebook|fb|whatsapp|wa|snapchat|"
    r"michat|line|threads|youtube|yt|discord)"
    r"(?:\s{1,3}(?:id|akun|account|handle|username))?\s{0,3}[:：]?\s{0,3}$",
    re.IGNORECASE,
)


def _other_site_before(text: str, pos: int) -> bool:
    return _OTHER_SITE.search(text, max(0, pos - 30), pos) is not None


@dataclass(frozen=True)
class AccountRules:
    label: re.Pattern  # groups: sep, h
    at: re.Pattern  # group: h
    urls: tuple[re.Pattern, ...]  # group: handle
    own: re.Pattern  # group: h
    handle: re.Pattern  # fullmatch check after stripping
    not_handles: frozenset[str]
    platform_locals: frozenset[str]  # local parts of the platform's own addresses


def _phrase(label: str) -> str:
    # Spaces in a configured label match any run of whitespace (line breaks too).
    return r"\s{1,4}".join(re.escape(part) for part in label.split())


def compile_account_rules(accounts: AccountSettings, own_addresses: tuple[str, ...] = ()) -> AccountRules:
    handle = accounts.handle_pattern
    labels = sorted({lab.strip() for lab in accounts.labels if lab.strip()}, key=len, reverse=True)
    label_alt = "|".join(_phrase(lab) for lab in labels) or r"(?!)"
    # A look-ahead on the labels' first letters lets the regex engine skip
    # most positions quickly (3x faster than starting with the look-behind).
    first = re.escape("".join(sorted({c for lab in labels for c in (lab[0].lower(), lab[0].upper())})))
    skip = rf"(?=[{first}])" if first else ""  # no labels: label_alt never matches
    label = re.compile(
        rf"{skip}{_BEFORE}(?:{label_alt})"
        rf"(?P<sep>\s{{0,4}}[:：]\s{{0,4}}@?|\s{{0,4}}@|\s{{1,4}}){_OPEN_QUOTE}"
        rf"(?=(?P<h>{handle}){_AFTER})",
        re.IGNORECASE,
    )
    # '@' first, then the look-behind on the character before it: fast scan.
    at = re.compile(rf"@(?<!{_BEFORE_CLASS}@)(?P<h>{handle}){_AFTER}", re.IGNORECASE)
    own = re.compile(
        rf"(?=[mM{first}])"
        rf"(?:\b{_OWN_BEFORE}\s{{1,4}}(?:{label_alt})|{_BEFORE}(?:{label_alt}){_OWN_AFTER})"
        rf"{_CONNECTOR}\s{{0,4}}@?{_OPEN_QUOTE}(?P<h>{handle}){_AFTER}",
        re.IGNORECASE,
    )
    urls = tuple(re.compile(rf"(?<![\w.-])(?:{u})", re.IGNORECASE) for u in accounts.profile_urls)
    return AccountRules(
        label=label,
        at=at,
        urls=urls,
        own=own,
        handle=re.compile(handle, re.IGNORECASE),
        not_handles=frozenset(w.lower().strip(_STRIP) for w in accounts.not_handles),
        platform_locals=frozenset(a.split("@", 1)[0].lower() for a in own_addresses if "@" in a),
    )


def _looks_like_handle(tok: str) -> bool:
    """Whether a word after a bare label (no ':' or '@') is a handle rather
    than prose: ordinary words have no digits, dots, underscores or inner capitals."""
    return any(c.isdigit() or c in "._" for c in tok) or _CAMEL.search(tok) is not None


def _is_domain(tok: str) -> bool:
    parts = tok.lower().split(".")
    if len(parts) < 2 or "_" in tok:
        return False
    if parts[-1] in _TLDS:
        return True
    return len(parts) >= 3 and len(parts[-1]) == 2 and parts[-2] in _SECOND_LEVEL


def _clean(rules: AccountRules, raw: str) -> str | None:
    tok = raw.rstrip(_STRIP)  # sentence punctuation: "akun @foo.bar." -> foo.bar
    if not rules.handle.fullmatch(tok):
        return None
    low = tok.lower()
    if low in rules.not_handles or low in rules.platform_locals:
        return None
    return low


def _scan_text(rules: AccountRules, text: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for m in rules.label.finditer(text):
        raw = m.group("h")
        strong = bool(m.group("sep").strip())  # ':' or '@' after the label
        if not strong and not _looks_like_handle(raw.rstrip(_STRIP)):
            continue
        if _other_site_before(text, m.start()):
            continue
        h = _clean(rules, raw)
        if h:
            found.append((m.start("h"), h))
    for m in rules.at.finditer(text):
        raw = m.group("h")
        if _is_domain(raw.rstrip(_STRIP)) or _other_site_before(text, m.start()):
            continue
        h = _clean(rules, raw)
        if h:
            found.append((m.start("h"), h))
    found.extend(_scan_urls(rules, text))
    found.sort(key=lambda p: p[0])
    return found


def _scan_urls(rules: AccountRules, text: str) -> list[tuple[int, str]]:
    found = []
    for rx in rules.urls:
        for m in rx.finditer(text):
            end = m.end("handle")
            if end < len(text) and (text[end].isalnum() or text[end] == "_"):
                continue  # handle longer than the pattern allows: not a valid ID
            h = _clean(rules, m.group("handle"))
            if h:
                found.append((m.start("handle"), h))
    return found


def _squash(s: str) -> str:
    return re.sub(r"[\W_]+", "", s.lower())


def find_accounts(
    rules: AccountRules,
    text: str,
    html_links: list[str] | tuple[str, ...],
    forwarded_text: str,
    subject: str,
    reporter_address: str | None,
    reporter_name: str,
) -> list[str]:
    """Lower-cased handles in order of first mention (text, links, forwarded
    text, subject), without duplicates, the reporter's own ones removed."""
    mentions: list[str] = [h for _, h in _scan_text(rules, text)] if text else []
    for link in html_links:
        mentions.extend(h for _, h in _scan_urls(rules, link))
    if forwarded_text:
        mentions.extend(h for _, h in _scan_text(rules, forwarded_text))
    if subject:
        mentions.extend(h for _, h in _scan_text(rules, subject))
    if not mentions:
        return []

    # Only the sender's own words can say "my username": in a forwarded spam
    # "akun aku" is the spammer's, i.e. the reported account.
    excluded = {m.group("h").rstrip(_STRIP).lower() for src in (text, subject) if src for m in rules.own.finditer(src)}
    signatures = {s for s in (_squash(reporter_name or ""),
                              _squash((reporter_address or "").split("@", 1)[0])) if len(s) >= 4}
    out: dict[str, None] = {}
    for h in mentions:
        if h in excluded or _squash(h) in signatures:
            continue
        out.setdefault(h, None)
    return list(out)
