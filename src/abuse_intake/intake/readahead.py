"""Run an iterator a few items ahead of its consumer, on a thread.

During a backlog the poll process is the critical path; what
feeds it (reading Maildir files, draining the fetcher's pipe) is mostly
system calls, during which the GIL is free, so it can overlap with storing.
Items come out in order; an exception from the iterator comes out where it
happened, after every item before it.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


def read_ahead(items: Iterator[T], depth: int, name: str,
               before_join: Callable[[], None] | None = None) -> Iterator[T]:
    """`items`, produced up to `depth` ahead by a thread called `name`.

    When the consumer stops early, `before_join` (if given) runs before the
    thread is waited for: it must unblock an iterator that is waiting (e.g.
    end the process it reads from).
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(q, ("item", item), stop):
                    return
            _put(q, ("end", None), stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer's thread
            _put(q, ("error", exc), stop)

    producer = threading.Thread(target=produce, daemon=True, name=name)
    producer.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        if before_join is not None:
            before_join()
        try:
            while True:
                q.get_nowait()
        except queue.Empty:
            pass
        producer.join(timeout=5)


def _put(q: queue.Queue, entry: tuple, stop: threading.Event) -> bool:
    """Put unless the consumer has stopped (then False): it may never take another."""
    while not stop.is_set():
        try:
            q.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
