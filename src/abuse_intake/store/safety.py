"""Opening the store's own files (database, its -wal/-shm, the run lock) safely in
a folder that others might reach.

A file planted by another user must never be used: a symlink is never followed
(O_NOFOLLOW: a root poll would otherwise truncate whatever it points at), and a
file owned by someone else or writable by group/world is refused, because its
owner could read or rewrite every report. A folder that group or others can
write is only warned about: the files in it are checked one by one, and some
installations share a folder on purpose.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

from ..errors import StoreError

log = logging.getLogger(__name__)
_warned: set[str] = set()


class UnsafeStoreError(StoreError):
    """A store or lock file is a symlink, belongs to another user, or others can write it."""


def open_private(path: Path, flags: int, what: str) -> int:
    """os.open without following a symlink, created 0600; refuses an unsafe file. Returns the fd."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeStoreError(f"{what} {path} is a symlink: refusing to follow it") from None
        raise
    try:
        check(os.fstat(fd), path, what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check(st: os.stat_result, path: Path, what: str) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeStoreError(f"{what} {path} is a symlink: refusing to follow it")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeStoreError(f"{what} {path} is not a regular file")
    me = os.geteuid()
    if st.st_uid != me:
        raise UnsafeStoreError(f"{what} {path} is owned by uid {st.st_uid}, not by this user (uid {me}): "
                               "refusing it")
    if st.st_mode & 0o022:
        raise UnsafeStoreError(f"{what} {path} is writable by group or others "
                               f"(mode {stat.S_IMODE(st.st_mode):04o}): refusing it; chmod 600 it if it is yours")


def check_if_present(path: Path, what: str) -> None:
    """The same checks on a file SQLite will open by name (-wal, -shm), if it exists."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    check(st, path, what)


def same_file(fd: int, path: Path) -> bool:
    """True when `path` (not followed) is still the file open as `fd`."""
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def warn_if_shared(folder: Path) -> None:
    """Warn (once per process and folder) when group or others can write `folder`."""
    key = str(folder)
    if key in _warned:
        return
    try:
        mode = os.stat(folder).st_mode
    except OSError:
        return
    if mode & 0o022:
        _warned.add(key)
        log.warning("the store folder %s is writable by group or others (mode %04o): another user could plant "
                    "files there; give it to this user alone (chmod 700)", folder, stat.S_IMODE(mode))
