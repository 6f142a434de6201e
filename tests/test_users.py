"""Staff accounts: `abuse-intake users ...` (real processes) and the library behind them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from abuse_intake import config
from abuse_intake.errors import InvalidActionError, NotFoundError, StoreError
from abuse_intake.store.db import open_db, utcnow
from abuse_intake.web import auth
from helpers import cli, write_config


def run(cfg: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "abuse_intake", "--config", str(cfg), *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def db(cfg: Path):
    d = open_db(config.load(cfg).database_path)
    yield d
    d.conn.close()


def sessions() -> auth.Sessions:
    return auth.Sessions(b"k" * 32, idle=timedelta(minutes=30), absolute=timedelta(hours=8))


def test_users_add_reads_the_password_from_stdin_and_list_shows_the_user(cfg: Path):
    proc = run(cfg, "users", "add", "ana", "--role", "triager", stdin="a long passphrase\n")
    assert proc.returncode == 0, proc.stderr
    assert "added ana (triager)" in proc.stdout
    listed = json.loads(run(cfg, "users", "list", "--json").stdout)
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [("ana", "triager", False)]
    db = open_db(config.load(cfg).database_path)
    row = db.execute("SELECT password_hash FROM users WHERE name = 'ana'").fetchone()[0]
    assert row.startswith("scrypt$") and "a long passphrase" not in row
    assert auth.verify_password("a long passphrase", row) and not auth.verify_password("a long passphrasf", row)


def test_users_add_with_password_file_and_refusals(cfg: Path, tmp_path: Path):
    pw = tmp_path / "pw.txt"
    pw.write_text("another passphrase\n")
    assert run(cfg, "users", "add", "lead_1", "--role", "lead", "--password-file", str(pw)).returncode == 0
    again = run(cfg, "users", "add", "LEAD_1", "--role", "viewer", stdin="yet another one\n")
    assert again.returncode == 65 and "already a staff user" in again.stderr
    short = run(cfg, "users", "add", "bob", "--role", "viewer", stdin="short\n")
    assert short.returncode == 65 and "at least 10 characters" in short.stderr
    empty = run(cfg, "users", "add", "bob", "--role", "viewer", stdin="")
    assert empty.returncode == 65 and "no password" in empty.stderr
    bad_role = run(cfg, "users", "add", "bob", "--role", "admin", stdin="a long passphrase\n")
    assert bad_role.returncode == 2
    # No --password option exists: a password never goes on the command line (ps, shell history).
    assert run(cfg, "users", "add", "bob", "--role", "viewer", "--password", "x" * 12).returncode == 2
    assert [u["name"] for u in json.loads(run(cfg, "users", "list", "--json").stdout)] == ["lead_1"]


def test_disable_ends_sessions_and_refuses_login(cfg: Path, db):
    auth.add_user(db, "ana", role="triager", password="a long passphrase")
    s = sessions()
    live = s.login(db, "ana", "a long passphrase", address="127.0.0.1")
    assert s.lookup(db, live.token).user.name == "ana"
    proc = run(cfg, "users", "disable", "ana")
    assert proc.returncode == 0 and "1 session(s) ended" in proc.stdout
    assert s.lookup(db, live.token) is None
    with pytest.raises(auth.LoginRefused):
        s.login(db, "ana", "a long passphrase", address="127.0.0.1")
    assert run(cfg, "users", "enable", "ana").returncode == 0
    assert s.login(db, "ana", "a long passphrase", address="127.0.0.1").user.name == "ana"
    assert run(cfg, "users", "disable", "nobody").returncode == 65


def test_passwd_changes_the_password_and_ends_sessions(cfg: Path, db):
    auth.add_user(db, "ana", role="viewer", password="a long passphrase")
    s = sessions()
    old = s.login(db, "ana", "a long passphrase", address=None)
    proc = run(cfg, "users", "passwd", "ana", stdin="the new passphrase\n")
    assert proc.returncode == 0, proc.stderr
    assert s.lookup(db, old.token) is None
    with pytest.raises(auth.LoginRefused):
        s.login(db, "ana", "a long passphrase", address=None)
    assert s.login(db, "ana", "the new passphrase", address=None).user.role == "viewer"


def test_failed_logins_are_rate_limited_per_user_and_per_address(db):
    auth.add_user(db, "ana", role="viewer", password="a long passphrase")
    auth.add_user(db, "bob", role="viewer", password="bob passphrase")
    s = sessions()
    for _ in range(auth.MAX_FAILURES_PER_USER):
        with pytest.raises(auth.LoginRefused):
            s.login(db, "ana", "wrong password", address=f"10.0.0.{_}")
    # The right password no longer helps for this name, from any address...
    with pytest.raises(auth.LoginThrottled):
        s.login(db, "ana", "a long passphrase", address="10.9.9.9")
    # ...until the window has passed.
    later = utcnow() + auth.FAILURE_WINDOW + timedelta(seconds=5)
    assert s.login(db, "ana", "a long passphrase", address="10.9.9.9", now=later).user.name == "ana"
    # Per address: many names tried from one address.
    for i in range(auth.MAX_FAILURES_PER_ADDRESS):
        with pytest.raises(auth.LoginRefused):
            s.login(db, f"guess{i}", "x", address="192.0.2.7")
    with pytest.raises(auth.LoginThrottled):
        s.login(db, "bob", "bob passphrase", address="192.0.2.7")
    assert s.login(db, "bob", "bob passphrase", address="192.0.2.8").user.name == "bob"


def test_sessions_expire_when_idle_and_absolutely(db):
    auth.add_user(db, "ana", role="lead", password="a long passphrase")
    s = sessions()
    t0 = utcnow().replace(microsecond=0)
    live = s.login(db, "ana", "a long passphrase", address=None, now=t0)
    assert s.lookup(db, live.token, now=t0 + timedelta(minutes=29)) is not None
    # Activity keeps it alive (touched at most once a minute)...
    for minutes in (50, 75, 100):
        assert s.lookup(db, live.token, now=t0 + timedelta(minutes=minutes)) is not None
    # ...but not past the absolute limit.
    assert s.lookup(db, live.token, now=t0 + timedelta(hours=8, minutes=1)) is None
    other = s.login(db, "ana", "a long passphrase", address=None, now=t0)
    assert s.lookup(db, other.token, now=t0 + timedelta(minutes=31)) is None
    assert s.lookup(db, "forged-token") is None and s.lookup(db, None) is None


def test_session_ids_are_not_stored_in_clear(db):
    auth.add_user(db, "ana", role="lead", password="a long passphrase")
    live = sessions().login(db, "ana", "a long passphrase", address=None)
    stored = [r[0] for r in db.execute("SELECT id_hash FROM web_sessions")]
    assert len(stored) == 1 and live.token not in stored[0]
    # Another key cannot use the cookie: the key file matters.
    other = auth.Sessions(b"x" * 32, idle=timedelta(minutes=30), absolute=timedelta(hours=8))
    assert other.lookup(db, live.token) is None


def test_roles_permissions_table():
    assert auth.can("viewer", "read") and not auth.can("viewer", "decide")
    assert auth.can("triager", "decide") and auth.can("triager", "link") and not auth.can("triager", "revoke")
    assert auth.can("lead", "revoke") and auth.can("lead", "users")
    assert not auth.can("nobody", "read")


def test_bad_names_and_lookups(db):
    with pytest.raises(InvalidActionError):
        auth.add_user(db, "ana smith", role="viewer", password="a long passphrase")
    with pytest.raises(InvalidActionError):
        auth.add_user(db, "ana", role="root", password="a long passphrase")
    with pytest.raises(NotFoundError):
        auth.get_user(db, "ghost")


def test_secret_key_file_created_owner_only_and_reused(tmp_path: Path):
    path = tmp_path / "keys" / "web-secret"
    first = auth.load_or_create_secret(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert auth.load_or_create_secret(path) == first and len(first) >= 32
    short = tmp_path / "short"
    short.write_text("tiny")
    with pytest.raises(StoreError):
        auth.load_or_create_secret(short)


def test_web_config_keys(tmp_path: Path):
    cfg = write_config(tmp_path, replace={'listen = "127.0.0.1:8080"': 'listen = "0.0.0.0:9000"',
                                          'base_url = ""': 'base_url = "https://abuse.example.org/console/"'})
    s = config.load(cfg)
    assert s.web.listen == "0.0.0.0:9000" and s.web.base_url == "https://abuse.example.org/console"
    assert s.web.secret_key_file == s.database_path.with_name(s.database_path.name + ".web-secret")
    bad = write_config(tmp_path, replace={'listen = "127.0.0.1:8080"': 'listen = "nope"'})
    proc = cli(bad, "config", "check")
    assert proc.returncode == 78 and "web.listen" in proc.stderr
    tz = write_config(tmp_path, replace={'timezone = "UTC"': 'timezone = "Mars/Olympus"'})
    proc = cli(tz, "config", "check")
    assert proc.returncode == 78 and "platform.timezone" in proc.stderr
