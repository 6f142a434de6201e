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

Speed: Python's re tries a pattern at every position of the text unless it
starts with a case-sensitive literal, and the label, own-handle and
profile-link patterns start with case-insensitive words or an optional
"https://". So each is only tried where it can match: where the text,
lower-cased, holds a label's first word (or "my"), or a profile link's fixed
host text (str.find, in C). Tried left to right from the end of the previous
match, the positions give exactly the matches of finditer over the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from re import _constants as _sre_constants, _parser as _sre_parser  # to find a link pattern's host text

from ..config import AccountSettings

# Words around a label that make the handle the reporter's own.
# "my account", "my own account", "my creator account"; "your username:" (a web form asking the
# sender's), "your help account x" (written to the platform: its own account). Neither is reported.
_OWN_BEFORE = r"(?:my|your)(?:\s{1,4}[a-z]{2,12})?"
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

# "IG @x", "Telegram: @x", "MiChat ID: x", "on TikTok as @x", "di telegram
# namanya @x", "his snap is @x", "Instagram (@x)" name an account on another
# service: the site's name, then at most three linking words, right before
# the handle. Anything else in between (another handle, "di sini akunnya")
# ends the other site's reach, so it never hides a neighbouring handle of ours.
_SITES = (r"instagram|insta|ig|twitter(?:\s{0,2}[/(]\s{0,2}x\b\)?)?|tiktok|tik\s?tok|telegram|tele|tg|"
          r"facebook|fb|whatsapp|wa|snapchat|snap|michat|line|threads|youtube|yt|discord|onlyfans|"
          r"linktree|twitch|reddit|wechat|kik|on\s{1,3}x")
_LINKING = (r"id|akun|akunnya|account|handle|username|user|name|named|nama|namanya|nya|as|is|was|"
            r"pakai|pake|dia|she|he|she's|he's|shes|hes|her|his|their|them|mereka|juga|also|called|"
            r"yaitu|adalah|di|at|on|sebagai")
_OTHER_SITE = re.compile(
    rf"\b(?:{_SITES})(?:nya)?(?:[\s:：()=,'’-]{{0,4}}(?:{_LINKING})\b){{0,3}}[\s:：()=\"'“‘-]{{0,4}}$",
    re.IGNORECASE,
)


# The site names as words: the full pattern runs only when one is among the
# words just before the handle (most handles have none near them).
_SITE_NAMES = frozenset(
    w + suffix for w in ("instagram insta ig twitter x tiktok tik telegram tele tg facebook fb whatsapp wa "
                         "snapchat snap michat line threads youtube yt discord onlyfans linktree twitch "
                         "reddit wechat kik").split() for suffix in ("", "nya"))
_NON_WORD = str.maketrans({c: " " for c in "()[]{}:：=,;/'\"“”‘’.!?@-"})


def _other_site_before(text: str, pos: int) -> bool:
    start = max(0, pos - 60)
    if _SITE_NAMES.isdisjoint(text[start:pos].lower().translate(_NON_WORD).split()):
        return False
    return _OTHER_SITE.search(text, start, pos) is not None


# Under re.IGNORECASE an ASCII character matches its other case and, for
# 'i', 'k', 's', also 'ı', 'İ', 'K' (Kelvin), 'ſ'. lower() already maps 'K'
# to 'k'; these two it keeps. 'İ' lower-cases to two characters.
_FOLD = {0x131: "i", 0x17F: "s"}


def fold(text: str) -> str | None:
    """Lower-cased text, index for index, in which an ASCII string occurs
    wherever re.IGNORECASE would match it in text; None when lower-casing
    changes the length (then indexes would not line up)."""
    low = text.lower()
    if text.isascii():
        return low
    if len(low) != len(text):
        return None
    return low.translate(_FOLD)


@dataclass(frozen=True)
class UrlAnchor:
    """Folded text every match of a profile-link pattern contains, and how
    many characters (at least, at most) precede it in the match."""
    text: str
    lo: int
    hi: int


