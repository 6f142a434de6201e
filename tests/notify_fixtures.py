"""Settings and minimal rows (messages, cases, case_reporters, sanctions) for the
notify tests, inserted with plain SQL so they do not depend on the pipeline."""

from __future__ import annotations

import email
import hashlib
import itertools
import tomllib
from email import policy
from pathlib import Path
from typing import Any

from abuse_intake import config
from abuse_intake.config import SEVERITY_RANK
from abuse_intake.store.db import open_db

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"
_seq = itertools.count(1)


def settings_for(tmp: Path, outgoing_url: str | None = None, **sections: dict[str, Any]) -> config.Settings:
    """config.example.toml with its paths under tmp; `sections` replace keys per section."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["outgoing"]["url"] = outgoing_url or f"dir:{tmp}/sent"
    data["database"]["path"] = str(tmp / "db.sqlite")
    data["mailbox"]["url"] = f"maildir:{tmp}/mailbox"
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config.from_dict(data, base=tmp)


def db_for(settings: config.Settings):
    return open_db(settings.database_path)


def add_message(db, *, reporter: str | None = "ana@example.com", from_name: str | None = "Ana",
                subject: str | None = "Laporan akun", message_id: str | None = None,
                language: str | None = "id", kind: str = "report") -> tuple[int, str]:
    """A stored message row; returns (row id, its Message-ID)."""
    n = next(_seq)
    message_id = message_id or f"reporter-{n}@mail.example.com"
    cur = db.execute(
        "INSERT INTO messages (message_id, raw_sha256, size, mailbox, received_at, from_address, from_name, "
        "reporter, subject, language, kind, stored_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (message_id, hashlib.sha256(f"raw-{n}".encode()).hexdigest(), 100, "test", "2026-04-20T00:00:00Z",
         reporter, from_name, reporter, subject, language, kind, "2026-04-20T00:00:00Z"))
    return cur.lastrowid, message_id


def add_case(db, *, account_id: str | None, category: str = "prostitution", severity: str = "high",
             status: str | None = None) -> dict:
    status = status or ("open" if account_id else "needs_info")
    at = "2026-04-20T00:00:00Z"
    cur = db.execute(
        "INSERT INTO cases (ref, account_id, status, category, severity, severity_rank, opened_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?)",
        (f"tmp-{next(_seq)}", account_id, status, category, severity, SEVERITY_RANK[severity], at, at))
    case_id = cur.lastrowid
    ref = f"OB-{case_id:06d}"
    db.execute("UPDATE cases SET ref = ? WHERE id = ?", (ref, case_id))
    return {"id": case_id, "ref": ref, "account_id": account_id, "status": status}


def add_reporter(db, case_id: int, reporter: str, language: str | None, message_id: str | None) -> None:
    db.execute("INSERT INTO case_reporters (case_id, reporter, language, message_id, added_at) "
               "VALUES (?,?,?,?,?)", (case_id, reporter, language, message_id, "2026-04-20T00:00:00Z"))


def decide(db, case_id: int, decision: str, category: str | None = None) -> None:
    db.execute("UPDATE cases SET status = 'decided', decision = ?, decision_category = ?, "
               "decided_at = '2026-04-21T00:00:00Z', decided_by = 'rina' WHERE id = ?",
               (decision, category, case_id))


def add_sanction(db, case_id: int, account_id: str, action: str, functions: list[str] = (),
                 until: str | None = None) -> None:
    import json
    db.execute(
        "INSERT INTO sanctions (account_id, case_id, action, functions, starts_at, until, category, severity, "
        "rule, violation_number, decided_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (account_id, case_id, action, json.dumps(list(functions)), "2026-04-21T00:00:00Z", until,
         "prostitution", "high", "high#1", 1, "rina", "2026-04-21T00:00:00Z"))


def sample_subject_and_sender(path: Path) -> tuple[str, str, str, str]:
    """(subject, display name, address, Message-ID) of a sample, decoded by the stdlib."""
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    sender = msg["From"].addresses[0]
    return str(msg["Subject"]), sender.display_name, sender.addr_spec.lower(), str(msg["Message-ID"])
