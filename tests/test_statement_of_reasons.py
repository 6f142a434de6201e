"""The complete statement of reasons (issue 14.3) in `sanctions export` and the
enforcement JSON, through the real console script on a real SQLite file."""

from __future__ import annotations

import json
import sys

from abuse_intake import config
from abuse_intake.store.db import open_db, transaction
from helpers import cli, write_config
from triage_fixtures import add_case


def test_export_and_enforcement_carry_facts_ground_automation_and_redress(tmp_path):
    script = tmp_path / "enforce.py"
    log = tmp_path / "enforced.jsonl"
    script.write_text(f"import sys\nopen({str(log)!r}, 'a').write(sys.stdin.read())\n")
    cfg = write_config(tmp_path, replace={
        "command = []": f"command = ['{sys.executable}', '{script}']",
        'redress_out_of_court = ""': 'redress_out_of_court = "ODS Body Example, ods.example"'})
    db = open_db(config.load(cfg).database_path)
    with transaction(db):
        c = add_case(db, account_id="papi.rendy", category="human_trafficking", severity="critical",
                     reporters=(("ana@example.com", "id"), ("bob@example.com", "en")))
    db.conn.close()
    proc = cli(cfg, "decide", c["ref"], "--violation", "human_trafficking", "--by", "rina",
               "--note", "profile offers girls of junior-high age")
    assert proc.returncode == 0, proc.stderr
    [line] = cli(cfg, "sanctions", "export").stdout.splitlines()
    rec = json.loads(line)
    assert rec["facts"] == {"note": "profile offers girls of junior-high age", "categories": ["human_trafficking"],
                            "reports": 2, "reporters": 2}
    assert rec["ground"]["guideline"] == "https://obrolan.example/guidelines#exploitation"
    assert "21/2007" in rec["ground"]["legal"]
    assert rec["automated"] == {"detection": True, "decision": False}
    assert rec["redress"]["internal_appeal"]["address"] == "appeals@obrolan.example"
    assert rec["redress"]["internal_appeal"]["until"] > rec["starts_at"]
    assert rec["redress"]["out_of_court"] == "ODS Body Example, ods.example"
    assert rec["redress"]["courts"]
    for words in ("Facts: profile offers girls", "Legal ground: UU No. 21/2007", "ODS Body Example",
                  "the decision was not automated"):
        assert words in rec["statement"]
    assert "ana@example.com" not in line and "bob@example.com" not in line  # never who reported
    enforced = [json.loads(x) for x in log.read_text().splitlines()]
    assert enforced[0]["facts"]["note"] == "profile offers girls of junior-high age"
    assert enforced[0]["redress"] == rec["redress"]