@dataclass(frozen=True)
class AccountRules:
    label: re.Pattern  # groups: sep, h
    at: re.Pattern  # group: h
    urls: tuple[re.Pattern, ...]  # group: handle
    own: re.Pattern  # group: h
    handle: re.Pattern  # fullmatch check after stripping
    not_handles: frozenset[str]
    platform_locals: frozenset[str]  # local parts of the platform's own addresses
    own_addresses: frozenset[str] = frozenset()  # lower-cased: where a quote of our own e-mail starts
    platform_word: str = ""  # the platform's name, lower-cased: its own accounts start with it
    # Folded first words of the labels: label and own matches start only where
    # one (or "my") occurs. None: a first word is not ASCII, scan everywhere.
    label_words: tuple[str, ...] | None = None
    # label and own with the labels grouped by first letter (_grouped), used
    # with label_words: the same matches, 2x faster at a label
    label_at: re.Pattern | None = None
    own_at: re.Pattern | None = None
    url_anchors: tuple[UrlAnchor | None, ...] = ()  # per urls entry; None: scan everywhere


def _phrase(label: str) -> str:
    # Spaces in a configured label match any run of whitespace (line breaks too).
    return r"\s{1,4}".join(re.escape(part) for part in label.split())


def _grouped(labels: list[str]) -> str:
    """The label alternation with labels grouped by (ASCII) first character:
    at any index only one group's character can match, and within it the
    labels keep their order, so it matches exactly as the flat one does, but
    re compares one character per group instead of one per label."""
    groups: dict[str, list[str]] = {}
    for lab in labels:
        groups.setdefault(lab[0].lower(), []).append(lab)
    return "|".join(re.escape(c) + "(?:" + "|".join(_phrase(lab)[len(re.escape(lab[0])):] for lab in labs) + ")"
                    for c, labs in groups.items()) or r"(?!)"


def compile_account_rules(accounts: AccountSettings, own_addresses: tuple[str, ...] = (),
                          platform_name: str = "") -> AccountRules:
    handle = accounts.handle_pattern
    labels = sorted({lab.strip() for lab in accounts.labels if lab.strip()}, key=len, reverse=True)
    label_alt = "|".join(_phrase(lab) for lab in labels) or r"(?!)"
    # A look-ahead on the labels' first letters lets the regex engine skip
    # most positions quickly (3x faster than starting with the look-behind).
    first = re.escape("".join(sorted({c for lab in labels for c in (lab[0].lower(), lab[0].upper())})))
    skip = rf"(?=[{first}])" if first else ""  # no labels: label_alt never matches

    def label_pattern(alt: str) -> re.Pattern:
        return re.compile(
            rf"{skip}{_BEFORE}(?:{alt})"
            rf"(?P<sep>\s{{0,4}}[:：]\s{{0,4}}@?|\s{{0,4}}@|\s{{1,4}}){_OPEN_QUOTE}"
            rf"(?=(?P<h>{handle}){_AFTER})",
            re.IGNORECASE,
        )

    def own_pattern(alt: str) -> re.Pattern:
        return re.compile(
            rf"(?=[mMyY{first}])"
            rf"(?:\b{_OWN_BEFORE}\s{{1,4}}(?:{alt})|{_BEFORE}(?:{alt}){_OWN_AFTER})"
            rf"{_CONNECTOR}\s{{0,4}}@?{_OPEN_QUOTE}(?P<h>{handle}){_AFTER}",
            re.IGNORECASE,
        )

    # '@' first, then the look-behind on the character before it: fast scan.
    at = re.compile(rf"@(?<!{_BEFORE_CLASS}@)(?P<h>{handle}){_AFTER}", re.IGNORECASE)
    urls = tuple(re.compile(rf"(?<![\w.-])(?:{u})", re.IGNORECASE) for u in accounts.profile_urls)
    words = {lab.split()[0].lower() for lab in labels}
    fast = all(w.isascii() for w in words)
    return AccountRules(
        label=label_pattern(label_alt),
        at=at,
        urls=urls,
        own=own_pattern(label_alt),
        handle=re.compile(handle, re.IGNORECASE),
        not_handles=frozenset(w.lower().strip(_STRIP) for w in accounts.not_handles),
        platform_locals=frozenset(a.split("@", 1)[0].lower() for a in own_addresses if "@" in a),
        own_addresses=frozenset(a.lower() for a in own_addresses if "@" in a),
        platform_word=platform_name.strip().lower() if platform_name.strip().isalnum() else "",
        # A word with another one as its prefix ("username", "user") adds no position.
        label_words=tuple(sorted(w for w in words if not any(o != w and w.startswith(o) for o in words)))
        if fast else None,
        label_at=label_pattern(_grouped(labels)) if fast else None,
        own_at=own_pattern(_grouped(labels)) if fast else None,
        url_anchors=tuple(url_anchor(u) for u in accounts.profile_urls),
    )


