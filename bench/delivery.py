"""`python -m bench.delivery [--n 3000]`: do replies keep up with intake? (issue 13.8)

In one run: N generated messages are ingested with `abuse-intake poll
--no-send` into a fresh store (timed: the ingest rate), then the outbox that
poll queued is delivered with `abuse-intake send`, once through the dir:
transport and once through a local aiosmtpd server (each on its own copy of
the store, so both send the same emails). Prints both delivery rates and
their ratio to the ingest rate (target >= 0.5). Each command is a real CLI
run in its own process; the times are wall clock around it (process start
included, the same for ingest and send). Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from aiosmtpd.controller import Controller

from .generate import write_maildir
from .run import REPO, link_maildir, maildir_files, write_config

TARGET = 0.5


class _Counter:
    """Accepts every message (250) and keeps only a count: the server must not be the bottleneck."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(config: Path, *args: str) -> tuple[float, str]:
    os.sync()  # the previous step's dirty pages must not slow this one
    time.sleep(0.3)
    cmd = [sys.executable, "-c", "import sys; from abuse_intake.cli import main; sys.exit(main())",
           "--config", str(config), *args]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return took, proc.stdout


def _with_url(config: Path, url: str) -> None:
    text = config.read_text()
    old = [line for line in text.splitlines() if line.startswith('url = "dir:')][0]
    config.write_text(text.replace(old, f'url = "{url}"'))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000, help="messages to generate and ingest")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    try:
        gen = write_maildir(work / "generated", args.n, seed=args.seed)
        # No per-recipient cap in the way: the bench measures the rate, not the cap.
        ingest_root = work / "ingest"
        mailbox = link_maildir(maildir_files(work / "generated"), ingest_root / "mailbox")
        config = write_config(ingest_root, f"maildir:{mailbox}")
        text = config.read_text().replace("max_emails_per_recipient_per_day = 5",
                                          "max_emails_per_recipient_per_day = 1000000")
        config.write_text(text)
        ingest_s, _ = _cli(config, "poll", "--no-send")
        store = ingest_root / "db.sqlite"

        rows = []
        for name in ("dir", "smtp"):
            root = work / name
            root.mkdir()
            for suffix in ("", "-wal", "-shm"):
                if (ingest_root / f"db.sqlite{suffix}").exists():
                    shutil.copyfile(ingest_root / f"db.sqlite{suffix}", root / f"db.sqlite{suffix}")
            cfg = root / "config.toml"
            cfg.write_text(config.read_text().replace(str(ingest_root), str(root)))
            server = None
            if name == "smtp":
                handler = _Counter()
                server = Controller(handler, hostname="127.0.0.1", port=_free_port())
                server.start()
                _with_url(cfg, f"smtp://127.0.0.1:{server.port}")
            try:
                send_s, out = _cli(cfg, "send", "--json")
            finally:
                if server is not None:
                    server.stop()
            result = json.loads(out)
            if name == "smtp" and handler.count != result["sent"]:
                raise SystemExit(f"server received {handler.count}, send reported {result['sent']}")
            if name == "dir":
                files = len(list((root / "sent").glob("*.eml")))
                if files != result["sent"]:
                    raise SystemExit(f"{files} files written, send reported {result['sent']}")
            rows.append((name, send_s, result))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ingest_rate = args.n / ingest_s
    print(f"abuse-intake delivery vs ingest, {datetime.now(timezone.utc).isoformat(timespec='seconds')}, "
          f"N={args.n}, seed={args.seed}, cores={os.cpu_count()}")
    print(f"command: python -m bench.delivery --n {args.n}")
    print(f"mix: {gen['bytes'] / args.n / 1024:.1f} KB average")
    print()
    print(f"{'measure':<60} {'seconds':>8} {'per s':>8}")
    print(f"{'ingest: poll --no-send from a Maildir into a fresh db, ' + str(args.n) + ' messages':<60} "
          f"{ingest_s:>8.2f} {ingest_rate:>8.0f}")
    for name, send_s, result in rows:
        label = "send through dir:" if name == "dir" else "send through a local aiosmtpd (smtp://)"
        print(f"{label + ', ' + str(result['sent']) + ' emails':<60} {send_s:>8.2f} "
              f"{result['sent'] / send_s:>8.0f}")
    print()
    for name, send_s, result in rows:
        ratio = (result["sent"] / send_s) / ingest_rate
        print(f"{name} send rate / ingest rate = {ratio:.2f}   "
              f"{'met' if ratio >= TARGET else 'NOT met'} (target >= {TARGET})")
        if result["deferred"] or result["failed"] or result["held"]:
            print(f"  {name}: {json.dumps({k: result[k] for k in ('deferred', 'failed', 'held')})}")


if __name__ == "__main__":
    main()
