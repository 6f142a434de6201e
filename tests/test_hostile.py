"""Hostile input (issue 5, guarantee 3): nothing a sender writes crashes a run.

Every message ends up stored (as some kind) or quarantined, with its raw
bytes kept exactly; attachment names are data, never paths; archives are
stored as one opaque blob, never unpacked; the [limits] are enforced with
the reason recorded. Checked on the hostile shared samples, on hand-made
extremes, and on a hypothesis generator of malformed MIME run through the
library's parse+process path in-process (a Maildir poll through the real
CLI covers the run itself).
"""

from __future__ import annotations

import base64
import io
import json
import quopri
import zipfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from abuse_intake import config
from abuse_intake.flow.process import Outcome, default_renderer, process_one
from abuse_intake.models import RawMessage, Source
from abuse_intake.models import KINDS
from abuse_intake.store.db import open_db
from conftest import SAMPLES_DIR
from crash_harness import raw_bytes, record_figures, rows, sha256, stray_files
from helpers import cli, cli_json, make_maildir, write_config

EXAMPLES = 150
CANARY = "PWNED-CANARY"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)


class Store:
    """One store in tmp_path; feed() runs a message through parse+process."""

    def __init__(self, tmp: Path, replace: dict | None = None):
        self.tmp = tmp
        self.settings = config.load(write_config(tmp, replace=replace))
        self.db = open_db(self.settings.database_path)
        self.renderer = default_renderer(self.settings)  # compiles every template: once

    def feed(self, data: bytes) -> Outcome:
        return process_one(self.db, self.settings, RawMessage(data, Source("hostile"), T0),
                                    renderer=self.renderer)

    def row(self, data: bytes) -> dict:
        cur = self.db.execute("SELECT * FROM messages WHERE raw_sha256 = ?", (sha256(data),))
        found = cur.fetchall()
        assert len(found) == 1, f"{len(found)} rows for these bytes"
        return dict(zip([d[0] for d in cur.description], found[0]))

    def attachments(self, message_row: int) -> list[dict]:
        cur = self.db.execute("SELECT * FROM attachments WHERE message_id = ? ORDER BY id", (message_row,))
        return [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]

    def close(self) -> None:
        self.db.conn.close()


def assert_kept(store: Store, data: bytes, outcome: Outcome) -> dict:
    """The guarantee for one message: stored or quarantined, raw bytes kept,
    attachments only under their hash."""
    assert outcome.kind in KINDS
    row = store.row(data)
    assert row["kind"] in KINDS
    if row["kind"] == "quarantined":
        assert row["reason"], "a quarantined message says why"
    assert raw_bytes(store.settings.database_path, row["raw_sha256"]) == data
    for att in store.attachments(row["id"]):
        if att["sha256"] is None:
            # Skipped by a limit (and why), or empty: nothing to keep.
            assert att["skipped_reason"] or att["size"] == 0, f"attachment {att['filename']!r} lost unexplained"
        else:
            content = store.db.execute("SELECT data FROM attachment_contents WHERE sha256 = ?",
                                       (att["sha256"],)).fetchone()[0]
            assert sha256(content) == att["sha256"] and len(content) == att["size"]
    return row


def assert_no_escape(root: Path) -> None:
    """Intake wrote no file but the store's own; no canary-named file anywhere near."""
    assert stray_files(root) == []
    for base in {root, root.parent, Path.cwd()}:
        hits = [p for p in base.rglob(f"*{CANARY}*")] if base != Path.cwd() else list(base.glob(f"*{CANARY}*"))
        assert hits == [], hits


# -- building blocks of malformed MIME ------------------------------------------------

CHARSETS = ["utf-8", "us-ascii", "iso-8859-1", "windows-1252", "utf-16", "utf-7", "koi8-r", "gb2312",
            "x-unknown-charset", "bogus charset", "utf-8\x00", "", "unicode-1-1-utf-7", "'utf-8'"]
CTES = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
FILENAMES = [f"../../../{CANARY}", f"/tmp/{CANARY}", f"..\\..\\{CANARY}.exe", f"C:\\{CANARY}.dll",
             f"a/b/{CANARY}.jpg", f"{CANARY}\x00.jpg", ".", "..", "", " ", "con", "x" * 400, "foto.jpg",
             f"~/.ssh/{CANARY}", f"%2e%2e%2f{CANARY}", "bukti\r\nBcc: victim@evil.example.jpg"]
