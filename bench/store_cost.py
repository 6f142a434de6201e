"""The main process's per-message database work: `python -m bench.store_cost [--n 2000]`.

During a backlog the workers parse and the main process runs
`Processor.store(raw, prep)` for each message; over IMAP that is the critical
path. This times exactly that call, on generated messages prepared
beforehand (not timed), in transactions of 50 like `flow.poll.poll`, into a
fresh database each round; prints ms per message (wall and CPU, best of
`--rounds`), then one extra, instrumented round for a breakdown: SQL by
statement kind, rendering, outbox queueing. The instrumented round is slower
than the timed ones (the wrappers cost too); read its shares, not its total.
"rows" ends with a digest of everything stored but the clock and our random
Message-IDs: two versions of the code that store the same print the same.
This VM's timings wander by 20-30 % between runs: to compare two versions,
alternate short runs of each with `--cache FILE --rounds 2` and compare the
spread, not one pair. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from .generate import generate
from .run import write_config

BATCH = 50


class _TimedConn:
    """Stands in for the sqlite3 connection and times every statement by its first words."""

    def __init__(self, conn, acc):
        self._conn, self._acc = conn, acc

    def _time(self, fn, sql, *args):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(sql, *args)
        finally:
            entry = self._acc[_kind(sql)]
            entry[0] += time.perf_counter() - t0
            entry[1] += 1
            entry[2] += time.process_time() - c0

    def execute(self, sql, *args):
        return self._time(self._conn.execute, sql, *args)

    def executemany(self, sql, *args):
        return self._time(self._conn.executemany, sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def _kind(sql: str) -> str:
    words = sql.split()
    head = " ".join(words[:3])
    if words[0].upper() in ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"):
        return words[0].upper()
    for marker in ("INTO", "UPDATE", "FROM"):
        if marker in (w.upper() for w in words):
            i = [w.upper() for w in words].index(marker)
            if marker == "UPDATE":
                return f"UPDATE {words[i + 1]}"
            return f"{words[0].upper()} {marker} {words[i + 1]}" + (" (join)" if " JOIN " in sql.upper() else "")
    return head


def _timed_call(acc, key, fn):
    def wrapper(*a, **kw):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*a, **kw)
        finally:
            entry = acc[key]
            entry[0] += time.perf_counter() - t0
            entry[1] += 1
            entry[2] += time.process_time() - c0
    return wrapper


class _Notifier:
    def __init__(self, base, acc):
        self.queue_report_reply = _timed_call(acc, "notify.queue_report_reply (incl. render + SQL)",
                                              base.queue_report_reply)
        self.queue_not_a_report = _timed_call(acc, "notify.queue_not_a_report (incl. render + SQL)",
                                              base.queue_not_a_report)


def _round(root: Path, settings_path: Path, raws, preps, *, instrument: bool = False, check: bool = True):
    from abuse_intake import config
    from abuse_intake.flow import process as pipeline
    from abuse_intake.models import RawMessage, Source
    from abuse_intake.store.db import open_db, transaction

    settings = config.load(settings_path)
    db_path = root / "db.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    db = open_db(db_path)
    renderer = pipeline.default_renderer(settings)
    notifier = pipeline.default_notifier()
    acc: dict = defaultdict(lambda: [0.0, 0, 0.0])  # wall seconds, calls, CPU seconds
    if instrument:
        db.conn = _TimedConn(db.conn, acc)
        renderer.render = _timed_call(acc, "renderer.render (3 templates)", renderer.render)
        notifier = _Notifier(notifier, acc)
    processor = pipeline.Processor(db, settings, renderer, notifier)
    kinds: dict[str, int] = defaultdict(int)
    items = [RawMessage(data, Source("bench", 1, i)) for i, data in enumerate(raws)]
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(items), BATCH):
        with transaction(db):
            for raw, prep in zip(items[start:start + BATCH], preps[start:start + BATCH]):
                kinds[processor.store(raw, prep).kind] += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    conn = db.conn._conn if instrument else db.conn
    fingerprint = _fingerprint(conn) if check else None
    conn.close()
    return wall, cpu, dict(kinds), acc, fingerprint


# Columns that differ between two runs of the same code: the clock and our random Message-IDs.
_VOLATILE = {("messages", "stored_at"), ("outbox", "created_at"), ("outbox", "message_id")}


def _fingerprint(conn) -> dict:
    """Row counts per table and one sha256 over every stored value but the volatile
    ones: equal digests from two versions of the code mean they stored the same."""
    import hashlib

    digest = hashlib.sha256()
    counts = {}
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    for t in tables:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({t})") if (t, r[1]) not in _VOLATILE]
        counts[t] = 0
        for row in conn.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY rowid" if t not in (
                "case_reports", "case_reporters", "outbox_cases") else f"SELECT {', '.join(cols)} FROM {t} ORDER BY 1, 2"):
            digest.update(repr((t, row)).encode())
            counts[t] += 1
    counts["content sha256"] = digest.hexdigest()[:16]
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.store_cost")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-breakdown", action="store_true")
    ap.add_argument("--profile", help="cProfile one more round into this file")
    ap.add_argument("--cache", help="keep the prepared messages in this pickle (made if missing): many short "
                                    "runs, e.g. alternating two versions of the code, then skip the preparing")
    args = ap.parse_args(argv)

    from abuse_intake import config
    from abuse_intake.flow import process as pipeline

    root = Path(tempfile.mkdtemp(prefix="abuse-intake-store-cost-"))
    try:
        cfg = write_config(root / "cfg", f"maildir:{root / 'mail'}")
        settings = config.load(cfg)
        cache = Path(args.cache) if args.cache else None
        if cache is not None and cache.exists():
            with cache.open("rb") as f:
                raws, preps = pickle.load(f)
            raws, preps = raws[:args.n], preps[:args.n]
        else:
            raws = [g.data for g in generate(args.n, args.seed)]
            preps = [pipeline.prepare(d, settings) for d in raws]
            if cache is not None:
                with cache.open("wb") as f:
                    pickle.dump((raws, preps), f, protocol=pickle.HIGHEST_PROTOCOL)
        best_wall = best_cpu = float("inf")
        kinds = counts = None
        for _ in range(args.rounds):
            wall, cpu, kinds, _, counts = _round(root, cfg, raws, preps)
            best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
        n = len(raws)
        print(f"Processor.store, {n} messages, batches of {BATCH}, best of {args.rounds}: "
              f"{best_wall * 1000 / n:.3f} ms/msg wall, {best_cpu * 1000 / n:.3f} ms/msg CPU")
        print("outcomes:", dict(sorted(kinds.items())))
        print("rows:", counts)
        if not args.no_breakdown:
            wall, cpu, _, acc, _ = _round(root, cfg, raws, preps, instrument=True)
            print(f"\nbreakdown (instrumented round, {wall * 1000 / n:.3f} ms/msg wall, "
                  f"{cpu * 1000 / n:.3f} CPU; the notify rows include their render and SQL rows)")
            print(f"{'what':<56} {'calls':>7} {'wall ms/msg':>11} {'CPU ms/msg':>10} {'CPU share':>9}")
            rows = sorted(acc.items(), key=lambda kv: -kv[1][2])
            sql = [0.0, 0, 0.0]
            for key, (secs, calls, cpus) in rows:
                print(f"{key[:56]:<56} {calls:>7} {secs * 1000 / n:>11.3f} {cpus * 1000 / n:>10.3f} {cpus / cpu:>9.1%}")
                if not key.startswith(("renderer", "notify")):
                    sql = [sql[0] + secs, sql[1] + calls, sql[2] + cpus]
            print(f"{'all SQL statements':<56} {sql[1]:>7} {sql[0] * 1000 / n:>11.3f} {sql[2] * 1000 / n:>10.3f} "
                  f"{sql[2] / cpu:>9.1%}")
        if args.profile:
            import cProfile
            prof = cProfile.Profile()
            prof.enable()
            _round(root, cfg, raws, preps, check=False)
            prof.disable()
            prof.dump_stats(args.profile)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
