"""The sanction ladder: (the account's history, a new confirmed violation) -> sanction.

Pure: no I/O, no SQL, no clock. Callers pass `now` and the facts they loaded,
so every rule can be tested from a table of scenarios.

Semantics, in one place:
- A confirmed violation is a non-revoked sanction (a warning counts too).
- It is inside the look-back window when  now - lookback < starts_at <= now:
  a violation exactly `lookback_days` old has fallen out.
- The n-th violation (n = prior + 1) takes step n of its severity's ladder;
  past the end, the last step repeats.
- Critical: always a ban (whatever the ladder says), and the case is flagged
  for referral to law enforcement.
- Status: banned if any non-revoked ban has started; restricted if a
  non-revoked restriction has started and not yet ended; else active. An
  expired restriction simply stops counting here: no job has to lift it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from ..config import SEVERITIES, PolicySettings

ACTIONS = ("warn", "restrict", "ban")


@dataclass(frozen=True)
class SanctionDecision:
    action: str  # warn | restrict | ban
    functions: tuple[str, ...]  # what a restriction takes away; () otherwise
    until: datetime | None  # end of a restriction; None for warn and ban
    rule: str  # e.g. "high #2 -> ban", so staff can explain it
    violation_number: int  # this violation's number inside the window (1 = first)
    referral: bool = False  # critical: flag the case for law enforcement


@dataclass(frozen=True)
class SanctionFact:
    """What the ladder needs to know about one recorded sanction."""

    action: str
    starts_at: datetime
    until: datetime | None
    revoked: bool
    functions: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccountStatus:
    status: str  # active | restricted | banned
    until: datetime | None  # end of the restriction in force; None if active or banned
    functions: tuple[str, ...] = ()  # functions restricted right now


def decide_sanction(*, category: str, severity: str, prior_violations: int, now: datetime,
                    policy: PolicySettings) -> SanctionDecision:
    """The sanction for a new confirmed violation of `severity`.

    `prior_violations` counts the account's confirmed violations inside the
    look-back window before `now` (see count_prior_violations).
    """
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    if prior_violations < 0:
        raise ValueError("prior_violations cannot be negative")
    number = prior_violations + 1
    steps = policy.ladder[severity]
    step = steps[min(prior_violations, len(steps) - 1)]
    action, days = step.action, step.days
    referral = severity == "critical"
    if referral:
        action, days = "ban", None  # no config can soften the gravest category
    if action == "restrict":
        return SanctionDecision(
            action="restrict", functions=tuple(policy.restrict_functions),
            until=now + timedelta(days=days or 0),
            rule=f"{severity} #{number} -> restrict {days} days", violation_number=number,
        )
    return SanctionDecision(action=action, functions=(), until=None,
                            rule=f"{severity} #{number} -> {action}", violation_number=number,
                            referral=referral)


def in_window(starts_at: datetime, now: datetime, lookback_days: int) -> bool:
    return now - timedelta(days=lookback_days) < starts_at <= now


def count_prior_violations(facts: Iterable[SanctionFact], now: datetime, lookback_days: int) -> int:
    """Confirmed violations that still count: not revoked, inside the window."""
    return sum(1 for f in facts if not f.revoked and in_window(f.starts_at, now, lookback_days))


def account_status(facts: Iterable[SanctionFact], now: datetime) -> AccountStatus:
    live = [f for f in facts if not f.revoked and f.starts_at <= now]
    if any(f.action == "ban" for f in live):
        return AccountStatus("banned", None)
    restricting = [f for f in live if f.action == "restrict" and f.until is not None and f.until > now]
    if restricting:
        functions = tuple(dict.fromkeys(fn for f in restricting for fn in f.functions))
        return AccountStatus("restricted", max(f.until for f in restricting), functions)
    return AccountStatus("active", None)
