"""SQL for staff accounts of the web console, their sessions and login attempts.

Like every store module: functions take `db`, never commit; callers own the
transaction. Password hashing and the rules (roles, expiry, rate limits) are
in web/auth.py.
"""

from __future__ import annotations

from .rows import all_rows as _all, one_row as _one

USER_COLUMNS = "id, name, role, password_hash, disabled, created_at, password_changed_at, last_login_at"


def insert_user(db, *, name: str, role: str, password_hash: str, at: str) -> int:
    return db.conn.execute(
        "INSERT INTO users (name, role, password_hash, created_at, password_changed_at) VALUES (?,?,?,?,?)",
        (name, role, password_hash, at, at)).lastrowid


def user_by_name(db, name: str) -> dict | None:
    return _one(db, f"SELECT {USER_COLUMNS} FROM users WHERE name = ?", (name,))


def user_by_id(db, user_id: int) -> dict | None:
    return _one(db, f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,))


def list_users(db) -> list[dict]:
    return _all(db, f"SELECT {USER_COLUMNS} FROM users ORDER BY name")


def set_disabled(db, user_id: int, disabled: bool) -> None:
    db.conn.execute("UPDATE users SET disabled = ? WHERE id = ?", (int(disabled), user_id))


def set_password(db, user_id: int, password_hash: str, at: str) -> None:
    db.conn.execute("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
                    (password_hash, at, user_id))


def set_last_login(db, user_id: int, at: str) -> None:
    db.conn.execute("UPDATE users SET last_login_at = ? WHERE id = ?", (at, user_id))


# -- sessions -----------------------------------------------------------------

def insert_session(db, *, id_hash: str, user_id: int, at: str, address: str | None) -> None:
    db.conn.execute("INSERT INTO web_sessions (id_hash, user_id, created_at, last_seen_at, address) "
                    "VALUES (?,?,?,?,?)", (id_hash, user_id, at, at, address))


def session_with_user(db, id_hash: str) -> dict | None:
    return _one(
        db,
        "SELECT s.id_hash, s.user_id, s.created_at, s.last_seen_at, u.name, u.role, u.disabled, "
        "u.password_changed_at FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
        (id_hash,))


def touch_session(db, id_hash: str, at: str) -> None:
    db.conn.execute("UPDATE web_sessions SET last_seen_at = ? WHERE id_hash = ?", (at, id_hash))


def delete_session(db, id_hash: str) -> None:
    db.conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (id_hash,))


def delete_sessions_of(db, user_id: int) -> int:
    return db.conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user_id,)).rowcount


def delete_stale_sessions(db, *, idle_before: str, created_before: str) -> int:
    return db.conn.execute("DELETE FROM web_sessions WHERE last_seen_at < ? OR created_at < ?",
                           (idle_before, created_before)).rowcount


# -- login attempts -----------------------------------------------------------

def record_attempt(db, *, at: str, username: str, address: str | None, ok: bool) -> None:
    db.conn.execute("INSERT INTO login_attempts (at, username, address, ok) VALUES (?,?,?,?)",
                    (at, username, address, int(ok)))


def failures_since(db, *, username: str, address: str | None, since: str) -> tuple[int, int]:
    """Failed attempts since `since` for this user name, and from this address."""
    by_user = db.conn.execute("SELECT COUNT(*) FROM login_attempts WHERE username = ? AND at >= ? AND ok = 0",
                              (username, since)).fetchone()[0]
    by_address = 0
    if address:
        by_address = db.conn.execute(
            "SELECT COUNT(*) FROM login_attempts WHERE address = ? AND at >= ? AND ok = 0",
            (address, since)).fetchone()[0]
    return by_user, by_address


def forget_attempts_before(db, before: str) -> None:
    db.conn.execute("DELETE FROM login_attempts WHERE at < ?", (before,))
