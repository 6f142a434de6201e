"""Staff commands on a store of years: `python -m bench.cli_latency [--runs 7]`.

Builds (or reuses) the 100,000-case store of bench/bigdb.py and times
`cases show REF`, `accounts show ID`, `cases list` (and the listings in JSON)
as whole processes, the way staff run them: interpreter start, imports,
config, the queries, the output (to /dev/null). Each is run once untimed (a
store behind the schema is migrated then; the OS caches the file), then
`--runs` times; the median and the best are printed beside two floors
measured in the same run, since this VM's timings wander by 20-40 %:

  python -c pass      the interpreter alone (site, the editable install's finder)
  bare SQL            the interpreter, sqlite3 and the command's SELECTs, fetched
                      and written out: what no Python CLI can go under

and the peak RSS of `messages list --json` over the store's 100,000
messages (os.wait4's rusage of that one child), whose output is parsed back
to check it is one valid, complete JSON list.

`--cli` runs another build of the program (e.g. the tree before a change:
`--cli "env PYTHONPATH=/tmp/old/src .venv/bin/python -m abuse_intake"`, on
a store that tree built: `--db`). Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.25
REPO = Path(__file__).resolve().parent.parent

# The SELECTs each command runs (as the store functions write them), for the bare-SQL floor.
_CASE = "SELECT * FROM cases WHERE ref = ?"
_SHOW_SQL = [
    ("case", _CASE),
    ("by_case", "SELECT r.id, m.id, m.message_id, r.reporter, r.received_at, r.language, r.category, r.severity, "
                "r.account_ids, r.matched_words, r.source, m.subject, m.text, m.forwarded_text, m.raw_sha256 "
                "FROM case_reports cr JOIN reports r ON r.id = cr.report_id JOIN messages m ON m.id = r.message_id "
                "WHERE cr.case_id = ? ORDER BY r.received_at, r.id"),
    ("by_case", "SELECT reporter, language, message_id, added_at FROM case_reporters WHERE case_id = ? "
                "ORDER BY added_at, reporter"),
    ("by_case", "SELECT id, at, actor, action, case_id, account_id, detail FROM audit_log WHERE case_id = ? ORDER BY id"),
    ("by_case", "SELECT s.*, c.ref FROM sanctions s JOIN cases c ON c.id = s.case_id WHERE s.case_id = ? ORDER BY s.id"),
    ("by_account", "SELECT s.*, c.ref FROM sanctions s JOIN cases c ON c.id = s.case_id WHERE s.account_id = ? "
                   "ORDER BY s.starts_at, s.id"),
    ("by_account", "SELECT id, ref, status, category, severity, reporters, reports, opened_at, decided_at, decision, "
                   "decision_category, decision_severity, referral FROM cases WHERE account_id = ? ORDER BY opened_at, id"),
]
_QUEUE_SQL = ("SELECT id, ref, status, account_id, category, severity, reporters, reports, opened_at, updated_at, "
              "assignee, decision, decided_at, decided_by, referral FROM cases WHERE status = 'open' "
              "ORDER BY severity_rank DESC, reporters DESC, opened_at, id")


def _floor_script(db: Path, which: str, ref: str, account: str) -> str:
    """A python -c program that runs a command's SELECTs on a plain sqlite3 connection and prints the rows."""
    if which == "show":
        body = (f"case = conn.execute({_CASE!r}, ({ref!r},)).fetchone()\n"
                f"for kind, sql in {_SHOW_SQL[1:]!r}:\n"
                f"    arg = case[0] if kind == 'by_case' else case[2]\n"
                f"    for row in conn.execute(sql, (arg,)): out.append(repr(row))\n")
    elif which == "account":
        body = (f"for kind, sql in {_SHOW_SQL[5:]!r}:\n"
                f"    for row in conn.execute(sql, ({account!r},)): out.append(repr(row))\n")
    else:
        body = f"for row in conn.execute({_QUEUE_SQL!r}): out.append(repr(row))\n"
    return (f"import sqlite3, sys\nconn = sqlite3.connect({str(db)!r})\nout = []\n{body}"
            "sys.stdout.write('\\n'.join(out))\n")


# An installed program has its bytecode (pip compiles on install; the first run of
# an editable one writes it). With PYTHONDONTWRITEBYTECODE set, as in some shells
# here, every run would compile every module from source (~40 ms of 15 compiles).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(argv: list[str]) -> tuple[float, float, int, bytes]:
    """One whole process: wall seconds, CPU seconds (user + system, its own rusage), exit code, stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime, proc.returncode, err


def _time(argv: list[str], runs: int) -> tuple[list[float], list[float]]:
    _run(argv)  # warm-up
    wall, cpu = [], []
    for _ in range(runs):
        w, c, code, err = _run(argv)
        if code != 0:
            raise SystemExit(f"{shlex.join(argv)} exited {code}: {err.decode()[-500:]}")
        wall.append(w)
        cpu.append(c)
    return wall, cpu


def _peak_rss(argv: list[str]) -> tuple[float, int, float]:
    """Peak RSS (MB) of one child, how many rows its JSON list held, and its wall time."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{shlex.join(argv)} exited {proc.returncode}: {proc.stderr.read().decode()[-500:]}")
        out.seek(0)
        rows = json.load(out)  # raises if the streamed list is not one valid JSON document
    assert isinstance(rows, list)
    return usage.ru_maxrss / 1024, len(rows), wall


