"""`abuse-intake users ...`: staff accounts of the web console."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import InvalidActionError
from .common import App, echo_json, echo_table, pass_app


def _auth():
    from ..web import auth  # late: only these commands need it
    return auth


def _read_password(password_file: Path | None) -> str:
    """From --password-file, else standard input (first line); never from an argument."""
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"cannot read {password_file}: {exc}")
    elif sys.stdin.isatty():
        text = click.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        text = sys.stdin.readline()
    password = text.splitlines()[0] if text else ""
    if not password:
        raise InvalidActionError("no password given (standard input or --password-file was empty)")
    return password


@click.group()
def users() -> None:
    """Staff accounts of the web console: add, list, disable, passwd.

    \b
    Example:
      abuse-intake users add ana --role triager < ana-password.txt
    """


_ROLE = click.Choice(["viewer", "triager", "lead"])
_PWFILE = click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
                       help="Read the password from this file (else from standard input).")


@users.command("add")
@click.argument("name")
@click.option("--role", type=_ROLE, required=True,
              help="viewer: read only; triager: decide, note, assign, link; lead: also revoke, bulk, reopen, users.")
@_PWFILE
@pass_app
def add(app: App, name: str, role: str, password_file: Path | None) -> None:
    """Add a staff user; the password comes from standard input or --password-file.

    \b
    Example:
      printf '%s\\n' 'a long passphrase' | abuse-intake users add ana --role triager
    """
    user = _auth().add_user(app.db, name, role=role, password=_read_password(password_file))
    click.echo(f"added {user.name} ({user.role})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of users.")
@pass_app
def list_users(app: App, as_json: bool) -> None:
    """Every staff user with role, state and last login.

    \b
    Example:
      abuse-intake users list --json
    """
    rows = [{"name": u.name, "role": u.role, "disabled": u.disabled, "created_at": u.created_at,
             "last_login_at": u.last_login_at} for u in _auth().list_users(app.db)]
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows, ("name", "role", "disabled", "created_at", "last_login_at"), empty="no users")


@users.command("disable")
@click.argument("name")
@pass_app
def disable(app: App, name: str) -> None:
    """Disable a user: they cannot log in and their open sessions end at once.

    \b
    Example:
      abuse-intake users disable ana
    """
    ended = _auth().disable_user(app.db, name)
    click.echo(f"disabled {name}; {ended} session(s) ended")


@users.command("enable")
@click.argument("name")
@pass_app
def enable(app: App, name: str) -> None:
    """Let a disabled user log in again.

    \b
    Example:
      abuse-intake users enable ana
    """
    _auth().enable_user(app.db, name)
    click.echo(f"enabled {name}")


@users.command("passwd")
@click.argument("name")
@_PWFILE
@pass_app
def passwd(app: App, name: str, password_file: Path | None) -> None:
    """Set a new password (standard input or --password-file); the user's sessions end.

    \b
    Example:
      abuse-intake users passwd ana --password-file new.txt
    """
    ended = _auth().set_password(app.db, name, _read_password(password_file))
    click.echo(f"password of {name} changed; {ended} session(s) ended")


COMMANDS = [users]