_MAX_BEFORE = 100  # longest optional prefix ("https://www.") worth trying position by position


def url_anchor(pattern: str) -> UrlAnchor | None:
    """The longest run of plain ASCII characters at the top level of a
    profile-link pattern and the width of what precedes it; None when there is
    none or that width is unbounded (the pattern is then run over all the text)."""
    try:
        parsed = _sre_parser.parse(pattern, re.IGNORECASE)
        items = list(parsed.data)
        best = (0, 0)
        i = 0
        while i < len(items):
            j = i
            while j < len(items) and items[j][0] is _sre_constants.LITERAL and items[j][1] < 128:
                j += 1
            if j - i > best[1] - best[0]:
                best = (i, j)
            i = max(j, i + 1)
        if best[1] == best[0]:
            return None
        lo, hi = _sre_parser.SubPattern(parsed.state, items[:best[0]]).getwidth()
    except Exception:  # a private module: if it ever changes, scan the whole text
        return None
    if hi > _MAX_BEFORE:
        return None
    return UrlAnchor("".join(chr(c) for _, c in items[best[0]:best[1]]).lower(), lo, hi)


_GLUE = "_.@/?&=#+-"  # with isalnum() (exactly \w): the characters _BEFORE rejects before a label


def _label_starts(rules: AccountRules, text: str, low: str | None) -> list[int] | None:
    """Sorted indexes at which a label can start (its first word, after a
    character _BEFORE accepts); None when every index must be tried."""
    if rules.label_words is None or low is None:
        return None
    starts = []
    for w in rules.label_words:  # none is a prefix of another: no index twice
        q = low.find(w)
        while q >= 0:
            if q == 0 or not (text[q - 1].isalnum() or text[q - 1] in _GLUE):
                starts.append(q)
            q = low.find(w, q + 1)
    starts.sort()
    return starts


def _own_starts(text: str, low: str, label_starts: list[int]) -> list[int]:
    """Where rules.own can start: a label, or "my"/"your" after a non-word character (\\b)."""
    my = []
    for word in ("my", "your"):
        q = low.find(word)
        while q >= 0:
            if q == 0 or not (text[q - 1].isalnum() or text[q - 1] == "_"):
                my.append(q)
            q = low.find(word, q + 1)
    return sorted(set(label_starts).union(my)) if my else label_starts


def _matches_at(rx: re.Pattern, text: str, starts: list[int]) -> list[re.Match]:
    """rx.finditer(text) for a pattern that can only match (non-empty) at the
    sorted positions `starts`: the same positions are tried, in the same order."""
    found = []
    end = 0
    for p in starts:
        if p >= end:
            m = rx.match(text, p)
            if m is not None:
                found.append(m)
                end = m.end()
    return found


