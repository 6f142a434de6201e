"""Plain values passed between the stages of the flow (and the store).

Everything here is data: no I/O, no imports of the rest of the package, so
every layer (intake/, parse/, store/, flow/) may use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


# What a stored message turned out to be (messages.kind), in the order the
# flow decides it; "quarantined" is what could not be processed at all.
KINDS = ("report", "reply", "non_report", "robot", "duplicate", "resend", "quarantined", "appeal")


@dataclass(frozen=True)
class Cursor:
    """Where the last committed batch of a mail source ended, per source name.

    uidvalidity None: never read (or the source has no such notion, Maildir).
    A cursor whose uidvalidity differs from the server's is void: the flow
    passes Cursor(new_validity, 0) and the store's dedupe absorbs the re-scan.
    """

    uidvalidity: int | None
    last_uid: int


START = Cursor(None, 0)


@dataclass(frozen=True)
class Source:
    """Where raw bytes came from: enough to mark them done on the server."""

    mailbox: str  # e.g. "imap://support@host/INBOX" or "maildir:/path"
    uidvalidity: int | None = None
    uid: int | None = None
    key: str | None = None  # maildir file name


@dataclass(frozen=True)
class RawMessage:
    data: bytes
    source: Source
    received_at: datetime | None = None  # server's INTERNALDATE or file mtime
    # Set when the message was over [limits] max_message_bytes on the server: its real
    # size, and `data` holds only its headers (it is stored quarantined, never parsed whole).
    oversize: int | None = None
    # The SMTP MAIL FROM when our SMTP listener received it ("" for <>); None otherwise.
    envelope_sender: str | None = None


@dataclass
class Attachment:
    filename: str  # as the sender named it: data, never a path
    content_type: str
    payload: bytes
    sha256: str = ""
    skipped_reason: str = ""  # set when a limit kept it from being stored


@dataclass
class ParsedMessage:
    """What parse/ makes of one email (no knowledge of accounts or cases)."""

    message_id: str | None  # without angle brackets, as written
    from_address: str | None  # lower-cased
    from_name: str
    reply_to: str | None
    return_path: str | None  # None when absent; "" for the null path <>
    subject: str  # decoded; may contain control characters (sanitise for headers)
    date: datetime | None  # from the Date header, None when missing/absurd
    received_date: datetime | None  # from the newest Received header
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    headers: dict[str, str]  # lower-cased names of the headers robots.py looks at
    text: str  # the sender's own words (text part, else HTML turned into text)
    html_links: tuple[str, ...]  # href targets found in the HTML part
    forwarded_text: str  # text of attached message/rfc822 parts, kept apart
    attachments: list[Attachment] = field(default_factory=list)
    content_type: str = "text/plain"
    report_type: str | None = None  # multipart/report's report-type, lower-cased
    arf: dict[str, str] | None = None  # message/feedback-report fields, lower-cased keys
    defects: tuple[str, ...] = ()


@dataclass(frozen=True)
class RobotVerdict:
    kind: str  # auto_reply | bounce | bulk | loop | arf | no_sender
    reason: str


@dataclass
class Extraction:
    account_ids: list[str]
    category: str | None  # None: no abuse words at all
    severity: str | None
    matched_words: list[str]
    language: str | None  # "id" | "en" | None
    # More accounts than [limits] max_accounts_per_report: account_ids is then empty
    # (no case per account) and these, cut at a cap, go to staff on one flagged case.
    excess_accounts: list[str] = field(default_factory=list)
    excess_truncated: bool = False  # the message named even more than were collected
    minor: bool = False  # the report says the person harmed is a minor: severity critical
