"""Where a message's time goes: `python -m bench.stages [--n 2000]`.

Times each stage of the pipeline on its own, in-process, without a profiler
(cProfile inflates Python-heavy code), on the same generated messages, then
one full poll from a Maildir: the difference is SQL, savepoints, marking
done and glue. Prints milliseconds per message.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .generate import generate
from .run import link_maildir, maildir_files, parse_floor, run_child, write_config


def _per_msg(fn, items) -> float:
    t0 = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - t0) * 1000 / len(items)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.stages")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    from abuse_intake import config
    from abuse_intake.cases.dedupe import fingerprint
    from abuse_intake.extract import extract
    from abuse_intake.notify.render import Renderer
    from abuse_intake.parse.message import parse_message
    from abuse_intake.parse.robots import detect_robot
    from abuse_intake.store import blobs
    from abuse_intake.store.blobs import sha256
    from abuse_intake.store.db import open_db, transaction

    root = Path(tempfile.mkdtemp(prefix="abuse-intake-stages-"))
    try:
        settings = config.load(write_config(root / "cfg", f"maildir:{root / 'mail'}"))
        raws = [g.data for g in generate(args.n, args.seed)]
        rows: list[tuple[str, float]] = []
        rows.append(("stdlib compat32 parse + decode (the floor)", parse_floor(raws) * 1000 / len(raws)))
        rows.append(("sha256 of the raw bytes", _per_msg(sha256, raws)))
        rows.append(("parse.message.parse_message", _per_msg(lambda d: parse_message(d, settings.limits), raws)))
        parsed = [parse_message(d, settings.limits) for d in raws]
        rows.append(("parse.robots.detect_robot", _per_msg(lambda p: detect_robot(p, settings.own_addresses), parsed)))
        people = [p for p in parsed if detect_robot(p, settings.own_addresses) is None]
        ext = lambda p: extract(p.text, p.html_links, p.forwarded_text, p.subject,  # noqa: E731
                                p.from_address, p.from_name, settings)
        rows.append(("extract.extract (people's mail only)", _per_msg(ext, people) * len(people) / len(parsed)))
        rows.append(("cases.dedupe.fingerprint", _per_msg(lambda p: fingerprint(f"{p.subject}\n{p.text}"), people)
                     * len(people) / len(parsed)))
        db = open_db(root / "blobs.db")

        def put(item):
            data, p = item
            blobs.put_raw(db, data)
            for a in p.attachments:
                if a.payload and not a.skipped_reason:
                    blobs.put_attachment(db, a.payload, a.sha256 or None)

        with transaction(db):  # the pipeline commits once per batch; one for all is close enough
            rows.append(("store.blobs: raw + attachment contents (SQLite)", _per_msg(put, list(zip(raws, parsed)))))
        db.conn.close()
        renderer = Renderer(settings)
        case = [{"ref": "OB-000001", "account_id": "dewi_manja88"}]
        rows.append(("notify.render: one ack (subject, text, HTML)", _per_msg(
            lambda p: renderer.render("ack", "id", reporter_name=p.from_name, subject=p.subject,
                                      case_refs=["OB-000001"], cases=case), people) * len(people) / len(parsed)))
        del parsed, people
        staged = sum(ms for _, ms in rows[1:])

        files = []
        mail = root / "mail-src"
        (mail / "new").mkdir(parents=True)
        for k, data in enumerate(raws):
            f = mail / "new" / f"{1_780_000_000 + k:012d}.M{k}.bench"
            f.write_bytes(data)
            files.append(f)
        del raws
        link_maildir(maildir_files(mail), root / "mail")
        whole = run_child(root / "cfg" / "config.toml")["poll_s"] * 1000 / args.n
        rows.append(("everything else in poll (SQL, savepoints, outbox, marking, glue)", whole - staged))
        rows.append(("= flow.poll.poll from a Maildir, end to end", whole))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{'stage (ms per message, averaged over all ' + str(args.n) + ')':<72} {'ms':>6}")
    for label, ms in rows:
        print(f"{label:<72} {ms:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
