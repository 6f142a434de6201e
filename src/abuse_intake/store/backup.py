"""An online copy of the store with SQLite's backup API.

The copy is read inside one read transaction of the source (WAL: writers go
on meanwhile), so it is the database exactly as of one commit: a poll that
runs during the backup is either wholly in it or not at all. It is written
beside the target, checked (PRAGMA quick_check), made owner-only and renamed
into place, so a half-written backup never carries the target's name.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExportError, StoreError


@dataclass
class BackupResult:
    path: str
    size: int
    schema_version: int
    messages: int
    check: str


def backup(db, target: Path) -> BackupResult:
    target = Path(target)
    tmp = target.with_name(f".{target.name}.partial")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # reports hold personal data
        os.close(fd)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror}") from None
    dest = sqlite3.connect(str(tmp))
    try:
        try:
            db.conn.backup(dest)  # all pages in one step: one consistent snapshot
            check = dest.execute("PRAGMA quick_check").fetchone()[0]
            version = dest.execute("PRAGMA user_version").fetchone()[0]
            messages = dest.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
            # The copy is a plain rollback-journal file, complete on its own (no -wal beside it).
            dest.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.Error as exc:
            raise StoreError(f"backup to {target} failed: {exc}") from None
    finally:
        dest.close()
    if check != "ok":
        tmp.unlink(missing_ok=True)
        raise StoreError(f"backup to {target} failed its integrity check: {check}")
    try:
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {target}: {exc.strerror}") from None
    return BackupResult(path=str(target), size=target.stat().st_size, schema_version=version,
                        messages=messages, check=check)