WORDS = ["akun @dewi_manja88 open BO", "ID: sari.bo_jkt", "{{ config }}", "{% for x in y %}", "<script>x</script>",
         "\x00\x00", "Grüße é ñ 漢字", "=?utf-8?b?QUJD?=", "--b0", "\r\n\r\n", "From: a@b", "."]


def _header_value(draw) -> bytes:
    """Header text: plain, 8-bit, NUL, encoded words with bad or unknown charsets, CRLF."""
    return draw(st.sampled_from([
        b"Laporan akun", "Laporan akun Grüße".encode("latin-1"), "Лаборатория".encode("utf-8"),
        b"\xff\xfe\xfa bytes", b"nul\x00inside", b"=?x-unknown?Q?abc?=", b"=?utf-8?B?!!!not-b64?=",
        b"=?utf-8?Q?a=ZZb?=", b"=?utf-8?B?TGFwb3JhbiANCkJjYzogdmljdGltQGV2aWwuZXhhbXBsZQ==?=",
        b"=?iso-8859-1?q?caf=E9?= =?utf-8?b?w6k=?=", b"", b"(unclosed comment", b"\"unbalanced",
        b"=?utf-8?b?" + base64.b64encode("x".encode() * 200) + b"?=",
    ]))


def _encode(draw, cte: str, payload: bytes) -> bytes:
    flaw = draw(st.sampled_from(["none", "none", "garbage", "padding", "truncated"]))
    if cte == "base64":
        body = base64.encodebytes(payload)
        if flaw == "garbage":
            body = body[: len(body) // 2] + b"!!@@##\x00\xff" + body[len(body) // 2:]
        elif flaw == "padding":
            body = body.replace(b"=", b"") + b"===="
        elif flaw == "truncated":
            body = body[: max(1, len(body) // 2 - 1)]
        return body
    if cte == "quoted-printable":
        body = quopri.encodestring(payload)
        if flaw == "garbage":
            body += b"=ZZ=\xff=4"
        elif flaw == "padding":
            body += b"=\r\n=\r\n="
        elif flaw == "truncated":
            body = body[:-1] + b"="
        return body
    return payload


@st.composite
def _leaf(draw) -> bytes:
    ctype = draw(st.sampled_from(["text/plain", "text/plain", "text/html", "image/jpeg", "application/zip",
                                  "application/octet-stream", "text/x-weird", "multipart/alternative",
                                  "message/delivery-status", "", "text"]))
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(CTES))
    text = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=6)))
    payload = draw(st.one_of(st.just(text.encode("utf-8", "surrogatepass")), st.binary(max_size=300)))
    head = [b"Content-Type: " + ctype.encode() + (b'; charset="' + charset.encode("utf-8") + b'"' if charset else b"")]
    if cte:
        head.append(b"Content-Transfer-Encoding: " + cte.encode())
    name = draw(st.one_of(st.none(), st.sampled_from(FILENAMES)))
    if name is not None:
        style = draw(st.sampled_from(["plain", "rfc2231", "encoded-word", "content-type"]))
        raw = name.encode("utf-8")
        if style == "plain":
            head.append(b'Content-Disposition: attachment; filename="' + raw + b'"')
        elif style == "rfc2231":
            head.append(b"Content-Disposition: attachment; filename*=utf-8''" +
                        "".join(f"%{b:02X}" for b in raw).encode())
        elif style == "encoded-word":
            head.append(b'Content-Disposition: attachment; filename="=?utf-8?b?' + base64.b64encode(raw) + b'?="')
        else:
            head[0] += b'; name="' + raw + b'"'
    return b"\r\n".join(head) + b"\r\n\r\n" + _encode(draw, cte, payload)


