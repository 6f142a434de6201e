"""`send` and `outbox list`, mounted on a group like the real one.

The commands are mounted on a small group built the same way as
abuse_intake.cli.cli, so these tests do not depend on every other area's
module importing cleanly.
"""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from abuse_intake import config
from abuse_intake.cli import outbox as outbox_cli
from abuse_intake.cli.common import App
from abuse_intake.notify import outbox
from abuse_intake.notify.render import Renderer
from abuse_intake.store.db import transaction
from helpers import write_config
from notify_fixtures import add_case, add_message, db_for


@click.group()
@click.option("--config", "config_path")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    ctx.obj = App(config_path=config_path)
    ctx.call_on_close(ctx.obj.close)


for _command in outbox_cli.COMMANDS:
    cli.add_command(_command)


def _queue(cfg, recipients):
    settings = config.load(cfg)
    db = db_for(settings)
    renderer = Renderer(settings)
    for i, rcpt in enumerate(recipients):
        source, mid = add_message(db, reporter=rcpt)
        case = add_case(db, account_id=f"cli_account_{i}")
        with transaction(db):
            outbox.queue_report_reply(db, settings, renderer, source_message=source, recipient=rcpt,
                                      language="en", reporter_name="Ana", reply_to_message_id=mid,
                                      reporter_subject="Report", cases=[case])
    db.conn.close()


def run(cfg, *args):
    return CliRunner().invoke(cli, ["--config", str(cfg), *args], catch_exceptions=False)


def test_send_and_list(tmp_path, smtp_server):
    cfg = write_config(tmp_path, outgoing_url=smtp_server.url())
    _queue(cfg, ["ana@example.com", "bob@example.com"])
    listed = json.loads(run(cfg, "outbox", "list", "--status", "pending", "--json").output)
    assert [r["to"] for r in listed] == ["ana@example.com", "bob@example.com"]
    assert set(listed[0]) >= {"id", "kind", "to", "subject", "language", "case_refs", "status", "attempts",
                              "message_id", "created_at", "sent_at"}
    assert listed[0]["case_refs"] == ["OB-000001"] and listed[0]["kind"] == "ack"

    result = run(cfg, "send")
    assert result.exit_code == 0
    assert result.output.strip() == "sent 2, deferred 0, failed 0, held 0; 0 waiting"
    assert len(smtp_server.messages) == 2

    sent = json.loads(run(cfg, "outbox", "list", "--status", "sent", "--json").output)
    assert len(sent) == 2 and all(r["sent_at"] for r in sent)
    assert json.loads(run(cfg, "outbox", "list", "--status", "pending", "--json").output) == []
    table = run(cfg, "outbox", "list").output
    assert "ana@example.com" in table and "OB-000001" in table and table.startswith("ID")


def test_send_exits_75_when_the_server_is_down(tmp_path, smtp_server):
    cfg = write_config(tmp_path, outgoing_url=smtp_server.url())
    _queue(cfg, ["ana@example.com"])
    smtp_server.stop()
    result = CliRunner().invoke(cli, ["--config", str(cfg), "send", "--json"])
    assert result.exit_code == 75
    data = json.loads(result.stdout)
    assert data["unreachable"] is True and data["deferred"] == 1 and data["remaining"] == 1


def test_send_with_nothing_waiting(tmp_path):
    cfg = write_config(tmp_path)
    db_for(config.load(cfg)).conn.close()  # an existing store: else the new-database notice joins the output
    result = run(cfg, "send", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["sent"] == 0
    assert run(cfg, "outbox", "list").output.strip() == "outbox is empty"


@pytest.mark.parametrize("args", [["send"], ["outbox"], ["outbox", "list"]])
def test_help_has_an_example(args):
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "abuse-intake " in result.output.split("Example", 1)[1]
