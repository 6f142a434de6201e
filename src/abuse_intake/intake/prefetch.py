"""Fetch a backlog ahead of the pipeline, in a process of its own (IMAP).

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
from typing import TYPE_CHECKING, Iterator

from ..children import die_with_parent
from ..errors import MailboxError
from ..models import RawMessage

if TYPE_CHECKING:
    from .imap import ImapSource

log = logging.getLogger(__name__)

MIN_BACKLOG = 200  # messages; below this a second connection is not worth its login
PROCESS_NAME = "abuse-intake-fetcher"


def batches(source: "ImapSource", uids: list[int]) -> Iterator[list[RawMessage]]:
    """The messages of `uids` in batches, fetched by a child process when one can be started."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")  # the child inherits the settings and password in memory
    parent, child = ctx.Pipe()
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
    done = 0  # uids[:done] have been delivered
    wait = 3 * source.settings.timeout + 30  # the child's own socket timeout fires well before this
    try:
        while True:
            try:
                if not parent.poll(wait):
                    raise TimeoutError(f"no answer in {wait:g} s")
                kind, upto, payload = parent.recv()
            except (EOFError, OSError, TimeoutError) as exc:
                log.warning("the fetcher process failed (%s: %s); fetching the rest in this process",
                            type(exc).__name__, exc)
                break
            if kind == "batch":
                done = upto
                if payload:
                    yield payload
            elif kind == "end":
                return
            elif kind == "error":
                raise MailboxError(payload)
            else:  # "crash": a bug in the child, not the server's doing
                log.warning("the fetcher process failed (%s); fetching the rest in this process", payload)
                break
    finally:
        parent.close()
        proc.join(timeout=5)  # it logs out after its last message
        if proc.is_alive():
            proc.kill()
            proc.join()
    yield from source.fetch_uids(uids[done:])


def _serve(conn, parent_source: "ImapSource", uids: list[int]) -> None:
    from .imap import ImapSource

    die_with_parent()
    source = ImapSource(parent_source.settings, parent_source._password, readonly=True)  # noqa: SLF001 - same run
    try:
        if os.getppid() == 1:
            return
        source.connect()
        if source.uidvalidity() != parent_source.uidvalidity():
            raise MailboxError(f"UIDVALIDITY of {source.name} changed during the run; the next run re-scans")
        size = source.batch_size()
        for start in range(0, len(uids), size):
            end = min(start + size, len(uids))
            conn.send(("batch", end, source._fetch(uids[start:end])))  # noqa: SLF001
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
