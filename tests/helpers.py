"""Small builders shared by tests: emails, configs, running the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from email.utils import format_datetime
from itertools import count
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
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


def write_config(tmp: Path, *, mailbox_url: str | None = None, outgoing_url: str | None = None,
                 extra: str = "", replace: dict | None = None) -> Path:
    """config.example.toml with paths moved into tmp and optional overrides."""
    text = (REPO / "config.example.toml").read_text()
    text = text.replace('path = "data/abuse-intake.db"', f'path = "{tmp}/db.sqlite"')
    text = text.replace('url = "dir:data/sent"', f'url = "{outgoing_url or f"dir:{tmp}/sent"}"')
    if mailbox_url:
        text = text.replace('url = "maildir:examples/mailbox"', f'url = "{mailbox_url}"')
    else:
        text = text.replace('url = "maildir:examples/mailbox"', f'url = "maildir:{tmp}/mailbox"')
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / "config.toml"
    path.write_text(text + "\n" + extra)
    return path


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
