"""Settings and case rows for the triage tests, inserted with plain SQL so these
tests do not depend on the intake pipeline."""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from pathlib import Path
from typing import Any

from abuse_intake import config
from abuse_intake.config import SEVERITY_RANK

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"
_counter = itertools.count(1)


def example_settings(base: Path | None = None, **sections: dict[str, Any]) -> config.Settings:
    """config.example.toml with its relative paths under `base`; `sections` replace keys per section."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config.from_dict(data, base=base or REPO)


def add_case(db, *, account_id: str | None, reporters: list[tuple[str, str]] = (("ana@example.com", "id"),),
             category: str = "prostitution", severity: str = "high", status: str | None = None,
             at: str = "2024-06-01T10:00:00Z", prefix: str = "OB") -> dict:
    """A case with one report per (reporter, language), like the pipeline leaves it."""
    status = status or ("open" if account_id else "needs_info")
    cur = db.execute(
        "INSERT INTO cases (ref, account_id, status, category, severity, severity_rank, opened_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?)",
        (f"tmp-{next(_counter)}", account_id, status, category, severity, SEVERITY_RANK[severity], at, at))
    case_id = cur.lastrowid
    ref = f"{prefix}-{case_id:06d}"
    db.execute("UPDATE cases SET ref = ? WHERE id = ?", (ref, case_id))
    for reporter, language in reporters:
        add_report(db, case_id=case_id, reporter=reporter, language=language, account_id=account_id,
                   category=category, severity=severity, at=at)
    return {"id": case_id, "ref": ref}


def add_report(db, *, case_id: int, reporter: str, language: str = "en", account_id: str | None,
               category: str = "prostitution", severity: str = "high", at: str = "2024-06-01T10:00:00Z",
               text: str = "Akun ini open BO, tolong ditindak.") -> int:
    n = next(_counter)
    mid = f"r{n}@example.com"
    cur = db.execute(
        "INSERT INTO messages (message_id, raw_sha256, size, mailbox, received_at, from_address, reporter, "
        "subject, language, kind, text, stored_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (mid, hashlib.sha256(mid.encode()).hexdigest(), 100, "test", at, reporter, reporter,
         "Laporan akun", language, "report", text, at))
    msg = cur.lastrowid
    cur = db.execute(
        "INSERT INTO reports (message_id, reporter, received_at, language, category, severity, account_ids, "
        "matched_words, text_fingerprint) VALUES (?,?,?,?,?,?,?,?,?)",
        (msg, reporter, at, language, category, severity, json.dumps([account_id] if account_id else []),
         "[]", text.lower()))
    report = cur.lastrowid
    db.execute("INSERT INTO case_reports (case_id, report_id, added_at) VALUES (?,?,?)", (case_id, report, at))
    db.execute("INSERT OR IGNORE INTO case_reporters (case_id, reporter, language, message_id, added_at) "
               "VALUES (?,?,?,?,?)", (case_id, reporter, language, mid, at))
    db.execute("UPDATE cases SET reports = (SELECT COUNT(*) FROM case_reports WHERE case_id = ?), "
               "reporters = (SELECT COUNT(*) FROM case_reporters WHERE case_id = ?) WHERE id = ?",
               (case_id, case_id, case_id))
    return report


def rows(db, sql: str, params: tuple = ()) -> list[dict]:
    cur = db.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
