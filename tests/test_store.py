"""The SQLite store: migrations, pragmas, busy handling, blob naming."""

from __future__ import annotations

import sqlite3

import pytest

from abuse_intake.errors import StoreBusyError, StoreError
from abuse_intake.store import db as store_db
from abuse_intake.store.blobs import BlobStore, sha256
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


def test_blobs_are_named_by_content_never_by_sender(tmp_path):
    blobs = BlobStore(tmp_path / "data")
    blobs.ensure()
    data = b"\x89PNG fake"
    digest = blobs.put_attachment(data)
    blobs.flush()
    assert digest == sha256(data)
    assert blobs.attachment_path(digest).read_bytes() == data
    assert blobs.attachment_path(digest).is_relative_to(tmp_path / "data" / "attachments")
    assert oct(blobs.attachment_path(digest).stat().st_mode & 0o777) == "0o600"


def test_unusable_data_dir_is_a_store_error(tmp_path):
    (tmp_path / "data").write_text("a file where the directory should be")
    with pytest.raises(StoreError, match="not usable"):
        BlobStore(tmp_path / "data").ensure()


def test_a_failed_background_write_surfaces_at_flush(tmp_path):
    blobs = BlobStore(tmp_path / "data")
    blobs.ensure()
    (tmp_path / "data" / "raw" / "ab").write_text("a file where a fan-out directory belongs")
    blobs.put_raw(b"x", "ab" + "0" * 62)
    with pytest.raises(StoreError, match="cannot write"):
        blobs.flush()
    blobs.close()