def own_handles(rules: AccountRules, text: str, low: str | None = None,
                starts: list[int] | None = None) -> list[str]:
    """Group h of every rules.own match in text ("my username is x"); low and
    starts are fold(text) and its label starts when the caller has them."""
    if low is None:
        low = fold(text)
    if starts is None:
        starts = _label_starts(rules, text, low)
    if starts is None:
        return [m.group("h") for m in rules.own.finditer(text)]
    return [m.group("h") for m in _matches_at(rules.own_at or rules.own, text, _own_starts(text, low, starts))]


def _looks_like_handle(tok: str) -> bool:
    """Whether a word after a bare label (no ':' or '@') is a handle rather
    than prose: ordinary words have no digits, dots, underscores or inner capitals."""
    return "." in tok or "_" in tok or any(map(str.isdigit, tok)) or _CAMEL.search(tok) is not None


def _is_domain(tok: str) -> bool:
    parts = tok.lower().split(".")
    if len(parts) < 2 or "_" in tok:
        return False
    if parts[-1] in _TLDS:
        return True
    return len(parts) >= 3 and len(parts[-1]) == 2 and parts[-2] in _SECOND_LEVEL


def _clean(rules: AccountRules, raw: str, strip: str = _STRIP) -> str | None:
    tok = raw.rstrip(strip)  # sentence punctuation: "akun @foo.bar." -> foo.bar
    if not rules.handle.fullmatch(tok):
        return None
    low = tok.lower()
    if low in rules.not_handles or low in rules.platform_locals:
        return None
    return low


# Mentions scanned per handle collected: repeats of one handle still leave room for the rest.
MENTIONS_PER_ACCOUNT = 5


def _scan_text(rules: AccountRules, text: str, low: str | None = None,
               starts: list[int] | None = None, most: int | None = None) -> list[tuple[int, str]]:
    """(position, handle) of every mention in `text`, in order; with `most`, the first
    `most` only (each scanner runs in position order, so stopping each at `most`
    keeps exactly the first `most` overall)."""
    if low is None:
        low = fold(text)
    if starts is None:
        starts = _label_starts(rules, text, low)
    labels = rules.label.finditer(text) if starts is None else _matches_at(rules.label_at or rules.label, text, starts)
    found: list[tuple[int, str]] = []
    for m in labels:
        raw = m.group("h")
        strong = bool(m.group("sep").strip())  # ':' or '@' after the label
        if not strong and not _looks_like_handle(raw.rstrip(_STRIP)):
            continue
        if _other_site_before(text, m.start()):
            continue
        h = _clean(rules, raw)
        if h:
            found.append((m.start("h"), h))
            if most is not None and len(found) >= most:
                break
    n = len(found)
    for m in rules.at.finditer(text):
        raw = m.group("h")
        if _is_domain(raw.rstrip(_STRIP)) or _other_site_before(text, m.start()):
            continue
        h = _clean(rules, raw)
        if h:
            found.append((m.start("h"), h))
            if most is not None and len(found) - n >= most:
                break
    found.extend(_scan_urls(rules, text, low, most))
    found.sort(key=lambda p: p[0])
    return found if most is None else found[:most]


def _url_matches(rx: re.Pattern, anchor: UrlAnchor | None, text: str, low: str | None):
    """rx.finditer(text), trying rx only just before each occurrence of its anchor."""
    if anchor is None or low is None:
        return rx.finditer(text)
    found = []
    p = 0  # every start before p was tried, or lies inside a match
    q = low.find(anchor.text)
    while q >= 0:
        p = max(p, q - anchor.hi)
        while p <= q - anchor.lo:
            m = rx.match(text, p)
            if m is None:
                p += 1
            else:
                found.append(m)
                p = m.end()
        q = low.find(anchor.text, q + 1)
    return found


