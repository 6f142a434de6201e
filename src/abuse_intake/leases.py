"""Who holds a claim on a row, and whether that holder is certainly gone.

Outbox rows and enforcement hand-overs are claimed in the database with a
lease (store.outbox.claim_batch, store.triage.claim_enforcement). A claimant
that crashed leaves its claim behind; the lease ends it eventually, but a
claimant on this host whose process no longer exists is known to be gone at
once, so the next run takes its rows over without waiting. A claimant on
another host, or a pid that is alive (perhaps reused), is left to its lease:
waiting is the safe mistake, sending twice is not.
"""

from __future__ import annotations

import os
import secrets
import socket


def claimant() -> str:
    """host:pid:random (the random part: a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def certainly_gone(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this process: a claim of an earlier run in it stays until released
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists, under another user
    try:  # a killed process not yet reaped by its parent still answers kill(0)
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False
