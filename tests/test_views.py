"""The read views (cases/views.py) and the listings' paging and streaming, on a
real SQLite store seeded by plain SQL; the CLI runs in-process (CliRunner)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stdout
from dataclasses import FrozenInstanceError, fields

import pytest

from abuse_intake.cases import views
from abuse_intake.cli.common import echo_json_rows
from abuse_intake.errors import InvalidActionError, NotFoundError
from abuse_intake.store import views as store_views
from abuse_intake.store.db import Reader, open_reader
from helpers import REPO, run, run_json

CASE_SHOW_KEYS = ["ref", "status", "account_id", "category", "severity", "reporters", "reports", "opened_at",
                  "updated_at", "assignee", "decision", "decision_category", "decision_severity", "decided_at",
                  "decided_by", "decision_note", "referral", "reporter_addresses", "account_history", "sanctions",
                  "audit", "report_count", "flag", "flag_detail"]  # flag: issue 15 item 2 (too many accounts)
REPORT_KEYS = ["message_id", "reporter", "received_at", "language", "category", "severity", "account_ids",
               "matched_words", "source", "subject", "text", "forwarded_text", "message_row", "attachments"]
SANCTION_KEYS = ["id", "action", "functions", "starts_at", "until", "rule", "case_ref", "revoked", "category",
                 "severity", "violation_number", "decided_by", "revoked_at", "revoked_by", "revoke_note", "in_force",
                 "enforcement_status", "enforcement_error", "ladder_pick", "override_reason", "counts_as_strike"]  # issue 12.5
ACCOUNT_CASE_KEYS = ["id", "ref", "status", "category", "severity", "reporters", "reports", "opened_at", "decided_at",
                     "decision", "decision_category", "decision_severity", "referral"]
LIST_KEYS = ["ref", "status", "account_id", "category", "severity", "reporters", "reports", "opened_at",
             "updated_at", "assignee", "flag", "new_info"]
MESSAGE_KEYS = ["id", "message_id", "reporter", "subject", "kind", "reason", "received_at", "case_refs"]
OUTBOX_KEYS = ["id", "kind", "to", "subject", "language", "case_refs", "status", "attempts", "message_id",
               "created_at", "sent_at", "next_attempt_at", "last_error"]


# -- one case, one account ---------------------------------------------------------

def test_cases_show_json_is_the_case_view(seeded_store):
    s = seeded_store
    new, old = s.seed["new"], s.seed["old"]
    shown = run_json(s.config, "cases", "show", new["ref"].lower())
    view = views.case_view(s.db, s.settings, new["ref"])
    assert shown == view.as_dict()
    assert list(shown) == CASE_SHOW_KEYS
    assert (shown["ref"], shown["reporters"], shown["report_count"], shown["referral"]) == (new["ref"], 2, 2, False)
    assert shown["reporter_addresses"] == ["bob@example.com", "cici@example.com"]
    assert [list(r) for r in shown["reports"]] == [REPORT_KEYS, REPORT_KEYS]
    assert [r["reporter"] for r in shown["reports"]] == ["bob@example.com", "cici@example.com"]
    assert shown["reports"][0]["account_ids"] == ["dewi_manja88"] and shown["reports"][0]["forwarded_text"] == ""
    history = shown["account_history"]
    assert (history["status"], history["violations_in_window"] >= 0) == ("restricted", True)
    assert [c["ref"] for c in history["earlier_cases"]] == [old["ref"]]
    assert list(history["earlier_cases"][0]) == ACCOUNT_CASE_KEYS
    assert history["earlier_cases"][0]["referral"] == 0  # the column's 0/1, as the JSON always had it
    [in_force] = history["sanctions_in_force"]
    assert list(in_force) == SANCTION_KEYS and (in_force["case_ref"], in_force["in_force"]) == (old["ref"], True)
    assert shown["sanctions"] == [] and shown["audit"] == []
    # the typed value behind it
    assert isinstance(view.reports[0], views.CaseReport) and view.account_history.earlier_cases[0].referral is False
    with pytest.raises(FrozenInstanceError):
        view.status = "decided"


def test_a_case_without_account_has_no_history_and_an_unknown_case_is_65(seeded_store):
    s = seeded_store
    view = views.case_view(s.db, s.settings, s.seed["needs_info"]["ref"])
    assert view.account_history is None and view.as_dict()["account_history"] is None
    with pytest.raises(NotFoundError, match="no case OB-999999"):
        views.case_view(s.db, s.settings, "OB-999999")
    ran = run(s.config, "cases", "show", "OB-999999")
    assert ran.returncode == 65 and "no case OB-999999" in ran.stderr


def test_accounts_show_json_is_the_account_view(seeded_store):
    s = seeded_store
    shown = run_json(s.config, "accounts", "show", "@Dewi_Manja88")
    assert shown == views.account_view(s.db, s.settings, "dewi_manja88").as_dict()
    assert list(shown) == ["account_id", "status", "until", "restricted_functions", "violations_in_window",
                           "lookback_days", "sanctions", "cases"]
    assert (shown["status"], shown["until"], shown["restricted_functions"]) == \
        ("restricted", "2999-01-01T00:00:00Z", ["post_status"])
    assert [c["ref"] for c in shown["cases"]] == [s.seed["old"]["ref"], s.seed["new"]["ref"]]
    assert [list(x) for x in shown["sanctions"]] == [SANCTION_KEYS]
    text = run(s.config, "accounts", "show", "dewi_manja88").stdout
    assert "dewi_manja88: restricted until 2999-01-01T00:00:00Z (post_status)" in text


# -- the queue -----------------------------------------------------------------------

def _refs(config, *args):
    return [c["ref"] for c in run_json(config, "cases", "list", *args)]


def test_cases_list_pages_with_limit_and_after(seeded_store):
    s = seeded_store
    seed = s.seed
    rows = run_json(s.config, "cases", "list", "--status", "all")
    assert [list(r) for r in rows] == [LIST_KEYS] * 5
    everything = [r["ref"] for r in rows]
    # severity, then reporters, then age
    assert everything == [seed["critical"]["ref"], seed["new"]["ref"], seed["old"]["ref"],
                          seed["needs_info"]["ref"], seed["low"]["ref"]]
    assert _refs(s.config, "--status", "all", "--limit", "2") == everything[:2]
    assert _refs(s.config, "--status", "all", "--limit", "2", "--after", everything[1]) == everything[2:4]
    assert _refs(s.config, "--status", "all", "--after", everything[3]) == everything[4:]
    assert _refs(s.config, "--status", "all", "--after", everything[4]) == []
    # walking the pages gives every case once
    seen, after = [], None
    while True:
        page = [c.ref for c in views.list_cases(s.db, status="all", limit=2, after=after)]
        if not page:
            break
        seen += page
        after = page[-1]
    assert seen == everything
    # filters still apply on a page
    assert _refs(s.config, "--limit", "1", "--after", seed["critical"]["ref"]) == [seed["new"]["ref"]]


def test_cases_list_since_and_bad_cursors(seeded_store):
    s = seeded_store
    assert _refs(s.config, "--status", "all", "--since", "2026-04-02T10:00:00Z") == \
        [s.seed["critical"]["ref"], s.seed["new"]["ref"], s.seed["needs_info"]["ref"]]
    assert _refs(s.config, "--since", "2999-01-01") == []
    ran = run(s.config, "cases", "list", "--after", "OB-999999")
    assert ran.returncode == 65 and "no case OB-999999" in ran.stderr
    assert run(s.config, "cases", "list", "--since", "last week").returncode == 2
    assert run(s.config, "cases", "list", "--limit", "0").returncode == 2
    with pytest.raises(InvalidActionError, match="unknown case status"):
        list(views.list_cases(s.db, status="closed"))
    with pytest.raises(InvalidActionError, match="0 or more"):
        list(views.list_cases(s.db, limit=-1))


def test_the_queue_table(seeded_store):
    s = seeded_store
    table = run(s.config, "cases", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["REF", "STATUS", "SEVERITY"]
    # the default queue is what waits for staff: open and needs_info (issue 12 item 2)
    assert [line.split()[0] for line in table[1:]] == [s.seed["critical"]["ref"], s.seed["new"]["ref"],
                                                      s.seed["needs_info"]["ref"], s.seed["low"]["ref"]]
    assert run(s.config, "cases", "list", "--status", "merged").stdout.strip() == "no cases"


# -- messages and outbox -------------------------------------------------------------

def test_messages_list_pages_since_and_kind(seeded_store):
    s = seeded_store
    rows = run_json(s.config, "messages", "list")
    assert rows == [m.as_dict() for m in views.list_messages(s.db)]
    assert all(list(r) == MESSAGE_KEYS for r in rows) and len(rows) == 8
    assert [r["received_at"] for r in rows] == sorted(r["received_at"] for r in rows)
    ids = [r["id"] for r in rows]
    page = run_json(s.config, "messages", "list", "--limit", "2", "--after", str(ids[2]))
    assert [r["id"] for r in page] == ids[3:5]
    assert [r["id"] for r in run_json(s.config, "messages", "list", "--after", str(ids[-1]))] == []
    since = run_json(s.config, "messages", "list", "--since", "2026-04-03T00:00:00Z")
    assert [r["id"] for r in since] == [r["id"] for r in rows if r["received_at"] >= "2026-04-03T00:00:00Z"]
    [robot] = run_json(s.config, "messages", "list", "--kind", "robot")
    assert (robot["id"], robot["case_refs"], robot["reporter"]) == (s.seed["robot"], [], None)
    reports = run_json(s.config, "messages", "list", "--kind", "report", "--limit", "1", "--after", str(ids[0]))
    assert len(reports) == 1 and reports[0]["kind"] == "report" and reports[0]["case_refs"]
    ran = run(s.config, "messages", "list", "--after", "99999")
    assert ran.returncode == 65 and "no message 99999" in ran.stderr


def test_outbox_list_pages_and_since(seeded_store):
    s = seeded_store
    emails = s.seed["emails"]
    rows = run_json(s.config, "outbox", "list")
    assert [r["id"] for r in rows] == emails and all(list(r) == OUTBOX_KEYS for r in rows)
    assert [r["id"] for r in run_json(s.config, "outbox", "list", "--after", str(emails[1]), "--limit", "3")] == \
        emails[2:5]
    pending = run_json(s.config, "outbox", "list", "--status", "pending", "--after", str(emails[0]))
    assert [r["id"] for r in pending] == [e for e in emails[1:] if (emails.index(e) + 1) % 2 == 0]
    assert [r["id"] for r in run_json(s.config, "outbox", "list", "--since", "2026-04-06T00:00:00Z")] == emails[5:]
    assert rows[0]["case_refs"] == [s.seed["old"]["ref"]] and rows[0]["to"] == "ana@example.com"


# -- streaming -------------------------------------------------------------------------

def test_listings_are_iterators_and_json_is_written_as_rows_come():
    def rows():
        yield {"id": 1, "refs": ["a"]}
        yield views.MessageRow(2, "m@x", None, "s\nt", "robot", None, "2026-01-01T00:00:00Z", ())
        raise RuntimeError("the store went away")

    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(RuntimeError):
        echo_json_rows(rows())
    # both rows were out before the third failed: nothing waited for the whole list
    assert out.getvalue() == json.dumps([{"id": 1, "refs": ["a"]}, rows_as_dicts()[0]],
                                        ensure_ascii=False, indent=2)[:-2]


def rows_as_dicts():
    return [{"id": 2, "message_id": "m@x", "reporter": None, "subject": "s\nt", "kind": "robot", "reason": None,
             "received_at": "2026-01-01T00:00:00Z", "case_refs": []}]


def _dumps(value):
    """json.dumps as the CLI writes it: with DEL, C1 controls and bidi marks escaped too
    (issue 15 item 12), which json.dumps(ensure_ascii=False) passes through raw."""
    from abuse_intake.cli.common import _NOT_ESCAPED_BY_JSON
    return _NOT_ESCAPED_BY_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}",
                                    json.dumps(value, ensure_ascii=False, indent=2, default=str))


def test_streamed_json_is_what_json_dumps_writes(seeded_store):
    for value in ([], [{"a": 1}], [{"a": [], "b": {}, "c": [1, "é\u2028"], "d": None, "e": True, "f": 1.5}]):
        out = io.StringIO()
        with redirect_stdout(out):
            echo_json_rows(iter(value))
        assert out.getvalue() == _dumps(value) + "\n"
    s = seeded_store
    rows = list(views.list_messages(s.db))
    assert isinstance(views.list_messages(s.db), type(x for x in ()))  # a generator, not a list
    assert run(s.config, "messages", "list", "--json").stdout == _dumps([r.as_dict() for r in rows]) + "\n"


# -- the store behind them ----------------------------------------------------------------

def test_queue_columns_are_case_row_fields():
    assert store_views.QUEUE_COLUMNS == tuple(f.name for f in fields(views.CaseRow))


def _plan(db, sql, params):
    return [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql, params)]


@pytest.mark.parametrize("listing, kwargs", [
    ("queue", {}), ("queue", {"status": "all"}), ("queue", {"status": "open", "severity": "high"}),
    ("queue", {"after": (3, 1, "2026-01-01T00:00:00Z", 1), "limit": 2}),
    ("queue", {"status": "all", "after": (3, 1, "2026-01-01T00:00:00Z", 1)}),
    ("messages", {}), ("messages", {"kind": "robot"}), ("messages", {"since": "2026-04-01T00:00:00Z"}),
    ("messages", {"after": ("2026-04-01T00:00:00Z", 3), "limit": 2}),
    ("messages", {"kind": "report", "after": ("2026-04-01T00:00:00Z", 3)}),
    ("outbox", {"after": 2, "limit": 2}),
])
def test_listings_read_in_index_order_without_a_sort(seeded_store, listing, kwargs):
    captured = []

    class Spy:  # records the listing's SELECT instead of running it
        def __init__(self, db):
            self.conn = self
            self._db = db

        def execute(self, sql, params=()):
            captured.append((sql, tuple(params)))
            return self._db.conn.execute(sql + " LIMIT 0" if " LIMIT " not in sql else sql, tuple(params))

    list(getattr(store_views, listing)(Spy(seeded_store.db), **kwargs))
    [(sql, params)] = captured
    plan = _plan(seeded_store.db, sql, params)
    assert not [p for p in plan if "TEMP B-TREE" in p], plan
    assert not [p for p in plan if p.startswith("SCAN") and "USING" not in p and not p.startswith("SCAN outbox")], plan


def test_cases_show_reads_sanctions_by_index(seeded_store):
    from abuse_intake.store.triage import SANCTION_COLUMNS
    plan = _plan(seeded_store.db, f"SELECT {SANCTION_COLUMNS} FROM sanctions s JOIN cases c ON c.id = s.case_id "
                 "WHERE s.case_id = ? ORDER BY s.id", (1,))
    assert any("sanctions_case" in p for p in plan), plan


def test_open_reader_reads_a_current_store_and_creates_a_missing_one(seeded_store, tmp_path):
    reader = open_reader(seeded_store.settings.database_path)
    assert isinstance(reader, Reader)
    assert [c.ref for c in views.list_cases(reader, status="all", limit=1)] == [seeded_store.seed["critical"]["ref"]]
    reader.conn.close()
    fresh = open_reader(tmp_path / "new" / "db.sqlite")  # created and migrated, as any command does
    assert list(views.list_messages(fresh)) == []
    fresh.conn.close()


def test_a_read_command_loads_neither_the_pipeline_nor_sqlite_utils(seeded_store):
    # A real process: sys.modules of this one holds everything the suite imported.
    probe = (
        "import sys\nfrom abuse_intake.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('abuse_intake.pipeline', 'abuse_intake.flow', 'sqlite_utils', 'jinja2', 'mailparser', "
        "'abuse_intake.parse', 'abuse_intake.notify', 'abuse_intake.intake.imap') if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)\n")
    for args in (["cases", "show", seeded_store.seed["new"]["ref"]], ["accounts", "show", "dewi_manja88"],
                 ["cases", "list"], ["messages", "list", "--json"], ["outbox", "list"]):
        proc = subprocess.run([sys.executable, "-c", probe, "--config", str(seeded_store.config), *args],
                              capture_output=True, text=True, cwd=REPO, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.strip().splitlines()[-1] == "[]", (args, proc.stderr)


def test_to_json_writes_what_json_dumps_writes():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from abuse_intake.cli.common import to_json

    leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
    value = st.recursive(leaf, lambda inner: st.lists(inner) | st.tuples(inner, inner)
                         | st.dictionaries(st.text() | st.integers(), inner), max_leaves=30)

    @settings(max_examples=500, deadline=None)
    @given(value)
    def check(v):
        assert to_json(v) == _dumps(v)
        # the value stays exact once parsed (compared as text: NaN != NaN)
        assert json.dumps(json.loads(to_json(v))) == json.dumps(json.loads(json.dumps(v, default=str)))

    check()
    assert to_json({"when": __import__("datetime").date(2026, 1, 2)}) == '{\n  "when": "2026-01-02"\n}'
