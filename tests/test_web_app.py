"""The web console over HTTP (a real waitress server on loopback, a store made by
the real poll): logins, CSRF, roles, security headers, the queue, the case page,
evidence, actions, the dashboard. The browser tests are in test_web_browser.py."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from abuse_intake import config
from abuse_intake.store.db import open_db
from click.testing import CliRunner

from abuse_intake.cli import cli as cli_group
from web_support import HOSTILE, PASSWORDS, Server, add_users, build_store

CASE_LINK = re.compile(r'href="/cases/([A-Z]+-\d{6})"')


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    cfg = build_store(tmp)
    settings = config.load(cfg)
    add_users(settings)
    server = Server(settings)
    yield cfg, settings, server
    server.close()


class Client:
    """A cookie-keeping HTTP client that does not follow redirects."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, method: str, path: str, data: dict | None = None, headers: dict | None = None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=20) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, data: dict):
        return self.request("POST", path, data)

    def login(self, name: str, password: str | None = None):
        _, _, body = self.get("/login")
        token = re.search(rb'name="login_token" value="([^"]+)"', body).group(1).decode()
        return self.post("/login", {"username": name, "password": password or PASSWORDS[name],
                                    "login_token": token, "next": "/"})

    def csrf(self, path: str = "/") -> str:
        _, _, body = self.get(path)
        return re.search(rb'name="csrf_token" value="([0-9a-f]+)"', body).group(1).decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def client(store, name: str | None = None) -> Client:
    c = Client(store[2].url)
    if name:
        status, headers, _ = c.login(name)
        assert status == 302, status
    return c


def refs_on(body: bytes) -> list[str]:
    return list(dict.fromkeys(CASE_LINK.findall(body.decode())))


