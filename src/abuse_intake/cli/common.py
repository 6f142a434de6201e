"""Shared CLI plumbing: lazy settings and database, lazy command groups, JSON
(streamed for listings), tables and times given on the command line."""

from __future__ import annotations

import importlib
import json
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from json.encoder import encode_basestring
from typing import Any, Iterable, Sequence

import click

from .. import config as config_mod
from ..errors import InvalidActionError, NotFoundError
from ..text import printable


class LazyGroup(click.Group):
    """A group whose commands are imported only when one of them runs.

    `lazy` maps a command name to "module:attribute" (module relative to this
    package). A whole-process `cases show` must answer in a fraction of a
    second, and importing every command's modules (the pipeline, jinja2, the
    parsers) cost ~0.5 s before any work began. Help lists them all, so it
    imports them all.
    """

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy:
            module, attribute = self.lazy[name].split(":")
            command = getattr(importlib.import_module(module, __package__), attribute)
            self.add_command(command, name)
        return super().get_command(ctx, name)


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
        """The store, for commands that write."""
        if self._db is None:
            from ..store.db import open_db
            self._db = open_db(self.settings.database_path, self.settings.busy_timeout_ms)
            if getattr(self._db, "created", False):
                # Even under -q: a mistyped database.path in cron must reach the operator.
                click.echo(f"abuse-intake: created a new database at {self.settings.database_path}", err=True)
        return self._db

    def existing_db(self):
        """The store, never created: a missing file is a configuration error (exit 78)."""
        if self._db is None:
            from ..store.db import open_db
            self._db = open_db(self.settings.database_path, self.settings.busy_timeout_ms, create=False)
        return self._db

    @property
    def reader(self):
        """The store, for commands that only read (opened without sqlite_utils)."""
        if self._db is None:
            from ..store.db import open_reader
            self._db = open_reader(self.settings.database_path, self.settings.busy_timeout_ms)
            if getattr(self._db, "created", False):
                click.echo(f"abuse-intake: created a new database at {self.settings.database_path}", err=True)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.conn.close()
            self._db = None


pass_app = click.make_pass_decorator(App)

# The library names the input at fault by its parameter (InvalidActionError.field)
# and speaks of the thing; the CLI adds the option a user types.
OPTION_OF = {"by": "--by", "to": "--to", "note": "--note", "text": "--text", "severity": "--severity",
             "violation": "--violation", "account_id": "--account", "measure": "--measure", "reason": "--reason"}


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


def echo(text: Any = "", err: bool = False, nl: bool = True) -> None:
    """click.echo of plain text through printable() (line breaks and tabs kept): the
    one door for what the text printers show, so mail content (a subject, a name,
    an attachment's content type, a server's reply) never reaches a terminal as
    escape sequences."""
    text = "" if text is None else str(text)
    click.echo(printable(text, keep_newlines=True), err=err, nl=nl)


# json.dumps/encode_basestring escape C0 controls but, with ensure_ascii=False, pass
# DEL, C1 controls (U+009B is a one-character CSI on many terminals) and the bidi
# overrides through raw: escape them too. The value stays exact once parsed.
_NOT_ESCAPED_BY_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _json_str(value: str) -> str:
    text = encode_basestring(value)
    if value.isprintable():
        return text
    return _NOT_ESCAPED_BY_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class RowId(click.ParamType):
    """A row id from the command line. One past SQLite's integers cannot name a row:
    it is "no such thing" (exit 65), not an overflow deep in the driver."""

    name = "ID"

    def __init__(self, noun: str):
        self.noun = noun

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            n = value
        else:
            try:
                n = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a whole number", param, ctx)
        if not -2**63 <= n < 2**63:
            raise NotFoundError(f"no {self.noun} {n}")
        return n


def to_json_line(value: Any) -> str:
    """One JSON object on one line (JSON Lines), escaped as echo_json escapes."""
    return _NOT_ESCAPED_BY_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def echo_json(value: Any) -> None:
    click.echo(to_json(value.as_dict() if hasattr(value, "as_dict") else value))


