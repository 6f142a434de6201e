"""The SQLite store: migrations, pragmas, busy handling, raw and attachment contents."""

from __future__ import annotations

import sqlite3

import pytest

from abuse_intake.errors import StoreBusyError, StoreError
from abuse_intake.store import db as store_db
from abuse_intake.store import blobs
from abuse_intake.store.blobs import sha256
from abuse_intake.store.schema import MIGRATIONS


def test_an_old_database_is_migrated_in_place(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    monkeypatch.setattr(store_db, "MIGRATIONS", MIGRATIONS[:1])
    old = store_db.open_db(path)
    old.execute("INSERT INTO mailbox_cursors (mailbox, last_uid, updated_at) VALUES ('x', 7, 'now')")
    old.conn.close()
    monkeypatch.setattr(store_db, "MIGRATIONS", MIGRATIONS)
    new = store_db.open_db(path)
    assert new.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert "defects" in new["messages"].columns_dict
    assert new.execute("SELECT last_uid FROM mailbox_cursors").fetchone()[0] == 7


def test_a_newer_database_is_refused(tmp_path):
    path = tmp_path / "new.db"
    store_db.open_db(path).conn.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        store_db.open_db(path)


def test_a_locked_database_gives_a_clear_busy_error(tmp_path):
    path = tmp_path / "busy.db"
    store_db.open_db(path).conn.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        db = store_db.open_db(path, busy_timeout_ms=200)
        with pytest.raises(StoreBusyError, match="locked"):
            with store_db.transaction(db):
                pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_audit_log_is_append_only(tmp_path):
    db = store_db.open_db(tmp_path / "a.db")
    db.execute("INSERT INTO audit_log (at, actor, action) VALUES ('t', 'rani', 'note')")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit_log")


def test_one_open_case_per_account_is_enforced_by_the_database(tmp_path):
    db = store_db.open_db(tmp_path / "c.db")
    row = "INSERT INTO cases (ref, account_id, status, category, severity, severity_rank, opened_at, updated_at) " \
          "VALUES (?, 'dewi_manja88', ?, 'other', 'low', 1, 't', 't')"
    db.execute(row, ("OB-1", "open"))
    db.execute(row, ("OB-2", "decided"))
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(row, ("OB-3", "open"))


def test_contents_are_keyed_by_their_hash_and_kept_once(tmp_path):
    db = store_db.open_db(tmp_path / "b.db")
    data = b"\x89PNG fake"
    assert blobs.put_attachment(db, data) == sha256(data)
    assert blobs.put_attachment(db, data) == sha256(data)
    assert db.execute("SELECT COUNT(*), MAX(size) FROM attachment_contents").fetchone() == (1, len(data))
    assert blobs.get_attachment(db, sha256(data)) == data
    assert blobs.get_raw(db, sha256(data)) is None  # raw messages are a table of their own


@pytest.mark.parametrize("size", [blobs.LARGE - 1, blobs.LARGE, 3 * blobs.LARGE + 17])
def test_contents_small_and_large_read_back_byte_for_byte(tmp_path, size):
    db = store_db.open_db(tmp_path / "b.db")
    data = bytes(range(256)) * (size // 256) + b"\x01" * (size % 256)
    with store_db.transaction(db):
        digest = blobs.put_raw(db, data)
        blobs.put_raw(db, data)  # again: nothing new
    assert blobs.get_raw(db, digest) == data
    assert db.execute("SELECT size, length(data) FROM raw_messages").fetchall() == [(size, size)]


def test_contents_roll_back_with_the_rows_that_name_them(tmp_path):
    db = store_db.open_db(tmp_path / "b.db")
    with pytest.raises(RuntimeError):
        with store_db.transaction(db):
            blobs.put_raw(db, b"x" * 10)
            blobs.put_raw(db, b"y" * (blobs.LARGE + 1))
            raise RuntimeError("the batch fails")
    assert db.execute("SELECT COUNT(*) FROM raw_messages").fetchone()[0] == 0
