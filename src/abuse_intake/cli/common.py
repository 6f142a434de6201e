"""Shared CLI plumbing: lazy settings and database, JSON and table output."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import click

from .. import config as config_mod
from ..errors import InvalidActionError
from ..store.db import open_db
from ..text import printable


@dataclass
class App:
    config_path: str | None
    verbose: int = 0
    _settings: Any = None
    _db: Any = None

    @property
    def settings(self) -> config_mod.Settings:
        if self._settings is None:
            self._settings = config_mod.load(config_mod.find_config_path(self.config_path))
        return self._settings

    @property
    def db(self):
        if self._db is None:
            self._db = open_db(self.settings.database_path, self.settings.busy_timeout_ms)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.conn.close()
            self._db = None


pass_app = click.make_pass_decorator(App)

# The library names the input at fault by its parameter (InvalidActionError.field)
# and speaks of the thing; the CLI adds the option a user types.
OPTION_OF = {"by": "--by", "to": "--to", "note": "--note", "text": "--text", "severity": "--severity",
             "violation": "--violation", "account_id": "--account"}


@contextmanager
def in_cli_words(**hints: str):
    """Re-raise a library InvalidActionError with the CLI's wording added: `hints[field]`
    when given (e.g. the command to run next), else the option's name."""
    try:
        yield
    except InvalidActionError as exc:
        hint = hints.get(exc.field or "") or OPTION_OF.get(exc.field or "")
        if not hint:
            raise
        raise InvalidActionError(f"{exc} ({hint})", exc.field) from None


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def echo_table(rows: Sequence[dict], columns: Sequence[str], empty: str = "(none)") -> None:
    """A plain aligned table; wide cells are cut so a terminal row stays one line."""
    if not rows:
        click.echo(empty)
        return
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [min(max(len(c), *(len(row[i]) for row in cells)), 48) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in cells:
        click.echo("  ".join(v[:w].ljust(w) for v, w in zip(row, widths)).rstrip())


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v) or "-"
    # Control characters from email text would garble the terminal.
    return printable(str(v))


def is_tty() -> bool:
    return sys.stdout.isatty()
