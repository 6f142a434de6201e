"""Row helpers every store module uses: rows as dicts, JSON lists, placeholders.

They call db.conn.execute: sqlite_utils' db.execute adds a tracer check and
two in_transaction reads per statement, for an auto-commit that never
applies inside the caller's transaction (the hot path runs these per message).
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any, Iterable, Iterator


def one_row(db, sql: str, params: Iterable[Any] = ()) -> dict | None:
    """The first row of `sql` as a dict, or None."""
    cur = db.conn.execute(sql, tuple(params))
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row))


def all_rows(db, sql: str, params: Iterable[Any] = ()) -> list[dict]:
    """Every row of `sql` as a dict."""
    cur = db.conn.execute(sql, tuple(params))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


FETCH = 500  # rows fetched from SQLite at a time by the iterators below


def iter_rows(db, sql: str, params: Iterable[Any] = ()) -> Iterator[dict]:
    """The rows of `sql` as dicts, fetched as they are consumed (the listings stream).
    The cursor keeps one read snapshot (WAL) until the last row: a listing is consistent."""
    cur = db.conn.execute(sql, tuple(params))
    cols = [d[0] for d in cur.description]
    while True:
        chunk = cur.fetchmany(FETCH)
        if not chunk:
            return
        for row in chunk:
            yield dict(zip(cols, row))


def iter_tuples(db, sql: str, params: Iterable[Any] = ()) -> Iterator[tuple]:
    """iter_rows without the dicts, for the long listings (the columns are the caller's to know)."""
    cur = db.conn.execute(sql, tuple(params))
    while True:
        chunk = cur.fetchmany(FETCH)
        if not chunk:
            return
        yield from chunk


def placeholders(values) -> str:
    """"?,?,?" for an IN (...) of len(values)."""
    return ",".join("?" for _ in values)


def json_list(values, ensure_ascii: bool = True) -> str:
    """json.dumps(values, ensure_ascii=...) for a list, in a third of the time when it holds
    only str: the same C escaping functions json's encoder uses, joined with its ", "."""
    if type(values) is list and all(type(v) is str for v in values):
        enc = encode_basestring_ascii if ensure_ascii else encode_basestring
        return "[" + ", ".join(map(enc, values)) + "]"
    return json.dumps(values, ensure_ascii=ensure_ascii)