@st.composite
def _part(draw, depth: int) -> bytes:
    if depth <= 0:
        return draw(_leaf())
    if draw(st.integers(0, 4)) == 0:  # a forwarded message around the rest
        return b"Content-Type: message/rfc822\r\n\r\nFrom: someone <x@y.example>\r\nSubject: fwd\r\n" + \
            draw(_part(depth - 1))
    boundary = f"b{depth}-{draw(st.integers(0, 9))}".encode()
    children = [draw(_part(depth - 1 if i == 0 else 0)) for i in range(draw(st.integers(1, 3)))]
    flaw = draw(st.sampled_from(["none", "none", "no-close", "no-boundary-param", "wrong-boundary", "no-open"]))
    declared = b"" if flaw == "no-boundary-param" else b'; boundary="' + \
        (b"other" if flaw == "wrong-boundary" else boundary) + b'"'
    ctype = draw(st.sampled_from([b"multipart/mixed", b"multipart/alternative", b"multipart/related",
                                  b"multipart/report; report-type=feedback-report", b"multipart/x-unknown"]))
    body = b"preamble\r\n"
    for i, child in enumerate(children):
        if not (flaw == "no-open" and i == 0):
            body += b"--" + boundary + b"\r\n"
        body += child + b"\r\n"
    if flaw != "no-close":
        body += b"--" + boundary + b"--\r\n"
    return b"Content-Type: " + ctype + declared + b"\r\n\r\n" + body


@st.composite
def hostile_messages(draw) -> bytes:
    head = []
    sender = draw(st.sampled_from([
        b"From: Ana <ana.hostile@gmail.com>", b"From: \xc3\xa9 Ana \xff <ana.8bit@gmail.com>",
        b"From: <<<@>>>", b"From: undisclosed-recipients:;", b"From: a\x00b@gmail.com", None,
        b"From: Ana <ana@gmail.com>\r\nFrom: Eve <eve@evil.example>", b"From: " + b"A" * 5000 + b" <long@gmail.com>",
    ]))
    if sender is not None:
        head.append(sender)
    head.append(b"To: support@obrolan.example")
    head.append(b"Subject: " + _header_value(draw))
    if draw(st.booleans()):
        head.append(b"Message-ID: " + draw(st.sampled_from(
            [b"<h-%d@example.test>" % draw(st.integers(0, 10**9)), b"<>", b"no-brackets", b"<" + b"x" * 3000 + b">"])))
    head.append(b"Date: " + draw(st.sampled_from([b"Mon, 2 Nov 2026 08:00:00 +0000", b"yesterday", b"",
                                                  b"Thu, 1 Jan 1970 00:00:00 +0000", b"Fri, 31 Dec 9999 23:59:59 +1400"])))
    huge = draw(st.sampled_from([0, 0, 0, 2_000, 200_000]))
    if huge:
        head.append(b"X-Huge: " + b"y" * huge)  # one enormous header line
    many = draw(st.sampled_from([0, 0, 0, 3_000]))
    head += [b"X-Many-%d: v" % i for i in range(many)]
    head += [draw(st.sampled_from([b"X-8bit: \xe9\xe8\xff", b"X-Nul: a\x00b", b"no colon in this line",
                                   b" folded-without-header", b"X-Ok: fine"]))]
    head.append(b"MIME-Version: 1.0")
    depth = draw(st.sampled_from([0, 0, 1, 1, 2, 3, 4, 6, 60]))  # 60: past the walker's MAX_DEPTH
    body = draw(_part(depth))
    raw = b"\r\n".join(head) + b"\r\n" + body
    if draw(st.booleans()):
        raw = raw.replace(b"\r\n", b"\n")  # bare LF, as some samples are
    return raw


def nested(depth: int, close: bool = True) -> bytes:
    """A chain of `depth` multiparts around one text part (the parser's recursion)."""
    head = b"From: Deep <deep@gmail.com>\r\nTo: support@obrolan.example\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    opens = b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i) for i in range(depth))
    leaf = b"Content-Type: text/plain\r\n\r\nakun @dewi_manja88 open BO\r\n"
    closes = b"".join(b"\r\n--n%d--\r\n" % i for i in reversed(range(depth))) if close else b""
    return head + opens + leaf + closes


# -- the tests ----------------------------------------------------------------------

def _hostile_samples() -> list[str]:
    return [e["file"] for e in json.loads((SAMPLES_DIR / "expectations.json").read_text()) if e["kind"] == "hostile"]


