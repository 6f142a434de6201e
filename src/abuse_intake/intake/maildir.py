"""A local Maildir as a mail source: the bundled example, and backfills.

A Maildir has no UIDs, so there is no cursor: every run lists new/ and cur/
and the store's dedupe (hash of the raw bytes) makes re-reading a no-op.
With done_action "move" a processed file is moved into the `.Processed`
sub-maildir (Maildir++ layout), which keeps later listings short; with
"flag" it is moved to cur/ with the S flag; "none" leaves the folder as it
is (the bundled example, which must stay intact).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ..config import MailboxSettings
from ..errors import ConfigError, MailboxError
from ..models import RawMessage, Source
from .base import Cursor
from .readahead import read_ahead

READ_AHEAD_MIN = 200  # messages: a backfill; a few are read in place
_DEPTH = 2  # batches read ahead


class MaildirSource:
    def __init__(self, settings: MailboxSettings):
        assert settings.path is not None
        self.settings = settings
        self.root = Path(settings.path)
        self.name = f"maildir:{self.root}"

    def __enter__(self) -> "MaildirSource":
        # A configuration error, not "try again later": waiting will not make the folder appear.
        if not self.root.exists():
            raise ConfigError("mailbox.url", f"Maildir {self.root} does not exist")
        if not (self.root / "cur").is_dir() and not (self.root / "new").is_dir():
            raise ConfigError("mailbox.url", f"{self.root} is not a Maildir (no cur/ or new/ folder)")
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def uidvalidity(self) -> int | None:
        return None

    def leftovers(self, cursor: Cursor) -> list[Source]:
        return []

    def _listing(self) -> list[str]:
        keys = []
        for sub in ("new", "cur"):
            try:
                with os.scandir(self.root / sub) as it:
                    keys.extend(f"{sub}/{e.name}" for e in it
                                if e.is_file() and not e.name.startswith(".") and not self._done(sub, e.name))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise MailboxError(f"cannot list {self.root / sub}: {exc.strerror}") from None
        # Maildir names start with the delivery time, so name order is arrival order.
        keys.sort(key=lambda k: k.split("/", 1)[1])
        return keys

    def _done(self, sub: str, name: str) -> bool:
        # In flag mode, cur/ files carrying the Seen flag were marked by us.
        if self.settings.done_action != "flag" or sub != "cur" or ":2," not in name:
            return False
        return "S" in name.rsplit(":2,", 1)[1]

    def fetch_new(self, cursor: Cursor, limit: int | None) -> Iterator[list[RawMessage]]:
        keys = self._listing()
        if limit is not None:
            keys = keys[:limit]
        batches = self._read(keys)
        if len(keys) >= READ_AHEAD_MIN:  # file reads overlap with storing the batch before
            batches = read_ahead(batches, _DEPTH, "abuse-intake-maildir-read")
        yield from batches

    def _read(self, keys: list[str]) -> Iterator[list[RawMessage]]:
        size = self.settings.batch_size
        for start in range(0, len(keys), size):
            batch = []
            for key in keys[start:start + size]:
                path = self.root / key
                try:
                    data = path.read_bytes()
                    mtime = path.stat().st_mtime
                except FileNotFoundError:
                    continue  # taken by a concurrent reader; it owns it now
                except OSError as exc:
                    raise MailboxError(f"cannot read {path}: {exc.strerror}") from None
                batch.append(RawMessage(data, Source(self.name, key=key),
                                        datetime.fromtimestamp(mtime, timezone.utc)))
            if batch:
                yield batch

    def mark_done(self, sources: list[Source]) -> None:
        action = self.settings.done_action
        if action == "none":
            return
        target_dir = self.root / f".{self.settings.done_folder}"
        if action == "move":
            for sub in ("cur", "new", "tmp"):
                (target_dir / sub).mkdir(parents=True, exist_ok=True)
        for src in sources:
            if not src.key:
                continue
            path = self.root / src.key
            base = src.key.split("/", 1)[1].split(":", 1)[0]
            if action == "move":
                target = target_dir / "cur" / f"{base}:2,S"
            else:
                target = self.root / "cur" / f"{base}:2,S"
            try:
                os.replace(path, target)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise MailboxError(f"cannot mark {path} done: {exc.strerror}") from None
