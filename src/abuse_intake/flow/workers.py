"""Parsing on the other cores during a backlog.

Parsing and extraction are pure CPU work on one message at a time; storing
must stay in one process, in arrival order. So during a backlog each batch is
split between worker processes while this process stores the batch before
it. The workers talk over plain pipes that this process reads only when it
needs a result: no helper threads here to fight the storing thread for the
GIL (a multiprocessing.Pool's result thread did, and doubled the cost of
every SQLite call).

A cron run that finds a few messages never starts workers. A worker that
dies or hangs is dropped and the run finishes in-process, so a broken worker
can cost time but never a message.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Iterable, Iterator

from .children import die_with_parent, one_way_pipe
from ..config import Settings
from ..models import RawMessage

log = logging.getLogger(__name__)

WORKER_TIMEOUT = 120  # seconds one chunk may take before the workers are given up
MIN_PARALLEL_BATCH = 20  # smaller batches are not worth the hand-over


def _serve(inbox, outbox, settings: Settings, prepare: Callable) -> None:
    die_with_parent()
    if os.getppid() == 1:
        os._exit(0)
    try:
        while True:
            chunk = inbox.recv()
            if chunk is None:
                break
            outbox.send([prepare(data, settings) for data in chunk])
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    finally:
        os._exit(0)  # skip the parent's atexit handlers inherited through fork


class _Duplex:
    """The parent's ends of a worker's two pipes, used like one Connection."""

    def __init__(self, writer, reader):
        self.writer, self.reader = writer, reader

    def send(self, obj) -> None:
        self.writer.send(obj)

    def poll(self, timeout: float) -> bool:
        return self.reader.poll(timeout)

    def recv(self):
        return self.reader.recv()

    def close(self) -> None:
        self.writer.close()
        self.reader.close()


class Preparer:
    """Yields (batch, prepared) pairs, preparing the next batch while the caller stores this one."""

    def __init__(self, settings: Settings, prepare: Callable):
        self.settings = settings
        self.prepare = prepare
        workers = settings.workers or (os.cpu_count() or 1)
        self.wanted = workers if workers > 1 else 0
        self.procs: list = []
        self.conns: list = []

    def _start(self) -> None:
        import multiprocessing
        ctx = multiprocessing.get_context("fork")  # workers inherit the compiled settings for free
        for _ in range(self.wanted):
            # Two one-way pipes with room for a whole chunk each way (see children.py).
            work_r, work_w = one_way_pipe(ctx)
            done_r, done_w = one_way_pipe(ctx)
            proc = ctx.Process(target=_serve, args=(work_r, done_w, self.settings, self.prepare), daemon=True)
            proc.start()
            work_r.close()
            done_w.close()
            self.procs.append(proc)
            self.conns.append(_Duplex(work_w, done_r))
        log.info("backlog: parsing in %d worker processes", self.wanted)

    def ahead(self, batches: Iterable[list[RawMessage]]) -> Iterator[tuple[list[RawMessage], list]]:
        pending = None  # a batch handed to the workers one step earlier
        for batch in batches:
            if not self.conns and self.wanted and len(batch) >= max(self.settings.mailbox.batch_size,
                                                                     MIN_PARALLEL_BATCH):
                self._start()
            if not self.conns:
                if pending is not None:
                    yield pending, self._collect(pending)
                    pending = None
                yield batch, [self.prepare(r.data, self.settings) for r in batch]
                continue
            # Collect the previous batch before handing out this one: a worker blocked
            # sending results while we block sending it work would deadlock the pipes.
            done = self._collect(pending) if pending is not None else None
            handed = self._hand_out(batch)
            if pending is not None:
                yield pending, done  # stored while the workers parse `batch`
            pending = batch if handed else None
            if not handed:
                yield batch, [self.prepare(r.data, self.settings) for r in batch]
        if pending is not None:
            yield pending, self._collect(pending)

    def _chunks(self, batch: list) -> list[list]:
        n = len(self.conns)
        size = -(-len(batch) // n)
        return [batch[i * size:(i + 1) * size] for i in range(n)]

    def _hand_out(self, batch: list[RawMessage]) -> bool:
        if not self.conns:  # given up while collecting the previous batch
            return False
        try:
            for conn, chunk in zip(self.conns, self._chunks(batch)):
                conn.send([r.data for r in chunk])
            return True
        except (OSError, ValueError) as exc:
            self._give_up(exc)
            return False

    def _collect(self, batch: list[RawMessage]) -> list:
        if not self.conns:
            return [self.prepare(r.data, self.settings) for r in batch]
        out: list = []
        try:
            for conn, chunk in zip(self.conns, self._chunks(batch)):
                if not conn.poll(WORKER_TIMEOUT + len(chunk)):
                    raise TimeoutError("a parser worker did not answer")
                part = conn.recv()
                if len(part) != len(chunk):
                    raise ValueError("a parser worker answered for the wrong messages")
                out.extend(part)
            return out
        except (EOFError, OSError, TimeoutError, ValueError) as exc:
            self._give_up(exc)
            return [self.prepare(r.data, self.settings) for r in batch]

    def _give_up(self, exc: BaseException) -> None:
        log.warning("parser workers failed (%s: %s); continuing in one process", type(exc).__name__, exc)
        self.close()
        self.wanted = 0

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
            conn.close()
        for proc in self.procs:
            proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self.procs, self.conns = [], []
