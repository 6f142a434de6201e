"""Where raw messages come from: an IMAP folder or a local Maildir."""

from __future__ import annotations

from ..config import Settings
from .base import Cursor, MailSource


def open_source(settings: Settings) -> MailSource:
    """The configured mailbox as a MailSource (not yet connected)."""
    mb = settings.mailbox
    if mb.scheme == "maildir":
        from .maildir import MaildirSource
        return MaildirSource(mb)
    from .imap import ImapSource
    return ImapSource(mb, mb.password(), max_message_bytes=settings.limits.max_message_bytes)


__all__ = ["Cursor", "MailSource", "open_source"]
