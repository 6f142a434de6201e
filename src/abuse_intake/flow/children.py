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


# A batch is ~1.25 MB (50 messages of 25 KB). With the default 64 KB pipe the
# sender and the receiver take turns 20 times per batch, each waiting to be
# scheduled on a busy machine (measured ~10 ms per batch); a buffer that holds
# a batch lets the sender hand it over and go on. 1 MB is what Linux allows
# any user (fs.pipe-max-size); more is tried first.
PIPE_BYTES = (4 << 20, 1 << 20)


def one_way_pipe(ctx):
    """(reader, writer) multiprocessing Connections over an enlarged OS pipe."""
    import fcntl

    reader, writer = ctx.Pipe(duplex=False)
    for size in PIPE_BYTES:
        try:
            fcntl.fcntl(writer.fileno(), fcntl.F_SETPIPE_SZ, size)
            break
        except (OSError, AttributeError):
            continue  # over the limit (or not Linux): try smaller, else keep the default
    return reader, writer
