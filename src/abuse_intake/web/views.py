"""What the console's pages show, gathered from library functions (no SQL here).

The case's facts, account history, sanctions and audit trail come from the
library's read view (cases/views.case_view, as `cases show`); the web adds
what only it shows (attachment ids for links, blur, track records, emails,
the decision previews).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..cases import views as case_views
from ..config import SEVERITIES, Settings
from ..errors import NotFoundError
from ..policy.ladder import decide_sanction
from ..store import cases as case_store
from ..store import search
from ..store.db import iso, utcnow

PAGE_SIZE = 50
STATUSES = ("waiting", "open", "needs_info", "decided", "merged", "all")
AGES = {"": None, "1d": timedelta(days=1), "3d": timedelta(days=3), "7d": timedelta(days=7),
        "30d": timedelta(days=30)}
# Categories whose images are blurred until a click (staff wellbeing).
BLURRED_CATEGORIES = ("sexual", "prostitution", "trafficking", "csam", "child", "minor", "porn", "nud")


@dataclass(frozen=True)
class QueueFilter:
    status: str = "waiting"
    category: str = ""
    severity: str = ""
    assignee: str = ""
    age: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args, settings: Settings) -> "QueueFilter":
        def pick(name, allowed, default=""):
            value = (args.get(name) or "").strip()
            return value if value in allowed else default
        try:
            page = max(1, min(int(args.get("page") or 1), 100_000))
        except ValueError:
            page = 1
        return cls(status=pick("status", STATUSES, "waiting"), category=pick("category", settings.categories),
                   severity=pick("severity", SEVERITIES), assignee=(args.get("assignee") or "").strip()[:100],
                   age=pick("age", AGES), q=(args.get("q") or "").strip()[:search.MAX_QUERY], page=page)

    def args(self, **change) -> dict:
        out = {k: v for k, v in {**self.__dict__, **change}.items() if v not in ("", None)}
        if out.get("page") == 1:
            out.pop("page")
        return out


@dataclass
class Queue:
    rows: list[dict]
    total: int
    counts: dict[str, int]
    filter: QueueFilter
    pages: int
    assignees: list[str]


def queue(db, settings: Settings, f: QueueFilter, *, now: datetime | None = None) -> Queue:
    now = now or utcnow()
    age = AGES[f.age]
    rows, total = search.queue_page(
        db, status=f.status, category=f.category or None, severity=f.severity or None,
        assignee=f.assignee or None, opened_before=iso(now - age) if age else None, search=f.q or None,
        limit=PAGE_SIZE, offset=(f.page - 1) * PAGE_SIZE)
    counts = search.status_counts(db)
    counts["waiting"] = counts.get("open", 0) + counts.get("needs_info", 0)
    counts["all"] = sum(v for k, v in counts.items() if k != "waiting")
    return Queue(rows=rows, total=total, counts=counts, filter=f, pages=max(1, -(-total // PAGE_SIZE)),
                 assignees=search.assignees(db))


@dataclass
class CasePage:
    case: dict
    reports: list[dict]
    history: dict
    track: dict[str, dict]
    outbox: list[dict]
    previews: list[dict]
    blurred: bool
    reporters: list[dict] = field(default_factory=list)


def blur_for(category: str | None) -> bool:
    name = (category or "").lower()
    return any(word in name for word in BLURRED_CATEGORIES)


def case_page(db, settings: Settings, ref: str, *, now: datetime | None = None) -> CasePage:
    now = now or utcnow()
    case = case_store.case_by_ref(db, ref)
    if case is None:
        raise NotFoundError(f"no case {ref}")
    reports = case_store.reports_of_case(db, case["id"])
    attachments = search.attachments_of_messages(db, [r["message_row"] for r in reports])
    for r in reports:
        r["attachments"] = attachments.get(r["message_row"], [])
        r["blurred"] = blur_for(r["category"]) or blur_for(case["category"])
    view = case_views.case_view(db, settings, case["ref"], now=now)
    history = {"account": view.account_history, "sanctions": view.sanctions, "audit": view.audit}
    reporters = case_store.reporters_of_case(db, case["id"])
    track = search.reporter_track_records(db, [r["reporter"] for r in reporters])
    prior = view.account_history.violations_in_window if view.account_history else 0
    return CasePage(case=case, reports=reports, history=history, track=track,
                    outbox=search.outbox_of_case(db, case["id"]),
                    previews=decision_previews(settings, case, reporters, prior, now),
                    blurred=blur_for(case["category"]), reporters=reporters)


def decision_previews(settings: Settings, case: dict, reporters: list[dict], prior: int,
                      now: datetime) -> list[dict]:
    """For each choice of the decide form: what the ladder will pick and which emails go to whom."""
    def emails(kind: str) -> list[dict]:
        out = []
        for r in reporters:
            address = (r["reporter"] or "").strip().lower()
            if not address or address in settings.own_addresses:
                continue
            lang = r["language"] if r["language"] in ("en", "id") else settings.default_language
            out.append({"to": r["reporter"], "kind": kind, "language": lang})
        return out

    out = [{"value": "none", "label": "no violation", "severity": None, "rule": "no sanction",
            "action": None, "emails": emails("outcome_no_violation")}]
    for name in settings.categories:
        severity = settings.severity_of(name)
        d = decide_sanction(category=name, severity=severity, prior_violations=prior, now=now, policy=settings.policy)
        out.append({"value": name, "label": name, "severity": severity, "rule": d.rule, "action": d.action,
                    "until": iso(d.until) if d.until else None, "referral": d.referral,
                    "violation_number": d.violation_number, "emails": emails("outcome_actioned")})
    return out


def severity_previews(settings: Settings, prior: int, now: datetime) -> dict[str, str]:
    """The ladder's rule per severity (when staff override the category's own)."""
    return {s: decide_sanction(category="", severity=s, prior_violations=prior, now=now,
                               policy=settings.policy).rule for s in SEVERITIES}


# -- dashboard ------------------------------------------------------------------

AGE_BANDS = (("< 1 day", timedelta(days=1)), ("1-3 days", timedelta(days=3)), ("3-7 days", timedelta(days=7)),
             ("7-30 days", timedelta(days=30)), ("> 30 days", None))


@dataclass
class Stats:
    days: list[str]
    categories: list[str]
    per_day: dict[tuple[str, str], int]
    open_by: dict[tuple[str, str], int]
    bands: list[str]
    decided: int
    median_hours: float | None
    p90_hours: float | None
    outbox: dict[str, int]
    quarantined: int

    def open_total(self, severity: str) -> int:
        return sum(self.open_by.get((severity, b), 0) for b in self.bands)


def stats(db, settings: Settings, *, now: datetime | None = None) -> Stats:
    now = now or utcnow()
    start = (now - timedelta(days=29)).date()
    days = [(start + timedelta(days=i)).isoformat() for i in range(30)]
    per_day = {(d, c): n for d, c, n in search.reports_per_day(db, days[0] + "T00:00:00Z")}
    bounds = [(band, iso(now - delta) if delta else "") for band, delta in AGE_BANDS]
    open_by = {(s, b): n for s, b, n in search.open_by_severity_and_age(db, bounds)}
    delays = search.decision_delays(db, iso(now - timedelta(days=30)))
    median = p90 = None
    if delays:
        median = statistics.median(delays) / 3600
        p90 = (statistics.quantiles(delays, n=10)[-1] if len(delays) > 1 else delays[0]) / 3600
    categories = list(dict.fromkeys([*settings.categories, *(c for _, c in per_day)]))
    return Stats(days=days, categories=categories, per_day=per_day, open_by=open_by,
                 bands=[b for b, _ in AGE_BANDS], decided=len(delays), median_hours=median, p90_hours=p90,
                 outbox=search.outbox_counts(db), quarantined=search.quarantine_count(db))


def account_for_link(value: Any) -> str:
    return str(value or "").strip()
