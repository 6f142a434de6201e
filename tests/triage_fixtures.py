"""The names the triage tests import, on the shared builders of helpers.py
(one config builder, one set of row inserters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from abuse_intake import config
import helpers
from helpers import EXAMPLE, REPO, add_report, make_settings, rows  # noqa: F401


def example_settings(base: Path | None = None, **sections: dict[str, Any]) -> config.Settings:
    """config.example.toml with its paths under `base`; `sections` replace keys per section."""
    return make_settings(base, **sections)


def add_case(db, *, account_id: str | None, reporters=(("ana@example.com", "id"),), category: str = "prostitution",
             severity: str = "high", status: str | None = None, at: str = "2024-06-01T10:00:00Z",
             prefix: str = "OB") -> dict:
    """helpers.add_case with one report from ana@example.com unless told otherwise."""
    return helpers.add_case(db, account_id=account_id, reporters=reporters, category=category, severity=severity,
                            status=status, at=at, prefix=prefix)
