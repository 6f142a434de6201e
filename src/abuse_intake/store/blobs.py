"""Content-addressed files under the data directory.

Raw messages live at raw/<aa>/<sha256>.eml and attachments at
attachments/<aa>/<sha256>: the name is the hash of the content, so a
sender's filename never becomes a path and identical content is kept once.
Files are written to a temporary name and renamed, so a crash never leaves a
half-written file under a final name. Writes go to a background thread (file
creation is kernel time that overlaps with parsing); `flush()` waits for them
and raises the first error, and callers flush before committing the rows
that name the files.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..errors import StoreError


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    def __init__(self, root: Path, background: bool = True):
        self.root = Path(root)
        self.background = background
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        self._made: set[str] = set()
        self._raw_root = str(self.root / "raw")
        self._att_root = str(self.root / "attachments")

    def ensure(self) -> None:
        """Create the data directory owner-only, or raise a clear error."""
        try:
            for sub in ("", "raw", "attachments"):
                d = self.root / sub
                d.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.root, 0o700)
        except OSError as exc:
            raise StoreError(f"data directory {self.root} is not usable: {exc.strerror or exc}") from None
        if not os.access(self.root / "raw", os.W_OK) or not os.access(self.root / "attachments", os.W_OK):
            raise StoreError(f"data directory {self.root} is not writable")

    def raw_path(self, digest: str) -> Path:
        return self.root / "raw" / digest[:2] / f"{digest}.eml"

    def attachment_path(self, digest: str) -> Path:
        return self.root / "attachments" / digest[:2] / digest

    def put_raw(self, data: bytes, digest: str | None = None) -> str:
        digest = digest or sha256(data)
        # Plain strings on the hot path: pathlib costs more than the write here.
        self._submit(os.path.join(self._raw_root, digest[:2]), f"{digest}.eml", data)
        return digest

    def put_attachment(self, data: bytes, digest: str | None = None) -> str:
        digest = digest or sha256(data)
        self._submit(os.path.join(self._att_root, digest[:2]), digest, data)
        return digest

    def get_raw(self, digest: str) -> bytes:
        try:
            return self.raw_path(digest).read_bytes()
        except OSError as exc:
            raise StoreError(f"raw message {digest} is missing from {self.root}: {exc.strerror}") from None

    def flush(self) -> None:
        """Wait for queued writes; raise StoreError for the first that failed."""
        pending, self._pending = self._pending, []
        errors = [f.exception() for f in pending]
        for exc in errors:
            if exc is not None:
                raise exc

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def _submit(self, folder: str, name: str, data: bytes) -> None:
        if not self.background:
            self._write(folder, name, data)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="abuse-intake-blobs")
        self._pending.append(self._executor.submit(self._write, folder, name, data))

    def _write(self, folder: str, name: str, data: bytes) -> None:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return  # same hash, same content
        try:
            if folder not in self._made:
                os.makedirs(folder, mode=0o700, exist_ok=True)
                self._made.add(folder)
            tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
