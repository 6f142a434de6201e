"""`abuse-intake backup PATH` and `abuse-intake init`."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import click

from .common import App, echo_json, pass_app


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def backup(app: App, path: Path, force: bool, as_json: bool) -> None:
    """Copy the whole store (one SQLite file) consistently, while polls go on.

    Uses SQLite's online backup API: the copy is the database as of one
    commit, checked with PRAGMA quick_check, owner-only (0600). PATH may be a
    directory: the file is then named abuse-intake-YYYYmmddTHHMMSSZ.db.
    To restore, see README "Backup and restore".

    \b
    Exit codes: 0 done; 73 PATH exists (use --force) or cannot be written;
    74 the copy failed; 78 no database at database.path.

    \b
    Example:
      abuse-intake --config /etc/abuse-intake/config.toml backup /var/backups/abuse-intake/
    """
    from ..errors import ExportError
    from ..store.backup import backup as do_backup

    if path.is_dir():
        path = path / datetime.now(timezone.utc).strftime("abuse-intake-%Y%m%dT%H%M%SZ.db")
    if path.exists() and not force:
        raise ExportError(f"{path} exists (use --force to replace it)")
    if path.resolve() == Path(app.settings.database_path).resolve():
        raise ExportError(f"{path} is the database itself")
    result = do_backup(app.existing_db(), path)
    if as_json:
        echo_json(dataclasses.asdict(result))
    else:
        click.echo(f"backup: {result.path} ({result.size} bytes, schema {result.schema_version}, "
                   f"{result.messages} messages, quick_check {result.check})")


@click.command()
@pass_app
def init(app: App) -> None:
    """Create the database at `[database] path` (or say that it exists).

    Other commands create a missing database too, but say so on stderr:
    `init` is the deliberate way, for a new installation.

    \b
    Example:
      abuse-intake --config /etc/abuse-intake/config.toml init
    """
    from ..store.db import open_db
    from ..store.health import schema_version

    path = app.settings.database_path
    existed = Path(path).exists()
    db = open_db(path, app.settings.busy_timeout_ms)
    try:
        version = schema_version(db)
    finally:
        db.conn.close()
    word = "exists" if existed else "created"
    click.echo(f"database {word}: {path} (schema {version})")


COMMANDS = [backup, init]
