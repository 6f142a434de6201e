"""What every forked helper process (parser workers, the IMAP fetcher) does first."""

from __future__ import annotations

import signal


def die_with_parent() -> None:
    """A SIGKILLed poll must not leave helpers behind (Linux PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
