"""Web console latency on the 100,000-case store of bench/bigdb.py (run by hand).

    .venv/bin/python -m bench.web_latency [--cases 100000] [--requests 200] [--keep DIR]

Serves the console with waitress on loopback and times, over one keep-alive
HTTP connection, the queue, a filtered queue, a search and case pages
(median and 95th percentile of N requests each); beside them the same
queries as bare SQL on a plain sqlite3 connection in the same run.
Target (issue 11): each page <= 50 ms median and <= 150 ms p95.
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import sqlite3
import statistics
import tempfile
import threading
import time
import tomllib
from pathlib import Path

from abuse_intake import config
from abuse_intake.store.db import open_db

from . import bigdb

REPO = Path(__file__).resolve().parent.parent
QUEUE_SQL = ("SELECT id, ref, status, account_id, category, severity, reporters, reports, opened_at, updated_at, "
             "assignee, decision, decided_at, decided_by, referral FROM cases {where} "
             "ORDER BY {plus}severity_rank DESC, reporters DESC, opened_at, id LIMIT 50")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--keep", type=Path, help="build the store here (reused if present)")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="abuse-intake-web-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    db_path = root / "big.sqlite"
    if not db_path.exists():
        t0 = time.perf_counter()
        bigdb.build(db_path, args.cases)
        print(f"built {args.cases} cases in {time.perf_counter() - t0:.1f} s")
    data = tomllib.loads((REPO / "config.example.toml").read_text())
    data["database"]["path"] = str(db_path)
    data["mailbox"]["url"] = f"maildir:{root}/mailbox"
    settings = config.from_dict(data, base=REPO)
    from abuse_intake.web import auth
    db = open_db(db_path)
    try:
        auth.get_user(db, "bench")
    except Exception:
        auth.add_user(db, "bench", role="viewer", password="bench-password")
    db.conn.close()

    import waitress.server
    from abuse_intake.web.app import create_app
    server = waitress.server.create_server(create_app(settings), host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=30)

    def get(path: str, cookie: str = "") -> tuple[int, bytes, dict]:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        r = conn.getresponse()
        return r.status, r.read(), dict(r.getheaders())

    status, body, headers = get("/login")
    token = re.search(rb'name="login_token" value="([^"]+)"', body).group(1).decode()
    login_cookie = headers["Set-Cookie"].split(";")[0]
    form = f"username=bench&password=bench-password&login_token={token}&next=/"
    conn.request("POST", "/login", body=form, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                      "Cookie": login_cookie})
    r = conn.getresponse()
    r.read()
    cookie = r.getheader("Set-Cookie").split(";")[0]

    raw = sqlite3.connect(db_path)
    rng = random.Random(7)
    n = args.requests
    refs = [f"OB-{rng.randrange(1, args.cases + 1):06d}" for _ in range(n)]
    accounts = [raw.execute("SELECT account_id FROM cases WHERE ref = ?", (ref,)).fetchone()[0] for ref in refs]

    def page(path_of):
        def run(i):
            status, _, _ = get(path_of(i), cookie)
            assert status == 200, (path_of(i), status)
        return run

    def sql_case(i):
        case = raw.execute("SELECT * FROM cases WHERE ref = ?", (refs[i],)).fetchone()
        raw.execute("SELECT * FROM case_reports cr JOIN reports r ON r.id = cr.report_id JOIN messages m "
                    "ON m.id = r.message_id WHERE cr.case_id = ?", (case[0],)).fetchall()
        raw.execute("SELECT * FROM sanctions WHERE account_id = ?", (case[3],)).fetchall()
        raw.execute("SELECT * FROM cases WHERE account_id = ?", (case[3],)).fetchall()
        raw.execute("SELECT * FROM audit_log WHERE case_id = ?", (case[0],)).fetchall()

    search_where = ("WHERE id IN (SELECT cr.case_id FROM reports_fts JOIN case_reports cr ON cr.report_id = "
                    "reports_fts.rowid WHERE reports_fts MATCH ? UNION SELECT id FROM cases WHERE account_id = ?)")
    def waiting(extra: str, params: tuple):
        # The store's statement for the default queue: each waiting status in index order, merged.
        one = QUEUE_SQL.format(plus="", where="WHERE status = ? " + extra)
        sql = (f"SELECT * FROM ({one}) UNION ALL SELECT * FROM ({one}) "
               "ORDER BY severity_rank DESC, reporters DESC, opened_at, id LIMIT 50")
        return raw.execute(sql.replace("opened_at, updated_at", "opened_at, severity_rank, updated_at", 2),
                           ("open", *params, "needs_info", *params)).fetchall()

    rows = [
        ("queue /", page(lambda i: "/"), lambda i: waiting("", ())),
        ("filtered queue", page(lambda i: "/?category=prostitution&severity=high&age=7d"),
         lambda i: waiting("AND category = ? AND severity_rank = ? AND opened_at <= ?", ("prostitution", 3, "2099"))),
        ("all statuses, filtered", page(lambda i: "/?status=all&category=prostitution&severity=high"),
         lambda i: raw.execute(QUEUE_SQL.format(plus="", where="WHERE category = ? AND severity_rank = ?"),
                               ("prostitution", 3)).fetchall()),
        ("search (account ID)", page(lambda i: f"/?status=all&q={accounts[i]}"),
         lambda i: raw.execute(QUEUE_SQL.format(plus="", where=search_where),
                               (f'"{accounts[i]}"', accounts[i])).fetchall()),
        ("case page", page(lambda i: f"/cases/{refs[i]}"), sql_case),
    ]
    print(f"{n} requests each, {args.cases} cases; milliseconds")
    print(f"{'page':22} {'web median':>10} {'web p95':>8} {'SQL median':>10} {'SQL p95':>8}")
    for name, web, sql in rows:
        web(0)  # warm the thread's connection and caches
        w = timed(web, n)
        s = timed(sql, n)
        print(f"{name:22} {statistics.median(w):10.1f} {pct(w, 95):8.1f} {statistics.median(s):10.2f} "
              f"{pct(s, 95):8.2f}")
    server.close()


if __name__ == "__main__":
    main()
