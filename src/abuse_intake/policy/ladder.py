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

ACTIONS = ("warn", "restrict", "ban", "remove_content")
MEASURE_FORMS = "warn, restrict:DAYS, ban or remove_content"


@dataclass(frozen=True)
class SanctionDecision:
    action: str  # warn | restrict | ban | remove_content
    functions: tuple[str, ...]  # what a restriction takes away; () otherwise
    until: datetime | None  # end of a restriction; None for warn and ban
    rule: str  # e.g. "high #2 -> ban", so staff can explain it
    violation_number: int  # this violation's number inside the window (1 = first)
    referral: bool = False  # critical: flag the case for law enforcement
    ladder_pick: str | None = None  # set when staff chose the measure: what the ladder said ("restrict:30")
    counts: bool = True  # counts as a strike for later violations (a content removal may not)
    days: int | None = None  # restrict: its length


@dataclass(frozen=True)
class SanctionFact:
    """What the ladder needs to know about one recorded sanction."""

    action: str
    starts_at: datetime
    until: datetime | None
    revoked: bool
    functions: tuple[str, ...] = ()
    counts: bool = True  # False: recorded, but not a strike (see remove_content_counts)


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
            rule=f"{severity} #{number} -> restrict {days} days", violation_number=number, days=days,
        )
    return SanctionDecision(action=action, functions=(), until=None,
                            rule=f"{severity} #{number} -> {action}", violation_number=number,
                            referral=referral)


def parse_measure(text: str) -> tuple[str, int | None]:
    """"warn" | "restrict:DAYS" | "ban" | "remove_content" -> (action, days); ValueError otherwise."""
    value = (text or "").strip().lower()
    if value in ("warn", "ban", "remove_content"):
        return value, None
    if value.startswith("restrict:") and value[9:].isdigit() and 1 <= int(value[9:]) <= 3650:
        return "restrict", int(value[9:])
    raise ValueError(f"unknown measure {text!r}: use {MEASURE_FORMS} (DAYS 1-3650)")


def measure_of(decision: SanctionDecision) -> str:
    """The measure as staff write it: "restrict:30", "ban"..."""
    return f"restrict:{decision.days}" if decision.action == "restrict" else decision.action


def override(pick: SanctionDecision, measure: str, *, now: datetime, policy: PolicySettings) -> SanctionDecision:
    """Staff's measure instead of the ladder's pick; the pick is kept in ladder_pick
    and the rule says both, so a statement of reasons can explain it.

    The violation number and the referral flag stay as the ladder set them: a
    critical case is still referred whatever measure is chosen. A content
    removal counts as a strike only if `[policy] remove_content_counts`."""
    action, days = parse_measure(measure)
    chosen = f"restrict:{days}" if action == "restrict" else action
    ladder = measure_of(pick)
    rule = f"staff chose {chosen} (ladder: {pick.rule})"
    counts = policy.remove_content_counts if action == "remove_content" else True
    if action == "restrict":
        return SanctionDecision(action="restrict", functions=tuple(policy.restrict_functions),
                                until=now + timedelta(days=days or 0), rule=rule,
                                violation_number=pick.violation_number, referral=pick.referral,
                                ladder_pick=ladder, counts=counts, days=days)
    return SanctionDecision(action=action, functions=(), until=None, rule=rule,
                            violation_number=pick.violation_number, referral=pick.referral,
                            ladder_pick=ladder, counts=counts)


def in_window(starts_at: datetime, now: datetime, lookback_days: int) -> bool:
    return now - timedelta(days=lookback_days) < starts_at <= now


def count_prior_violations(facts: Iterable[SanctionFact], now: datetime, lookback_days: int) -> int:
    """Confirmed violations that still count: not revoked, inside the window."""
    return sum(1 for f in facts if f.counts and not f.revoked and in_window(f.starts_at, now, lookback_days))


def account_status(facts: Iterable[SanctionFact], now: datetime) -> AccountStatus:
    live = [f for f in facts if not f.revoked and f.starts_at <= now]
    if any(f.action == "ban" for f in live):
        return AccountStatus("banned", None)
    restricting = [f for f in live if f.action == "restrict" and f.until is not None and f.until > now]
    if restricting:
        functions = tuple(dict.fromkeys(fn for f in restricting for fn in f.functions))
        return AccountStatus("restricted", max(f.until for f in restricting), functions)
    return AccountStatus("active", None)
