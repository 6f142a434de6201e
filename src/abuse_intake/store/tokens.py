"""SQL for OAuth2 credentials (table oauth2_tokens).

A provider may rotate the refresh token on every refresh and revoke the old
one: the new one must be stored before anything else happens, or the next run
is locked out. `DbTokenStore.exclusive()` holds the database's write lock
around a refresh, so two processes (a cron `poll` and `send`) never both spend
the same refresh token.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .db import iso, store_error as _translate


@dataclass
class TokenRow:
    refresh_token: str | None = None
    seed_sha256: str | None = None
    access_token: str | None = None
    expires_at: float | None = None


class DbTokenStore:
    """The token store of intake/oauth2.py, kept in the SQLite file."""

    def __init__(self, db):
        self.db = db

    def load(self, name: str) -> TokenRow:
        row = self.db.conn.execute(
            "SELECT refresh_token, seed_sha256, access_token, expires_at FROM oauth2_tokens WHERE name = ?",
            (name,)).fetchone()
        return TokenRow(*row) if row else TokenRow()

    def save(self, name: str, row: TokenRow) -> None:
        self.db.conn.execute(
            "INSERT INTO oauth2_tokens (name, refresh_token, seed_sha256, access_token, expires_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET refresh_token = excluded.refresh_token, "
            "seed_sha256 = excluded.seed_sha256, access_token = excluded.access_token, "
            "expires_at = excluded.expires_at, updated_at = excluded.updated_at",
            (name, row.refresh_token, row.seed_sha256, row.access_token, row.expires_at, iso()))

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One writer at a time from load to save; commits what was saved."""
        conn = self.db.conn
        if conn.in_transaction:  # already inside the caller's transaction: it commits
            yield
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _translate(exc, conn=conn) from None
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def names(db) -> list[dict]:
    """What is stored, without any token (for `status` and `doctor`)."""
    cur = db.conn.execute("SELECT name, refresh_token IS NOT NULL, expires_at, updated_at FROM oauth2_tokens "
                          "ORDER BY name")
    return [{"name": n, "has_refresh_token": bool(r), "access_expires_at": e, "updated_at": u}
            for n, r, e, u in cur.fetchall()]
