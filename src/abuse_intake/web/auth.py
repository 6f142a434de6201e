"""Staff accounts, passwords, sessions and login rate limits for the web console.

Plain library code (no web framework): `abuse-intake users ...` and the web
app both call it. Passwords are hashed with scrypt (stdlib, memory-hard; about
0.1 s a hash here); a session is a random cookie value of which the database
keeps only an HMAC under the console's secret key, so a copy of the database
opens no session. CSRF tokens are derived from the session (HMAC), so they
need no storage and die with the session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import InvalidActionError, NotFoundError, StoreError
from ..store import users as store
from ..store.db import iso, transaction, utcnow

ROLES = ("viewer", "triager", "lead")
# What each role may do, in one table: the web checks `can(role, action)`.
PERMISSIONS = {
    "viewer": frozenset({"read"}),
    "triager": frozenset({"read", "decide", "note", "assign", "link"}),
    "lead": frozenset({"read", "decide", "note", "assign", "link", "revoke", "bulk", "reopen", "appeal", "users"}),
}
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
# Failed logins allowed inside the window, per user name and per client address.
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
FAILURE_WINDOW = timedelta(minutes=15)
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often: reads stay reads


class LoginRefused(InvalidActionError):
    """Wrong name or password (the message never says which)."""


class LoginThrottled(InvalidActionError):
    """Too many failed logins for this name or from this address."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    disabled: bool
    created_at: str
    last_login_at: str | None

    def can(self, action: str) -> bool:
        return can(self.role, action)


@dataclass(frozen=True)
class Session:
    token: str  # the cookie value (only here, never stored)
    user: User
    csrf_token: str


def can(role: str, action: str) -> bool:
    return action in PERMISSIONS.get(role, frozenset())


# -- passwords ---------------------------------------------------------------

