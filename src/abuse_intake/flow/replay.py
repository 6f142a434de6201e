"""Replay: process a quarantined message again from its stored raw bytes."""

from __future__ import annotations

from ..cases import limits
from ..config import Settings
from ..errors import InvalidActionError, NotFoundError, ReplayError, StoreError
from ..models import RawMessage, Source
from ..store import blobs
from ..store import messages as msg_store
from ..store.db import transaction
from .process import Notifier, Outcome, Processor, default_notifier, default_renderer


def replay(db, settings: Settings, message_row: int, *, notifier: Notifier | None = None,
           renderer=None) -> Outcome:
    """Process a quarantined message again (after a fix or a config change).

    Raises NotFoundError, InvalidActionError (not quarantined), StoreError
    (its bytes are gone) or ReplayError (it failed again: it stays quarantined).
    """
    row = msg_store.get_message(db, message_row)
    if row is None:
        raise NotFoundError(f"no message {message_row}")
    if row["kind"] != "quarantined":
        raise InvalidActionError(f"message {message_row} is not quarantined (it is {row['kind']})")
    limits.check_replayable(row)  # a message over the size limit was stored as headers only
    data = blobs.get_raw(db, row["raw_sha256"])
    if data is None:
        raise StoreError(f"the raw bytes of message {message_row} are missing from the store")
    processor = Processor(db, settings, renderer or default_renderer(settings), notifier or default_notifier())
    raw = RawMessage(data, Source(row["mailbox"], row["uidvalidity"], row["uid"]))
    with transaction(db):
        # The quarantined row steps aside so the message can be stored as what it really is.
        msg_store.delete_message(db, message_row)
        outcome = processor.process(raw)
        if outcome.kind == "quarantined":
            raise ReplayError(f"message {message_row} failed again: {outcome.reason}")
        msg_store.mark_replayed(db, outcome.message_row)
    return outcome
