"""One `poll` in a fresh process: `python -m bench.child CONFIG [--deliver] [--profile FILE]`.

A process of its own gives every end-to-end run a clean heap (peak RSS is
this run's alone: VmHWM) and no warm caches from another run. Prints one JSON
object: seconds spent in flow.poll.poll (and in delivery, separately), the
summary, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def _rss_kb(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--deliver", action="store_true", help="then deliver the outbox (dir: transport)")
    ap.add_argument("--profile", help="write cProfile stats of the poll to this file")
    args = ap.parse_args(argv)

    from abuse_intake import config
    from abuse_intake.flow.poll import poll
    from abuse_intake.intake import open_source
    from abuse_intake.store.db import open_db

    settings = config.load(args.config)
    db = open_db(settings.database_path)
    source = open_source(settings)
    rss_ready = _rss_kb()
    out: dict = {"rss_ready_kb": rss_ready}

    profiler = None
    if args.profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    marks: list[float] = []  # wall clock after each committed batch: does cost grow within a run?
    t0, cpu0 = time.perf_counter(), time.process_time()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = poll(db, settings, source, on_batch=lambda _s: marks.append(time.perf_counter()))
    out["poll_s"] = time.perf_counter() - t0
    out["poll_cpu_s"] = time.process_time() - cpu0  # wall minus this = waiting (server, disk)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the parser workers, once joined
    out["workers_cpu_s"] = (kids.ru_utime - kids0.ru_utime) + (kids.ru_stime - kids0.ru_stime)
    out["workers_sys_s"] = kids.ru_stime - kids0.ru_stime
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    out["summary"] = summary.as_dict()
    out["batch_s"] = [round(b - a, 4) for a, b in zip([t0, *marks], marks)]

    if args.deliver:
        from abuse_intake.notify.outbox import deliver_pending
        t0 = time.perf_counter()
        result = deliver_pending(db, settings)
        out["deliver_s"] = time.perf_counter() - t0
        out["delivered"] = {k: getattr(result, k) for k in ("sent", "deferred", "failed", "held")}
    db.conn.close()
    # VmHWM, not ru_maxrss: Linux carries the parent's high-water mark into
    # ru_maxrss across fork/exec, so every child would report the runner's size.
    out["maxrss_kb"] = _rss_kb("VmHWM")
    out["ru_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out))


if __name__ == "__main__":
    main()
