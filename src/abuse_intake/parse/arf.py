"""RFC 5965 (ARF) feedback reports: the machine-readable part.

The embedded original message (message/rfc822 or text/rfc822-headers) is
not handled here: message.py walks it like any attached message and puts its
text in ParsedMessage.forwarded_text, which is where the reported account is
named."""

from __future__ import annotations

from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

_MAX_FIELDS = 200  # a real report has about a dozen


def arf_fields(part: Message) -> dict[str, str]:
    """Fields of a message/feedback-report part, keys lower-cased.

    The compat32 parser reads a message/* body as a nested message, so the
    fields are usually the headers of the part's single sub-message; a body
    left as text (e.g. an odd transfer encoding) is parsed as headers here.
    Repeated fields (Original-Rcpt-To, Reported-Uri) are joined with ", ".
    """
    payload = part.get_payload() if part.is_multipart() else None  # a list: nothing decoded
    if payload and isinstance(payload[0], Message):
        items = payload[0].items()
    else:
        raw = part.get_payload(decode=True) or b""
        text = raw.decode("utf-8", "replace")
        items = HeaderParser(policy=compat32).parsestr(text, headersonly=True).items()
    fields: dict[str, str] = {}
    for name, value in items[:_MAX_FIELDS]:
        key = str(name).strip().lower()
        val = " ".join(str(value).split())
        if not key:
            continue
        fields[key] = f"{fields[key]}, {val}" if key in fields else val
    return fields
