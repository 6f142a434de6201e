"""Shared fixtures. Real servers live in tests/support/ (one module per server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.dovecot import *  # noqa: F401,F403  (dovecot fixtures)
from support.smtp import *  # noqa: F401,F403  (aiosmtpd fixtures)

REPO = Path(__file__).resolve().parent.parent
# CI lays shared/ beside the clone; a developer's checkout has it at the same place.
SAMPLES_DIR = REPO.parent / "shared" / "samples"


@pytest.fixture
def samples_dir() -> Path:
    assert SAMPLES_DIR.is_dir(), f"shared samples missing at {SAMPLES_DIR}"
    return SAMPLES_DIR