def cli_json(cfg: Path, *args: str):
    """The CLI's JSON, run in-process (no process boundary is under test here)."""
    result = CliRunner().invoke(cli_group, ["--config", str(cfg), *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def case_json(store, ref: str) -> dict:
    return cli_json(store[0], "cases", "show", ref)


def ref_of(store, account: str) -> str:
    return [c["ref"] for c in cli_json(store[0], "cases", "list", "--status", "all") if c["account_id"] == account][0]


# -- login, sessions, headers --------------------------------------------------

def test_anonymous_requests_go_to_login_and_static_needs_no_login(store):
    c = client(store)
    for path in ("/", "/cases/OB-000001", "/stats", "/attachments/1", "/messages/1/raw"):
        status, headers, _ = c.get(path)
        assert status == 302 and headers["Location"].startswith("/login?next="), path
    status, _, body = c.get("/login")
    assert status == 200 and b'name="username"' in body and b'name="password"' in body
    assert c.get("/static/console.css")[0] == 200
    # An anonymous POST is refused outright, and changes nothing.
    assert c.post("/cases/OB-000001/note", {"text": "x"})[0] == 403


def test_login_sets_a_strict_cookie_and_logout_ends_the_session(store):
    c = Client(store[2].url)
    status, headers, _ = c.login("tri1")
    assert status == 302
    cookie = headers["Set-Cookie"]
    assert "abuse_intake_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # base_url is not https in this config
    assert c.get("/")[0] == 200
    token = c.csrf()
    assert c.post("/logout", {"csrf_token": token})[0] == 302
    assert c.get("/")[0] == 302


def test_wrong_password_and_unknown_user_get_the_same_answer(store):
    c = Client(store[2].url)
    s1, _, b1 = c.login("view1", "not the password")
    s2, _, b2 = c.login("nobody-here", "not the password")
    assert s1 == s2 == 401
    assert b"wrong user name or password" in b1 and b"wrong user name or password" in b2
    assert c.get("/")[0] == 302


def test_login_form_without_its_token_is_refused(store):
    c = Client(store[2].url)
    status, _, _ = c.post("/login", {"username": "tri1", "password": PASSWORDS["tri1"]})
    assert status == 403


def test_next_cannot_send_the_user_to_another_site(store):
    c = Client(store[2].url)
    _, _, body = c.get("/login")
    token = re.search(rb'name="login_token" value="([^"]+)"', body).group(1).decode()
    status, headers, _ = c.post("/login", {"username": "view1", "password": PASSWORDS["view1"],
                                           "login_token": token, "next": "//evil.example/x"})
    assert status == 302 and headers["Location"] == "/"


def test_security_headers_on_every_page(store):
    c = client(store, "view1")
    for path in ("/", "/stats", "/login"):
        _, headers, body = c.get(path)
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        # No page loads anything from another host, and there is no inline script.
        assert not re.search(rb'(src|href)="(https?:)?//', body), path
        assert not re.search(rb"<script(?![^>]*\bsrc=)", body), path


# -- CSRF and roles ---------------------------------------------------------------

def test_forged_post_with_the_session_cookie_but_no_token_gets_403_and_changes_nothing(store):
    c = client(store, "tri1")
    ref = ref_of(store, "cantik_vulgar")
    before = case_json(store, ref)
    for data in ({"violation": "sexual_content"}, {"violation": "sexual_content", "csrf_token": "0" * 64}):
        assert c.post(f"/cases/{ref}/decide", data)[0] == 403
    assert c.post(f"/cases/{ref}/note", {"text": "forged"})[0] == 403
    after = case_json(store, ref)
    assert after["status"] == before["status"] == "open" and after["audit"] == before["audit"] == []
    # Another user's token does not work with this session either.
    other = client(store, "lead1")
    assert c.post(f"/cases/{ref}/note", {"text": "forged", "csrf_token": other.csrf()})[0] == 403
    assert case_json(store, ref)["audit"] == []


def test_viewer_cannot_decide_note_or_assign(store):
    c = client(store, "view1")
    ref = ref_of(store, "cantik_vulgar")
    _, _, page = c.get(f"/cases/{ref}")
    assert b"/decide" not in page  # no form is offered...
    token = c.csrf(f"/cases/{ref}")
    for action, data in (("decide", {"violation": "sexual_content"}), ("note", {"text": "hi"}),
                         ("assign", {"take": "1"}), ("link", {"account_id": "someone_else"})):
        assert c.post(f"/cases/{ref}/{action}", {**data, "csrf_token": token})[0] == 403, action  # ...nor obeyed
    assert case_json(store, ref)["status"] == "open" and case_json(store, ref)["audit"] == []


# -- queue --------------------------------------------------------------------------

def test_queue_orders_like_cases_list_and_counts_per_status(store):
    c = client(store, "view1")
    _, _, body = c.get("/?status=open")
    listed = [r["ref"] for r in cli_json(store[0], "cases", "list", "--status", "open")]
    assert refs_on(body) == listed and len(listed) >= 3
    _, _, waiting = c.get("/")
    everything = cli_json(store[0], "cases", "list", "--status", "all")
    wanted = [r["ref"] for r in everything if r["status"] in ("open", "needs_info")]
    assert refs_on(waiting) == wanted  # needs_info is shown by default, in the same order
    assert re.search(rb"needs_info <b>1</b>", waiting)


def test_queue_filters_and_search(store):
    c = client(store, "view1")
    ref = ref_of(store, "dewi_manja88")
    assert refs_on(c.get("/?status=all&category=prostitution")[2]) == [ref]
    assert refs_on(c.get("/?status=all&severity=medium")[2]) == [ref_of(store, "cantik_vulgar")]
    assert refs_on(c.get("/?status=all&q=dewi_manja88")[2]) == [ref]          # an account ID
    assert refs_on(c.get("/?status=all&q=tarif+500rb")[2]) == [ref]           # report text
    assert refs_on(c.get("/?status=all&q=trafficking")[2]) == [ref_of(store, "trafo_acc")]  # a subject
    assert refs_on(c.get("/?status=all&q=nothing-like-this")[2]) == []
    # Hostile search syntax is just words.
    for q in ('bank"', "OR", "*", "NEAR(", '"'):
        status, _, _ = c.get("/?status=all&q=" + urllib.parse.quote(q))
        assert status == 200, q
    assert refs_on(c.get("/?status=all&age=30d")[2]) == []
    assert len(refs_on(c.get("/?status=all&age=1d")[2])) >= 4
    assert refs_on(c.get("/?status=all&assignee=nobody-at-all")[2]) == []


def test_search_index_follows_new_reports_and_migration_indexes_old_ones(store, tmp_path: Path):
    """The trigger indexes a report in its own transaction; the migration indexed the store's rows."""
    settings = store[1]
    db = open_db(settings.database_path)
    try:
        n_reports = db.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
        hits = db.execute("SELECT COUNT(*) FROM reports_fts WHERE reports_fts MATCH '\"dewi\"'").fetchone()[0]
        assert n_reports >= 6 and hits == 2
    finally:
        db.conn.close()
    # A store made before the migration: its reports are indexed when it is opened.
    import sqlite3
    from abuse_intake.store import schema
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    for sql in schema.MIGRATIONS[:-1]:
        conn.executescript(sql)
    conn.execute(f"PRAGMA user_version = {len(schema.MIGRATIONS) - 1}")
    conn.execute("INSERT INTO messages (raw_sha256, size, mailbox, received_at, kind, subject, text, stored_at) "
                 "VALUES ('x', 1, 'm', '2026-01-01T00:00:00Z', 'report', 'Subjek lama', 'teks lama unik', "
                 "'2026-01-01T00:00:00Z')")
    conn.execute("INSERT INTO reports (message_id, received_at, category, severity, account_ids, matched_words, "
                 "text_fingerprint) VALUES (1, '2026-01-01T00:00:00Z', 'other', 'low', '[\"old_acc\"]', '[]', 'x')")
    conn.commit()
    conn.close()
    db = open_db(old)
    try:
        assert db.execute("SELECT rowid FROM reports_fts WHERE reports_fts MATCH '\"unik\"'").fetchall() == [(1,)]
        assert db.execute("SELECT rowid FROM reports_fts WHERE reports_fts MATCH '\"old_acc\"'").fetchall() == [(1,)]
    finally:
        db.conn.close()


def test_queue_pages(store):
    from abuse_intake.web import views
    c = client(store, "view1")
    old = views.PAGE_SIZE
    views.PAGE_SIZE = 2
    try:
        first, second, third = (refs_on(c.get(f"/?status=all&page={n}")[2]) for n in (1, 2, 3))
    finally:
        views.PAGE_SIZE = old
    everything = [r["ref"] for r in cli_json(store[0], "cases", "list", "--status", "all")]
    assert first + second + third == everything and len(first) == 2
    assert c.get("/?page=abc")[0] == 200 and c.get("/?status=bogus")[0] == 200


# -- case page and evidence -----------------------------------------------------------

def test_case_page_escapes_reporter_text(store):
    c = client(store, "view1")
    ref = ref_of(store, "hostile_acc")
    _, _, body = c.get(f"/cases/{ref}")
    text = body.decode()
    assert "<script>window.__pwned" not in text and "<img src=x" not in text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in text
    assert "{{ 7*7 }}" in text and ">49<" not in text
    assert "Penipuan &lt;b&gt;bold&lt;/b&gt;" in text
    assert HOSTILE.split("<")[0].strip() in text


def test_case_page_shows_reports_history_track_record_and_decide_form(store):
    c = client(store, "tri1")
    ref = ref_of(store, "dewi_manja88")
    _, _, body = c.get(f"/cases/{ref}")
    text = body.decode()
    assert "andi@example.com" in text and "budi@example.com" in text and "tarif 500rb" in text
    assert "dewi_manja88" in text and "confirmed violation(s) in the last 365 days" in text
    assert "Track record: 1 report(s) sent" in text
    assert f'action="/cases/{ref}/decide"' in text
    values = re.findall(r'name="violation" value="([^"]+)"', text)
    assert sorted(values) == sorted(["none", *store[1].categories])
    assert "high #1 -&gt; restrict 30 days" in text and "outcome_actioned (id) → andi@example.com" in text
    assert c.get("/cases/OB-999999")[0] == 404


def test_attachments_images_inline_with_real_type_others_download_only(store):
    c = client(store, "view1")
    ref = ref_of(store, "dewi_manja88")
    _, _, body = c.get(f"/cases/{ref}")
    image_id, pdf_id = (int(x) for x in re.findall(r'href="/attachments/(\d+)" download', body.decode()))
    status, headers, data = c.get(f"/attachments/{image_id}/thumb")
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and data[:3] == b"\xff\xd8\xff"
    status, headers, data = c.get(f"/attachments/{image_id}?view=1")
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and headers["Content-Disposition"] == "inline"
    status, headers, data = c.get(f"/attachments/{image_id}")
    assert headers["Content-Type"] == "application/octet-stream" and 'attachment; filename="bukti.jpg"' in \
        headers["Content-Disposition"]
    # The PDF (or anything not an image) is never shown inline, even when asked to.
    status, headers, data = c.get(f"/attachments/{pdf_id}?view=1")
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"].startswith("attachment;") and data.startswith(b"%PDF")
    assert c.get(f"/attachments/{pdf_id}/thumb")[0] == 404
    assert 'class="evidence blurred"' in body.decode()  # prostitution: blurred by default
    row = re.search(r'href="/messages/(\d+)/raw"', body.decode()).group(1)
    status, headers, raw = c.get(f"/messages/{row}/raw")
    assert headers["Content-Disposition"].startswith("attachment;") and b"Subject: Laporan open BO" in raw


def test_heic_image_is_converted_for_display(store):
    from PIL import Image
    import io
    from pillow_heif import from_pillow
    from abuse_intake.web import images
    buf = io.BytesIO()
    from_pillow(Image.new("RGB", (40, 30), (0, 120, 0))).save(buf, quality=80)
    heic = buf.getvalue()
    assert images.kind(heic) == "HEIF"
    shown, ctype = images.for_display(heic, "heic-test")
    assert ctype == "image/jpeg" and Image.open(io.BytesIO(shown)).size == (40, 30)
    thumb, _ = images.thumbnail(heic, "heic-test")
    assert Image.open(io.BytesIO(thumb)).format == "JPEG"
    assert images.for_display(b"GIF89a-but-broken", "x") is None


# -- actions ----------------------------------------------------------------------------

def test_note_assign_take_and_link(store):
    c = client(store, "tri1")
    needs = [r["ref"] for r in cli_json(store[0], "cases", "list", "--status", "needs_info")][0]
    token = c.csrf(f"/cases/{needs}")
    assert c.post(f"/cases/{needs}/note", {"text": "checking <b>this</b>", "csrf_token": token})[0] == 303
    assert c.post(f"/cases/{needs}/assign", {"take": "1", "csrf_token": token})[0] == 303
    assert c.post(f"/cases/{needs}/link", {"account_id": "not a handle!", "csrf_token": token})[0] == 409
    assert c.post(f"/cases/{needs}/link", {"account_id": "@Found_Later", "csrf_token": token})[0] == 303
    data = case_json(store, needs)
    assert data["assignee"] == "tri1" and data["account_id"] == "found_later" and data["status"] == "open"
    assert [(a["actor"], a["action"]) for a in data["audit"]] == [("tri1", "note"), ("tri1", "claim"),
                                                                   ("tri1", "link")]
    _, _, page = c.get(f"/cases/{needs}")
    assert b"checking &lt;b&gt;this&lt;/b&gt;" in page
    assert c.post("/cases/OB-999999/note", {"text": "x", "csrf_token": token})[0] == 404


def test_decide_records_the_logged_in_user_and_queues_outcome_emails(store):
    c = client(store, "tri1")
    ref = ref_of(store, "cantik_vulgar")
    token = c.csrf(f"/cases/{ref}")
    assert c.post(f"/cases/{ref}/decide", {"violation": "bogus", "csrf_token": token})[0] == 400
    status, headers, _ = c.post(f"/cases/{ref}/decide", {"violation": "sexual_content", "severity": "",
                                                         "note": "profile photo", "csrf_token": token})
    assert status == 303 and headers["Location"].startswith(f"/cases/{ref}")
    data = case_json(store, ref)
    assert data["decided_by"] == "tri1" and data["decision"] == "violation" and data["status"] == "decided"
    assert data["sanctions"][0]["decided_by"] == "tri1" and data["sanctions"][0]["rule"] == "medium #1 -> restrict 7 days"
    outbox = cli_json(store[0], "outbox", "list")
    assert any(o["kind"] == "outcome_actioned" and o["to"] == "eka@example.com" and o["status"] == "pending" for o in outbox)
    # A second decision is refused with the library's reason, and changes nothing.
    status, _, body = c.post(f"/cases/{ref}/decide", {"violation": "none", "csrf_token": token})
    assert status == 409 and b"already decided" in body
    assert case_json(store, ref)["decision"] == "violation"


def test_a_decision_and_a_revocation_in_the_browser_reach_the_enforcement_command(tmp_path: Path):
    # As after the CLI's decide / sanctions revoke: the command hears of it at once,
    # not at the next poll.
    import sys
    calls = tmp_path / "calls.jsonl"
    script = tmp_path / "enforce.py"
    script.write_text(f"import sys\nopen({str(calls)!r}, 'a').write(sys.stdin.read().strip() + '\\n')\n")
    cfg = build_store(tmp_path, replace={"command = []": f"command = ['{sys.executable}', '{script}']"})
    settings = config.load(cfg)
    add_users(settings)
    server = Server(settings)
    try:
        s = (cfg, settings, server)
        ref = ref_of(s, "cantik_vulgar")
        c = client(s, "tri1")
        assert c.post(f"/cases/{ref}/decide", {"violation": "sexual_content", "note": "nude profile photo",
                                              "csrf_token": c.csrf(f"/cases/{ref}")})[0] == 303
        [sent] = [json.loads(line) for line in calls.read_text().splitlines()]
        assert sent["account_id"] == "cantik_vulgar" and sent["action"] == "restrict"
        sanction = case_json(s, ref)["sanctions"][0]
        assert sanction["enforcement_status"] == "done"
        lead = client(s, "lead1")
        assert lead.post(f"/cases/{ref}/revoke", {"sanction_id": sanction["id"], "note": "mistake",
                                                  "csrf_token": lead.csrf(f"/cases/{ref}")})[0] == 303
        lines = [json.loads(line) for line in calls.read_text().splitlines()]
        assert len(lines) == 2 and lines[1]["account_id"] == "cantik_vulgar"
        assert lines[1] != lines[0]  # the revocation, not the sanction again
    finally:
        server.close()


def test_only_a_lead_revokes_a_sanction(store):
    ref = ref_of(store, "cantik_vulgar")  # decided by tri1 in the test above
    sanction = case_json(store, ref)["sanctions"][0]
    tri = client(store, "tri1")
    _, _, page = tri.get(f"/cases/{ref}")
    assert b"/revoke" not in page
    assert tri.post(f"/cases/{ref}/revoke", {"sanction_id": sanction["id"], "note": "x",
                                             "csrf_token": tri.csrf()})[0] == 403
    lead = client(store, "lead1")
    token = lead.csrf(f"/cases/{ref}")
    assert lead.post(f"/cases/{ref}/revoke", {"sanction_id": sanction["id"], "note": "",
                                              "csrf_token": token})[0] == 409  # a note is required
    assert lead.post(f"/cases/{ref}/revoke", {"sanction_id": sanction["id"], "note": "appeal upheld",
                                              "csrf_token": token})[0] == 303
    after = case_json(store, ref)
    assert after["sanctions"][0]["revoked"] and after["sanctions"][0]["revoked_by"] == "lead1"
    assert after["audit"][-1]["actor"] == "lead1" and after["audit"][-1]["action"] == "revoke_sanction"


def test_stats_dashboard(store):
    c = client(store, "view1")
    status, _, body = c.get("/stats")
    text = body.decode()
    assert status == 200 and text.count("<svg") == 3
    assert re.search(r'id="open-table".*?<td>critical</td>(<td>\d+</td>)+', text, re.S)
    assert "quarantined messages" in text and "90th percentile" in text
    # The numbers beside the charts: every report of the last 30 days, one decision so far.
    per_day = text[text.index("<th>Day</th>"):text.index('id="open-table"')]
    assert sum(int(n) for n in re.findall(r"<td>(\d+)</td>", per_day)) == 6
    assert re.search(r"<th>Decided</th><td>1</td>", text)
    waiting = len(cli_json(store[0], "cases", "list", "--status", "open")) + \
        len(cli_json(store[0], "cases", "list", "--status", "needs_info"))
    table = text[text.index('id="open-table"'):text.index('id="delay-table"')]
    totals = re.findall(r"<td>(?:critical|high|medium|low)</td>(?:<td>\d+</td>)*?<td>(\d+)</td></tr>", table)
    assert sum(map(int, totals)) == waiting


def test_served_under_a_path_prefix_behind_a_proxy(store):
    """base_url with a path: every link, form and cookie carries the prefix; with trusted_proxies
    the client address and scheme come from the proxy's headers (https: the cookie is Secure)."""
    import dataclasses
    settings = store[1]
    web = dataclasses.replace(settings.web, base_url="https://abuse.example.org/console", trusted_proxies=1)
    server = Server(dataclasses.replace(settings, web=web))
    try:
        c = Client(server.url.removesuffix("/console"))
        status, headers, _ = c.get("/console/")
        assert status == 302 and headers["Location"].startswith("/console/login")
        _, headers, body = c.get("/console/login")
        login_cookie = headers["Set-Cookie"]
        assert "Secure" in login_cookie and "Path=/console" in login_cookie
        assert b'action="/console/login"' in body and b'href="/console/static/console.css"' in body
        token = re.search(rb'name="login_token" value="([^"]+)"', body).group(1).decode()
        status, headers, _ = c.request("POST", "/console/login", {
            "username": "view1", "password": PASSWORDS["view1"], "login_token": token, "next": "/console/"},
            # The login cookie is Secure (https base_url), so this plain-http client sends it by hand.
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7",
                     "Cookie": login_cookie.split(";")[0]})
        assert status == 302 and headers["Location"] == "/console/"
        assert "Path=/console" in headers["Set-Cookie"] and "Secure" in headers["Set-Cookie"]
    finally:
        server.close()
    db = open_db(settings.database_path)
    try:
        assert db.execute("SELECT address FROM login_attempts ORDER BY id DESC LIMIT 1").fetchone()[0] == \
            "198.51.100.7"
    finally:
        db.conn.close()


def test_web_command_serves_the_console_and_creates_the_secret_key(tmp_path: Path):
    """`abuse-intake web --listen HOST:PORT` as a real process."""
    import os
    import socket
    import stat
    import subprocess
    import sys
    import time
    from helpers import write_config
    cfg = write_config(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bad = subprocess.run([sys.executable, "-m", "abuse_intake", "--config", str(cfg), "web", "--listen", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr
    proc = subprocess.Popen([sys.executable, "-m", "abuse_intake", "--config", str(cfg), "web",
                             "--listen", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as resp:
                    assert resp.status == 200 and b'name="username"' in resp.read()
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the console did not start"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    key = config.load(cfg).web.secret_key_file
    assert key.exists() and stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_lifecycle_from_the_case_page_cancel_email_reopen_measure_take_over(store):
    """Issue 12's library actions through the console (after the dashboard test: this reopens a case)."""
    tri, lead = client(store, "tri1"), client(store, "lead1")
    ref = ref_of(store, "cantik_vulgar")  # decided by tri1 above; its outcome email still waits
    waiting = [o for o in cli_json(store[0], "outbox", "list") if ref in o["case_refs"] and o["status"] == "pending"]
    assert waiting
    token = tri.csrf(f"/cases/{ref}")
    _, _, page = tri.get(f"/cases/{ref}")
    assert f'/cases/{ref}/emails/{waiting[0]["id"]}/cancel'.encode() in page and b"/reopen" not in page
    assert tri.post(f"/cases/{ref}/emails/{waiting[0]['id']}/cancel", {"note": "wrong reporter",
                                                                        "csrf_token": token})[0] == 303
    assert [o["status"] for o in cli_json(store[0], "outbox", "list") if o["id"] == waiting[0]["id"]] == ["cancelled"]
    # Reopening is a lead's: a triager is refused, a lead reopens with a reason.
    assert tri.post(f"/cases/{ref}/reopen", {"note": "mistake", "csrf_token": token})[0] == 403
    lead_token = lead.csrf(f"/cases/{ref}")
    assert lead.post(f"/cases/{ref}/reopen", {"note": "mistake", "csrf_token": lead_token})[0] == 303
    shown = case_json(store, ref)
    assert shown["status"] == "open"
    assert [(a["actor"], a["action"]) for a in shown["audit"]][-2:] == [("tri1", "cancel_email"), ("lead1", "reopen")]
    # The measure can be chosen: a low "other" case banned, with the reason recorded.
    hostile = ref_of(store, "hostile_acc")
    assert tri.post(f"/cases/{hostile}/decide", {"violation": "other", "measure": "ban", "reason": "spam bot",
                                                 "csrf_token": token})[0] == 303
    assert case_json(store, hostile)["sanctions"][0]["action"] == "ban"
    assert tri.post(f"/cases/{ref}/decide", {"violation": "sexual_content", "measure": "restrict", "days": "x",
                                             "csrf_token": token})[0] == 409
    # Taking a case someone else holds: refused for a triager, a lead takes it over.
    trafo = ref_of(store, "trafo_acc")
    assert lead.post(f"/cases/{trafo}/assign", {"take": "1", "csrf_token": lead_token})[0] == 303
    status, _, body = tri.post(f"/cases/{trafo}/assign", {"take": "1", "csrf_token": token})
    assert status == 409 and b"held by lead1" in body
    assert tri.post(f"/cases/{ref}/assign", {"take": "1", "csrf_token": token})[0] == 303
    assert lead.post(f"/cases/{ref}/assign", {"take": "1", "csrf_token": lead_token})[0] == 303
    last = case_json(store, ref)["audit"][-1]
    assert case_json(store, ref)["assignee"] == "lead1" and last["action"] == "claim" and last["detail"]["forced"]


def test_bulk_decision_from_the_queue_is_a_leads(store):
    tri, lead = client(store, "tri1"), client(store, "lead1")
    assert b'name="ref"' not in tri.get("/")[2]
    target = [c["ref"] for c in cli_json(store[0], "cases", "list", "--status", "open")][-1]
    assert tri.post("/bulk/decide", {"ref": target, "violation": "none", "csrf_token": tri.csrf()})[0] == 403
    assert case_json(store, target)["status"] == "open"
    assert b'name="ref"' in lead.get("/")[2]
    fields = [("ref", target), ("ref", "OB-999999"), ("violation", "none"), ("note", "bogus reports"),
              ("csrf_token", lead.csrf())]
    req = urllib.request.Request(lead.base + "/bulk/decide", data=urllib.parse.urlencode(fields).encode())
    with lead.opener.open(req, timeout=20) as resp:
        page = resp.read().decode()
    assert resp.status == 200 and "no case OB-999999" in page  # one refused, the other decided
    assert re.search(rf"{target}</a></td>\s*<td class=\"done\">decided", page)
    shown = case_json(store, target)
    assert shown["decision"] == "no_violation" and shown["decided_by"] == "lead1"