def _scan_urls(rules: AccountRules, text: str, low: str | None = None,
               most: int | None = None) -> list[tuple[int, str]]:
    if low is None:
        low = fold(text)
    found = []
    anchors = rules.url_anchors or (None,) * len(rules.urls)
    for rx, anchor in zip(rules.urls, anchors):
        n = len(found)
        for m in _url_matches(rx, anchor, text, low):
            end = m.end("handle")
            if end < len(text) and (text[end].isalnum() or text[end] == "_"):
                continue  # handle longer than the pattern allows: not a valid ID
            h = _clean(rules, m.group("handle"))
            if h:
                found.append((m.start("handle"), h))
                if most is not None and len(found) - n >= most:
                    break  # each pattern's matches come in order: the first `most` are kept
    return found


# -- bare handles ----------------------------------------------------------
# "cindy.manja21 open bo", "laporin om.genit_77", "om.genit_77: hai cantik",
# "Pesan baru dari om.genit_77": a handle with no label, '@' or link. Only a
# token that cannot be prose counts: an inner '.' or '_', or letters and
# digits mixed; and none of the look-alikes below.

# Domains: the last label is a top-level domain (a handle cannot hold '-',
# so "slotgacor-vip.example" never gets here whole, and a '_' is never in a domain).
_BARE_TLDS = _TLDS | frozenset("vip ly ee tv cc co top club live link bet win asia pro cloud click fun "
                               "space website tech gg to id.com".split())
_FILE_EXTS = frozenset("jpg jpeg png gif heic heif webp bmp tif tiff mp4 mov avi mkv webm 3gp mp3 m4a wav ogg "
                       "opus aac pdf doc docx xls xlsx ppt pptx txt csv rtf zip rar 7z apk ipa exe html htm "
                       "eml msg json xml vcf".split())
# Dotted abbreviations whose first part is a title or an address word ("Jl.Sudirman", "dr.Andi").
_ABBREV_FIRST = frozenset("jl jln gg dr drs dra ir prof hj mr mrs ms st no tgl kab kec kel ds rt rw pt cv yth "
                          "bpk sdr sdri ny tn kpd hal ref vol pk jam ttd an dll dsb dst vs etc fig".split())
# Indonesian plurals and a word with a number glued on ("akun2", "tiba2nya",
# "umur14", "kelas3", "jam10", "iphone13"): prose, not a handle.
_REDUP = re.compile(r"[a-z]+2(?:an|nya|ku|mu|lah|pun)?")
_UNIT_NUMBER = re.compile(
    r"(?:umur|usia|kelas|jam|pukul|pk|tgl|tanggal|hari|bulan|tahun|thn|lantai|no|nomor|nmr|rt|rw|km|kg|rp|"
    r"age|aged|grade|year|years|yrs|gen|top|page|hal|step|level|lvl|part|ver|ep|episode|season|covid|"
    r"iphone|android|ios|windows|win|galaxy|redmi|note|ke|kali|menit|detik|usd|sgd|idr|ver|version|mp)"
    r"\d[\d.,:]*(?:rb|jt|k|an|am|pm|wib|wita|wit|yo|th|st|nd|rd|x)?")
# Where the sender's own text ends: a sign-off line, a phone's footer, our own
# e-mail quoted in a reply. Bare handles after it are a signature or quoted.
_SIGN_OFF = re.compile(
    r"^[ \t]*(?:(?:best|kind|warm)?\s?regards|regards|thanks(?: again)?|thank you(?: very much)?|cheers|"
    r"sincerely|best|salam(?: hangat)?|hormat saya|wassalam|terima ?kasih(?: banyak)?|trims|makasih|tks|"
    r"sent from my \w+|dikirim dari \w+.*|get outlook for \w+|-- ?)[ \t]*[,.!]*[ \t]*\r?$",
    re.IGNORECASE)


