"""One poll at a time: an advisory lock file next to the database.

flock is released by the kernel when the process dies, even by SIGKILL, so a
crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import LockedError, StoreError
from ..store import safety


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Never through a planted symlink (we truncate the file below) and never a
        # lock another user owns or can write: see store/safety.py.
        fd = safety.open_private(path, os.O_CREAT | os.O_RDWR, "lock file")
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot create lock file {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(f"another poll is running (lock {path} is held); not starting") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
