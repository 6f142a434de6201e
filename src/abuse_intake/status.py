"""`status`: what monitoring needs to know, as typed values, and the
`[health]` thresholds applied to them (Nagios levels: 0 ok, 1 warning, 2 critical)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from .config import Settings
from .store import health as store
from .store.db import iso, parse_iso, utcnow

OK, WARNING, CRITICAL = 0, 1, 2
LEVELS = ("ok", "warning", "critical")


@dataclass
class Status:
    now: str
    last_poll_ok_at: str | None
    last_poll_ok_age_seconds: float | None
    last_error_at: str | None
    last_error: str | None
    last_run_failed: bool
    mailbox_backlog: int | None  # messages waiting on the server (only with --backlog)
    outbox_pending: int
    outbox_held: int
    outbox_failed: int
    outbox_sent: int
    outbox_oldest_pending_age_seconds: float | None
    outbox_oldest_held_age_seconds: float | None
    quarantined: int
    open_cases: dict[str, dict] = field(default_factory=dict)  # severity -> {count, oldest_age_seconds}
    oldest_unread_appeal_age_seconds: float | None = None
    health: str = "ok"
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _age(now: datetime, value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, (now - parse_iso(value)).total_seconds())
    except ValueError:
        return None


def collect(db, settings: Settings, *, backlog: int | None = None, now: datetime | None = None) -> Status:
    now = now or utcnow()
    runs = store.last_runs(db)
    box = store.outbox(db)
    cases = {sev: {"count": v["count"], "oldest_age_seconds": _age(now, v["oldest_opened_at"])}
             for sev, v in store.open_cases(db).items()}
    st = Status(
        now=iso(now),
        last_poll_ok_at=runs["last_ok_at"],
        last_poll_ok_age_seconds=_age(now, runs["last_ok_at"]),
        last_error_at=runs["last_error_at"],
        last_error=runs["last_error"],
        last_run_failed=runs["last_failed"],
        mailbox_backlog=backlog,
        outbox_pending=box["counts"]["pending"],
        outbox_held=box["counts"]["held"],
        outbox_failed=box["counts"]["failed"],
        outbox_sent=box["counts"]["sent"],
        outbox_oldest_pending_age_seconds=_age(now, box["oldest"]["pending"]),
        outbox_oldest_held_age_seconds=_age(now, box["oldest"]["held"]),
        quarantined=store.quarantined(db),
        open_cases=cases,
        oldest_unread_appeal_age_seconds=_age(now, store.oldest_unread_appeal(db)),
    )
    level, problems = evaluate(st, settings)
    st.health, st.problems = LEVELS[level], problems
    return st


def evaluate(st: Status, settings: Settings) -> tuple[int, list[str]]:
    """The worst level of the checks, and one phrase per check that is not ok (worst first)."""
    h = settings.health
    found: list[tuple[int, str]] = []

    def check(value, warn, crit, text):
        if value is None:
            return
        if crit is not None and value >= crit:
            found.append((CRITICAL, text))
        elif warn is not None and value >= warn:
            found.append((WARNING, text))

    if st.last_poll_ok_at is None:
        found.append((CRITICAL, "no successful poll yet"))
    else:
        minutes = st.last_poll_ok_age_seconds / 60
        check(minutes, h.last_poll_warn_minutes, h.last_poll_crit_minutes,
              f"last successful poll {minutes:.0f} min ago")
    if st.last_run_failed:
        found.append((WARNING, f"the last run failed: {st.last_error}"))
    check(st.outbox_pending, h.outbox_pending_warn, h.outbox_pending_crit, f"{st.outbox_pending} emails pending")
    if st.outbox_oldest_pending_age_seconds is not None:
        minutes = st.outbox_oldest_pending_age_seconds / 60
        check(minutes, h.outbox_oldest_warn_minutes, h.outbox_oldest_crit_minutes,
              f"oldest pending email waits {minutes:.0f} min")
    check(st.outbox_failed, h.outbox_failed_warn or None, None, f"{st.outbox_failed} emails failed")
    check(st.quarantined, h.quarantine_warn or None, h.quarantine_crit or None,
          f"{st.quarantined} messages quarantined")
    found.sort(key=lambda p: -p[0])
    return (found[0][0] if found else OK), [text for _, text in found]
