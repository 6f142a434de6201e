"""A throwaway Dovecot on loopback for the benchmark (config as in shared/NOTES.md).

tests/support/dovecot.py is a pytest fixture (it fails tests through
pytest.fail); the benchmark needs the same server without pytest, plus a fast
way to load thousands of messages: files are copied straight into the
user's Maildir before the first login, which Dovecot indexes on SELECT.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

# One Dovecot configuration for tests and benchmark (the tests' module imports
# pytest, which `make bench` installs too).
from tests.support.dovecot import _CONF, _run_as, free_port

USER = "support@obrolan.example"
PASSWORD_ENV = "ABUSE_INTAKE_BENCH_IMAP_PW"



class BenchError(RuntimeError):
    """The benchmark's own setup failed (no Dovecot, a child crashed)."""


def _binary(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
    if path is None:
        raise BenchError(f"{name} is not installed: run `make test-deps` (apt-get install dovecot-imapd)")
    return path


class Dovecot:
    host = "127.0.0.1"
    user = USER

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.password = "pw-" + secrets.token_hex(8)
        self.home = root / "home" / USER
        self.conf = root / "dovecot.conf"
        self._proc: subprocess.Popen | None = None
        user, group, self.uid, self.gid = _run_as()
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)  # workers run as nobody and must reach the home
        for d in ("run", "state", "home"):
            (root / d).mkdir(mode=0o755, exist_ok=True)
        self.home.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.home, self.uid, self.gid)
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{self.password}:{self.uid}:{self.gid}::{self.home}\n")
        self.conf.write_text(_CONF.format(root=root, user=user, group=group, port=self.port,
                                          ssl="ssl = no", tls_port=0))

    @property
    def url(self) -> str:
        return f"imap://{USER.replace('@', '%40')}@{self.host}:{self.port}/INBOX"

    def load_maildir(self, files: list[Path]) -> None:
        """Copy messages into INBOX in order (before start: Dovecot indexes them on SELECT)."""
        maildir = self.home / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        for d in (maildir, *(maildir / s for s in ("cur", "new", "tmp"))):
            os.chown(d, self.uid, self.gid)
        for k, src in enumerate(files):
            dst = maildir / "cur" / f"{1_780_000_000 + k}.M{k}P1.bench:2,"
            shutil.copyfile(src, dst)
            os.chown(dst, self.uid, self.gid)

    def start(self, limit: float = 15.0) -> None:
        self._proc = subprocess.Popen([_binary("dovecot"), "-F", "-c", str(self.conf)],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + limit
        while not self._greets():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"dovecot did not start; see {self.root / 'dovecot.log'}")
            time.sleep(0.02)

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                return s.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def client(self):
        from imapclient import IMAPClient
        c = IMAPClient(self.host, port=self.port, ssl=False, timeout=60)
        c.login(USER, self.password)
        return c

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # workers that outlived the master
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def __enter__(self) -> "Dovecot":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