def _own_text_end(text: str, own_addresses: frozenset[str]) -> int:
    """Index where the sender's own words end, for bare handles."""
    end = len(text)
    pos = 0
    for line in text.split("\n"):  # only short lines can be a sign-off: far cheaper than a search
        if len(line) <= 40 and _SIGN_OFF.match(line):
            end = pos
            break
        pos += len(line) + 1
    if own_addresses:
        low = text.lower()
        for addr in own_addresses:
            q = low.find(addr)
            while 0 <= q < end:
                # The quoted header line of our own e-mail ("From: Obrolan Support <support@...>",
                # "On ... <support@...> wrote:") starts the quote; a forward's "To: <support@...>" does not.
                line_start = low.rfind("\n", 0, q) + 1
                line_end = low.find("\n", q)
                line = low[line_start:len(low) if line_end < 0 else line_end]
                if _QUOTE_HEADER.search(line):
                    end = line_start
                    break
                q = low.find(addr, q + 1)
    return end


_QUOTE_HEADER = re.compile(r"^\s*(?:from|dari)\s*:|(?:wrote|menulis|schrieb|a écrit)\s*:\s*$")
# "x, he is the victim", "x is a victim too", "x juga korban": a handle named as
# the one harmed is not the one reported.
_VICTIM_AFTER = re.compile(r"^[\s,.)]{0,3}(?:\w+\s{1,3}){0,3}(?:is|was|adalah|juga|itu|jadi)?\s{0,3}(?:a|the|also)?\s{0,3}"
                           r"(?:victim|victims|korban)\b", re.IGNORECASE)


def _is_bare_handle(rules: AccountRules, tok: str) -> bool:
    if not rules.handle.fullmatch(tok) or "__" in tok:
        return False  # not a handle; "__init__" is code
    low = tok.lower()
    if low.startswith("www.") or (rules.platform_word and low.split(".")[0].split("_")[0] == rules.platform_word):
        return False  # a web address; the platform's own accounts ("obrolan.care") and domain
    parts = low.replace("_", ".").split(".")
    dotted = low.split(".")
    has_digit = any(c.isdigit() for c in low)
    core = low.rstrip("_")  # the '.' or '_' must be inner
    if "." not in core and "_" not in core:
        if not has_digit or _REDUP.fullmatch(low) or _UNIT_NUMBER.fullmatch(low):
            return False  # a word, "akun2", "umur14"
    if len(dotted) > 1:
        if "_" not in low and (dotted[-1] in _BARE_TLDS or _is_domain(low)):
            return False  # a domain
        if dotted[-1] in _FILE_EXTS:
            return False  # a file name
        if all(p.isdigit() for p in dotted[1:]) and (len(dotted[0]) <= 3 or _UNIT_NUMBER.fullmatch(dotted[0] + "1")):
            return False  # a time, price, date or version with a word before it ("pk.21.00", "Rp.750.000")
        if dotted[0] in _ABBREV_FIRST or all(len(p) <= 2 for p in dotted):
            return False  # an abbreviation ("Jl.Sudirman", "U.S.A", "a.n.")
    if all(p in rules.not_handles for p in parts if p) or (
            parts[0] in rules.not_handles and "_" not in low and not has_digit):
        return False  # ordinary words glued by a typo ("dia.sudah", "tolong.cek")
    return True


# A forwarded chat line's speaker ("om.genit_77: hai", "[21.03] x: ...") and a
# platform notification's sender ("Pesan baru dari x", "New message from x")
# say by their shape that the handle wrote to the reporter.
_SPEAKER_BEFORE = re.compile(r"(?:^|\n)[ \t]*(?:[\[(]?\d{1,2}[.:]\d{2}(?:[.:]\d{2})?\s?(?:am|pm)?[\])]?[ \t]*[-–]?[ \t]*)?$",
                             re.IGNORECASE)
_NOTIFICATION_BEFORE = re.compile(
    r"(?:message|messages|pesan|chat|request|permintaan\s{1,3}pertemanan|pertemanan|comment|komentar|"
    r"reply|balasan|like|mention)\s{1,3}(?:baru\s{1,3})?(?:from|dari)\s{1,3}$", re.IGNORECASE)


