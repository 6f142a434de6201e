"""What one parse of a message collects: defects, attachments (within the
limits), attached messages still to read, report signals."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from email.message import Message

from ..config import Limits
from ..models import Attachment

MAX_DEFECTS = 50
MAX_ATTACHMENT_RECORDS = 1000  # records kept even when payloads are skipped


class State:
    """What one walk over the MIME tree collects."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.defects: dict[str, None] = {}
        self.attachments: list[Attachment] = []
        self.unrecorded = 0
        self.stored_bytes = 0
        self.forwards: list[tuple[Message, int]] = []
        self.forwarded_texts: list[str] = []
        self.report_type: str | None = None
        self.saw_delivery_status = False
        self.arf: dict[str, str] | None = None
        self.raw = b""  # the original bytes, when regions were hollowed out of them
        self.hollow: dict[int, tuple[int, int]] = {}  # id(part) -> its base64 region in raw

    def defect(self, text: str) -> None:
        if len(self.defects) < MAX_DEFECTS:
            self.defects[text] = None


def add_attachment(st: State, ctype: str, filename: str, load: Callable[[], bytes]) -> None:
    """Record one attachment; the payload is decoded only if a limit lets it be stored."""
    limits = st.limits
    if len(st.attachments) >= MAX_ATTACHMENT_RECORDS:
        st.unrecorded += 1
        return
    if len(st.attachments) >= limits.max_attachments:
        reason = f"over limits.max_attachments ({limits.max_attachments})"
        st.attachments.append(Attachment(filename, ctype, b"", skipped_reason=reason))
        return
    payload = load()
    if st.stored_bytes + len(payload) > limits.max_attachment_bytes:
        reason = f"over limits.max_attachment_bytes ({limits.max_attachment_bytes}) in total"
        st.attachments.append(Attachment(filename, ctype, b"", skipped_reason=reason))
        return
    st.stored_bytes += len(payload)
    st.attachments.append(Attachment(filename, ctype, payload, hashlib.sha256(payload).hexdigest()))
