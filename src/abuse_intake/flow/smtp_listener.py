"""An SMTP intake: the MTA delivers report mail straight to us instead of a mailbox.

The server answers 250 only after the message is committed to the store, so
a message the MTA considers delivered is never lost; a store failure (or any
unexpected error, e.g. a corrupt database) answers 451 (try again later) and
the MTA keeps the message queued. Processing runs on a few worker threads,
each with its own SQLite connection, so the event loop and the other threads
keep serving while one message is processed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from aiosmtpd.controller import Controller

from ..config import Settings
from ..errors import IntakeError
from ..models import RawMessage, Source
from ..store.db import open_db, transaction
from . import process

log = logging.getLogger(__name__)


class _Handler:
    """Processes each message on a pool thread, so one slow message does not hold up
    the next sender: each thread has its own connection (writes still take turns in
    the database, parsing does not)."""

    WORKERS = 4

    def __init__(self, settings: Settings, name: str):
        self.settings = settings
        self.name = name
        self.pool = ThreadPoolExecutor(max_workers=self.WORKERS, thread_name_prefix="abuse-intake-store")
        self._local = threading.local()
        self._opened: list = []  # every thread's database, closed at the end
        self._lock = threading.Lock()
        self.processed = 0

    def _processor(self) -> process.Processor:
        local = self._local
        if getattr(local, "processor", None) is None:
            db = open_db(self.settings.database_path, self.settings.busy_timeout_ms, check_same_thread=False)
            with self._lock:
                self._opened.append(db)
            # Compiling every template per message would cost ~0.15 s each: once per thread.
            local.processor = process.Processor(db, self.settings, process.default_renderer(self.settings),
                                                process.default_notifier())
        return local.processor

    def _process(self, data: bytes, mail_from: str | None = None):
        processor = self._processor()
        # The envelope sender too: a null one (<>) is never answered (robots.backscatter_reason).
        raw = RawMessage(data, Source(self.name), datetime.now(timezone.utc), envelope_sender=mail_from)
        # Parsing is CPU work without the database: outside the write transaction, so
        # another thread's message can be stored meanwhile.
        prep = process.prepare(raw.data, self.settings)
        with transaction(processor.db):
            outcome = processor.store(raw, prep)
        with self._lock:
            self.processed += 1
        return outcome

    async def handle_DATA(self, server, session, envelope) -> str:
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(self.pool, self._process, envelope.original_content or envelope.content,
                                                 envelope.mail_from)
        except IntakeError as exc:
            return f"451 4.3.0 not stored, try again later ({type(exc).__name__})"
        except Exception as exc:  # noqa: BLE001 - e.g. a corrupt database: a 5xx would make the MTA bounce the report
            log.error("message not stored (451): %s: %s", type(exc).__name__, exc)
            return f"451 4.3.0 not stored, try again later ({type(exc).__name__})"
        return f"250 2.0.0 stored as {outcome.kind}"

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        with self._lock:
            for db in self._opened:
                db.conn.close()  # opened with check_same_thread=False: closable from here
            self._opened.clear()


class SmtpIntake:
    """Start/stop an SMTP listener that feeds flow/process.py."""

    def __init__(self, settings: Settings, host: str, port: int):
        self.handler = _Handler(settings, f"smtp://{host}:{port}")
        self.controller = Controller(self.handler, hostname=host, port=port,
                                     data_size_limit=settings.limits.max_message_bytes)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
        self.handler.close()
