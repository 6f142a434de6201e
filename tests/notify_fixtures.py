"""The names the notify tests import, on the shared builders of helpers.py
(one config builder, one set of row inserters)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

from abuse_intake import config
from abuse_intake.store.db import open_db
from helpers import EXAMPLE, REPO, add_case, add_message, add_reporter, add_sanction, decide, make_settings  # noqa: F401


def settings_for(tmp: Path, outgoing_url: str | None = None, **sections: dict[str, Any]) -> config.Settings:
    """config.example.toml with its paths under tmp; `sections` replace keys per section."""
    return make_settings(tmp, outgoing_url=outgoing_url, **sections)


def db_for(settings: config.Settings):
    return open_db(settings.database_path)


def sample_subject_and_sender(path: Path) -> tuple[str, str, str, str]:
    """(subject, display name, address, Message-ID) of a sample, decoded by the stdlib."""
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    sender = msg["From"].addresses[0]
    return str(msg["Subject"]), sender.display_name, sender.addr_spec.lower(), str(msg["Message-ID"])
