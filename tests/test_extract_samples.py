"""extract() on every human-written sample: account IDs, category, language
as listed in the shared expectations."""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import json
import re
from html import unescape
from pathlib import Path

import pytest

from abuse_intake import config
from abuse_intake.extract import extract

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "samples"
KINDS = {"report", "resend", "duplicate", "hostile", "arf", "non_report"}
EXPECTATIONS = [e for e in json.loads((SAMPLES / "expectations.json").read_text(encoding="utf-8"))
                if e["kind"] in KINDS]


@pytest.fixture(scope="module")
def settings() -> config.Settings:
    return config.load(REPO / "config.example.toml")


# --- a plain stdlib reading of a message, independent of parse/ -------------

def _decode(part) -> str:
    raw = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def _html_to_text(html: str, links: list[str]) -> str:
    links.extend(unescape(h) for h in re.findall(r"""href\s*=\s*["']([^"']*)["']""", html, re.I))
    html = re.sub(r"(?is)<(style|script|head)\b.*?</\1\s*>", " ", html)
    html = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr)>", "\n", html)
    return unescape(re.sub(r"<[^>]+>", "", html))


def _walk(part, forwarded: bool, out: dict) -> None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        for inner in part.get_payload():
            _walk(inner, True, out)
    elif part.is_multipart():
        for inner in part.get_payload():
            _walk(inner, forwarded, out)
    elif ctype == "text/plain" and not part.get_filename():
        out["fwd" if forwarded else "plain"].append(_decode(part))
    elif ctype == "text/html" and not part.get_filename():
        out["fwd_html" if forwarded else "html"].append(_decode(part))


def read_sample(data: bytes) -> dict:
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    out: dict = {"plain": [], "html": [], "fwd": [], "fwd_html": []}
    _walk(msg, False, out)
    links: list[str] = []
    html_text = "\n".join(_html_to_text(h, links) for h in out["html"])
    text = "\n".join(out["plain"]) if out["plain"] else html_text
    fwd = "\n".join(out["fwd"]) if out["fwd"] else "\n".join(_html_to_text(h, []) for h in out["fwd_html"])
    subject = str(email.header.make_header(email.header.decode_header(msg.get("Subject", ""))))
    name, address = email.utils.parseaddr(msg.get("From", ""))
    return {"text": text, "links": links, "forwarded": fwd, "subject": subject,
            "address": address.lower() or None, "name": name}


@pytest.mark.parametrize("exp", EXPECTATIONS, ids=[e["file"] for e in EXPECTATIONS])
def test_sample(exp, settings):
    m = read_sample((SAMPLES / exp["file"]).read_bytes())
    got = extract(m["text"], m["links"], m["forwarded"], m["subject"], m["address"], m["name"], settings)
    assert sorted(got.account_ids) == sorted(exp["account_ids"])
    assert got.category == exp["category"]
    if exp["language"] is not None and exp["kind"] != "arf":
        assert got.language == exp["language"]


def test_every_human_sample_is_covered():
    assert len(EXPECTATIONS) >= 25
