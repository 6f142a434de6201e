"""Fetch a backlog ahead of the poll, in a process of its own (IMAP).

Over IMAP the poll process was the critical path of a backlog: it waited for
each FETCH and spent ~0.3 ms a message in imaplib's response parsing while
the parser workers sat idle. Here a forked process with a connection of its
own fetches batch k+1 while the poll process stores batch k, and sends the
messages over a pipe (a thread would fight the storing thread for the GIL).

Only a backlog gets it (MIN_BACKLOG messages): a cron run with a few
messages fetches in-process, exactly as before. A server failure in the
fetcher is a MailboxError in the poll process, raised where the next batch
would have been, so everything before it is committed as usual. A fetcher
that dies or hangs is dropped and the poll process fetches the rest itself:
it can cost time, never a message.
"""

from __future__ import annotations

import logging
import os
from typing import Iterator, Protocol

from ..errors import MailboxError
from ..intake.readahead import read_ahead
from ..models import Cursor, RawMessage
from .children import die_with_parent, one_way_pipe

log = logging.getLogger(__name__)

MIN_BACKLOG = 200  # messages; below this a second connection is not worth its login
PROCESS_NAME = "abuse-intake-fetcher"
DEPTH = 3  # batches held in memory ahead of the poll


class Prefetchable(Protocol):
    """What a source offers to be fetched ahead (intake/imap.py's ImapSource does)."""

    prefetch: bool  # False: this source is never fetched ahead
    settings: object  # with .timeout, seconds

    def pending(self, cursor: Cursor, limit: int | None) -> list[int]: ...
    def fetch_uids(self, uids: list[int]) -> Iterator[list[RawMessage]]: ...
    def fetch_batch(self, uids: list[int]) -> list[RawMessage]: ...
    def batch_size(self) -> int: ...
    def uidvalidity(self) -> int | None: ...
    def reader(self) -> "Prefetchable": ...


def new_batches(source, cursor: Cursor, limit: int | None) -> Iterator[list[RawMessage]]:
    """The source's new messages in batches; a backlog of MIN_BACKLOG or more is
    fetched ahead by a child process when the source can be (see Prefetchable)."""
    if not getattr(source, "prefetch", False) or not hasattr(source, "reader"):
        yield from source.fetch_new(cursor, limit)
        return
    uids = source.pending(cursor, limit)
    if len(uids) >= MIN_BACKLOG:
        yield from batches(source, uids)
    else:
        yield from source.fetch_uids(uids)


def batches(source: Prefetchable, uids: list[int]) -> Iterator[list[RawMessage]]:
    """The messages of `uids` in batches, fetched by a child process when one can be started."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")  # the child inherits the settings and password in memory
    parent, child = one_way_pipe(ctx)  # the child only sends
    proc = ctx.Process(target=_serve, args=(child, source, uids), daemon=True, name=PROCESS_NAME)
    try:
        proc.start()
    except OSError as exc:
        log.warning("cannot start the fetcher process (%s); fetching in this process", exc)
        parent.close()
        child.close()
        yield from source.fetch_uids(uids)
        return
    child.close()
    log.info("backlog of %d messages: fetching ahead in process %s", len(uids), proc.pid)
    wait = 3 * source.settings.timeout + 30  # the child's own socket timeout fires well before this
    finished = False  # the child said its last word and exits by itself

    def end_child() -> None:  # which also wakes the reading thread with an end of file
        proc.join(timeout=5 if finished else 0)  # after its last message it logs out
        if proc.is_alive():
            proc.kill()
            proc.join()

    # A thread drains the pipe into memory (up to DEPTH batches), so a batch is
    # here before it is asked for and the child never waits on the pipe.
    messages = read_ahead(_messages(parent, wait), DEPTH, "abuse-intake-fetch-pump", before_join=end_child)
    done = 0  # uids[:done] have been delivered
    try:
        for kind, upto, payload in messages:
            if kind == "batch":
                done = upto
                if payload:
                    yield payload
            elif kind == "end":
                finished = True
                return
            elif kind == "error":
                finished = True
                raise MailboxError(payload)
            else:  # the child died, hung or crashed: not the server's doing
                log.warning("the fetcher process failed (%s); fetching the rest in this process", payload)
                break
    finally:
        messages.close()  # ends the child, then waits for the thread
        end_child()  # (if the reading had already ended on its own)
        parent.close()
    yield from source.fetch_uids(uids[done:])


def _messages(conn, wait: float) -> Iterator[tuple]:
    """What the child sends, up to its last word; a dead or silent child ends as ("dead", ...)."""
    while True:
        try:
            if not conn.poll(wait):
                raise TimeoutError(f"no answer in {wait:g} s")
            message = conn.recv()
        except (EOFError, OSError, TimeoutError, ValueError) as exc:
            yield ("dead", 0, f"{type(exc).__name__}: {exc}")
            return
        yield message
        if message[0] != "batch":
            return


def _serve(conn, parent_source: Prefetchable, uids: list[int]) -> None:
    die_with_parent()
    source = parent_source.reader()  # with OAuth2 it holds a token, not the secret
    try:
        if os.getppid() == 1:
            return
        source.connect()
        if source.uidvalidity() != parent_source.uidvalidity():
            raise MailboxError(f"UIDVALIDITY of {source.name} changed during the run; the next run re-scans")
        size = source.batch_size()
        for start in range(0, len(uids), size):
            end = min(start + size, len(uids))
            conn.send(("batch", end, source.fetch_batch(uids[start:end])))
        conn.send(("end", len(uids), None))
    except MailboxError as exc:
        _send(conn, ("error", 0, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported; the parent fetches the rest itself
        _send(conn, ("crash", 0, f"{type(exc).__name__}: {exc}"[:500]))
    finally:
        source.close()
        conn.close()
        os._exit(0)  # skip the parent's atexit handlers inherited through fork


def _send(conn, message: tuple) -> None:
    try:
        conn.send(message)
    except (OSError, ValueError):
        pass  # the parent is gone or stopped listening
