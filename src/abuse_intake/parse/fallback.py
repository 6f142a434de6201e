"""The mail-parser fallback: a second chance when the stdlib path raised."""

from __future__ import annotations

import logging
from datetime import datetime

import mailparser

from ..config import Limits
from ..models import ParsedMessage
from .decode import b64_lenient
from .headers import (
    ADDRESS, HEADER_VALUE_MAX, SIGNAL_HEADERS, UTC, checked_date, first_message_id, message_ids, parse_return_path,
    plausible,
)
from .html import html_to_text
from .state import State, add_attachment

# mail-parser logs a warning per odd part to stderr; cron output must stay quiet.
_MP_LOG = logging.getLogger("mailparser")
_MP_LOG.setLevel(logging.CRITICAL)
_MP_LOG.addHandler(logging.NullHandler())


def parse_with_mailparser(data: bytes, limits: Limits, reason: str) -> ParsedMessage:
    """Second chance when the stdlib path raised: mail-parser's view of the message.

    Coarser than the main path: mail-parser puts an attached message's text
    next to the sender's own (forwarded_text stays empty), so this is recorded
    as a defect. Each field is taken on its own; a failing one is left empty.
    """
    st = State(limits)
    st.defect(f"parsed by the mail-parser fallback after: {reason[:200]}")
    st.defect("fallback: forwarded text is not separated from the sender's text")
    parsed = mailparser.MailParser.from_bytes(data)
    now = datetime.now(UTC)

    def get(fn, default):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - one bad field must not lose the rest
            st.defect(f"fallback: {type(exc).__name__} reading a field")
            return default

    senders = get(lambda: [(n, a) for n, a in parsed.from_ if a], [])
    from_name, from_address = senders[0] if senders else ("", None)
    from_address = from_address.strip().lower() if from_address else None
    if from_address and ADDRESS.fullmatch(from_address) is None:
        from_address = None
    reply_tos = get(lambda: [a.strip().lower() for _, a in parsed.reply_to if a], [])
    headers = get(lambda: {str(k).lower(): str(v) for k, v in parsed.headers.items()}, {})
    received_date = get(lambda: _mailparser_received(parsed.received, now), None)
    date = get(lambda: checked_date(parsed.date.astimezone(UTC) if parsed.date else None, received_date or now, "Date", st), None)
    return_path_raw = headers.get("return-path")
    text, links = _fallback_text(get(lambda: list(parsed.text_plain), []), get(lambda: list(parsed.text_html), []))
    for item in get(lambda: list(parsed.attachments), []):
        get(lambda: _mailparser_attachment(item, st), None)
    report_type = get(lambda: parsed.message.get_param("report-type"), None)
    return ParsedMessage(
        message_id=first_message_id(get(lambda: parsed.message_id, None) or None),
        from_address=from_address,
        from_name=str(from_name or "").replace("\x00", ""),
        reply_to=reply_tos[0] if reply_tos and ADDRESS.fullmatch(reply_tos[0]) else None,
        return_path=parse_return_path(return_path_raw, st) if return_path_raw is not None else None,
        subject=str(get(lambda: parsed.subject, "") or "").replace("\x00", ""),
        date=date,
        received_date=received_date,
        in_reply_to=message_ids(headers.get("in-reply-to")),
        references=message_ids(headers.get("references")),
        headers={k: v[:HEADER_VALUE_MAX] for k, v in headers.items() if k in SIGNAL_HEADERS},
        text=text.replace("\x00", ""),
        html_links=links,
        forwarded_text="",
        attachments=st.attachments,
        content_type=get(lambda: parsed.message.get_content_type(), "text/plain"),
        report_type=str(report_type).lower() if report_type else None,
        arf=None,
        defects=tuple(st.defects),
    )


def _fallback_text(plain: list[str], html: list[str]) -> tuple[str, tuple[str, ...]]:
    """All plain parts, plus each HTML part that does not repeat one of them:
    with forwards mixed in, "plain else HTML" could drop the sender's words."""
    texts = [t.replace("\r\n", "\n").strip() for t in plain if t.strip()]
    seen = {" ".join(t.split()) for t in texts}
    links: dict[str, None] = {}
    for markup in html:
        converted, found = html_to_text(markup)
        links.update(dict.fromkeys(found))
        if converted and " ".join(converted.split()) not in seen:
            texts.append(converted)
    return "\n\n".join(texts), tuple(links)


def _mailparser_received(hops, now: datetime) -> datetime | None:
    # mail-parser numbers hops from the oldest; the newest is last.
    for hop in reversed(hops or []):
        stamp = hop.get("date_utc") if isinstance(hop, dict) else None
        if stamp:
            dt = datetime.fromisoformat(str(stamp))
            dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
            if plausible(dt, now):
                return dt
    return None


def _mailparser_attachment(item: dict, st: State) -> None:
    ctype = str(item.get("mail_content_type") or "application/octet-stream").lower()
    if ctype.startswith("message/"):
        return  # its text is already in text_plain (see the docstring above)
    payload = item.get("payload") or ""
    if item.get("binary"):
        octets = b64_lenient(payload.encode("ascii", "replace"))
    else:
        octets = payload.encode("utf-8", "surrogateescape")
    add_attachment(st, ctype, str(item.get("filename") or "").replace("\x00", ""), lambda: octets)