def _by_shape(text: str, start: int, end: int) -> bool:
    if _NOTIFICATION_BEFORE.search(text, max(0, start - 40), start):
        return True
    return text.startswith(":", end) and _SPEAKER_BEFORE.search(text, max(0, start - 24), start) is not None


# A candidate is not glued to a URL, an address, a path or a query: none of
# these (nor a letter or digit) before it, none of _BARE_AFTER (nor a letter,
# digit, or a '.' with more of a name after it) after it.
_BARE_BEFORE = frozenset("_.@/?&=#+%-")
_BARE_AFTER = frozenset("_@/-")


def _scan_bare(rules: AccountRules, text: str, tokens: list[str] | None = None, own_addresses=frozenset(),
               shaped_only: bool = False, whole: bool = False, most: int | None = None,
               known: frozenset[str] | set[str] = frozenset()) -> list[tuple[int, str]]:
    """Bare handles in text (up to the sender's sign-off or a quote of our own
    mail, unless whole). shaped_only: only chat speakers and notification
    senders (the email holds no other sign of being a report).

    Candidates come from the category tokenizer's tokens (split in C, dots kept
    between word characters; the caller has them already): only a token that
    is not all letters can be a bare handle, and only those few are looked up
    in the text, where their neighbours are checked. With `most`, only the
    first `most` candidates in text order are looked up, and the scan stops
    after `most` mentions (bounded time on a message of 150,000 handles).
    Handles in `known` (found already after a label, '@' or in a link) are
    not looked for again: most reports name their accounts that way."""
    if tokens is None:
        from .category import tokenize
        tokens = tokenize(text)
    distinct = set(tokens)
    # A trailing '.' or '_' is stripped, as after a label ([accounts] handle_pattern).
    cands = distinct.difference(filter(str.isalpha, distinct))  # in C: most tokens are words
    if known:
        cands = {t for t in cands if t.rstrip(_STRIP) not in known}
    if most is not None and len(cands) > most:
        cands = list(dict.fromkeys(t for t in tokens if t in cands))[:most]  # the first ones, in text order
    cands = [t for t in cands if _is_bare_handle(rules, t.rstrip(_STRIP))]
    if not cands:
        return []
    low = text.lower()
    if len(low) != len(text):
        return []  # indexes would not line up (rare: 'İ'); the labelled forms still work
    end = len(text) if whole else _own_text_end(text, own_addresses)
    found = []
    for tok in cands:
        tok = tok.rstrip(_STRIP)
        n = len(tok)
        q = low.find(tok)
        while 0 <= q < end:
            b = text[q - 1] if q else " "
            k = q + n
            while k < len(text) and text[k] in _STRIP:  # the stripped sentence punctuation
                k += 1
            a = text[k] if k < len(text) else " "
            glued = b.isalnum() or b in _BARE_BEFORE or a.isalnum() or a in _BARE_AFTER
            if not glued:  # else part of a longer token, an address, a URL or a path
                _bare_at(rules, text, q, n, shaped_only, found)
                if most is not None and len(found) >= most:
                    return found
            q = low.find(tok, q + 1)
    return found


def _bare_at(rules: AccountRules, text: str, start: int, n: int, shaped_only: bool,
             found: list[tuple[int, str]]) -> None:
    """Check one occurrence of a candidate in its context."""
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].lstrip().startswith(">"):
        return  # quoted mail
    tok = text[start:start + n]
    if "." not in tok and "_" not in tok and tok.isupper():
        return  # a code in capitals ("GACOR88")
    if _other_site_before(text, start) or (shaped_only and not _by_shape(text, start, start + n)):
        return
    h = _clean(rules, tok)
    if h:
        victim = _VICTIM_AFTER.match(text[start + n:start + n + 40]) is not None
        found.append((start, "!" + h if victim else h))  # "!": named as a victim (see find_accounts)


