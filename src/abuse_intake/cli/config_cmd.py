"""`abuse-intake config check|show`: validate and inspect the configuration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from .. import config as config_mod
from .common import App, echo, echo_json, pass_app


@click.group("config")
def config_group() -> None:
    """Check or show the configuration.

    \b
    Example:
      abuse-intake --config config.toml config check
    """


@config_group.command("check")
@pass_app
def check(app: App) -> None:
    """Load and validate the configuration; exit 78 naming the bad key.

    \b
    Example:
      abuse-intake --config /etc/abuse-intake/config.toml config check
    """
    s = app.settings
    config_mod.check_secrets(s)
    echo(f"ok: {s.source} (mailbox {s.mailbox.scheme}, outgoing {s.outgoing.scheme}, "
               f"{len(s.categories)} categories)")


@config_group.command("show")
@pass_app
def show(app: App) -> None:
    """Print the effective settings as JSON, secrets masked.

    Passwords are never read into the output: only the names of the
    environment variables or files that hold them are shown.

    \b
    Example:
      abuse-intake config show
    """
    echo_json(_plain(dataclasses.asdict(app.settings)))


def _plain(value):
    if isinstance(value, dict):
        return {k: ("***" if "password" in k and k not in ("password_env", "password_file") and v else _plain(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


COMMANDS = [config_group]
