"""Shared fixtures. Real servers live in tests/support/ (one module per server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.dovecot import *  # noqa: F401,F403  (dovecot fixtures)
from support.smtp import *  # noqa: F401,F403  (aiosmtpd fixtures)
from support.oauth2 import *  # noqa: F401,F403  (a local OAuth2 server)

REPO = Path(__file__).resolve().parent.parent
# CI lays shared/ beside the clone; a developer's checkout has it at the same place.
SAMPLES_DIR = REPO.parent / "shared" / "samples"


@pytest.fixture
def samples_dir() -> Path:
    assert SAMPLES_DIR.is_dir(), f"shared samples missing at {SAMPLES_DIR}"
    return SAMPLES_DIR


# -- the one config builder and the one seeded store (tests/helpers.py has the builders) --

@pytest.fixture
def make_config(tmp_path):
    """Build config files under tmp_path: make_config(**kw) -> Path, the keywords of
    helpers.write_config (mailbox_url, outgoing_url, replace, extra)."""
    from helpers import write_config

    return lambda **kw: write_config(tmp_path, **kw)


class SeededStore:
    """A real SQLite store under tmp_path with a small history put in by plain SQL
    (no pipeline), its config file, its settings and an open connection.

    The history (`self.seed`): on account dewi_manja88 a decided case (a
    restriction in force) and a later open one with two reporters; an open
    critical case on germo_jkt; an open low one on spam.bot_01; a needs_info
    case; messages of other kinds (a robot, a non-report) beside the reports;
    and an outbox email for each case reporter.
    """

    def __init__(self, tmp_path):
        from abuse_intake import config
        from abuse_intake.store.db import open_db, transaction
        from helpers import write_config

        self.config = write_config(tmp_path)
        self.settings = config.load(self.config)
        self.db = open_db(self.settings.database_path)
        self.transaction = lambda: transaction(self.db)
        with self.transaction():
            self.seed = self._seed()

    def add_case(self, **spec) -> dict:
        """helpers.add_case in a transaction (reporters=[(address, language), ...] adds reports)."""
        from helpers import add_case

        with self.transaction():
            return add_case(self.db, **spec)

    def _seed(self) -> dict:
        from helpers import add_case, add_message, add_sanction, decide

        db = self.db
        old = add_case(db, account_id="dewi_manja88", reporters=[("ana@example.com", "id")],
                       at="2026-03-01T10:00:00Z")
        decide(db, old["id"], "violation", "prostitution")
        add_sanction(db, old["id"], "dewi_manja88", "restrict", ["post_status"], until="2999-01-01T00:00:00Z")
        new = add_case(db, account_id="dewi_manja88", reporters=[("bob@example.com", "en"), ("cici@example.com", "id")],
                       at="2026-04-02T10:00:00Z")
        critical = add_case(db, account_id="germo_jkt", category="human_trafficking", severity="critical",
                            reporters=[("dian@example.com", "id")], at="2026-04-03T10:00:00Z")
        low = add_case(db, account_id="spam.bot_01", category="other", severity="low",
                       reporters=[("eko@example.com", "en")], at="2026-04-01T10:00:00Z")
        needs = add_case(db, account_id=None, reporters=[("fajar@example.com", "id")], at="2026-04-04T10:00:00Z")
        robot, _ = add_message(db, reporter=None, kind="robot", reason="auto_reply: Auto-Submitted: auto-replied",
                               subject="Out of office", at="2026-04-02T11:00:00Z")
        question, _ = add_message(db, kind="non_report", reason="no account ID and no abuse words",
                                  subject="lupa password", at="2026-04-05T09:00:00Z")
        emails = []
        for case in (old, new, critical, low, needs):
            for (reporter,) in db.execute("SELECT reporter FROM case_reporters WHERE case_id = ? ORDER BY reporter",
                                          (case["id"],)).fetchall():
                n = len(emails) + 1
                emails.append(db.execute(
                    "INSERT INTO outbox (kind, recipient, language, subject, body_text, body_html, message_id, "
                    "refs, case_refs, dedupe_key, status, created_at, sent_at) "
                    "VALUES ('ack',?,'en',?,'text','<p>html</p>',?,'[]',?,?,?,?,?)",
                    (reporter, f"[{case['ref']}] received", f"ours-{n}@obrolan.example", json.dumps([case["ref"]]),
                     f"ack:{case['id']}:{reporter}", "sent" if n % 2 else "pending", f"2026-04-{n:02d}T12:00:00Z",
                     f"2026-04-{n:02d}T12:01:00Z" if n % 2 else None)).lastrowid)
        return {"old": old, "new": new, "critical": critical, "low": low, "needs_info": needs,
                "robot": robot, "non_report": question, "emails": emails}

    def close(self) -> None:
        self.db.conn.close()


@pytest.fixture
def seeded_store(tmp_path):
    """The one seeded-database fixture: see SeededStore."""
    store = SeededStore(tmp_path)
    yield store
    store.close()
