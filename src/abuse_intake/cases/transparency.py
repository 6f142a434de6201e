"""The transparency report (DSA Arts. 15 and 24, issue 14.6): what came in, what was done, how fast.

One value (TransparencyReport) for the CLI (`report transparency`) and the web
dashboard (/stats/transparency). Periods are whole UTC days, both ends included.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from ..errors import InvalidActionError
from ..policy.ladder import ACTIONS
from ..store import transparency as sql

NOTIFIER_TYPES = ("user", "trusted", "partner")
# Said in the report itself, so a reader of the figures knows why they are 0.
NOTE_SUSPENDED = "notifier suspension does not exist yet: no notifier can be suspended, so 0"
NOTE_TRUSTED = "no [notifiers] trusted list in the configuration: no trusted notifiers, so 0"
NOTE_AUTOMATED = "every decision is taken by a staff member; only detection (category, severity) is automated"


@dataclass
class TransparencyReport:
    period_from: str  # YYYY-MM-DD, included
    period_to: str  # YYYY-MM-DD, included
    notices_total: int
    notices_by_category: dict[str, int]
    notices_by_notifier: dict[str, int]  # user trusted partner (ARF)
    notices_from_suspended_notifiers: int
    measures_total: int
    measures_by_type: dict[str, int]  # warn restrict ban remove_content
    measures_by_type_and_category: dict[str, dict[str, int]]
    decisions_total: int
    decisions_by_outcome: dict[str, int]  # violation no_violation
    decisions_automated: int
    decisions_human: int
    median_hours_to_decision: float | None
    p90_hours_to_decision: float | None
    appeals_received: int
    appeals_upheld: int
    appeals_overturned: int
    median_hours_to_appeal_decision: float | None
    notes: list[str] = field(default_factory=list)

    def categories(self) -> list[str]:
        """Every category a figure names: the configured ones, then any only old rows still carry."""
        return list(dict.fromkeys([*self.notices_by_category,
                                   *(c for cats in self.measures_by_type_and_category.values() for c in cats)]))

    def as_dict(self) -> dict:
        return asdict(self)

    def rows(self) -> list[tuple[str, str, str, object]]:
        """The report flattened to (section, key, subkey, value): the CSV's rows and the web tables'."""
        out: list[tuple[str, str, str, object]] = [
            ("period", "from", "", self.period_from), ("period", "to", "", self.period_to),
            ("notices", "total", "", self.notices_total)]
        out += [("notices_by_category", c, "", n) for c, n in self.notices_by_category.items()]
        out += [("notices_by_notifier", t, "", n) for t, n in self.notices_by_notifier.items()]
        out.append(("notices", "from_suspended_notifiers", "", self.notices_from_suspended_notifiers))
        out.append(("measures", "total", "", self.measures_total))
        out += [("measures_by_type", a, "", n) for a, n in self.measures_by_type.items()]
        out += [("measures_by_type_and_category", a, c, n)
                for a, cats in self.measures_by_type_and_category.items() for c, n in cats.items()]
        out.append(("decisions", "total", "", self.decisions_total))
        out += [("decisions_by_outcome", d, "", n) for d, n in self.decisions_by_outcome.items()]
        out += [("decisions", "automated", "", self.decisions_automated),
                ("decisions", "human", "", self.decisions_human),
                ("time_to_decision_hours", "median", "", _blank(self.median_hours_to_decision)),
                ("time_to_decision_hours", "p90", "", _blank(self.p90_hours_to_decision)),
                ("appeals", "received", "", self.appeals_received),
                ("appeals", "upheld", "", self.appeals_upheld),
                ("appeals", "overturned", "", self.appeals_overturned),
                ("appeals", "median_hours_to_decision", "", _blank(self.median_hours_to_appeal_decision))]
        return out


def _blank(v: float | None):
    return "" if v is None else v


def parse_day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidActionError(f"the period's {what} must be a day as YYYY-MM-DD, not {value!r}",
                                 field=what) from None


def median_hours(seconds: list[float]) -> float | None:
    return round(statistics.median(seconds) / 3600, 2) if seconds else None


def p90_hours(seconds: list[float]) -> float | None:
    """Nearest rank: the smallest delay that at least 90% of decisions met (always an observed delay,
    never an extrapolation beyond the slowest one)."""
    if not seconds:
        return None
    ordered = sorted(seconds)
    return round(ordered[math.ceil(0.9 * len(ordered)) - 1] / 3600, 2)


def transparency_report(db, settings, period_from: date, period_to: date) -> TransparencyReport:
    """The report for the UTC days period_from..period_to (both included)."""
    if period_to < period_from:
        raise InvalidActionError(f"the period ends ({period_to}) before it starts ({period_from})", field="period_to")
    start = period_from.isoformat() + "T00:00:00Z"
    end = (period_to + timedelta(days=1)).isoformat() + "T00:00:00Z"
    trusted = {a.lower() for a in getattr(settings, "trusted_notifiers", ())}
    notes = [NOTE_SUSPENDED, NOTE_AUTOMATED]
    if not trusted:
        notes.insert(0, NOTE_TRUSTED)

    by_category = {c: 0 for c in settings.categories}
    by_notifier = {t: 0 for t in NOTIFIER_TYPES}
    notices = sql.notices(db, start, end)
    for category, source, reporter in notices:
        by_category[category] = by_category.get(category, 0) + 1
        # An ARF feedback report comes from a partner's system; trusted notifiers are listed by address.
        kind = "partner" if source == "arf" else "trusted" if (reporter or "").lower() in trusted else "user"
        by_notifier[kind] += 1

    by_type = {a: 0 for a in ACTIONS}
    by_type_cat: dict[str, dict[str, int]] = {a: {} for a in ACTIONS}
    for action, category, n in sql.measures(db, start, end):
        by_type[action] = by_type.get(action, 0) + n
        by_type_cat.setdefault(action, {})[category] = n

    decisions = sql.decisions(db, start, end)
    by_outcome = {"violation": 0, "no_violation": 0}
    for decision, _ in decisions:
        by_outcome[decision] = by_outcome.get(decision, 0) + 1
    delays = [s for _, s in decisions]

    appeals = sql.appeals_decided(db, start, end)
    return TransparencyReport(
        period_from=period_from.isoformat(), period_to=period_to.isoformat(),
        notices_total=len(notices), notices_by_category=by_category, notices_by_notifier=by_notifier,
        notices_from_suspended_notifiers=0,
        measures_total=sum(by_type.values()), measures_by_type=by_type, measures_by_type_and_category=by_type_cat,
        decisions_total=len(decisions), decisions_by_outcome=by_outcome,
        decisions_automated=0, decisions_human=len(decisions),
        median_hours_to_decision=median_hours(delays), p90_hours_to_decision=p90_hours(delays),
        appeals_received=sql.appeals_received(db, start, end),
        appeals_upheld=sum(1 for s, _ in appeals if s == "upheld"),
        appeals_overturned=sum(1 for s, _ in appeals if s == "overturned"),
        median_hours_to_appeal_decision=median_hours([t for _, t in appeals]),
        notes=notes)
