"""Is this message an appeal? Pure text rules, no database.

An appeal is never judged as a report: the handle it names is the sender's
own account (or, for a contested outcome, the case's account), so it must be
caught before the non-report and report rules. The rules are deliberately
narrow: a first-person account ("akun saya", "my account") together with a
sanction word ("dibatasi", "banned", "restricted"), or an explicit appeal
word ("banding", "appeal", "keberatan"); or a reply to one of our outcomes
that contests it ("tidak ada pelanggaran", "no violation" with "review").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The sender speaks of their own account.
_OWN = re.compile(
    r"\b(?:akun\s+(?:saya|sy|aku|ku|kami|usaha\s+(?:saya|kami))|akunku"
    r"|my\s+(?:business\s+)?(?:account|profile)|our\s+(?:business\s+)?(?:account|profile)"
    r"|i\s+(?:was|have\s+been|got)\s+(?:banned|restricted|blocked|suspended))\b", re.I)
# ... and of a measure taken against it.
_SANCTION = re.compile(
    r"\b(?:di\s*batasi|dibatasi|pembatasan(?:nya)?|di\s*blokir|diblokir|di\s*banned|kena\s+(?:banned|ban|"
    r"suspend|blokir)|di\s*suspend|disuspend|dinonaktifkan|ditangguhkan"
    r"|banned|restricted|suspended|blocked|deactivated|can'?t\s+message|cannot\s+message"
    r"|restriction|suspension|ban)\b", re.I)
# Words that name an appeal outright.
_APPEAL_WORD = re.compile(r"\b(?:banding|appeal(?:ing)?|keberatan|ditinjau\s+(?:kembali|ulang)|"
                          r"review\s+(?:the|my|this)\s+(?:restriction|ban|suspension|decision)|"
                          r"lift\s+the\s+(?:restriction|ban|suspension)|dicabut|dibuka\s+(?:lagi|kembali))\b",
                          re.I)
# Contesting a "no violation" outcome, in a reply to it.
_NO_VIOLATION = re.compile(r"\b(?:tidak\s+ada\s+pelanggaran|tidak\s+menemukan\s+pelanggaran|"
                           r"no\s+violation)\b", re.I)
_CONTEST = re.compile(r"\b(?:ditinjau\s+(?:ulang|kembali)|tinjau\s+ulang|kok|review\s+(?:this|the|that)\s+"
                      r"decision|someone\s+else|reconsider|please\s+review|wrong)\b", re.I)
# Words that make it someone else's account after all (a report or a recovery question).
_HACKED = re.compile(r"\b(?:di\s*hack|dihack|diretas|hacked|lupa\s+(?:password|kata\s+sandi)|"
                     r"forgot\s+(?:my\s+)?password|reset\s+password)\b", re.I)
_SANCTION_ID = re.compile(r"\bsan(?:ction|ksi)\s*(?:id|no\.?|nomor|#)?\s*[:#]?\s*(\d{1,9})\b", re.I)


@dataclass(frozen=True)
class AppealSignal:
    why: str  # "appeal_address", "own_account" or "contested_outcome"
    case_refs: tuple[str, ...] = ()
    sanction_id: int | None = None


def detect(*, subject: str, text: str, to_header: str, appeal_address: str, support_address: str,
           case_tag: re.Pattern, is_reply: bool) -> AppealSignal | None:
    """An AppealSignal when the message appeals, else None. Bounded: regexes on text already cut by parse/."""
    words = f"{subject or ''}\n{text or ''}"
    # Only the sender's own words: a quoted outcome ("> ... tidak menemukan pelanggaran") is ours.
    own = "\n".join(line for line in words.splitlines() if not line.lstrip().startswith(">"))
    refs = tuple(sorted({r.upper() for r in case_tag.findall(words)}))
    m = _SANCTION_ID.search(own)
    sanction_id = int(m.group(1)) if m else None
    to = (to_header or "").lower()
    if appeal_address and appeal_address.lower() != support_address.lower() and appeal_address.lower() in to:
        return AppealSignal("appeal_address", refs, sanction_id)
    if _HACKED.search(own):
        return None
    if _OWN.search(own) and (_SANCTION.search(own) or _APPEAL_WORD.search(own)):
        return AppealSignal("own_account", refs, sanction_id)
    if is_reply and refs and _NO_VIOLATION.search(own) and _CONTEST.search(own):
        return AppealSignal("contested_outcome", refs, sanction_id)
    return None


_HANDLE_AFTER = re.compile(
    r"\b(?:akun\s+(?:saya|sy|aku|ku|kami|usaha\s+(?:saya|kami))|akunku|my\s+(?:business\s+)?(?:account|profile)|"
    r"our\s+(?:business\s+)?(?:account|profile))\s*(?:@|[:(])?\s*@?([A-Za-z0-9._]{3,30})", re.I)


def own_handle(text: str, handle_pattern: str) -> str | None:
    """The handle the sender calls their own ("akun saya reza.mahendra"), if any."""
    for m in _HANDLE_AFTER.finditer(text or ""):
        cand = m.group(1).strip(".").lower()
        if _looks_handle(cand, handle_pattern):
            return cand
    return None


_PLAIN_WORDS = {"was", "has", "is", "have", "been", "got", "can", "kena", "di", "dibatasi", "diblokir", "yang",
                "sudah", "tidak", "sejak", "saya", "kami", "telah", "itu", "ini", "the", "and", "dengan"}


def _looks_handle(cand: str, pattern: str) -> bool:
    return cand not in _PLAIN_WORDS and bool(re.fullmatch(pattern, cand, re.I)) and (
        any(ch in cand for ch in "._") or any(ch.isdigit() for ch in cand))
