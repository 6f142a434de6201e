"""A real, throwaway Dovecot IMAP server for tests (see shared/NOTES.md).

The `dovecot` fixture starts `dovecot -F` on a free loopback port with a
temporary config and home, and always kills the whole process group at
teardown. A missing Dovecot is a test failure, never a skip: the IMAP
behaviour is the point of these tests.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import pytest
from imapclient import IMAPClient

__all__ = ["DovecotServer", "dovecot", "dovecot_tls", "dovecot_oauth2", "free_port", "find_dovecot", "IMAP_USER", "IMAP_PASSWORD_ENV"]

IMAP_USER = "support@obrolan.example"
IMAP_PASSWORD_ENV = "ABUSE_INTAKE_TEST_IMAP_PW"
REPO = Path(__file__).resolve().parents[2]
# Startup takes ~0.1 s; this is only a bound for a broken install, not a timing assertion.
STARTUP_LIMIT = 15.0

_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login{mechanisms}
auth_failure_delay = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
namespace inbox {{
  inbox = yes
  mailbox Processed {{
    auto = create
  }}
}}
{oauth2_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def find_dovecot() -> tuple[str, str]:
    """Paths of dovecot and doveadm; /usr/sbin is often not on a user's PATH."""
    found = []
    for name in ("dovecot", "doveadm"):
        path = shutil.which(name) or next(
            (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
        if path is None:
            pytest.fail(f"{name} is not installed: run `make test` or `apt-get install dovecot-imapd` "
                        "(the IMAP tests need a real Dovecot and are never skipped)", pytrace=False)
        found.append(path)
    return found[0], found[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> tuple[str, str, int, int]:
    """Dovecot refuses to run its workers as root: use nobody/nogroup then."""
    if os.getuid() == 0:
        pw = pwd.getpwnam("nobody")
        try:
            gr = grp.getgrnam("nogroup")
        except KeyError:
            gr = grp.getgrgid(pw.pw_gid)
    else:
        pw = pwd.getpwuid(os.getuid())
        gr = grp.getgrgid(os.getgid())
    return pw.pw_name, gr.gr_name, pw.pw_uid, gr.gr_gid


class DovecotServer:
    """One Dovecot instance with one user; helpers talk real IMAP to it."""

    host = "127.0.0.1"
    user = IMAP_USER

    def __init__(self, root: Path, port: int | None = None, tls: bool = False, introspection_url: str = ""):
        self.dovecot_bin, self.doveadm_bin = find_dovecot()
        self.root = root
        self.port = port or free_port()
        self.password = "pw-" + secrets.token_hex(8)
        self.conf = root / "dovecot.conf"
        self.log = root / "dovecot.log"
        self.home = root / "home" / self.user
        self._proc: subprocess.Popen | None = None
        # tls: STARTTLS on `port`, implicit TLS on `tls_port`, a self-signed
        # certificate for 127.0.0.1 in `cert` (trust it with SSL_CERT_FILE).
        self.tls_port = free_port() if tls else 0
        self.cert = root / "cert.pem" if tls else None
        user, group, uid, gid = _run_as()
        for d in ("run", "state", "home"):
            (root / d).mkdir(mode=0o755, exist_ok=True)
        self.home.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.home, uid, gid)
        (root / "passwd").write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{uid}:{gid}::{self.home}\n")
        ssl_conf = "ssl = no"
        if tls:
            _self_signed(root / "cert.pem", root / "key.pem")
            ssl_conf = f"ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem"
        # introspection_url: XOAUTH2/OAUTHBEARER logins are checked there (shared/NOTES.md);
        # the password login stays for the test helpers.
        oauth2_passdb, mechanisms = "", ""
        if introspection_url:
            mechanisms = " xoauth2 oauthbearer"
            (root / "oauth2.conf.ext").write_text(
                f"introspection_url = {introspection_url}\nintrospection_mode = post\n"
                "username_attribute = email\nactive_attribute = active\nactive_value = true\n")
            oauth2_passdb = (f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                             f"  args = {root}/oauth2.conf.ext\n}}\n")
        self.conf.write_text(_CONF.format(root=root, user=user, group=group, port=self.port,
                                          tls_port=self.tls_port, ssl=ssl_conf, mechanisms=mechanisms,
                                          oauth2_passdb=oauth2_passdb))

    # ------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start (or restart) on the same port and home; mail is kept."""
        if self.running:
            return
        self._proc = subprocess.Popen(
            [self.dovecot_bin, "-F", "-c", str(self.conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,  # own process group: teardown kills every child too
        )
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                self._proc = None
                pytest.fail(f"dovecot exited at startup: {err.strip()} {self._log_tail()}", pytrace=False)
            if self._greets():
                return
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"dovecot did not greet on port {self.port}: {self._log_tail()}", pytrace=False)
            time.sleep(0.02)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            # The master sometimes waits a second or more for a login worker to
            # exit: give it a moment to say BYE, then kill the group.
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        try:  # stragglers (login/imap workers), and the master if it still waits
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                return s.recv(256).startswith(b"* OK")
        except OSError:
            return False

    def _log_tail(self) -> str:
        try:
            return "log: " + " | ".join(self.log.read_text(errors="replace").splitlines()[-5:])
        except OSError:
            return "(no log)"

    # ------------------------------------------------------------ mailbox helpers

    def client(self) -> IMAPClient:
        c = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        c.login(self.user, self.password)
        return c

    def append(self, raw: bytes, folder: str = "INBOX", *, when: datetime | None = None) -> None:
        """APPEND one message; `when` sets its INTERNALDATE."""
        with self.client() as c:
            c.append(folder, raw, msg_time=when)

    def append_many(self, raws: Iterable[bytes], folder: str = "INBOX") -> None:
        """APPEND each message over one connection (fast enough for hundreds)."""
        with self.client() as c:
            if not c.folder_exists(folder):
                try:
                    c.create_folder(folder)
                except Exception as exc:  # noqa: BLE001
                    # Seen once under load with rounds running in parallel: LIST did not
                    # show the folder yet, CREATE says it exists. Either way it is there.
                    if "ALREADYEXISTS" not in str(exc):
                        raise
            for raw in raws:
                c.append(folder, raw)

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            return sorted(c.search("ALL"))

    def fetch_flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            return dict(c.get_flags(uids)) if uids else {}

    def fetch_bodies(self, folder: str = "INBOX") -> dict[int, bytes]:
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            if not uids:
                return {}
            return {u: d[b"BODY[]"] for u, d in c.fetch(uids, ["BODY.PEEK[]"]).items()}

    def folder_count(self, folder: str) -> int:
        with self.client() as c:
            return c.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"]

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as c:
            return c.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]

    def set_uidvalidity(self, n: int, folder: str = "INBOX") -> None:
        self.doveadm("mailbox", "update", "-u", self.user, "--uid-validity", str(n), folder)

    def doveadm(self, *args: str) -> str:
        res = subprocess.run([self.doveadm_bin, "-c", str(self.conf), *args],
                             capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise AssertionError(f"doveadm {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
        return res.stdout

    # ------------------------------------------------------------ abuse-intake config

    @property
    def url(self) -> str:
        return f"imap://{self.user.replace('@', '%40')}@{self.host}:{self.port}/INBOX"

    def config_toml(self, tmp_path: Path, **overrides: Any) -> Path:
        """A full config (config.example.toml's values) pointing at this server,
        with mailbox.done_action "move" (into Processed).

        Overrides are `section__key=value` (nested: `policy__ladder__high=[...]`);
        a value of None removes the key, e.g. config_toml(p, mailbox__done_action="flag",
        outgoing__url="smtp://127.0.0.1:2525").
        """
        data = tomllib.loads((REPO / "config.example.toml").read_text(encoding="utf-8"))
        data["mailbox"]["url"] = self.url
        data["mailbox"]["password_env"] = IMAP_PASSWORD_ENV
        # The example says "none" to keep its bundled Maildir intact; a server mailbox moves.
        data["mailbox"]["done_action"] = "move"
        data["database"]["path"] = str(tmp_path / "abuse-intake.db")
        data["outgoing"]["url"] = f"dir:{tmp_path / 'sent'}"
        for dotted, value in overrides.items():
            *parents, leaf = dotted.split("__")
            node = data
            for p in parents:
                node = node.setdefault(p, {})
            if value is None:
                node.pop(leaf, None)
            else:
                node[leaf] = value
        path = tmp_path / "config.toml"
        path.write_text(_dump_toml(data), encoding="utf-8")
        return path


def _self_signed(cert: Path, key: Path) -> None:
    res = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail(f"openssl could not make a test certificate: {res.stderr.strip()}", pytrace=False)


def _dump_toml(data: dict[str, Any]) -> str:
    """Enough TOML for a config: tables of scalars and lists (no tomli_w dependency)."""
    out: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)  # JSON string escapes are valid TOML
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {type(v).__name__} to TOML")

    def key(k: str) -> str:
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)

    def table(name: str, node: dict[str, Any]) -> None:
        scalars = {k: v for k, v in node.items() if not isinstance(v, dict)}
        if name and (scalars or not node):
            out.append(f"\n[{name}]")
        for k, v in scalars.items():
            out.append(f"{key(k)} = {value(v)}")
        for k, v in node.items():
            if isinstance(v, dict):
                table(f"{name}.{key(k)}" if name else key(k), v)

    table("", data)
    return "\n".join(out).lstrip("\n") + "\n"


def _serve(monkeypatch, tls: bool, introspection_url: str = ""):
    root = Path(tempfile.mkdtemp(prefix="abuse-intake-dovecot-"))
    root.chmod(0o755)  # the workers run as nobody and must reach the home
    server = None
    try:
        server = DovecotServer(root, tls=tls, introspection_url=introspection_url)
        monkeypatch.setenv(IMAP_PASSWORD_ENV, server.password)
        server.start()
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot(monkeypatch):
    """A running Dovecot with an empty INBOX and a Processed folder (plain IMAP)."""
    yield from _serve(monkeypatch, tls=False)


@pytest.fixture
def dovecot_tls(monkeypatch):
    """Like `dovecot`, plus STARTTLS on .port and implicit TLS on .tls_port.

    The certificate (.cert) is self-signed: a test trusts it with
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert)).
    """
    yield from _serve(monkeypatch, tls=True)


@pytest.fixture
def dovecot_oauth2(monkeypatch, oauth2_server):
    """Like `dovecot`, plus XOAUTH2 logins checked at the `oauth2_server` fixture's introspection."""
    yield from _serve(monkeypatch, tls=False, introspection_url=f"{oauth2_server.base}/introspect")
