"""The command line: the only place that prints, draws tables and picks exit codes.

Each sub-module defines click commands for one area and lists them in
COMMANDS; this module gathers them under one group and turns library errors
(IntakeError) into one line on stderr and a sysexits-style exit code.
"""

from __future__ import annotations

import logging
import sys

import click

from ..errors import IntakeError
from . import accounts, cases, config_cmd, messages, outbox, poll, quarantine, sanctions, triage
from .common import App

MODULES = (poll, cases, triage, messages, quarantine, outbox, accounts, sanctions, config_cmd)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


for _module in MODULES:
    for _command in getattr(_module, "COMMANDS", ()):
        cli.add_command(_command)


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
        click.echo(f"abuse-intake: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)