def _default_cli() -> list[str]:
    script = Path(sys.executable).with_name("abuse-intake")
    return [str(script)] if script.exists() else [sys.executable, "-m", "abuse_intake"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.cli_latency", description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, help="the big store (built here when missing; "
                    "default: <tmp>/abuse-intake-cli-latency/big-<N>.sqlite, reused between runs)")
    ap.add_argument("--cases", type=int, default=100_000, help="cases in a store built here (default 100000)")
    ap.add_argument("--runs", type=int, default=7, help="timed runs per command (default 7)")
    ap.add_argument("--cli", help="how to run the program (default: this venv's abuse-intake)")
    ap.add_argument("--no-rss", action="store_true", help="skip the messages list --json memory run")
    ap.add_argument("--no-paging", action="store_true",
                    help="skip the --limit/--after runs (for a build of the program before they existed)")
    args = ap.parse_args(argv)

    db = args.db or Path(tempfile.gettempdir()) / "abuse-intake-cli-latency" / f"big-{args.cases}.sqlite"
    if not db.exists():
        from .bigdb import build
        db.parent.mkdir(parents=True, exist_ok=True)
        partial = db.with_suffix(".partial")
        for leftover in db.parent.glob(partial.name + "*"):
            leftover.unlink()
        t0 = time.perf_counter()
        built = build(partial, args.cases)
        partial.rename(db)
        print(f"built {db}: {built} in {time.perf_counter() - t0:.1f} s")
    config = db.with_suffix(".toml")
    text = (REPO / "config.example.toml").read_text()
    text = text.replace('path = "data/abuse-intake.db"', f'path = "{db}"')
    text = text.replace('url = "maildir:examples/mailbox"', f'url = "maildir:{db.parent}/mailbox"')
    text = text.replace('url = "dir:data/sent"', f'url = "dir:{db.parent}/sent"')
    config.write_text(text)

    conn = sqlite3.connect(db)
    n_cases, n_messages, n_open = conn.execute(
        "SELECT (SELECT COUNT(*) FROM cases), (SELECT COUNT(*) FROM messages), "
        "(SELECT COUNT(*) FROM cases WHERE status = 'open')").fetchone()
    ref = f"OB-{n_cases // 2:06d}"
    # the latest case's account: one the store revisits, so it has history
    account = conn.execute("SELECT account_id FROM cases ORDER BY id DESC LIMIT 1").fetchone()[0]
    after = conn.execute("SELECT id FROM messages ORDER BY received_at, id LIMIT 1 OFFSET ?",
                         (n_messages // 2,)).fetchone()[0]
    conn.close()

    cli = shlex.split(args.cli) if args.cli else _default_cli()
    base = [*cli, "--config", str(config)]
    py = [sys.executable]
    print(f"abuse-intake CLI latency, {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, cores={os.cpu_count()}, "
          f"load={os.getloadavg()[0]:.1f}")
    print(f"store: {db} ({db.stat().st_size / 1e6:.0f} MB; {n_cases} cases, {n_open} open, {n_messages} messages)")
    print(f"cli: {shlex.join(cli)}; {args.runs} runs each, whole processes, output to /dev/null\n")

    floor_pass = _time([*py, "-c", "pass"], args.runs)
    rows = [
        ("python -c pass", floor_pass, None),
        (f"cases show {ref}", _time([*base, "cases", "show", ref], args.runs),
         _time([*py, "-c", _floor_script(db, "show", ref, account)], args.runs)),
        (f"cases show {ref} --json", _time([*base, "cases", "show", ref, "--json"], args.runs), None),
        (f"accounts show {account}", _time([*base, "accounts", "show", account], args.runs),
         _time([*py, "-c", _floor_script(db, "account", ref, account)], args.runs)),
        (f"cases list ({n_open} open)", _time([*base, "cases", "list"], args.runs),
         _time([*py, "-c", _floor_script(db, "list", ref, account)], args.runs)),
        ("cases list --json", _time([*base, "cases", "list", "--json"], args.runs), None),
    ]
    if not args.no_paging:
        rows += [
            ("cases list --limit 50 --json", _time([*base, "cases", "list", "--limit", "50", "--json"], args.runs),
             None),
            (f"messages list --limit 50 --after {after} --json",
             _time([*base, "messages", "list", "--limit", "50", "--after", str(after), "--json"], args.runs), None),
        ]
    print(f"{'command':<48} {'median':>7} {'best':>7} {'cpu':>6} {'bare SQL':>9}  target {TARGET_S} s")
    for name, (wall, cpu), floor in rows:
        med = statistics.median(wall)
        floor_txt = f"{statistics.median(floor[0]):9.3f}" if floor else " " * 9
        verdict = "" if name.startswith("python") or "--" in name else ("met" if med <= TARGET_S else "NOT met")
        print(f"{name:<48} {med:7.3f} {min(wall):7.3f} {statistics.median(cpu):6.3f} {floor_txt}  {verdict}")
    print("(seconds: wall median and best, CPU median; bare SQL = python + sqlite3 running the command's\n"
          " SELECTs and printing the rows, wall median. On a busy machine the CPU column moves least.)")

    if not args.no_rss:
        rss, count, wall = _peak_rss([*base, "messages", "list", "--json"])
        ok = "met" if rss < 100 else "NOT met"
        print(f"\nmessages list --json: {count} rows, valid JSON, peak RSS {rss:.0f} MB ({ok}: target < 100 MB), "
              f"{wall:.2f} s")
        if count != n_messages:
            raise SystemExit(f"messages list --json gave {count} rows, the store holds {n_messages}")


if __name__ == "__main__":
    main()
