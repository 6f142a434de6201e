"""The extraction benchmark: `python -m bench.extract [--n 2000] [--repeat 5]`.

Times `extract.extract` (account IDs, category, language) in-process on the
people's mail of the generated mix (bench/generate.py, seed 1) and on the
independent evaluation set (tests/eval/independent/), already parsed, best
of --repeat passes, in CPU time of this process (time.process_time: on a
shared VM the wall clock also counts the time other processes held the
core). Absolute times still move between runs, so it also times the same texts' lower-casing and splitting
into words (`str.lower().split()`, the least any extractor does) in the same
passes and prints extract's time as a multiple of it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from .generate import generate
from .run import write_config

EVAL_DIR = Path(__file__).resolve().parent.parent / "tests" / "eval" / "independent"


def _best(fn, items, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for item in items:
            fn(item)
        best = min(best, time.process_time() - t0)
    return best * 1000 / len(items)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.extract")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)

    from abuse_intake import config
    from abuse_intake.extract import extract
    from abuse_intake.parse.message import parse_message
    from abuse_intake.parse.robots import detect_robot

    root = Path(tempfile.mkdtemp(prefix="abuse-intake-extract-"))
    settings = config.load(write_config(root / "cfg", f"maildir:{root / 'mail'}"))
    sets = {
        f"generated mix (seed {args.seed}, people's mail of {args.n})": [g.data for g in generate(args.n, args.seed)],
        "independent eval set (people's mail of 200)": [p.read_bytes() for p in sorted(EVAL_DIR.glob("*.eml"))],
    }
    ext = lambda p: extract(p.text, p.html_links, p.forwarded_text, p.subject,  # noqa: E731
                            p.from_address, p.from_name, settings)
    floor = lambda p: (p.subject.lower().split(), p.text.lower().split(), p.forwarded_text.lower().split())  # noqa: E731
    print(f"{'set':<60} {'extract ms':>10} {'floor ms':>9} {'ratio':>6}")
    for name, raws in sets.items():
        parsed = [parse_message(d, settings.limits) for d in raws]
        people = [p for p in parsed if detect_robot(p, settings.own_addresses) is None]
        ext_ms = _best(ext, people, args.repeat)
        floor_ms = _best(floor, people, args.repeat)
        print(f"{name:<60} {ext_ms:>10.3f} {floor_ms:>9.3f} {ext_ms / floor_ms:>6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