def echo_json_rows(rows: Iterable[Any]) -> int:
    """A JSON list written row by row as the rows come (each a view with as_dict(),
    or a dict): the same text echo_json(list) prints, without holding the list.
    Returns how many rows were written."""
    out = sys.stdout
    n = 0
    for row in rows:
        out.write(("[\n  " if n == 0 else ",\n  ") + to_json(row.as_dict() if hasattr(row, "as_dict") else row, "  "))
        n += 1
    out.write("\n]\n" if n else "[]\n")
    out.flush()
    return n


def to_json(value: Any, indent: str = "") -> str:
    """json.dumps(value, ensure_ascii=False, indent=2, default=str), character for
    character, nested `indent` deep. With an indent json uses its pure-Python
    encoder (~50 µs a row of ten keys); this writes the same text in a fraction of
    that, so a listing of 100,000 rows is not held up by its own formatting."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is str:
        return _json_str(value)
    if kind is int:
        return int.__repr__(value)
    inner = indent + "  "
    if kind is dict and all(type(k) is str for k in value):
        if not value:
            return "{}"
        parts = []
        for k, v in value.items():  # the flat values of a listing's row inline, the rest recursively
            t = type(v)
            parts.append(f"{inner}{_json_str(k)}: " + (
                _json_str(v) if t is str else "null" if v is None else int.__repr__(v) if t is int
                else to_json(v, inner)))
        return "{\n" + ",\n".join(parts) + "\n" + indent + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + to_json(v, inner) for v in value) + "\n" + indent + "]"
    # anything else (floats, odd keys, objects shown through str) as json writes it
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str).replace("\n", "\n" + indent)
    return _NOT_ESCAPED_BY_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo_table(rows: Sequence[Any], columns: Sequence[str], empty: str = "(none)") -> None:
    """A plain aligned table; wide cells are cut so a terminal row stays one line.
    Rows are views (dataclasses: read by attribute) or dicts."""
    if not rows:
        echo(empty)
        return
    # Column by column: a 10,000-row queue is printed whole, so the per-cell work is kept small.
    columns_text = []
    for c in columns:
        values = [r.get(c) for r in rows] if isinstance(rows[0], dict) else [getattr(r, c) for r in rows]
        columns_text.append([v if type(v) is str and v.isprintable() else _cell(v) for v in values])
    widths = [min(max(len(c), max(map(len, text))), 48) for c, text in zip(columns, columns_text)]
    for i, (text, w) in enumerate(zip(columns_text, widths)):
        columns_text[i] = [v[:w].ljust(w) if len(v) != w else v for v in text]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(cells).rstrip() for cells in zip(*columns_text)]
    click.echo("\n".join(lines))  # one write, not one echo a row


def _cell(v: Any) -> str:
    kind = type(v)
    if kind is str:
        return v if v.isprintable() else printable(v)
    if v is None:
        return "-"
    if kind is int:
        return str(v)
    if isinstance(v, (list, tuple)):
        return printable(",".join(str(x) for x in v)) or "-"
    return printable(str(v))


def is_tty() -> bool:
    return sys.stdout.isatty()


_RELATIVE = re.compile(r"(\d+)\s*([dhm])")


def parse_since(text: str, now: datetime | None = None, option: str = "--since") -> datetime:
    """A time given on the command line: 2024-06-01, 2024-06-01T08:00:00+07:00, or 7d / 12h / 30m ago."""
    text = text.strip()
    m = _RELATIVE.fullmatch(text)
    if m:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
        try:
            return (now or datetime.now(timezone.utc)) - timedelta(**{unit: int(m.group(1))})
        except OverflowError:  # further back than the calendar goes: since the beginning
            return datetime.min.replace(tzinfo=timezone.utc)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: use 2024-06-01, 2024-06-01T08:00:00Z or 7d", param_hint=option)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def since_option(what: str):
    return click.option("--since", metavar="TIME", callback=lambda ctx, param, v: v and parse_since(v),
                        help=f"Only {what} since TIME: 2024-06-01, 2024-06-01T08:00:00+07:00, or 7d / 12h ago.")


def limit_option(what: str = "rows"):
    return click.option("--limit", type=click.IntRange(min=1), metavar="N",
                        help=f"At most N {what} (a page; --after the last one gives the next).")
