"""An SMTP intake: the MTA delivers report mail straight to us instead of a mailbox.

The server answers 250 only after the message is committed to the store, so
a message the MTA considers delivered is never lost; a store failure answers
451 (try again later) and the MTA keeps the message queued. All processing
runs on one worker thread that owns the SQLite connection (a connection must
not be shared across threads).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from aiosmtpd.controller import Controller

from ..config import Settings
from ..errors import IntakeError
from ..models import RawMessage, Source
from ..store.db import open_db
from .process import default_renderer, process_one


class _Handler:
    def __init__(self, settings: Settings, name: str):
        self.settings = settings
        self.name = name
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="abuse-intake-store")
        self.db = None
        self.renderer = None  # compiling every template per message would cost ~0.15 s each
        self.processed = 0

    def _process(self, data: bytes):
        if self.db is None:
            self.db = open_db(self.settings.database_path, self.settings.busy_timeout_ms)
            self.renderer = default_renderer(self.settings)
        raw = RawMessage(data, Source(self.name), datetime.now(timezone.utc))
        outcome = process_one(self.db, self.settings, raw, renderer=self.renderer)
        self.processed += 1
        return outcome

    async def handle_DATA(self, server, session, envelope) -> str:
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(self.pool, self._process, envelope.original_content or envelope.content)
        except IntakeError as exc:
            return f"451 4.3.0 not stored, try again later ({type(exc).__name__})"
        return f"250 2.0.0 stored as {outcome.kind}"

    def close(self) -> None:
        def _close():
            if self.db is not None:
                self.db.conn.close()
                self.db = None
        self.pool.submit(_close).result()
        self.pool.shutdown()


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
