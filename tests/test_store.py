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


# -- the per-message hot path (bench/store_cost.py) ----------------------------

def _plain_create(db, prefix, account_id):
    """How create_case used to do it: let SQLite pick the id, then set the ref from it."""
    cur = db.execute("INSERT INTO cases (ref, account_id, status, category, severity, severity_rank, opened_at, "
                     "updated_at) VALUES (?, ?, 'open', 'other', 'low', 1, 't', 't')", (f"tmp-{account_id}", account_id))
    db.execute("UPDATE cases SET ref = ? WHERE id = ?", (f"{prefix}-{cur.lastrowid:06d}", cur.lastrowid))
    return cur.lastrowid


def test_create_case_takes_the_id_sqlite_would_and_its_ref_in_one_insert(tmp_path):
    from abuse_intake.store import cases as case_store

    db = store_db.open_db(tmp_path / "c.db")
    twin = store_db.open_db(tmp_path / "twin.db")  # the same history, ids chosen by SQLite itself
    with store_db.transaction(db), store_db.transaction(twin):
        made = [case_store.create_case(db, prefix="OB", account_id=f"acct{i}", category="other",
                                       severity="low", at="2026-01-01T00:00:00Z") for i in range(3)]
        assert [_plain_create(twin, "OB", f"acct{i}") for i in range(3)] == [c["id"] for c in made] == [1, 2, 3]
        # A gap and a deleted top row: the next id is still the largest + 1, like SQLite's own choice.
        for d in (db, twin):
            d.execute("INSERT INTO cases (id, ref, status, category, severity, severity_rank, opened_at, updated_at)"
                      " VALUES (1000, 'X-1000', 'decided', 'other', 'low', 1, 't', 't')")
            d.execute("INSERT INTO cases (id, ref, status, category, severity, severity_rank, opened_at, updated_at)"
                      " VALUES (1234567, 'X-big', 'decided', 'other', 'low', 1, 't', 't')")
            d.execute("DELETE FROM cases WHERE id = 1234567")
        big = case_store.create_case(db, prefix="AB-X", account_id=None, category="prostitution",
                                     severity="high", at="2026-01-02T00:00:00Z")
        assert big["id"] == _plain_create(twin, "AB-X", "twin") == 1001
    assert big == {"id": 1001, "ref": "AB-X-001001", "account_id": None, "status": "needs_info"}
    rows = db.execute("SELECT id, ref, account_id, status, category, severity, severity_rank, opened_at, updated_at, "
                      "reporters, reports FROM cases ORDER BY id").fetchall()
    assert rows[0] == (1, "OB-000001", "acct0", "open", "other", "low", 1, "2026-01-01T00:00:00Z",
                       "2026-01-01T00:00:00Z", 0, 0)
    assert rows[-1] == (1001, "AB-X-001001", None, "needs_info", "prostitution", "high", 3, "2026-01-02T00:00:00Z",
                        "2026-01-02T00:00:00Z", 0, 0)
    assert [r[1] for r in rows] == [r[0] for r in twin.execute("SELECT ref FROM cases ORDER BY id")]
    assert case_store.case_by_ref(db, "ab-x-001001")["id"] == 1001
    # A seven-digit id keeps all its digits, as f"{id:06d}" does.
    with store_db.transaction(db):
        db.execute("INSERT INTO cases (id, ref, status, category, severity, severity_rank, opened_at, updated_at)"
                   " VALUES (9999999, 'X-9', 'decided', 'other', 'low', 1, 't', 't')")
        assert case_store.create_case(db, prefix="OB", account_id="z", category="other", severity="low",
                                      at="t")["ref"] == "OB-10000000"


def test_create_case_still_refuses_a_second_open_case_for_an_account(tmp_path):
    from abuse_intake.store import cases as case_store

    db = store_db.open_db(tmp_path / "c.db")
    case_store.create_case(db, prefix="OB", account_id="dewi", category="other", severity="low", at="t")
    with pytest.raises(sqlite3.IntegrityError):
        case_store.create_case(db, prefix="OB", account_id="dewi", category="other", severity="low", at="t")
    assert db.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 1


def test_create_case_reads_no_child_table(tmp_path):
    # INSERT ... SELECT would make SQLite scan sanctions and outbox_cases (no case_id index)
    # on every new case: a cost that grows with the store.
    from abuse_intake.store.cases import CREATE_CASE_SQL, CREATE_LINKED_CASE_SQL

    db = store_db.open_db(tmp_path / "c.db")
    plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + CREATE_CASE_SQL, ("OB",) + (None,) * 7)]
    assert plan and not [step for step in plan if step.startswith("SCAN")], plan
    # ... nor the one the poll runs (a new case inserted already linked to its first report)
    plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + CREATE_LINKED_CASE_SQL, ("OB",) + (None,) * 8)]
    assert plan and not [step for step in plan if step.startswith("SCAN")], plan


def test_json_list_writes_what_json_dumps_writes():
    import json

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from abuse_intake.store.rows import json_list

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.text()), st.booleans())
    def check(values, ascii_only):
        assert json_list(values, ensure_ascii=ascii_only) == json.dumps(values, ensure_ascii=ascii_only)

    check()
    for odd in ([], ["a\"b\\c\n\x00\u2028é😀\ud800"], [1, None, "x"], ("a", "b"), [["a"]]):
        for ascii_only in (True, False):
            assert json_list(odd, ensure_ascii=ascii_only) == json.dumps(odd, ensure_ascii=ascii_only)


