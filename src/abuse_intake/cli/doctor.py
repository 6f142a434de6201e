"""`abuse-intake doctor`: check an installation, one line per check."""

from __future__ import annotations

import sys

import click

from .common import App, pass_app

WORDS = ("ok", "WARN", "FAIL")


@click.command()
@pass_app
def doctor(app: App) -> None:
    """Check the config, file modes, mailbox, SMTP, templates, database, disk and enforcement command.

    Nothing is sent, marked or created: the mailbox is opened read-only and
    SMTP goes as far as AUTH. Secret files (passwords, OAuth2 secrets and
    tokens) and the database should be readable by the service user only.

    \b
    Exit codes: 0 all good; 1 a warning; 2 a failure.

    \b
    Example:
      sudo -u abuse-intake abuse-intake --config /etc/abuse-intake/config.toml doctor
    """
    from ..doctor import run_checks
    from ..errors import ConfigError

    try:
        settings = app.settings
    except ConfigError as exc:
        click.echo(f"FAIL  config: {exc}")
        sys.exit(2)
    click.echo(f"ok    config: {settings.source}")
    worst = 0
    for check in run_checks(settings, app.existing_db):
        worst = max(worst, check.level)
        click.echo(f"{WORDS[check.level]:<5} {check.name}: {check.text}")
    sys.exit(worst)


COMMANDS = [doctor]
