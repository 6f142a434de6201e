"""The command line: the only place that prints, draws tables and picks exit codes.

Each sub-module defines click commands for one area (and lists them in
COMMANDS); this module names them in COMMANDS below, imports a module only
when its command runs (a staff command must not pay for the pipeline's
imports), and turns library errors (IntakeError) into one line on stderr and
a sysexits-style exit code.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys

import click

from ..errors import EX_IOERR, IntakeError
from ..text import printable
from .common import App, LazyGroup

# command name -> "module:attribute" in this package (a new command: one line here)
COMMANDS = {
    "poll": ".poll:poll",
    "serve-smtp": ".poll:serve_smtp",
    "cases": ".cases:cases",
    "decide": ".triage:decide",
    "messages": ".messages:messages",
    "quarantine": ".quarantine:quarantine",
    "send": ".outbox:send",
    "outbox": ".outbox:outbox_group",
    "accounts": ".accounts:accounts",
    "sanctions": ".sanctions:sanctions",
    "config": ".config_cmd:config_group",
    "users": ".users:users",
    "web": ".web:web",
    # operators (issue 13)
    "watch": ".watch:watch",
    "status": ".status:status",
    "doctor": ".doctor:doctor",
    "backup": ".backup:backup",
    "init": ".backup:init",
    "oauth2": ".oauth2:oauth2_group",
    "appeals": ".appeals:appeals",
    "report": ".report:report",
    "purge": ".purge:purge",  # retention (issue 14.5)
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", metavar="PATH", envvar="ABUSE_INTAKE_CONFIG",
              help="TOML configuration (default: $ABUSE_INTAKE_CONFIG, else ./config.toml).")
@click.option("-v", "--verbose", count=True, help="Say more (repeat for debug detail).")
@click.version_option(package_name="abuse-intake")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """Turn the abuse-report mailbox into deduplicated cases, decisions and replies.

    \b
    Example, from cron every minute:
      abuse-intake --config /etc/abuse-intake/config.toml poll
    """
    _setup_logging(verbose)
    ctx.obj = App(config_path=config_path, verbose=verbose)
    ctx.call_on_close(ctx.obj.close)


def _setup_logging(verbose: int) -> None:
    """Quiet by default (cron); -v tells what each run did, -vv every message.

    Only our own logger is turned up: third-party loggers (imapclient logs
    protocol lines at debug level) stay at warnings, so nothing secret is shown.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("abuse-intake: %(levelname)s: %(message)s"))
    log = logging.getLogger("abuse_intake")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="abuse-intake", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("abuse-intake: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except IntakeError as exc:
        # One line, and no terminal escapes from a server's reply or a sender's text.
        click.echo(f"abuse-intake: {printable(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # `messages list --json | head`: the reader has all it wanted. Point stdout
        # at /dev/null so the interpreter's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)  # what Python's documentation advises on EPIPE
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except sqlite3.DatabaseError as exc:
        # A corrupt or foreign file met mid-command (most are caught at open): the
        # database cannot be used, said in one line, never a traceback.
        click.echo(f"abuse-intake: the database cannot be used: {printable(str(exc))}", err=True)
        sys.exit(EX_IOERR)
    sys.exit(0)
