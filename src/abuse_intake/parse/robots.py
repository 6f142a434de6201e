"""Is this mail from a machine that must never be answered?

Order matters: our own address first (a loop is worst), then ARF (a
multipart/report that still opens a case, often sent with a null return
path), then bounces (which often also carry Auto-Submitted), auto-replies,
and mailing-list/bulk mail.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

from ..models import ParsedMessage, RobotVerdict

_BOUNCE_LOCALPARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_FALSE_VALUES = frozenset({"", "no", "false", "0", "off", "none"})
_AUTO_PRECEDENCE = frozenset({"auto_reply", "auto-reply", "autoreply"})
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
# Subject starts of out-of-office replies (en, id and a few other client languages).
_AUTO_SUBJECTS = (
    "automatic reply:", "auto reply:", "auto-reply:", "autoreply:", "auto:",
    "out of office", "out of the office", "[auto-reply]", "[autoreply]",
    "balasan otomatis", "balasan automatis", "respon otomatis", "jawaban otomatis",
    "réponse automatique", "respuesta automática", "abwesenheitsnotiz", "automatische antwort",
)


def detect_robot(msg: ParsedMessage, own_addresses: tuple[str, ...]) -> RobotVerdict | None:
    """The robot kind of a message, with the signal that decided it; None for a person."""
    h = msg.headers
    sender = _addr(h.get("sender", ""))
    own = {a.strip().lower() for a in own_addresses if a.strip()}
    for label, addr in (("From", msg.from_address), ("Sender", sender), ("Return-Path", msg.return_path)):
        if addr and addr in own:
            return RobotVerdict("loop", f"{label} is our own address {addr}")

    report_type = (msg.report_type or "").lower()
    if report_type == "feedback-report" or msg.arf is not None:
        return RobotVerdict("arf", "multipart/report; report-type=feedback-report")

    if msg.return_path == "":
        return RobotVerdict("bounce", "Return-Path: <>")
    from_raw = h.get("from", "").lower()
    for label, addr in (("From", msg.from_address or _addr(from_raw)), ("Sender", sender)):
        if addr and addr.partition("@")[0] in _BOUNCE_LOCALPARTS:
            return RobotVerdict("bounce", f"{label}: {addr}")
    if "mailer-daemon" in from_raw:  # "From: MAILER-DAEMON (Mail Delivery System)", no domain
        return RobotVerdict("bounce", "From: MAILER-DAEMON")
    if report_type == "delivery-status" or msg.content_type == "message/delivery-status":
        return RobotVerdict("bounce", "multipart/report; report-type=delivery-status")
    if h.get("x-failed-recipients"):
        return RobotVerdict("bounce", "X-Failed-Recipients")

    auto = _token(h.get("auto-submitted"))
    if auto not in _FALSE_VALUES:
        return RobotVerdict("auto_reply", f"Auto-Submitted: {auto}")
    for name, label in (("x-autoreply", "X-Autoreply"), ("x-autorespond", "X-Autorespond")):
        if name in h and _token(h[name]) not in ("no", "false", "0"):
            return RobotVerdict("auto_reply", f"{label}: {h[name][:40]}".rstrip(": "))
    # Outlook sets this on its automatic replies; "None" suppresses nothing.
    suppress = _token(h.get("x-auto-response-suppress"))
    if suppress not in _FALSE_VALUES:
        return RobotVerdict("auto_reply", f"X-Auto-Response-Suppress: {h['x-auto-response-suppress'][:40]}")
    precedence = _token(h.get("precedence"))
    if precedence in _AUTO_PRECEDENCE:
        return RobotVerdict("auto_reply", f"Precedence: {precedence}")
    if report_type == "disposition-notification":  # read receipts
        return RobotVerdict("auto_reply", "multipart/report; report-type=disposition-notification")
    subject = " ".join(msg.subject.split()).lower()
    for start in _AUTO_SUBJECTS:
        if subject.startswith(start):
            return RobotVerdict("auto_reply", f"Subject starts with {start!r}")

    for name, label in (("list-id", "List-Id"), ("list-unsubscribe", "List-Unsubscribe")):
        if h.get(name, "").strip():
            return RobotVerdict("bulk", f"{label} header")
    if precedence in _BULK_PRECEDENCE:
        return RobotVerdict("bulk", f"Precedence: {precedence}")
    return None


def _token(value: str | None) -> str:
    """The value's first word, lower-cased ("auto-replied; owner=x" -> "auto-replied")."""
    if value is None:
        return ""
    return value.split(";", 1)[0].strip().lower()


def _addr(value: str) -> str | None:
    addr = parseaddr(value[:4096])[1].strip().lower() if value else ""
    return addr or None


# -- backscatter: mail we store (a report among it still opens a case) but never answer --

# Extensions Windows (or a browser) runs when opened: the mark of malware spam,
# whose From is forged, so an acknowledgement would go to an innocent party.
EXECUTABLE_EXTENSIONS = frozenset({
    "exe", "scr", "bat", "cmd", "com", "pif", "msi", "msp", "jar", "js", "jse", "vbs", "vbe", "wsf",
    "wsh", "hta", "cpl", "lnk", "ps1", "reg", "dll", "iso", "img", "vhd", "application", "gadget",
})
_EXECUTABLE_TYPES = frozenset({
    "application/x-msdownload", "application/x-dosexec", "application/x-msdos-program",
    "application/x-ms-installer", "application/x-msi", "application/java-archive", "application/hta",
})
_AR_FAIL = re.compile(r"(?:^|[\s;])(spf|dmarc)\s*=\s*fail\b", re.IGNORECASE)
_AR_COMMENT = re.compile(r"\([^()]*\)")


def backscatter_reason(msg: ParsedMessage, trusted_authserv_ids: tuple[str, ...] = (),
                       envelope_sender: str | None = None) -> str | None:
    """Why no automatic reply may go to this message's sender, or None.

    `envelope_sender` is the SMTP MAIL FROM when the message came through our
    SMTP listener ("" for the null sender <>), None when unknown."""
    if envelope_sender is not None and envelope_sender.strip() in ("", "<>"):
        return "null envelope sender (MAIL FROM:<>)"
    h = msg.headers
    if _token(h.get("x-spam-flag")) == "yes":
        return "X-Spam-Flag: YES"
    failed = _auth_failure(h.get("authentication-results", ""), trusted_authserv_ids)
    if failed:
        return failed
    for att in msg.attachments or ():
        name = (att.filename or "").strip().rstrip(". ").lower()
        ext = name.rsplit(".", 1)[1] if "." in name else ""
        if ext in EXECUTABLE_EXTENSIONS:
            return f"executable attachment (.{ext})"
        if (att.content_type or "").split(";", 1)[0].strip().lower() in _EXECUTABLE_TYPES:
            return f"executable attachment ({att.content_type.split(';', 1)[0].strip().lower()})"
    return None


def _auth_failure(value: str, trusted: tuple[str, ...]) -> str | None:
    """spf=fail or dmarc=fail in an Authentication-Results written by a host we trust
    (RFC 8601: the first word is the authserv-id; anyone can write the header, so
    only our own MTA's counts)."""
    if not value or not trusted:
        return None
    value = _AR_COMMENT.sub(" ", value[:4096])
    authserv = value.split(";", 1)[0].split()
    if not authserv or authserv[0].lower() not in trusted:
        return None
    m = _AR_FAIL.search(value)
    if m is None:
        return None
    return f"{m.group(1).upper()} failed (Authentication-Results from {authserv[0].lower()})"