def test_now_iso_is_iso_of_now():
    from abuse_intake.store.db import now_iso

    for _ in range(3):
        before = store_db.iso()
        got = now_iso()
        after = store_db.iso()
        assert got in (before, after)


def test_message_and_report_rows_read_back_as_written(tmp_path):
    import json

    from abuse_intake.store import messages as msg_store

    db = store_db.open_db(tmp_path / "m.db")
    row = {"raw_sha256": "a" * 64, "size": 10, "mailbox": "m", "uidvalidity": 7, "uid": 3, "kind": "report",
           "reason": "", "received_at": "2026-01-01T00:00:00Z", "message_id": "x@y", "from_address": "ana@x.id",
           "from_name": "Ana", "subject": "S", "text": "T", "forwarded_text": "", "reporter": "ana@x.id",
           "language": "id", "stored_at": "2026-01-01T00:00:05Z"}
    with store_db.transaction(db):
        first = msg_store.insert_message(db, row)
        second = msg_store.insert_message(db, {**row, "raw_sha256": "b" * 64, "stored_at": None})
        msg_store.insert_report(db, message_row=first, reporter="ana@x.id", received_at=row["received_at"],
                                language="id", category="other", severity="low", account_ids=["dewi", "bang"],
                                matched_words=["pelecehan", "ñ"], fingerprint="fp", source="email")
    got = msg_store.get_message(db, first)
    assert {k: got[k] for k in row} == row and got["duplicate_of"] is None and got["defects"] is None
    assert msg_store.get_message(db, second)["stored_at"]  # filled in when not given
    assert msg_store.by_raw_hash(db, "b" * 64) == {"id": second, "kind": "report", "message_id": "x@y"}
    assert msg_store.by_raw_hash(db, "c" * 64) is None
    assert msg_store.by_message_id(db, "x@y") == {"id": first, "kind": "report", "reporter": "ana@x.id",
                                                   "language": "id"}
    assert msg_store.by_message_id(db, "nope@y") is None
    report = db.execute("SELECT account_ids, matched_words FROM reports").fetchone()
    assert report == (json.dumps(["dewi", "bang"]), json.dumps(["pelecehan", "ñ"], ensure_ascii=False))


def test_open_case_with_report_stores_what_create_case_then_link_report_store(tmp_path):
    from abuse_intake.store import cases as case_store
    from abuse_intake.store import messages as msg_store

    def history(db, combined):
        with store_db.transaction(db):
            for i, (account, reporter, severity) in enumerate([("dewi", "ana@x.id", "high"), (None, None, "low"),
                                                               ("bang", "budi@x.id", "critical"), (None, "c@x.id", "medium")]):
                at = f"2026-01-0{i + 1}T00:00:00Z"
                row = msg_store.insert_message(db, {"raw_sha256": f"{i}" * 64, "size": 1, "mailbox": "m",
                                                    "kind": "report", "received_at": at, "stored_at": at})
                report = msg_store.insert_report(db, message_row=row, reporter=reporter, received_at=at, language="id",
                                                 category="other", severity=severity, account_ids=[],
                                                 matched_words=[], fingerprint="", source="email")
                link = dict(reporter=reporter, language="id", reporter_message_id=f"m{i}@x",
                            category="other", severity=severity, at=at)
                if combined:
                    case = case_store.open_case_with_report(db, prefix="OB", account_id=account, report_id=report,
                                                            **link)
                else:
                    case = case_store.create_case(db, prefix="OB", account_id=account, category="other",
                                                  severity=severity, at=at)
                    case_store.link_report(db, case_id=case["id"], report_id=report, **link)
                yield case
                # A later report on the same case goes through link_report either way.
                if account == "dewi":
                    case_store.link_report(db, case_id=case["id"], report_id=report, **link | {"reporter": "z@x.id"})

    def dump(db):
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in ("cases", "case_reports", "case_reporters")}

    old, new = store_db.open_db(tmp_path / "old.db"), store_db.open_db(tmp_path / "new.db")
    assert list(history(old, False)) == list(history(new, True))
    assert dump(old) == dump(new)
    assert [r[7:9] for r in dump(new)["cases"]] == [(2, 1), (0, 1), (1, 1), (1, 1)]  # reporters, reports


def test_the_checkpointer_copies_the_wal_while_commits_go_on_and_hands_back(tmp_path):
    """During a poll the WAL is checkpointed from a thread of its own (not inside
    COMMIT); afterwards SQLite's automatic checkpoint is back as it was."""
    path = tmp_path / "c.db"
    db = store_db.open_db(path)
    before = path.stat().st_size
    checkpointer = store_db.Checkpointer(db)
    for i in range(3 * store_db.Checkpointer.EVERY):
        with store_db.transaction(db):
            blobs.put_raw(db, bytes([i]) * 200_000)
        checkpointer.committed()
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # not inside our COMMITs
    checkpointer.close()
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    # Only a checkpoint writes pages into the database file itself.
    assert path.stat().st_size > before + 10 * 200_000
    assert db.execute("SELECT COUNT(*) FROM raw_messages").fetchone()[0] == 3 * store_db.Checkpointer.EVERY
    checkpointer.close()  # twice is harmless