def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return "$".join(("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# A valid hash of nothing: a login for an unknown name costs the same time as a real one.
_DUMMY_HASH = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(8))
    return _DUMMY_HASH


def check_password_rules(password: str) -> str:
    password = password.rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        raise InvalidActionError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidActionError(f"a password is at most {MAX_PASSWORD} characters")
    return password


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- users -------------------------------------------------------------------

def _user(row: dict) -> User:
    return User(id=row["id"], name=row["name"], role=row["role"], disabled=bool(row["disabled"]),
                created_at=row["created_at"], last_login_at=row["last_login_at"])


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64 or not all(ch.isalnum() or ch in "._-@" for ch in name):
        raise InvalidActionError(f"a staff name is 1-64 letters, digits or . _ - @ (got {name!r})")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidActionError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    return role


def add_user(db, name: str, *, role: str, password: str, now: datetime | None = None) -> User:
    name, role, password = _check_name(name), _check_role(role), check_password_rules(password)
    hashed = hash_password(password)
    with transaction(db):
        if store.user_by_name(db, name) is not None:
            raise InvalidActionError(f"there is already a staff user {name!r}")
        store.insert_user(db, name=name, role=role, password_hash=hashed, at=iso(now))
        return _user(store.user_by_name(db, name))


def list_users(db) -> list[User]:
    return [_user(r) for r in store.list_users(db)]


def get_user(db, name: str) -> User:
    row = store.user_by_name(db, (name or "").strip())
    if row is None:
        raise NotFoundError(f"no staff user {name!r}")
    return _user(row)


def disable_user(db, name: str) -> int:
    """Disable a user and end every session they have; returns how many sessions ended."""
    with transaction(db):
        row = store.user_by_name(db, (name or "").strip())
        if row is None:
            raise NotFoundError(f"no staff user {name!r}")
        store.set_disabled(db, row["id"], True)
        return store.delete_sessions_of(db, row["id"])


def enable_user(db, name: str) -> None:
    with transaction(db):
        row = store.user_by_name(db, (name or "").strip())
        if row is None:
            raise NotFoundError(f"no staff user {name!r}")
        store.set_disabled(db, row["id"], False)


def set_password(db, name: str, password: str, *, now: datetime | None = None) -> int:
    """A new password ends the user's sessions (a leaked one stops working); returns how many."""
    password = check_password_rules(password)
    hashed = hash_password(password)
    with transaction(db):
        row = store.user_by_name(db, (name or "").strip())
        if row is None:
            raise NotFoundError(f"no staff user {name!r}")
        store.set_password(db, row["id"], hashed, iso(now))
        return store.delete_sessions_of(db, row["id"])


# -- sessions ----------------------------------------------------------------

class Sessions:
    """Login, look-up and logout, with the secret key and the expiry rules."""

    def __init__(self, secret: bytes, *, idle: timedelta, absolute: timedelta):
        if len(secret) < 32:
            raise StoreError("the web secret key is shorter than 32 bytes")
        self._secret = secret
        self.idle = idle
        self.absolute = absolute

    def _id_hash(self, token: str) -> str:
        return hmac.new(self._secret, b"session:" + token.encode("ascii", "replace"), hashlib.sha256).hexdigest()

    def csrf_for(self, token: str) -> str:
        return hmac.new(self._secret, b"csrf:" + token.encode("ascii", "replace"), hashlib.sha256).hexdigest()

    def check_csrf(self, session: Session, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(session.csrf_token, str(offered))

    def login(self, db, name: str, password: str, *, address: str | None, now: datetime | None = None) -> Session:
        now = (now or utcnow()).replace(microsecond=0)
        name = (name or "").strip()[:64]
        at, since = iso(now), iso(now - FAILURE_WINDOW)
        by_user, by_address = store.failures_since(db, username=name.lower(), address=address, since=since)
        if by_user >= MAX_FAILURES_PER_USER or by_address >= MAX_FAILURES_PER_ADDRESS:
            raise LoginThrottled("too many failed logins: wait 15 minutes and try again")
        row = store.user_by_name(db, name) if name else None
        ok = verify_password(password or "", row["password_hash"] if row else _dummy_hash())
        ok = ok and row is not None and not row["disabled"]
        with transaction(db):
            store.record_attempt(db, at=at, username=name.lower(), address=address, ok=ok)
            if not ok:
                store.forget_attempts_before(db, iso(now - 4 * FAILURE_WINDOW))
                refused = True
            else:
                refused = False
                token = secrets.token_urlsafe(32)
                store.insert_session(db, id_hash=self._id_hash(token), user_id=row["id"], at=at, address=address)
                store.set_last_login(db, row["id"], at)
                store.delete_stale_sessions(db, idle_before=iso(now - self.idle),
                                            created_before=iso(now - self.absolute))
        if refused:
            raise LoginRefused("wrong user name or password")
        return Session(token=token, user=_user(store.user_by_id(db, row["id"])), csrf_token=self.csrf_for(token))

    def lookup(self, db, token: str | None, *, now: datetime | None = None) -> Session | None:
        """The live session of this cookie value, or None (unknown, expired, user disabled)."""
        if not token or len(token) > 200:
            return None
        now = now or utcnow()
        id_hash = self._id_hash(token)
        row = store.session_with_user(db, id_hash)
        if row is None:
            return None
        created, seen = datetime.fromisoformat(row["created_at"]), datetime.fromisoformat(row["last_seen_at"])
        if row["disabled"] or now - seen > self.idle or now - created > self.absolute:
            with transaction(db):
                store.delete_session(db, id_hash)
            return None
        if now - seen >= TOUCH_EVERY:
            with transaction(db):
                store.touch_session(db, id_hash, iso(now))
        user = User(id=row["user_id"], name=row["name"], role=row["role"], disabled=False, created_at="",
                    last_login_at=None)
        return Session(token=token, user=user, csrf_token=self.csrf_for(token))

    def logout(self, db, token: str) -> None:
        with transaction(db):
            store.delete_session(db, self._id_hash(token))


def load_or_create_secret(path: Path) -> bytes:
    """The session key from its file, created owner-only (0600) with 32 random bytes if missing."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret = secrets.token_hex(32).encode("ascii")
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:  # another process created it meanwhile
            return load_or_create_secret(path)
        except OSError as exc:
            raise StoreError(f"cannot create the web secret key file {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as f:
            f.write(secret + b"\n")
        return secret
    except OSError as exc:
        raise StoreError(f"cannot read the web secret key file {path}: {exc.strerror}") from None
    data = data.strip()
    if len(data) < 32:
        raise StoreError(f"the web secret key file {path} holds fewer than 32 bytes")
    return data
