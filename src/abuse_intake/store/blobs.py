"""Content-addressed files under the data directory.

Raw messages live at raw/<aa>/<sha256>.eml and attachments at
attachments/<aa>/<sha256>: the name is the hash of the content, so a
sender's filename never becomes a path and identical content is kept once.
Files are written to a temporary name and renamed, so a crash never leaves a
half-written file under a final name.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import StoreError


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)

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
        self._write(self.raw_path(digest), data)
        return digest

    def put_attachment(self, data: bytes, digest: str | None = None) -> str:
        digest = digest or sha256(data)
        self._write(self.attachment_path(digest), data)
        return digest

    def get_raw(self, digest: str) -> bytes:
        try:
            return self.raw_path(digest).read_bytes()
        except OSError as exc:
            raise StoreError(f"raw message {digest} is missing from {self.root}: {exc.strerror}") from None

    def _write(self, path: Path, data: bytes) -> None:
        if path.exists():
            return  # same hash, same content
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
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
