"""The appeals queue and page of the web console (issue 14.1): lead role only,
over a real waitress server, on a store made by the real poll."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from abuse_intake import config
from helpers import cli, email, make_maildir
from test_web_app import client, cli_json, ref_of
from web_support import Server, add_users, build_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webappeals")
    cfg = build_store(tmp)
    settings = config.load(cfg)
    add_users(settings)
    ref = ref_of((cfg,), "cantik_vulgar")
    assert cli(cfg, "decide", ref, "--violation", "sexual_content", "--by", "tri1").returncode == 0
    make_maildir(tmp / "mailbox", [email(
        sender="owner@example.com", subject="Banding, akun saya dibatasi",
        body="Akun saya cantik_vulgar dibatasi, itu foto kebaya biasa. Mohon ditinjau kembali.",
        date=datetime.now(timezone.utc).replace(microsecond=0))])
    assert cli(cfg, "poll").returncode == 0
    server = Server(settings)
    yield cfg, settings, server
    server.close()


def test_only_a_lead_sees_and_decides_appeals(store):
    cfg = store[0]
    [a] = cli_json(cfg, "appeals", "list")
    tri = client(store, "tri1")
    assert tri.get("/appeals")[0] == 403 and tri.get(f"/appeals/{a['id']}")[0] == 403
    assert b'href="/appeals"' not in tri.get("/")[2]
    lead = client(store, "lead1")
    status, _, body = lead.get("/appeals")
    assert status == 200 and f'href="/appeals/{a["id"]}"'.encode() in body and b"cantik_vulgar" in body
    assert b'href="/appeals"' in lead.get("/")[2]
    status, _, page = lead.get(f"/appeals/{a['id']}")
    assert status == 200 and b"foto kebaya biasa" in page and b"decided by tri1" in page
    token = lead.csrf(f"/appeals/{a['id']}")
    assert tri.post(f"/appeals/{a['id']}/decide", {"outcome": "overturn", "note": "x",
                                                   "csrf_token": tri.csrf()})[0] == 403
    assert lead.post(f"/appeals/{a['id']}/decide", {"outcome": "overturn", "note": "",
                                                    "csrf_token": token})[0] == 409  # a reason is required
    assert lead.post(f"/appeals/{a['id']}/decide", {"outcome": "overturn", "note": "kebaya, not nudity",
                                                    "csrf_token": token})[0] == 303
    [done] = cli_json(cfg, "appeals", "list", "--status", "overturned")
    assert (done["id"], done["decided_by"]) == (a["id"], "lead1")
    assert cli_json(cfg, "accounts", "show", "cantik_vulgar")["status"] == "active"
    status, _, page = lead.get(f"/appeals/{a['id']}")
    assert b"overturned by lead1" in page and b"Decide appeal" not in page
