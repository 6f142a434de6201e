"""Small builders shared by tests: emails, the one config builder, rows put
straight into a store (plain SQL, so a test need not go through the pipeline),
running the CLI in a subprocess or in-process.

conftest.py turns these into fixtures; notify_fixtures.py and
triage_fixtures.py keep the names their tests import, on top of these.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from itertools import count
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"
_seq = count(1)


def email(*, sender="andi.wijaya@gmail.com", name="Andi Wijaya", subject="Laporan akun",
          body="Saya melaporkan akun @dewi_manja88 yang menawarkan open BO.",
          message_id: str | None = "auto", date: datetime | None = None, headers: dict | None = None) -> bytes:
    n = next(_seq)
    date = date or datetime(2026, 11, 2, 8, 0, n % 60, tzinfo=timezone.utc)
    lines = [f"From: {name} <{sender}>" if sender else None, "To: support@obrolan.example",
             f"Subject: {subject}", f"Date: {format_datetime(date)}"]
    if message_id == "auto":
        message_id = f"test-{n}-{os.getpid()}@example.test"
    if message_id:
        lines.append(f"Message-ID: <{message_id}>")
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    lines += ["MIME-Version: 1.0", 'Content-Type: text/plain; charset="utf-8"',
              "Content-Transfer-Encoding: 8bit", "", body, ""]
    return "\r\n".join(l for l in lines if l is not None).encode("utf-8")


def config_text(tmp: Path | None, *, mailbox_url: str | None = None, outgoing_url: str | None = None,
                replace: dict | None = None, extra: str = "") -> str:
    """The one config builder: config.example.toml with its paths moved into tmp
    (the store tmp/db.sqlite, the mailbox tmp/mailbox, sent mail tmp/sent),
    `replace` applied to its text (it must match) and `extra` appended.
    tmp=None keeps the example's own paths."""
    text = EXAMPLE.read_text(encoding="utf-8")
    if tmp is not None:
        text = text.replace('path = "data/abuse-intake.db"', f'path = "{tmp}/db.sqlite"')
        text = text.replace('url = "dir:data/sent"', f'url = "{outgoing_url or f"dir:{tmp}/sent"}"')
        text = text.replace('url = "maildir:examples/mailbox"', f'url = "{mailbox_url or f"maildir:{tmp}/mailbox"}"')
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return text + "\n" + extra


def write_config(tmp: Path, *, mailbox_url: str | None = None, outgoing_url: str | None = None,
                 extra: str = "", replace: dict | None = None) -> Path:
    """config_text written to tmp/config.toml (what the CLI reads)."""
    path = tmp / "config.toml"
    path.write_text(config_text(tmp, mailbox_url=mailbox_url, outgoing_url=outgoing_url, replace=replace,
                                extra=extra))
    return path


def make_settings(tmp: Path | None = None, *, mailbox_url: str | None = None, outgoing_url: str | None = None,
                  **sections: dict[str, Any]):
    """config_text read into Settings without a file; `sections` replace keys per section."""
    from abuse_intake import config

    data = tomllib.loads(config_text(tmp, mailbox_url=mailbox_url, outgoing_url=outgoing_url))
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config.from_dict(data, base=tmp or REPO)


def make_maildir(root: Path, messages: list[bytes]) -> Path:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(messages):
        (root / "new" / f"{1780000000 + next(_seq):012d}.M{i}.test").write_bytes(data)
    return root


def cli(config: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "abuse_intake", "--config", str(config), *args],
                          capture_output=True, text=True, env=full_env, timeout=timeout)


