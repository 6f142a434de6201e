"""Named points where a test can kill the process, to prove crash safety.

`hit(name)` does nothing unless the environment variable ABUSE_INTAKE_CRASH_AT
names this point: `NAME` kills the process at the first hit, `NAME:N` at the
Nth. The kill is SIGKILL, so no `finally`, no rollback, no atexit runs: what
survives on disk is exactly what a power cut would leave.
"""

from __future__ import annotations

import os
import signal

ENV = "ABUSE_INTAKE_CRASH_AT"
_hits: dict[str, int] = {}


def hit(name: str) -> None:
    target = os.environ.get(ENV)
    if not target:  # the production path: one dict look-up
        return
    wanted, _, nth = target.partition(":")
    if wanted != name:
        return
    count = _hits[name] = _hits.get(name, 0) + 1
    if count == (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
