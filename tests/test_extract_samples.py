"""extract() on every human-written sample, read by parse.message exactly as
the pipeline reads it: account IDs, category, language as listed in the
shared expectations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abuse_intake import config
from abuse_intake.extract import extract
from abuse_intake.parse.message import parse_message

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "samples"
# Robots (auto_reply, bounce, bulk, loop) never reach extract().
KINDS = {"report", "resend", "duplicate", "hostile", "arf", "non_report"}
EXPECTATIONS = [e for e in json.loads((SAMPLES / "expectations.json").read_text(encoding="utf-8"))
                if e["kind"] in KINDS]


@pytest.fixture(scope="module")
def settings() -> config.Settings:
    return config.load(REPO / "config.example.toml")


@pytest.mark.parametrize("exp", EXPECTATIONS, ids=[e["file"] for e in EXPECTATIONS])
def test_sample(exp, settings):
    m = parse_message((SAMPLES / exp["file"]).read_bytes(), settings.limits)
    got = extract(m.text, m.html_links, m.forwarded_text, m.subject, m.from_address, m.from_name, settings)
    assert sorted(got.account_ids) == sorted(exp["account_ids"])
    assert got.category == exp["category"]
    assert (got.severity is None) == (got.category is None)
    if got.category:
        assert got.severity == settings.severity_of(got.category)
    if exp["language"] is not None and exp["kind"] != "arf":
        assert got.language == exp["language"]


def test_every_human_sample_is_covered():
    assert len(EXPECTATIONS) >= 27
