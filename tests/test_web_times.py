"""Times in [platform] timezone: the console, `cases list` and the outcome emails."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from abuse_intake import localtime
from abuse_intake.cases import triage
from abuse_intake.cli import cli as cli_group
from abuse_intake.store.db import open_db
from helpers import write_config
from triage_fixtures import add_case, example_settings


def test_local_formats_stored_utc_in_the_zone():
    assert localtime.local("2026-06-01T20:00:00Z", "Asia/Jakarta") == "2026-06-02 03:00 WIB"
    assert localtime.local("2026-06-01T20:00:00Z", "UTC", seconds=True) == "2026-06-01 20:00:00 UTC"
    assert localtime.local(None, "UTC") == "" and localtime.local("garbage", "UTC") == "garbage"


@pytest.mark.parametrize("tz, day", [("UTC", "2026-07-01"), ("Asia/Jakarta", "2026-07-02")])
def test_outcome_email_gives_the_restriction_end_as_a_local_day(tmp_path, tz, day):
    # the end day is a detail outcome emails carry only with outcome_detail = "full" (issue 14.4)
    settings = example_settings(tmp_path, platform={"timezone": tz}, database={"path": str(tmp_path / "t.db")},
                                notify={"outcome_detail": "full"})
    db = open_db(settings.database_path)
    try:
        case = add_case(db, account_id="dewi_manja88", reporters=[("ana@example.com", "en")])
        triage.decide(db, settings, case["ref"], by="ana", violation="prostitution",
                      now=datetime(2026, 6, 1, 20, 0, tzinfo=timezone.utc))
        body = db.execute("SELECT body_text FROM outbox WHERE kind = 'outcome_actioned'").fetchone()[0]
    finally:
        db.conn.close()
    assert f"until {day}" in body


def test_cases_list_table_shows_local_times_and_json_stays_utc(tmp_path):
    cfg = write_config(tmp_path, replace={'timezone = "UTC"': 'timezone = "Asia/Jakarta"'})
    from abuse_intake import config
    db = open_db(config.load(cfg).database_path)
    add_case(db, account_id="dewi_manja88", at="2026-06-01T20:00:00Z")
    db.conn.close()
    table = CliRunner().invoke(cli_group, ["--config", str(cfg), "cases", "list"]).output
    assert "2026-06-02 03:00 WIB" in table
    listed = CliRunner().invoke(cli_group, ["--config", str(cfg), "cases", "list", "--json"]).output
    assert '"opened_at": "2026-06-01T20:00:00Z"' in listed
