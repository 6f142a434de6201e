"""The benchmark's mail generator: parseable, the promised mix, deterministic per seed.

Not a timed test: the benchmark itself (bench/run.py) is never run by CI.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections import Counter
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ lives beside src/

from bench.generate import generate, handle, message, write_maildir  # noqa: E402

N = 400
PARSER = BytesParser(policy=policy.compat32)


@pytest.fixture(scope="module")
def stream():
    return list(generate(N, seed=7))


def _parts(data: bytes):
    msg = PARSER.parsebytes(data)
    return msg, [p for p in msg.walk() if not p.is_multipart()]


def _png_ok(data: bytes) -> bool:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks[kind] = body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 0)
    return len(zlib.decompress(chunks[b"IDAT"])) == height * (width + 1) and b"IEND" in chunks


def _jpeg_ok(data: bytes) -> bool:
    """Walk the marker segments from SOI to the scan; the image must end with EOI."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    pos, seen = 2, []
    while True:
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        seen.append(marker)
        pos += 2 + length
        if marker == 0xDA:
            break
    return {0xDB, 0xC0, 0xC4}.issubset(seen)


def test_same_seed_same_bytes_other_seed_other_bytes(stream):
    again = list(generate(N, seed=7))
    assert [g.data for g in again] == [g.data for g in stream]
    other = list(generate(50, seed=8))
    assert sum(a.data == b.data for a, b in zip(other, stream)) == 0


def test_message_i_is_independent_of_the_stream(stream):
    # What makes streaming possible: message i needs nothing but (seed, i).
    for i in (0, 17, 123, N - 1):
        assert message(7, i).data == stream[i].data
    assert list(generate(5, seed=7, start=100)) == stream[100:105]


def test_the_promised_mix(stream):
    kinds = Counter(g.kind for g in stream)
    assert 0.62 <= kinds["report"] / N <= 0.78
    for kind in ("robot", "non_report", "duplicate"):
        assert 0.05 <= kinds[kind] / N <= 0.15, kinds
    variants = Counter(g.variant for g in stream)
    for v in ("png", "jpeg", "text", "auto_reply", "bounce", "list", "same_bytes", "same_message_id", "resend"):
        assert variants[v] > 0, v
    sizes = [len(g.data) for g in stream]
    assert 20_000 <= sum(sizes) / N <= 30_000
    reports = [len(g.data) for g in stream if g.kind == "report"]
    assert min(reports) >= 5_000 and max(reports) <= 60_000


def test_every_message_parses_and_decodes_cleanly(stream):
    encodings, types = Counter(), Counter()
    for g in stream:
        msg, parts = _parts(g.data)
        assert msg["Message-ID"] or g.variant == "bounce"
        assert msg["Date"] and msg["From"] and msg["Received"]
        for p in [msg, *parts]:
            assert not p.defects, (g.index, p.defects)
        for p in parts:
            encodings[p["Content-Transfer-Encoding"]] += 1
            types[p.get_content_type()] += 1
            payload = p.get_payload(decode=True)
            if p.get_content_type() == "image/png":
                assert _png_ok(payload)
            elif p.get_content_type() == "image/jpeg":
                assert _jpeg_ok(payload)
            elif p.get_content_maintype() == "text":
                payload.decode(p.get_content_charset() or "ascii")
    assert encodings["quoted-printable"] and encodings["base64"]
    assert types["text/html"] and types["image/png"] and types["image/jpeg"]


def test_reports_name_their_accounts_in_both_languages(stream):
    langs = Counter()
    for g in (g for g in stream if g.kind == "report"):
        _, parts = _parts(g.data)
        text = next(p for p in parts if p.get_content_type() == "text/plain").get_payload(decode=True)
        text = text.decode("utf-8")
        for account in g.account_ids:
            assert account in text.lower(), (g.index, account)
        langs["id" if "Halo" in text or "Selamat" in text or "Permisi" in text else "en"] += 1
    assert langs["id"] > 0.4 * sum(langs.values()) and langs["en"] > 0.2 * sum(langs.values())
    assert sum(bool(g.account_ids) for g in stream if g.kind == "report") > 0.8 * Counter(
        g.kind for g in stream)["report"]


def test_duplicates_repeat_an_earlier_report(stream):
    for g in (g for g in stream if g.kind == "duplicate"):
        first = stream[g.repeats]
        assert first.kind == "report" and g.repeats < g.index
        a, _ = _parts(first.data)
        b, _ = _parts(g.data)
        if g.variant == "same_bytes":
            assert g.data == first.data
        elif g.variant == "same_message_id":
            assert g.data != first.data and a["Message-ID"] == b["Message-ID"]
        else:
            assert a["Message-ID"] != b["Message-ID"] and a["From"] == b["From"]
            assert g.account_ids == first.account_ids


def test_robots_carry_their_signals(stream):
    for g in (g for g in stream if g.kind == "robot"):
        msg, _ = _parts(g.data)
        if g.variant == "auto_reply":
            assert msg["Auto-Submitted"] or msg["X-Auto-Response-Suppress"] or msg["X-Autoreply"]
        elif g.variant == "bounce":
            assert msg["Return-Path"] == "<>" and msg.get_content_type() == "multipart/report"
        else:
            assert msg["List-Id"] and msg["Precedence"] == "bulk"


def test_handles_are_distinct_and_shaped_like_account_ids():
    names = [handle(k) for k in range(20_000)]
    assert len(set(names)) == len(names)
    assert all(4 <= len(h) <= 30 and h[0].isalpha() and ("_" in h or "." in h) for h in names)


def test_write_maildir_streams_files_in_arrival_order(tmp_path):
    stats = write_maildir(tmp_path / "md", 30, seed=7)
    files = sorted((tmp_path / "md" / "new").iterdir())
    assert len(files) == 30 == stats["messages"]
    assert [f.read_bytes() for f in files] == [g.data for g in generate(30, seed=7)]
    assert stats["bytes"] == sum(f.stat().st_size for f in files)
