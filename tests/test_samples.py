"""Every shared sample, in arrival order, against every field of expectations.json."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from abuse_intake import config
from abuse_intake.flow.process import process_one
from abuse_intake.models import RawMessage, Source
from abuse_intake.cases import views
from abuse_intake.store.db import open_db
from conftest import SAMPLES_DIR
from helpers import write_config

ROBOT_KINDS = {"auto_reply", "bounce", "bulk", "loop"}
ACK_KINDS = ("ack", "needs_info")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Process all samples once, in file order, into a fresh store."""
    assert SAMPLES_DIR.is_dir(), f"shared samples missing at {SAMPLES_DIR}"
    tmp = tmp_path_factory.mktemp("samples")
    settings = _settings(tmp)
    db = open_db(settings.database_path)
    expectations = json.loads((SAMPLES_DIR / "expectations.json").read_text())
    outcomes = {}
    for exp in expectations:
        data = (SAMPLES_DIR / exp["file"]).read_bytes()
        raw = RawMessage(data, Source("samples", key=exp["file"]), datetime(2026, 5, 1, tzinfo=timezone.utc))
        outcomes[exp["file"]] = process_one(db, settings, raw)
    return db, settings, expectations, outcomes


def _settings(tmp):
    settings = config.load(write_config(tmp))
    assert settings.database_path == tmp / "db.sqlite"
    return settings


def _ids():
    return [e["file"] for e in json.loads((SAMPLES_DIR / "expectations.json").read_text())]


def _row(db, message_row):
    cur = db.execute("SELECT * FROM messages WHERE id = ?", (message_row,))
    return dict(zip([d[0] for d in cur.description], cur.fetchone()))


def _file_of(outcomes, message_row):
    return next((f for f, o in outcomes.items() if o.message_row == message_row and o.stored), None)


@pytest.mark.parametrize("name", _ids())
def test_sample(run, name):
    db, _, expectations, outcomes = run
    exp = next(e for e in expectations if e["file"] == name)
    out = outcomes[name]
    kind = exp["kind"]
    row = _row(db, out.message_row)

    # kind
    if kind in ROBOT_KINDS:
        assert out.kind == "robot", (out.kind, out.reason)
        assert row["reason"].startswith(kind + ":"), row["reason"]
    elif kind == "arf":
        assert out.kind == "report" and "ARF" in row["reason"]
    elif kind == "hostile":
        assert out.kind == "report", (out.kind, out.reason)
    else:
        assert out.kind == kind, (out.kind, out.reason)

    # duplicate_of
    if exp["duplicate_of"]:
        assert _file_of(outcomes, out.duplicate_of) == exp["duplicate_of"]
    else:
        assert out.duplicate_of is None

    # reporter: the address any reply may go to
    assert row["reporter"] == exp["reporter"]

    # language of the sender's own words
    if exp["language"] is not None:
        assert row["language"] == exp["language"]
    elif kind in ROBOT_KINDS or kind == "arf":
        assert row["language"] is None

    # accounts and category, on the report the message made (or repeats)
    report_row = out.duplicate_of if kind in ("duplicate", "resend") else out.message_row
    report = db.execute("SELECT account_ids, category FROM reports WHERE message_id = ?",
                        (report_row,)).fetchone()
    if exp["category"] is None:
        assert report is None
        assert exp["account_ids"] == []
    else:
        assert report is not None
        assert sorted(json.loads(report[0])) == sorted(exp["account_ids"])
        assert report[1] == exp["category"]

    # acknowledgement: exactly one when expected, to the reporter only, none otherwise
    acks = db.execute(f"SELECT recipient FROM outbox WHERE source_message = ? AND kind IN {ACK_KINDS}",
                      (out.message_row,)).fetchall() if out.stored else []
    if exp["ack_expected"]:
        assert [r[0] for r in acks] == [exp["reporter"]]
    else:
        assert acks == []
    # nothing caused by this message goes anywhere but the reporter
    everything = db.execute("SELECT recipient FROM outbox WHERE source_message = ?",
                            (out.message_row,)).fetchall() if out.stored else []
    assert {r[0] for r in everything} <= ({exp["reporter"]} if exp["reporter"] else set())


def test_cases_group_by_account(run):
    """One open case per account; reporters of one account share it."""
    db, _, expectations, outcomes = run
    open_cases = [c.as_dict() for c in views.list_cases(db, status="all")]
    accounts = [c["account_id"] for c in open_cases if c["account_id"]]
    assert len(accounts) == len(set(accounts))
    expected_accounts = {a for e in expectations if e["kind"] in ("report", "hostile", "arf")
                         for a in e["account_ids"]}
    assert set(accounts) == expected_accounts
    sinta = next(c for c in open_cases if c["account_id"] == "sinta_bo.jkt")
    # 002, 010 and 013 report it; 004 is a resend of 002
    assert sinta["reporters"] == 3 and sinta["reports"] == 3
    mami = next(c for c in open_cases if c["account_id"] == "mami.rosa_vip")
    assert mami["severity"] == "critical"
    # the report without any account ID waits for one
    needs_info = [c for c in open_cases if c["status"] == "needs_info"]
    assert len(needs_info) == 1 and needs_info[0]["account_id"] is None


def test_attachment_names_are_never_paths(run):
    db, _, _, outcomes = run
    out = outcomes["016_attachment-path-traversal.eml"]
    rows = db.execute("SELECT filename, sha256 FROM attachments WHERE message_id = ?",
                      (out.message_row,)).fetchall()
    assert any(name and "passwd" in name for name, _ in rows)
    for _, digest in rows:
        assert digest is None or (len(digest) == 64 and all(c in "0123456789abcdef" for c in digest))


def test_rerun_adds_nothing(run):
    """Every sample read again (a re-delivery, a crashed run's re-scan) is a no-op."""
    db, settings, expectations, _ = run
    tables = ("messages", "reports", "cases", "outbox", "attachments")
    before = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables]
    for exp in expectations:
        data = (SAMPLES_DIR / exp["file"]).read_bytes()
        out = process_one(db, settings, RawMessage(data, Source("samples", key=exp["file"])))
        assert out.kind == "duplicate" and not out.stored
    after = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables]
    assert after == before
