"""Helpers for the crash, fault and concurrency suites (issue 5).

Two jobs:

1. Run as a script, it is the real CLI with one addition: it can *pause* the
   run at a named crash point (or before the Nth IMAP fetch) until the test
   says go, so a test can stop a server, start a second poll or decide a case
   at an exact moment of a real run. Nothing else is changed:

       ABUSE_INTAKE_TEST_PAUSE_AT=after_commit:1 ABUSE_INTAKE_TEST_PAUSE_DIR=/tmp/x \
           python tests/crash_harness.py --config c.toml poll

   `Paused` drives that from a test.

2. Read-only checks of what a run left on disk: the database's integrity,
   stored messages and their raw bytes, and the figures file that
   RELIABILITY.md quotes (written only when RELIABILITY_FIGURES names a path).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HARNESS = Path(__file__).resolve()
PAUSE_AT = "ABUSE_INTAKE_TEST_PAUSE_AT"
PAUSE_DIR = "ABUSE_INTAKE_TEST_PAUSE_DIR"
CRASH_AT = "ABUSE_INTAKE_CRASH_AT"
# Only a bound for a broken run, never part of an assertion about speed.
WAIT_LIMIT = 60.0


# -- 1. the pausing CLI ---------------------------------------------------------

def _install_pause() -> None:
    spec = os.environ.get(PAUSE_AT)
    if not spec:
        return
    where = Path(os.environ[PAUSE_DIR])
    name, _, nth = spec.partition(":")
    nth_hit = int(nth) if nth else 1
    hits = {"n": 0}

    def pause() -> None:
        (where / "paused").write_text(str(os.getpid()))
        deadline = time.monotonic() + WAIT_LIMIT
        while not (where / "resume").exists() and time.monotonic() < deadline:
            time.sleep(0.01)

    def counted() -> None:
        hits["n"] += 1
        if hits["n"] == nth_hit:
            pause()

    if name == "fetch":  # before the Nth batch is fetched from the IMAP server
        from abuse_intake.intake import imap

        original = imap.ImapSource.fetch_batch

        def fetch_batch(self, uids):
            counted()
            return original(self, uids)

        imap.ImapSource.fetch_batch = fetch_batch
        return

    from abuse_intake import crashpoints

    real_hit = crashpoints.hit

    def hit(point: str) -> None:
        if point == name:
            counted()
        real_hit(point)

    crashpoints.hit = hit


class Paused:
    """A CLI run that stops at `at` ("after_commit:1", "fetch:2", ...) until resume()."""

    def __init__(self, config: Path, *args: str, at: str, workdir: Path, env: dict | None = None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        for f in ("paused", "resume"):
            (self.dir / f).unlink(missing_ok=True)
        full_env = {**os.environ, **(env or {}), PAUSE_AT: at, PAUSE_DIR: str(self.dir)}
        self.proc = subprocess.Popen([sys.executable, str(HARNESS), "--config", str(config), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)

    def wait_paused(self) -> None:
        deadline = time.monotonic() + WAIT_LIMIT
        while not (self.dir / "paused").exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"run ended ({self.proc.returncode}) before its pause point: {err}{out}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError("run never reached its pause point")
            time.sleep(0.01)

    def resume(self) -> subprocess.CompletedProcess:
        (self.dir / "resume").write_text("go")
        out, err = self.proc.communicate(timeout=WAIT_LIMIT * 2)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


# -- 2. what a run left behind -------------------------------------------------------

def connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(db_path), timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def rows(db_path: Path, sql: str, params: tuple = ()) -> list[dict]:
    conn = connect(db_path)
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def integrity_problems(db_path: Path) -> list[str]:
    """[] when PRAGMA integrity_check says ok and no foreign key dangles."""
    conn = connect(db_path)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
        problems += [f"foreign key: {tuple(r)}" for r in conn.execute("PRAGMA foreign_key_check").fetchall()]
        return problems
    finally:
        conn.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_bytes(db_path: Path, digest: str) -> bytes | None:
    found = rows(db_path, "SELECT data FROM raw_messages WHERE sha256 = ?", (digest,))
    return bytes(found[0]["data"]) if found else None


def missing_raw(db_path: Path) -> list[str]:
    """Stored messages whose raw bytes, or stored attachments whose contents, are
    missing or not what their hash says."""
    bad = []
    for row in rows(db_path, "SELECT m.id, m.raw_sha256, r.data FROM messages m "
                             "LEFT JOIN raw_messages r ON r.sha256 = m.raw_sha256"):
        if row["data"] is None or sha256(bytes(row["data"])) != row["raw_sha256"]:
            bad.append(f"message {row['id']}: raw bytes missing or altered")
    for row in rows(db_path, "SELECT a.message_id, a.sha256, c.data FROM attachments a "
                             "LEFT JOIN attachment_contents c ON c.sha256 = a.sha256 WHERE a.sha256 IS NOT NULL"):
        if row["data"] is None or sha256(bytes(row["data"])) != row["sha256"]:
            bad.append(f"message {row['message_id']}: attachment {row['sha256']} missing or altered")
    return bad


# What a store folder may hold: the database (+ WAL, lock), sent mail of the
# dir: transport, the test's config and mailbox. Anything else was written by
# intake where it must not write (a sender's file name used as a path).
_EXPECTED = re.compile(r"[^/]+\.(db|sqlite)(-wal|-shm|-journal|\.lock)?|config\.toml|(sent|mailbox)/.*")


def stray_files(root: Path) -> list[str]:
    root = Path(root)
    return sorted(rel for path in root.rglob("*")
                  if path.is_file() and not _EXPECTED.fullmatch(rel := path.relative_to(root).as_posix()))


def record_figures(**figures) -> None:
    """Merge figures into the JSON file named by RELIABILITY_FIGURES (if set)."""
    target = os.environ.get("RELIABILITY_FIGURES")
    if not target:
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:  # xdist workers may write together
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}
        data.update(figures)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    _install_pause()
    from abuse_intake.cli import main

    main(sys.argv[1:])