def cli_json(config: Path, *args: str, env: dict | None = None):
    proc = cli(config, *args, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@dataclass
class Ran:
    """What a CLI run left: like subprocess.CompletedProcess, for in-process runs."""
    returncode: int
    stdout: str
    stderr: str


class _Main:
    """Lets click's CliRunner run abuse_intake.cli.main (its error mapping and exit codes included)."""
    name = "abuse-intake"

    def main(self, args, prog_name=None, **_):
        from abuse_intake.cli import main
        main(list(args))


def run(config: Path, *args: str, env: dict | None = None) -> Ran:
    """The CLI in this process through CliRunner: for tests that need no real
    process boundary (exit codes of a real process, locks and signals use cli())."""
    from click.testing import CliRunner

    result = CliRunner().invoke(_Main(), ["--config", str(config), *args], env=env, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


def run_json(config: Path, *args: str, env: dict | None = None):
    ran = run(config, *args, "--json", env=env)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


# -- rows, straight into a store ----------------------------------------------

def add_message(db, *, reporter: str | None = "ana@example.com", from_name: str | None = "Ana",
                subject: str | None = "Laporan akun", message_id: str | None = None, language: str | None = "id",
                kind: str = "report", text: str | None = None, at: str = "2026-04-20T00:00:00Z",
                reason: str | None = None) -> tuple[int, str]:
    """A stored message row; returns (row id, its Message-ID)."""
    n = next(_seq)
    message_id = message_id or f"reporter-{n}@mail.example.com"
    cur = db.execute(
        "INSERT INTO messages (message_id, raw_sha256, size, mailbox, received_at, from_address, from_name, "
        "reporter, subject, language, kind, reason, text, stored_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (message_id, hashlib.sha256(f"raw-{n}-{message_id}".encode()).hexdigest(), 100, "test", at,
         reporter, from_name, reporter, subject, language, kind, reason, text, at))
    return cur.lastrowid, message_id


def add_case(db, *, account_id: str | None, reporters=(), category: str = "prostitution", severity: str = "high",
             status: str | None = None, at: str = "2026-04-20T00:00:00Z", prefix: str = "OB") -> dict:
    """A case with one report per (reporter, language) in `reporters`, like the pipeline leaves it."""
    from abuse_intake.config import SEVERITY_RANK

    status = status or ("open" if account_id else "needs_info")
    cur = db.execute(
        "INSERT INTO cases (ref, account_id, status, category, severity, severity_rank, opened_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?)",
        (f"tmp-{next(_seq)}", account_id, status, category, severity, SEVERITY_RANK[severity], at, at))
    case_id = cur.lastrowid
    ref = f"{prefix}-{case_id:06d}"
    db.execute("UPDATE cases SET ref = ? WHERE id = ?", (ref, case_id))
    for reporter, language in reporters:
        add_report(db, case_id=case_id, reporter=reporter, language=language, account_id=account_id,
                   category=category, severity=severity, at=at)
    return {"id": case_id, "ref": ref, "account_id": account_id, "status": status}


def add_report(db, *, case_id: int, reporter: str, language: str = "en", account_id: str | None,
               category: str = "prostitution", severity: str = "high", at: str = "2024-06-01T10:00:00Z",
               text: str = "Akun ini open BO, tolong ditindak.") -> int:
    """A report (and its message) joined to a case, whose counts follow."""
    msg, mid = add_message(db, reporter=reporter, from_name=None, language=language, text=text, at=at,
                           message_id=f"r{next(_seq)}@example.com")
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


def add_reporter(db, case_id: int, reporter: str, language: str | None, message_id: str | None) -> None:
    db.execute("INSERT INTO case_reporters (case_id, reporter, language, message_id, added_at) "
               "VALUES (?,?,?,?,?)", (case_id, reporter, language, message_id, "2026-04-20T00:00:00Z"))


def decide(db, case_id: int, decision: str, category: str | None = None) -> None:
    db.execute("UPDATE cases SET status = 'decided', decision = ?, decision_category = ?, "
               "decided_at = '2026-04-21T00:00:00Z', decided_by = 'rina' WHERE id = ?",
               (decision, category, case_id))


def add_sanction(db, case_id: int, account_id: str, action: str, functions: list[str] = (),
                 until: str | None = None) -> None:
    db.execute(
        "INSERT INTO sanctions (account_id, case_id, action, functions, starts_at, until, category, severity, "
        "rule, violation_number, decided_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (account_id, case_id, action, json.dumps(list(functions)), "2026-04-21T00:00:00Z", until,
         "prostitution", "high", "high#1", 1, "rina", "2026-04-21T00:00:00Z"))


def rows(db, sql: str, params: tuple = ()) -> list[dict]:
    cur = db.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
