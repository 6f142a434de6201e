"""The transparency report (issue 14.6): `report transparency` and /stats/transparency.

The figures are checked exactly on a store whose every row and time is known
(the shared helpers), then on one made by the real poll, CLI and web console."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone

import pytest

from abuse_intake import config
from abuse_intake.cases.transparency import NOTE_TRUSTED, transparency_report
from abuse_intake.store import appeals as appeal_store
from abuse_intake.store.db import open_db, transaction
from helpers import add_case, add_message, add_report, cli, config_text, email, make_maildir, run, write_config

TRUSTED = "hotline@safer.example"


def _decide(db, case_id: int, decision: str, at: str) -> None:
    db.execute("UPDATE cases SET status = 'decided', decision = ?, decided_at = ?, decided_by = 'rina' WHERE id = ?",
               (decision, at, case_id))


def _sanction(db, case_id: int, account: str, action: str, category: str, at: str) -> int:
    return db.execute(
        "INSERT INTO sanctions (account_id, case_id, action, functions, starts_at, category, severity, rule, "
        "violation_number, decided_by, created_at) VALUES (?,?,?,'[]',?,?,'high','high#1',1,'rina',?)",
        (account, case_id, action, at, category, at)).lastrowid


def _appeal(db, *, sanction_id, case_id, account, received: str, status: str = "open", decided: str | None = None):
    msg, _ = add_message(db, reporter="owner@example.com", kind="appeal", at=received)
    a = appeal_store.insert_appeal(db, message_id=msg, kind="sanction", account_id=account, sanction_id=sanction_id,
                                   case_id=case_id, appellant="owner@example.com", language="id",
                                   received_at=received, status="open")
    if decided:
        appeal_store.record_appeal_decision(db, a, status=status, by="lead", at=decided, note="n", forced=False,
                                            force_note=None)


@pytest.fixture
def may(tmp_path):
    """May 2026, row by row; the figures each test expects follow from these lines."""
    cfg = write_config(tmp_path, extra=f'[notifiers]\ntrusted = ["{TRUSTED.upper()}"]\n')
    settings = config.load(cfg)
    db = open_db(settings.database_path)
    with transaction(db):
        # 1: a user and a trusted notifier; decided 48 h after the first report; restricted; appeal overturned (24 h)
        c1 = add_case(db, account_id="acc_a", at="2026-05-02T10:00:00Z")
        add_report(db, case_id=c1["id"], reporter="ana@example.com", account_id="acc_a", at="2026-05-02T10:00:00Z")
        add_report(db, case_id=c1["id"], reporter=TRUSTED, account_id="acc_a", at="2026-05-03T10:00:00Z")
        _decide(db, c1["id"], "violation", "2026-05-04T10:00:00Z")
        s1 = _sanction(db, c1["id"], "acc_a", "restrict", "prostitution", "2026-05-04T10:00:00Z")
        _appeal(db, sanction_id=s1, case_id=c1["id"], account="acc_a", received="2026-05-05T10:00:00Z",
                status="overturned", decided="2026-05-06T10:00:00Z")
        # 2: a partner's ARF report; decided after 6 h; banned; appeal upheld after 12 h
        c2 = add_case(db, account_id="acc_b", category="human_trafficking", severity="critical",
                      at="2026-05-10T00:00:00Z")
        r2 = add_report(db, case_id=c2["id"], reporter="abuse@partner.example", account_id="acc_b",
                        category="human_trafficking", severity="critical", at="2026-05-10T00:00:00Z")
        db.execute("UPDATE reports SET source = 'arf' WHERE id = ?", (r2,))
        _decide(db, c2["id"], "violation", "2026-05-10T06:00:00Z")
        s2 = _sanction(db, c2["id"], "acc_b", "ban", "human_trafficking", "2026-05-10T06:00:00Z")
        _appeal(db, sanction_id=s2, case_id=c2["id"], account="acc_b", received="2026-05-11T00:00:00Z",
                status="upheld", decided="2026-05-11T12:00:00Z")
        # 3: no violation after 24 h
        c3 = add_case(db, account_id="acc_c", category="other", severity="low",
                      reporters=[("cici@example.com", "id")], at="2026-05-20T00:00:00Z")
        _decide(db, c3["id"], "no_violation", "2026-05-21T00:00:00Z")
        # 4: reported in April, decided (warned) on the first instant of May after 12 h; an April appeal
        #    of an earlier sanction decided in May after 72 h
        c4 = add_case(db, account_id="acc_d", category="other", severity="low",
                      reporters=[("dedi@example.com", "en")], at="2026-04-30T12:00:00Z")
        _decide(db, c4["id"], "violation", "2026-05-01T00:00:00Z")
        _sanction(db, c4["id"], "acc_d", "warn", "other", "2026-05-01T00:00:00Z")
        _appeal(db, sanction_id=s1, case_id=c1["id"], account="acc_a", received="2026-04-29T00:00:00Z",
                status="upheld", decided="2026-05-02T00:00:00Z")
        # 5: the last second of May, still open; an appeal still open
        add_case(db, account_id="acc_e", reporters=[("eko@example.com", "id")], at="2026-05-31T23:59:59Z")
        _appeal(db, sanction_id=s2, case_id=c2["id"], account="acc_b", received="2026-05-30T00:00:00Z")
        # 6: reported in May, decided (content removed) on the first instant of June: its decision is not May's
        c6 = add_case(db, account_id="acc_f", category="sexual_content", severity="medium",
                      reporters=[("fina@example.com", "id")], at="2026-05-15T00:00:00Z")
        _decide(db, c6["id"], "violation", "2026-06-01T00:00:00Z")
        _sanction(db, c6["id"], "acc_f", "remove_content", "sexual_content", "2026-06-01T00:00:00Z")
        # outside May altogether
        add_case(db, account_id="acc_g", reporters=[("gita@example.com", "id")], at="2026-06-01T00:00:00Z")
    yield cfg, settings, db
    db.conn.close()


EXPECTED_MAY = {
    "period_from": "2026-05-01", "period_to": "2026-05-31",
    "notices_total": 6,
    "notices_by_category": {"human_trafficking": 1, "prostitution": 3, "sexual_solicitation": 0,
                            "sexual_content": 1, "other": 1},
    "notices_by_notifier": {"user": 4, "trusted": 1, "partner": 1},
    "notices_from_suspended_notifiers": 0,
    "measures_total": 3,
    "measures_by_type": {"warn": 1, "restrict": 1, "ban": 1, "remove_content": 0},
    "measures_by_type_and_category": {"warn": {"other": 1}, "restrict": {"prostitution": 1},
                                      "ban": {"human_trafficking": 1}, "remove_content": {}},
    "decisions_total": 4, "decisions_by_outcome": {"violation": 3, "no_violation": 1},
    "decisions_automated": 0, "decisions_human": 4,
    "median_hours_to_decision": 18.0,  # of 6, 12, 24, 48
    "p90_hours_to_decision": 48.0,  # nearest rank: the 4th of 4
    "appeals_received": 3, "appeals_upheld": 2, "appeals_overturned": 1,
    "median_hours_to_appeal_decision": 24.0,  # of 12, 24, 72
}


def test_the_figures_of_a_known_month(may):
    cfg, settings, db = may
    value = transparency_report(db, settings, date(2026, 5, 1), date(2026, 5, 31)).as_dict()
    notes = value.pop("notes")
    assert value == EXPECTED_MAY
    assert NOTE_TRUSTED not in notes  # the trusted list is configured
    assert any("suspension does not exist" in n for n in notes) and any("staff member" in n for n in notes)


def test_without_a_trusted_list_trusted_notifiers_count_as_users(may, tmp_path):
    _, settings, db = may
    (tmp_path / "plain.toml").write_text(config_text(tmp_path))
    plain = config.load(tmp_path / "plain.toml")
    value = transparency_report(db, plain, date(2026, 5, 1), date(2026, 5, 31))
    assert value.notices_by_notifier == {"user": 5, "trusted": 0, "partner": 1}
    assert NOTE_TRUSTED in value.notes


def test_one_day_and_an_empty_period(may):
    _, settings, db = may
    day = transparency_report(db, settings, date(2026, 5, 31), date(2026, 5, 31))
    assert day.notices_total == 1 and day.notices_by_notifier["user"] == 1 and day.decisions_total == 0
    assert day.median_hours_to_decision is None and day.p90_hours_to_decision is None
    assert day.appeals_received == 0 and day.median_hours_to_appeal_decision is None
    empty = transparency_report(db, settings, date(2025, 1, 1), date(2025, 12, 31))
    assert (empty.notices_total, empty.measures_total, empty.decisions_total, empty.appeals_received) == (0, 0, 0, 0)


def test_cli_json_csv_and_text(may):
    cfg = may[0]
    ran = run(cfg, "report", "transparency", "--from", "2026-05-01", "--to", "2026-05-31", "--json")
    assert ran.returncode == 0, ran.stderr
    got = json.loads(ran.stdout)
    got.pop("notes")
    assert got == EXPECTED_MAY

    ran = run(cfg, "report", "transparency", "--from", "2026-05-01", "--to", "2026-05-31", "--csv")
    assert ran.returncode == 0, ran.stderr
    rows = list(csv.reader(io.StringIO(ran.stdout)))
    assert rows[0] == ["section", "key", "subkey", "value"]
    table = {(s, k, sub): v for s, k, sub, v in rows[1:]}
    assert len(table) == len(rows) - 1  # no row twice
    assert table[("period", "from", "")] == "2026-05-01"
    assert table[("notices_by_notifier", "partner", "")] == "1"
    assert table[("measures_by_type", "remove_content", "")] == "0"
    assert table[("measures_by_type_and_category", "ban", "human_trafficking")] == "1"
    assert table[("time_to_decision_hours", "median", "")] == "18.0"
    assert table[("time_to_decision_hours", "p90", "")] == "48.0"
    assert table[("appeals", "overturned", "")] == "1"
    assert table[("decisions", "automated", "")] == "0" and table[("decisions", "human", "")] == "4"

    ran = run(cfg, "report", "transparency", "--from", "2026-05-01", "--to", "2026-05-31")
    assert ran.returncode == 0 and "  trusted: 1" in ran.stdout and "note: notifier suspension" in ran.stdout


def test_cli_refuses_a_bad_period(may):
    cfg = may[0]
    ran = run(cfg, "report", "transparency", "--from", "2026-05-31", "--to", "2026-05-01")
    assert ran.returncode == 65 and "before it starts" in ran.stderr and "--to" in ran.stderr
    ran = run(cfg, "report", "transparency", "--from", "May", "--to", "2026-05-01")
    assert ran.returncode == 65 and "YYYY-MM-DD" in ran.stderr and "--from" in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1


def test_a_bad_trusted_list_is_a_config_error(tmp_path):
    cfg = write_config(tmp_path, extra='[notifiers]\ntrusted = ["not-an-address"]\n')
    with pytest.raises(config.ConfigError, match=r"notifiers\.trusted\[0\]"):
        config.load(cfg)


# -- through the real pipeline, CLI and web console ----------------------------------------------

@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from test_web_app import ref_of
    from web_support import Server, add_users, build_store

    tmp = tmp_path_factory.mktemp("transparency")
    cfg = build_store(tmp)
    settings = config.load(cfg)
    add_users(settings)
    ref = ref_of((cfg,), "cantik_vulgar")
    assert cli(cfg, "decide", ref, "--violation", "sexual_content", "--by", "tri1").returncode == 0
    make_maildir(tmp / "mailbox", [email(
        sender="owner@example.com", subject="Banding, akun saya dibatasi",
        body="Akun saya cantik_vulgar dibatasi, itu foto kebaya biasa. Mohon ditinjau kembali.",
        date=datetime.now(timezone.utc).replace(microsecond=0))])
    assert cli(cfg, "poll").returncode == 0
    [appeal] = json.loads(run(cfg, "appeals", "list", "--json").stdout)
    assert run(cfg, "appeals", "decide", str(appeal["id"]), "--overturn", "--by", "lead1",
               "--note", "Foto biasa.").returncode == 0
    server = Server(settings)
    yield cfg, settings, server
    server.close()


def _week() -> tuple[str, str]:
    today = datetime.now(timezone.utc).date()
    return (today - timedelta(days=7)).isoformat(), today.isoformat()


def test_the_report_of_a_store_made_by_poll(console):
    cfg = console[0]
    start, end = _week()
    got = json.loads(run(cfg, "report", "transparency", "--from", start, "--to", end, "--json").stdout)
    # build_store's six emails: two on dewi_manja88 (prostitution), trafficking, an account-less
    # "jual cewek" (selling girls: trafficking too), a scam, a nude profile photo; the appeal is not a notice.
    assert got["notices_total"] == 6
    assert got["notices_by_notifier"] == {"user": 6, "trusted": 0, "partner": 0}
    assert got["notices_by_category"] == {"human_trafficking": 2, "prostitution": 2, "sexual_solicitation": 0,
                                          "sexual_content": 1, "other": 1}
    assert got["decisions_total"] == 1 and got["decisions_by_outcome"] == {"violation": 1, "no_violation": 0}
    assert got["decisions_human"] == 1 and got["decisions_automated"] == 0
    assert got["measures_total"] == 1 and sum(got["measures_by_type"].values()) == 1
    [(action, cats)] = [(a, c) for a, c in got["measures_by_type_and_category"].items() if c]
    assert cats == {"sexual_content": 1} and got["measures_by_type"][action] == 1
    # the nude-photo report was dated five days ago and decided just now
    assert 120 <= got["median_hours_to_decision"] == got["p90_hours_to_decision"] < 120.2
    assert (got["appeals_received"], got["appeals_upheld"], got["appeals_overturned"]) == (1, 0, 1)
    assert 0 <= got["median_hours_to_appeal_decision"] < 0.2


def test_the_dashboard_links_the_same_figures_as_tables(console):
    from abuse_intake.cases.transparency import transparency_report
    from test_web_app import client

    cfg, settings, _ = console
    anonymous = client(console)
    assert anonymous.get("/stats/transparency")[0] == 302  # to the login page
    viewer = client(console, "view1")
    status, _, body = viewer.get("/stats")
    assert status == 200 and b'href="/stats/transparency"' in body
    start, end = _week()
    status, _, page = viewer.get(f"/stats/transparency?from={start}&to={end}")
    assert status == 200
    db = open_db(settings.database_path)
    try:
        t = transparency_report(db, settings, date.fromisoformat(start), date.fromisoformat(end))
    finally:
        db.conn.close()
    text = page.decode()
    assert f"<h2>Notices ({t.notices_total})</h2>" in text
    for c, n in t.notices_by_category.items():
        assert f"<tr><td>{c}</td><td>{n}</td></tr>" in text
    assert "<tr><td>user</td><td>6</td></tr>" in text and "<tr><td>trusted</td><td>0</td></tr>" in text
    assert f"<tr><th>overturned</th><td>{t.appeals_overturned}</td></tr>" in text
    assert f"<tr><th>median hours, first report to decision</th><td>{t.median_hours_to_decision}</td></tr>" in text
    assert "notifier suspension does not exist yet" in text
    status, _, bad = viewer.get("/stats/transparency?from=2026-05-31&to=2026-05-01")
    assert status == 400 and b"before it starts" in bad
    # the default period is the last 30 days, which holds the same notices
    assert f"<h2>Notices ({t.notices_total})</h2>".encode() in viewer.get("/stats/transparency")[2]


def test_a_category_no_longer_configured_still_counts(may):
    _, settings, db = may
    with transaction(db):
        c = add_case(db, account_id="acc_old", category="other", severity="low",
                     reporters=[("lama@example.com", "id")], at="2026-05-07T00:00:00Z")
        _sanction(db, c["id"], "acc_old", "warn", "spam_legacy", "2026-05-07T01:00:00Z")
    value = transparency_report(db, settings, date(2026, 5, 1), date(2026, 5, 31))
    assert value.measures_by_type["warn"] == 2 and value.measures_by_type_and_category["warn"] == {
        "other": 1, "spam_legacy": 1}
    assert value.categories() == [*settings.categories, "spam_legacy"]