def test_hostile_samples_are_kept_and_names_stay_data(tmp_path):
    store = Store(tmp_path)
    try:
        names = _hostile_samples()
        assert len(names) >= 5
        for name in names:
            data = (SAMPLES_DIR / name).read_bytes()
            row = assert_kept(store, data, store.feed(data))
            assert row["kind"] == "report", (name, row["kind"], row["reason"])
        traversal = store.row((SAMPLES_DIR / "016_attachment-path-traversal.eml").read_bytes())
        names = [a["filename"] for a in store.attachments(traversal["id"])]
        assert "../../../etc/passwd" in names  # kept as the sender wrote it, as data
        assert stray_files(tmp_path) == []
        assert not (tmp_path / "etc").exists()
    finally:
        store.close()


def test_generated_malformed_mime_is_stored_or_quarantined(tmp_path):
    store = Store(tmp_path)
    seen: Counter = Counter()
    distinct: set[str] = set()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(st.one_of(hostile_messages(), st.sampled_from([b"", b"\r\n", b" \t\r\n\r\n"])))
    @example(nested(60))  # one level past the walker's MAX_DEPTH
    def run(data: bytes) -> None:
        outcome = store.feed(data)
        row = assert_kept(store, data, outcome)
        seen["examples"] += 1
        seen[row["kind"]] += 1
        distinct.add(row["raw_sha256"])

    try:
        run()
        assert_no_escape(tmp_path)
        assert seen["examples"] >= EXAMPLES
        # The generator reaches both ends: messages that parse and ones that cannot.
        assert seen["quarantined"] >= 1 and seen["report"] >= 1, str(dict(seen))
    finally:
        store.close()
        record_figures(hostile={"hypothesis_examples": seen["examples"], "distinct_inputs": len(distinct),
                                "kinds": {k: v for k, v in seen.items() if k != "examples"}})


def test_nesting_up_to_and_past_the_recursion_limit(tmp_path):
    """Outside hypothesis, which raises the interpreter's recursion limit while it runs."""
    store = Store(tmp_path)
    try:
        shallow = nested(150)
        row = assert_kept(store, shallow, store.feed(shallow))
        assert row["kind"] != "quarantined"  # parsed; the walk stops at MAX_DEPTH
        under = nested(900)  # parseable by the stdlib, but refused up front: seconds of CPU for nothing
        row = assert_kept(store, under, store.feed(under))
        assert row["kind"] == "quarantined" and "multipart containers" in row["reason"]
        past = nested(3000, close=False)
        row = assert_kept(store, past, store.feed(past))
        assert row["kind"] == "quarantined" and "nested" in row["reason"]
    finally:
        store.close()


def test_a_poll_over_hostile_mail_finishes_and_keeps_everything(tmp_path):
    """The real CLI over a Maildir of the worst cases: exit 0, every message accounted for."""
    mails = [(SAMPLES_DIR / n).read_bytes() for n in _hostile_samples()] + [
        nested(1200, close=False),
        b"From: a@gmail.com\r\nSubject: nul\x00\r\n\r\nakun @dewi_manja88\x00 open BO\x00",
        b"From: \xe9\xff <x8@gmail.com>\r\nSubject: \xc0\xc1\xf5\r\n\r\n\xff\xfe akun @sari.bo_jkt open BO",
        b"From: h@gmail.com\r\nX-Huge: " + b"z" * 300_000 + b"\r\nSubject: huge\r\n\r\nakun @dewi_manja88 open BO",
        b"Content-Type: multipart/mixed; boundary=zz\r\nFrom: m@gmail.com\r\n\r\n--zz\r\nContent-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n--zz\r\nContent-Type: application/zip; "
        b'name="../../' + CANARY.encode() + b'.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBBQ',
        b"\r\n\r\n",  # no headers, no body
        b"garbage without any header structure \x00\x01\x02",
    ]
    make_maildir(tmp_path / "mailbox", mails)
    conf = write_config(tmp_path)
    counts = cli_json(conf, "poll")
    assert counts["fetched"] == len(mails)
    listed = cli_json(conf, "messages", "list")
    assert len(listed) == len(mails)
    db = tmp_path / "db.sqlite"
    stored = {r["raw_sha256"] for r in rows(db, "SELECT raw_sha256 FROM messages")}
    assert stored == {sha256(m) for m in mails}
    for m in mails:
        assert raw_bytes(db, sha256(m)) == m
    assert_no_escape(tmp_path)
    # Every quarantined one can be listed by the operator.
    quarantined = [m for m in listed if m["kind"] == "quarantined"]
    rows_q = cli_json(conf, "quarantine", "list")
    assert len(rows_q) == len(quarantined) >= 2
    assert all(set(r) == {"id", "received_at", "from", "reason", "size"} and r["reason"] for r in rows_q)
    # ... and its raw bytes, exactly as received, fetched by the id shown there.
    for r in rows_q:
        out = tmp_path / f"q{r['id']}.eml"
        assert cli(conf, "messages", "raw", str(r["id"]), "-o", str(out)).returncode == 0
        assert out.read_bytes() in mails and len(out.read_bytes()) == r["size"]


