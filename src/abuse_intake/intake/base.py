"""What every mail source (IMAP folder, Maildir) offers the flow: bytes in.

The poll (flow/poll.py) reads the stored cursor, fetches batches newer than it, commits
each batch together with the new cursor, and only then marks the batch done
on the source. A run that dies between commit and marking leaves
"leftovers": committed messages still waiting in the folder, which the next
run marks done without fetching them again.
"""

from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable

from ..models import START, Cursor, RawMessage, Source


@runtime_checkable
class MailSource(Protocol):
    """A context manager: __enter__ connects, __exit__ logs out/closes quietly.

    Every method raises errors.MailboxError for transport or server trouble.
    """

    name: str  # stable key for the cursor table, e.g. "imap://user@host:port/INBOX"

    def __enter__(self) -> "MailSource": ...

    def __exit__(self, *exc_info: object) -> None: ...

    def uidvalidity(self) -> int | None:
        """The folder's current UIDVALIDITY (None when the source has none)."""

    def leftovers(self, cursor: Cursor) -> list[Source]:
        """Messages at or below the cursor still in the folder and not marked done."""

    def fetch_new(self, cursor: Cursor, limit: int | None) -> Iterator[list[RawMessage]]:
        """Batches (in UID order) of messages with uid > cursor.last_uid, at most `limit` overall."""

    def mark_done(self, sources: list[Source]) -> None:
        """Move, flag or leave the given messages, per the configured done_action."""


__all__ = ["START", "Cursor", "MailSource"]
