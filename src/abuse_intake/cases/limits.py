"""Limits the flow applies to a message (issue 15).

Messages over [limits] max_message_bytes on the IMAP server: only their headers
were fetched (intake/imap.py); they are stored quarantined with the reason and
cannot be replayed from those headers (the whole message stays on the server).

Reports that name too many accounts: one flagged case for staff.

A forged email listing 500 `@handles` must not open 500 cases and send a 72 KB
ack. Extraction already collected at most a bounded list and left the report's
own account list empty (extract.extract), so the flow opens one needs_info case
as for a report that names none; this marks that case "too_many_accounts" with
the list, which `cases show` and `cases list` display.
"""

from __future__ import annotations

from ..config import Settings
from ..errors import ReplayError
from ..models import Extraction, RawMessage
from ..store import cases as case_store

TOO_MANY_ACCOUNTS = "too_many_accounts"
_HEADERS_ONLY = "only its headers were fetched"


def oversize_reason(raw: RawMessage, settings: Settings) -> str | None:
    """The quarantine reason of a message fetched as headers only, else None."""
    if raw.oversize is None:
        return None
    return (f"message is {raw.oversize} bytes on the server, over limits.max_message_bytes "
            f"({settings.limits.max_message_bytes}): {_HEADERS_ONLY}; the whole message stays on the server")


def check_replayable(message_row: dict) -> None:
    """A headers-only record is not the message: replaying it would store a report without its body."""
    if _HEADERS_ONLY in (message_row.get("reason") or ""):
        raise ReplayError(f"message {message_row['id']} was over the size limit and only its headers were "
                          "stored; raise limits.max_message_bytes and fetch it again from the server's done folder")


def too_many(ext: Extraction | None) -> bool:
    return bool(ext is not None and ext.excess_accounts)


def flag_cases(db, cases: list[dict], ext: Extraction, limit: int) -> None:
    """Mark the report's case(s) (one, needs_info) with the accounts it named."""
    detail = {"accounts": list(ext.excess_accounts), "limit": limit, "truncated": ext.excess_truncated}
    for case in cases:
        case_store.set_flag(db, case["id"], TOO_MANY_ACCOUNTS, detail)
