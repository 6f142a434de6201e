"""`abuse-intake report transparency`: the figures a transparency report publishes (issue 14.6)."""

from __future__ import annotations

import csv
import io

import click

from ..cases import transparency
from .common import App, echo, echo_json, in_cli_words, pass_app

CSV_COLUMNS = ("section", "key", "subkey", "value")


@click.group()
def report() -> None:
    """Reports over a period.

    \b
    Example:
      abuse-intake report transparency --from 2026-01-01 --to 2026-06-30
    """


@report.command("transparency")
@click.option("--from", "period_from", required=True, metavar="DATE", help="First day (YYYY-MM-DD, UTC), included.")
@click.option("--to", "period_to", required=True, metavar="DATE", help="Last day (YYYY-MM-DD, UTC), included.")
@click.option("--json", "fmt", flag_value="json", help="One JSON object (shape in the README).")
@click.option("--csv", "fmt", flag_value="csv", help="CSV rows section,key,subkey,value (shape in the README).")
@pass_app
def transparency_cmd(app: App, period_from: str, period_to: str, fmt: str | None) -> None:
    """Notices, measures, decision times and appeals for a period (DSA Arts. 15 and 24).

    \b
    Example:
      abuse-intake report transparency --from 2026-01-01 --to 2026-06-30 --csv > h1.csv
    """
    with in_cli_words(**{"from": "--from", "to": "--to", "period_to": "--to"}):
        start = transparency.parse_day(period_from, "from")
        end = transparency.parse_day(period_to, "to")
        value = transparency.transparency_report(app.db, app.settings, start, end)
    if fmt == "json":
        echo_json(value.as_dict())
        return
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(value.rows())
        click.echo(buf.getvalue(), nl=False)
        return
    section = None
    for sec, key, sub, v in value.rows():
        if sec != section:
            echo(f"{sec}:")
            section = sec
        echo(f"  {key}{' / ' + sub if sub else ''}: {'-' if v == '' else v}")
    for note in value.notes:
        echo(f"note: {note}")
