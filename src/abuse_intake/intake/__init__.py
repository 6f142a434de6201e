"""Where raw messages come from: an IMAP folder or a local Maildir."""

from __future__ import annotations

from ..config import Settings
from .base import Cursor, MailSource


def open_source(settings: Settings, db=None) -> MailSource:
    """The configured mailbox as a MailSource (not yet connected).

    With `[mailbox] auth = "oauth2"` the access tokens are kept in `db`."""
    mb = settings.mailbox
    if mb.scheme == "maildir":
        from .maildir import MaildirSource
        return MaildirSource(mb)
    from .imap import ImapSource
    limit = settings.limits.max_message_bytes
    if mb.auth == "oauth2":
        from .oauth2 import provider
        return ImapSource(mb, "", tokens=provider(mb.oauth2, db), max_message_bytes=limit)
    return ImapSource(mb, mb.password(), max_message_bytes=limit)


__all__ = ["Cursor", "MailSource", "open_source"]
