"""`abuse-intake purge`: delete raw mail and attachment contents past [retention]."""

from __future__ import annotations

import click

from .common import App, echo, echo_json, in_cli_words, pass_app


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="The result as one JSON object.")
@pass_app
def purge(app: App, dry_run: bool, as_json: bool) -> None:
    """Delete the raw bytes and attachment contents [retention] no longer keeps
    (rows, hashes and decisions stay), in short transactions, then give the
    space back (incremental vacuum). Open, needs_info, appealed and held
    referral cases are never purged. Each poll also purges a bounded slice.

    \b
    Example:
      abuse-intake purge --dry-run --json
    """
    from ..cases import retention
    with in_cli_words():
        result = retention.purge(app.db, app.settings.retention, dry_run=dry_run)
    if as_json:
        echo_json(result.as_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    echo(f"{verb} the bytes of {result.messages} message(s) ({result.bytes_freed} bytes)"
         + ("" if dry_run else f"; {result.raw_deleted} raw, {result.attachments_deleted} attachment content(s); "
                               f"{result.pages_vacuumed} page(s) given back"))
    if result.vacuum == "none" and not dry_run:
        echo("abuse-intake: note: this store was made without auto_vacuum=INCREMENTAL: freed space is reused "
             "but the file does not shrink (see README, Retention)", err=True)


COMMANDS = [purge]
