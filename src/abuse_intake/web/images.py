"""Evidence images for the browser: the real type from the bytes (never the
sender's Content-Type), thumbnails, and HEIC/HEIF phone photos converted to
JPEG. Bounded: images over MAX_PIXELS are not decoded (decompression bombs)."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

from PIL import Image, UnidentifiedImageError

try:  # HEIC/HEIF (iPhone photos): optional at import so a broken wheel does not stop the console
    from pillow_heif import register_heif_opener
    register_heif_opener()
except ImportError:  # pragma: no cover - pinned in requirements.lock
    pass

MAX_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
THUMB = (320, 320)
# Browsers show these as they are; everything else Pillow reads is converted to JPEG.
NATIVE = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}

_cache: "OrderedDict[tuple[str, str], tuple[bytes, str]]" = OrderedDict()
_lock = threading.Lock()
CACHE_ITEMS = 256


def kind(data: bytes) -> str | None:
    """Pillow's format name if the bytes are an image it can read (HEIF included), else None."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.format
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None


def for_display(data: bytes, digest: str) -> tuple[bytes, str] | None:
    """(bytes, content type) a browser can show, or None if it is not a readable image."""
    fmt = kind(data)
    if fmt is None:
        return None
    if fmt in NATIVE:
        return data, NATIVE[fmt]
    return _cached((digest, "full"), lambda: _jpeg(data, None))


def thumbnail(data: bytes, digest: str) -> tuple[bytes, str] | None:
    if kind(data) is None:
        return None
    return _cached((digest, "thumb"), lambda: _jpeg(data, THUMB))


def _jpeg(data: bytes, size) -> tuple[bytes, str] | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.seek(0)
            if size:
                im.draft("RGB", size)  # JPEG: decode at a fraction of the size
                im.thumbnail(size)
            out = im.convert("RGB")
        buf = io.BytesIO()
        out.save(buf, "JPEG", quality=82)
        return buf.getvalue(), "image/jpeg"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None


def _cached(key, make):
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = make()
    if value is not None:
        with _lock:
            _cache[key] = value
            while len(_cache) > CACHE_ITEMS:
                _cache.popitem(last=False)
    return value