# -- [limits] -------------------------------------------------------------------------

LIMITS = {"max_message_bytes = 26214400": "max_message_bytes = 4096",
          "max_attachments = 20": "max_attachments = 2",
          "max_attachment_bytes = 20971520": "max_attachment_bytes = 1000"}


def _with_attachments(sizes: list[int], sender: str = "lim@gmail.com") -> bytes:
    parts = [b"--L\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nakun @dewi_manja88 open BO, bukti terlampir.\r\n"]
    for i, size in enumerate(sizes):
        parts.append(b"--L\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
                     b'Content-Disposition: attachment; filename="bukti%d.png"\r\n\r\n' % i +
                     base64.encodebytes(bytes([i + 1]) * size))
    return (f"From: Lim <{sender}>\r\nTo: support@obrolan.example\r\nSubject: bukti\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=L\r\n\r\n").encode() + b"".join(parts) + b"--L--\r\n"


def test_message_over_max_message_bytes_is_quarantined_unparsed_with_the_reason(tmp_path):
    store = Store(tmp_path, replace=LIMITS)
    try:
        data = _with_attachments([3000])  # ~4.3 KB on the wire
        assert len(data) > 4096
        row = assert_kept(store, data, store.feed(data))
        assert row["kind"] == "quarantined"
        assert "max_message_bytes" in row["reason"] and "4096" in row["reason"]
        assert store.attachments(row["id"]) == []
    finally:
        store.close()


def test_attachments_beyond_count_and_total_bytes_are_skipped_with_the_reason(tmp_path):
    store = Store(tmp_path, replace=LIMITS)
    try:
        count = _with_attachments([10, 10, 10, 10], "count@gmail.com")
        row = assert_kept(store, count, store.feed(count))
        atts = store.attachments(row["id"])
        assert len(atts) == 4 and [a["sha256"] is not None for a in atts] == [True, True, False, False]
        assert all("max_attachments" in a["skipped_reason"] for a in atts[2:])

        total = _with_attachments([600, 600], "total@gmail.com")
        row = assert_kept(store, total, store.feed(total))
        atts = store.attachments(row["id"])
        assert [a["sha256"] is not None for a in atts] == [True, False]
        assert "max_attachment_bytes" in atts[1]["skipped_reason"]
        # The report itself is intact: the limits cost evidence files, never the report.
        assert row["kind"] == "report"
    finally:
        store.close()


def test_archives_are_stored_whole_never_unpacked(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"../../{CANARY}.txt", "inside the archive")
        z.writestr("bukti.jpg", b"\xff\xd8\xff" + b"0" * 100)
    blob = buf.getvalue()
    data = (b"From: Zip <zip@gmail.com>\r\nTo: support@obrolan.example\r\nSubject: bukti zip\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=Z\r\n\r\n--Z\r\nContent-Type: text/plain\r\n\r\n"
            b"akun @dewi_manja88 open BO\r\n--Z\r\nContent-Type: application/zip\r\n"
            b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"bukti.zip\"\r\n\r\n"
            + base64.encodebytes(blob) + b"--Z--\r\n")
    store = Store(tmp_path)
    try:
        row = assert_kept(store, data, store.feed(data))
        [att] = store.attachments(row["id"])
        assert att["sha256"] == sha256(blob) and att["filename"] == "bukti.zip"
        assert_no_escape(tmp_path)
        assert store.db.execute("SELECT COUNT(*) FROM attachment_contents").fetchone()[0] == 1  # the zip, whole
    finally:
        store.close()
