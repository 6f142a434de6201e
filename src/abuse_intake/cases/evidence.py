"""Export a case's evidence (raw emails and attachments) from the store into a folder.

Staff open screenshots with their own tools, and a referral hands the
original emails to someone else. File names are made here (report number,
message row, content hash, an extension from the content type), never taken
from the sender: an attachment name is data, not a path.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExportError, NotFoundError
from ..store import blobs
from ..store import cases as case_store
from ..store import messages as msg_store


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    kind: str  # "email" or "attachment"
    report: int  # 1-based, in the order `cases show` lists the reports
    message_row: int
    size: int
    sha256: str
    filename: str = ""  # the sender's name for an attachment (data, shown, never used as a path)
    content_type: str = ""


def export_case(db, ref: str, folder: Path) -> list[ExportedFile]:
    """Write every report's raw email and stored attachment of case `ref` into `folder`.

    Existing files with the same name are replaced (the content is the same:
    names carry the hash). Raises NotFoundError, ExportError.
    """
    case = case_store.case_by_ref(db, ref)
    if case is None:
        raise NotFoundError(f"no case {ref}")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ExportError(f"cannot create {folder}: {exc.strerror or exc}") from None
    out: list[ExportedFile] = []
    for n, r in enumerate(case_store.reports_of_case(db, case["id"]), 1):
        row, digest = r["message_row"], r["raw_sha256"]
        data = blobs.get_raw(db, digest)
        if data is None:
            raise ExportError(_missing(db, row))
        path = write_file(folder / f"{ref}-report{n}-message{row}.eml", data)
        out.append(ExportedFile(path, "email", n, row, len(data), digest))
        for a in msg_store.attachments_of(db, row):
            if not a["sha256"]:
                continue  # skipped by a limit: only its name and size were kept
            content = blobs.get_attachment(db, a["sha256"])
            if content is None:
                raise ExportError(f"attachment {a['sha256']} of message {row} is missing from the store")
            name = f"{ref}-report{n}-{a['sha256'][:16]}{_extension(a['content_type'])}"
            out.append(ExportedFile(write_file(folder / name, content), "attachment", n, row, len(content),
                                    a["sha256"], a["filename"] or "", a["content_type"] or ""))
    return out


def raw_message(db, message_row: int) -> bytes:
    """The stored bytes of one message, exactly as received. Raises NotFoundError."""
    row = msg_store.get_message(db, message_row)
    if row is None:
        raise NotFoundError(f"no message {message_row}")
    data = blobs.get_raw(db, row["raw_sha256"])
    if data is None:
        raise NotFoundError(_missing(db, message_row, row))
    return data


def _missing(db, message_row: int, row: dict | None = None) -> str:
    row = row or msg_store.get_message(db, message_row) or {}
    if row.get("purged_at"):
        return f"the raw bytes of message {message_row} were deleted by retention at {row['purged_at']}"
    return f"the raw bytes of message {message_row} are missing from the store"


# Only types a viewer opens as inert data. Anything a browser, shell or Windows would
# run or script (.html, .js, .hta, .svg, .exe, ...) is saved as .bin, whatever the
# sender claimed: the sender chooses the Content-Type.
SAFE_EXTENSIONS = {
    "image/jpeg": ".jpg", "image/pjpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
    "image/webp": ".webp", "image/bmp": ".bmp", "image/tiff": ".tif", "image/heic": ".heic",
    "image/heif": ".heif", "application/pdf": ".pdf", "text/plain": ".txt",
}


def _extension(content_type: str | None) -> str:
    return SAFE_EXTENSIONS.get((content_type or "").split(";")[0].strip().lower(), ".bin")


def write_file(path: Path, data: bytes) -> Path:
    """Write `data` to `path` owner-only (evidence is personal data), via a temporary file.

    The temporary name is random and created with O_EXCL|O_NOFOLLOW (mkstemp) in the
    target folder, so nobody can aim it at another file with a planted symlink; the
    rename then replaces `path` itself (a symlink there is replaced, never followed),
    so no half file is ever left under the final name.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent or Path("."))
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
