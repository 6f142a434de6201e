"""`doctor`: every check an operator would otherwise do by hand, one result each.

Each check returns Check(level, name, text) with level 0 ok, 1 warning,
2 failure. No check sends mail, marks a message or creates anything: the
mailbox is opened read-only (EXAMINE), SMTP goes as far as AUTH and quits,
the database is opened only if it exists.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .config import Settings
from .errors import IntakeError

OK, WARN, FAIL = 0, 1, 2
FREE_WARN_BYTES = 1 << 30  # 1 GiB
FREE_FAIL_BYTES = 100 << 20  # 100 MiB: a backlog of photo reports fills that fast


@dataclass
class Check:
    level: int
    name: str
    text: str


def run_checks(settings: Settings, open_db: Callable[[], object]) -> Iterator[Check]:
    yield from _permissions(settings)
    db = None
    try:
        db = open_db()
    except IntakeError as exc:
        yield Check(FAIL, "database", str(exc))
    if db is not None:
        yield _database(db)
    yield _disk(settings)
    yield _templates(settings)
    yield _mailbox(settings, db)
    yield _outgoing(settings, db)
    yield _enforcement(settings)


def _secret_files(settings: Settings) -> list[tuple[str, Path]]:
    out = [("database.path", Path(settings.database_path))]
    for section, s in (("mailbox", settings.mailbox), ("outgoing", settings.outgoing)):
        if s.password_file:
            out.append((f"{section}.password_file", s.password_file))
        if s.oauth2 is not None:
            for key in ("client_secret_file", "refresh_token_file"):
                path = getattr(s.oauth2, key)
                if path:
                    out.append((f"{section}.oauth2.{key}", path))
    return out


def _permissions(settings: Settings) -> Iterator[Check]:
    for key, path in _secret_files(settings):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            if key != "database.path":  # a missing database is the database check's to say
                yield Check(FAIL, "permissions", f"{key}: {path} does not exist")
            continue
        except OSError as exc:
            yield Check(FAIL, "permissions", f"{key}: cannot stat {path}: {exc.strerror}")
            continue
        if mode & 0o044:
            who = "world" if mode & 0o004 else "group"
            yield Check(WARN, "permissions", f"{key}: {path} is {who}-readable (mode {mode:04o}); "
                                             f"chmod 600 {path}")
        else:
            yield Check(OK, "permissions", f"{key}: {path} (mode {mode:04o})")


def _database(db) -> Check:
    from .store.health import quick_check, schema_version
    from .store.schema import MIGRATIONS

    try:
        result = quick_check(db)
        version = schema_version(db)
    except Exception as exc:  # noqa: BLE001 - a damaged file can raise anything sqlite3 has
        return Check(FAIL, "database", f"cannot check: {exc}")
    if result != ["ok"]:
        return Check(FAIL, "database", f"quick_check: {'; '.join(result[:3])}")
    if version != len(MIGRATIONS):
        return Check(FAIL, "database", f"schema {version}, this program expects {len(MIGRATIONS)}")
    return Check(OK, "database", f"quick_check ok, schema {version}")


def _disk(settings: Settings) -> Check:
    folder = Path(settings.database_path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    text = f"{free / (1 << 30):.1f} GiB free at {folder}"
    return Check(FAIL if free < FREE_FAIL_BYTES else WARN if free < FREE_WARN_BYTES else OK, "disk", text)


def _templates(settings: Settings) -> Check:
    from .notify.render import KINDS, Renderer
    from .config import LANGUAGES

    try:
        renderer = Renderer(settings)
        for kind in KINDS:
            for lang in LANGUAGES:
                renderer.render(kind, lang, reporter_name="Andi", subject="Laporan", case_refs=["OB-000001"],
                                cases=[{"ref": "OB-000001", "account_id": "example"}],
                                **({"account_id": "example", "action": "warn", "category": "other",
                                    "functions": [], "until": None} if kind.startswith("outcome") else {}))
    except IntakeError as exc:
        return Check(FAIL, "templates", str(exc))
    except Exception as exc:  # noqa: BLE001 - a broken override can fail in many ways
        return Check(FAIL, "templates", f"{type(exc).__name__}: {exc}")
    where = settings.templates_dir or "shipped"
    return Check(OK, "templates", f"{len(KINDS)} kinds x {len(LANGUAGES)} languages render ({where})")


def _mailbox(settings: Settings, db) -> Check:
    mb = settings.mailbox
    if mb.scheme == "maildir":
        from .intake.maildir import MaildirSource
        try:
            with MaildirSource(mb):
                pass
        except IntakeError as exc:
            return Check(FAIL, "mailbox", str(exc))
        return Check(OK, "mailbox", f"Maildir {mb.path}")
    from .intake import open_source
    try:
        source = open_source(settings, db)
        source.readonly = True  # EXAMINE: nothing marked, no folder created
        with source:
            text = f"login as {mb.user} ok, folder {mb.folder!r} opened"
            if mb.done_action == "move":
                if not source.has_folder(mb.done_folder):
                    return Check(WARN, "mailbox", f"{text}; done folder {mb.done_folder!r} is missing "
                                                  "(the first poll creates it)")
                text += f", done folder {mb.done_folder!r} exists"
            if not source.supports_idle():
                text += " (no IDLE: `watch` polls every [watch] interval)"
    except IntakeError as exc:
        return Check(FAIL, "mailbox", str(exc))
    return Check(OK, "mailbox", text)


def _outgoing(settings: Settings, db) -> Check:
    from .notify.smtp import open_transport

    out = settings.outgoing
    try:
        transport = open_transport(out, db=db)  # connect, EHLO, STARTTLS, AUTH; nothing sent
        transport.close()
    except IntakeError as exc:
        return Check(FAIL, "outgoing", str(exc))
    if out.scheme == "dir":
        return Check(OK, "outgoing", f"writing emails to {out.path}")
    how = "XOAUTH2" if out.auth == "oauth2" else ("AUTH" if out.user else "no AUTH")
    return Check(OK, "outgoing", f"{out.scheme}://{out.host}:{out.port} EHLO ok, {how} ok")


def _enforcement(settings: Settings) -> Check:
    cmd = settings.enforcement_command
    if not cmd:
        return Check(OK, "enforcement", "no command configured (sanctions are only recorded)")
    exe = cmd[0]
    found = shutil.which(exe) if os.sep not in exe else (exe if os.access(exe, os.X_OK) else None)
    if not found:
        return Check(FAIL, "enforcement", f"enforcement.command: {exe} is not an executable file")
    return Check(OK, "enforcement", f"{found} is executable")