_NAME_SPLIT = re.compile(r"[\W_\d]+")


def _own_name(h: str, names: list[list[str]]) -> bool:
    """Whether a handle spells the sender's name: every part of it is a
    (prefix of a) part of the name or address, and one part is a whole one of
    at least 3 letters ("chloe.t" for Chloe Tan, "nat.brooks" for Natalie Brooks)."""
    parts = [p for p in _NAME_SPLIT.split(h) if p]
    if not parts:
        return False
    for name in names:
        if all(any(n.startswith(p) for n in name) for p in parts) and any(p in name and len(p) >= 3 for p in parts):
            return True
    return False


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
    bare: bool = False,
    cap: int | None = None,
    report: bool = True,
    text_tokens: list[str] | None = None,
    forwarded_tokens: list[str] | None = None,
    subject_tokens: list[str] | None = None,
) -> list[str]:
    """Lower-cased handles in order of first mention (text, links, forwarded
    text, subject), without duplicates, the reporter's own ones removed.
    bare: also take bare handles; all of them when `report` (the caller knows
    the email is a report), else only chat speakers and notification senders.
    *_tokens: the texts split by category.tokenize, when the caller has them.

    With `cap`, at most that many are returned, and the scanners stop after a
    bounded number of mentions (a message can list 150,000 handles)."""
    most = None if cap is None else cap * MENTIONS_PER_ACCOUNT
    low = fold(text) if text else None
    starts = _label_starts(rules, text, low) if text else None
    found = _scan_text(rules, text, low, starts, most) if text else []
    shaped_only = not report
    if bare and text:
        bare_found = _scan_bare(rules, text, text_tokens, rules.own_addresses, shaped_only, most=most,
                                known={h for _, h in found})
        if bare_found:
            found = sorted(found + bare_found, key=lambda p: p[0])[:most]
    mentions: list[str] = [h for _, h in found]
    for link in html_links:
        if most is not None and len(mentions) >= most:
            break
        mentions.extend(h for _, h in _scan_urls(rules, link, most=most))
    if forwarded_text and (most is None or len(mentions) < most):
        fwd = _scan_text(rules, forwarded_text, most=most)
        if bare:
            fwd = sorted(fwd + _scan_bare(rules, forwarded_text, forwarded_tokens, shaped_only=shaped_only,
                                          whole=True, most=most), key=lambda p: p[0])[:most]
        mentions.extend(h for _, h in fwd)
    if subject and (most is None or len(mentions) < most):
        mentions.extend(h for _, h in _scan_text(rules, subject, most=most))
        if bare and report:
            mentions.extend(h for _, h in _scan_bare(rules, subject, subject_tokens, whole=True, most=most))
    victims = {h[1:] for h in mentions if h.startswith("!")}
    mentions = [h for h in mentions if not h.startswith("!")]
    if not mentions:
        return []

    # Only the sender's own words can say "my username": in a forwarded spam
    # "akun aku" is the spammer's, i.e. the reported account.
    excluded = {h.rstrip(_STRIP).lower() for h in (own_handles(rules, text, low, starts) if text else ())}
    if subject:
        excluded.update(h.rstrip(_STRIP).lower() for h in own_handles(rules, subject))
    signatures = {s for s in (_squash(reporter_name or ""),
                              _squash((reporter_address or "").split("@", 1)[0])) if len(s) >= 4}
    names = [[p for p in _NAME_SPLIT.split(n.lower()) if p]
             for n in (reporter_name or "", (reporter_address or "").split("@", 1)[0])]
    names = [n for n in names if n]
    out: dict[str, None] = {}
    for h in mentions:
        if h in excluded or h in victims or _squash(h) in signatures or (names and _own_name(h, names)):
            continue
        out.setdefault(h, None)
        if cap is not None and len(out) >= cap:
            break
    return list(out)
