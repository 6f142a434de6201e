"""The sanction ladder as a table of scenarios (the defaults of DOMAIN.md)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from abuse_intake.config import LadderStep, PolicySettings
from abuse_intake.policy.ladder import (
    SanctionFact, account_status, count_prior_violations, decide_sanction,
)
from triage_fixtures import example_settings

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
POLICY = example_settings().policy
FUNCS = ("message_new_contacts", "nearby_discovery", "post_status")


# (severity, violation number) -> (action, restrict days or None, rule)
LADDER = [
    ("critical", 1, "ban", None, "critical #1 -> ban"),
    ("critical", 2, "ban", None, "critical #2 -> ban"),
    ("critical", 5, "ban", None, "critical #5 -> ban"),
    ("high", 1, "restrict", 30, "high #1 -> restrict 30 days"),
    ("high", 2, "ban", None, "high #2 -> ban"),
    ("high", 3, "ban", None, "high #3 -> ban"),
    ("medium", 1, "restrict", 7, "medium #1 -> restrict 7 days"),
    ("medium", 2, "restrict", 30, "medium #2 -> restrict 30 days"),
    ("medium", 3, "ban", None, "medium #3 -> ban"),
    ("medium", 4, "ban", None, "medium #4 -> ban"),
    ("low", 1, "warn", None, "low #1 -> warn"),
    ("low", 2, "restrict", 7, "low #2 -> restrict 7 days"),
    ("low", 3, "ban", None, "low #3 -> ban"),
    ("low", 9, "ban", None, "low #9 -> ban"),
]


@pytest.mark.parametrize(("severity", "number", "action", "days", "rule"), LADDER,
                         ids=[f"{s}-{n}" for s, n, *_ in LADDER])
def test_each_severity_step_by_step(severity, number, action, days, rule):
    d = decide_sanction(category="x", severity=severity, prior_violations=number - 1, now=NOW, policy=POLICY)
    assert (d.action, d.rule, d.violation_number) == (action, rule, number)
    if action == "restrict":
        assert d.until == NOW + timedelta(days=days)
        assert d.functions == FUNCS
    else:
        assert d.until is None and d.functions == ()
    assert d.referral is (severity == "critical")


def test_critical_bans_even_if_the_ladder_config_says_otherwise():
    soft = PolicySettings(lookback_days=365, restrict_functions=("x",),
                          ladder={**POLICY.ladder, "critical": (LadderStep("warn"),)})
    d = decide_sanction(category="human_trafficking", severity="critical", prior_violations=0,
                        now=NOW, policy=soft)
    assert (d.action, d.referral) == ("ban", True)


def test_a_custom_ladder_is_followed_and_its_last_step_repeats():
    policy = PolicySettings(lookback_days=30, restrict_functions=("post_status",),
                            ladder={**POLICY.ladder, "low": (LadderStep("warn"), LadderStep("restrict", 3))})
    got = [decide_sanction(category="other", severity="low", prior_violations=p, now=NOW, policy=policy)
           for p in range(4)]
    assert [g.action for g in got] == ["warn", "restrict", "restrict", "restrict"]
    assert got[3].until == NOW + timedelta(days=3) and got[3].functions == ("post_status",)


def test_unknown_severity_is_refused():
    with pytest.raises(ValueError):
        decide_sanction(category="x", severity="urgent", prior_violations=0, now=NOW, policy=POLICY)


def fact(days_ago: float, action: str = "warn", revoked: bool = False, lasts: float | None = None,
         functions: tuple = ()) -> SanctionFact:
    start = NOW - timedelta(days=days_ago)
    return SanctionFact(action=action, starts_at=start, revoked=revoked, functions=functions,
                        until=None if lasts is None else start + timedelta(days=lasts))


# history -> how many prior violations count (window 365 days)
WINDOW = [
    ("none", [], 0),
    ("one recent", [fact(10)], 1),
    ("two recent", [fact(10), fact(200)], 2),
    ("one just inside", [fact(364.99)], 1),
    ("exactly lookback days old falls out", [fact(365)], 0),
    ("older falls out", [fact(400), fact(3)], 1),
    ("revoked does not count", [fact(10, revoked=True), fact(20)], 1),
    ("all revoked", [fact(1, "ban", revoked=True), fact(2, "restrict", revoked=True, lasts=30)], 0),
    ("a future-dated one does not count yet", [fact(-1)], 0),
]


@pytest.mark.parametrize(("history", "expected"), [(h, e) for _, h, e in WINDOW], ids=[n for n, *_ in WINDOW])
def test_violations_counted_inside_the_window(history, expected):
    assert count_prior_violations(history, NOW, 365) == expected


@pytest.mark.parametrize(
    ("history", "severity", "action"),
    [
        ([fact(400, "restrict", lasts=30)], "high", "restrict"),  # old violation fell out: first again
        ([fact(100, "restrict", lasts=30)], "high", "ban"),
        ([fact(5, "restrict", revoked=True, lasts=30)], "high", "restrict"),  # appeal won: first again
        ([fact(100, "warn"), fact(50, "restrict", lasts=7)], "low", "ban"),
        ([fact(500, "warn"), fact(50, "restrict", lasts=7)], "low", "restrict"),
        ([fact(20, "warn")], "medium", "restrict"),  # history counts across severities: 2nd -> 30 days
    ],
    ids=["fell-out", "second-high", "revoked", "low-third", "low-one-fell-out", "cross-severity"],
)
def test_history_drives_the_next_step(history, severity, action):
    prior = count_prior_violations(history, NOW, POLICY.lookback_days)
    d = decide_sanction(category="c", severity=severity, prior_violations=prior, now=NOW, policy=POLICY)
    assert d.action == action
    if severity == "medium":
        assert d.until == NOW + timedelta(days=30)


# history -> (status, until)
STATUS = [
    ("nothing", [], "active", None),
    ("a warning", [fact(1, "warn")], "active", None),
    ("restricted now", [fact(3, "restrict", lasts=7, functions=FUNCS)], "restricted", NOW + timedelta(days=4)),
    ("restriction expired", [fact(8, "restrict", lasts=7)], "active", None),
    ("expires exactly now", [fact(7, "restrict", lasts=7)], "active", None),
    ("revoked restriction", [fact(3, "restrict", lasts=7, revoked=True)], "active", None),
    ("banned", [fact(500, "ban")], "banned", None),
    ("revoked ban", [fact(5, "ban", revoked=True)], "active", None),
    ("ban outranks restriction", [fact(3, "restrict", lasts=30), fact(1, "ban")], "banned", None),
    ("latest end wins", [fact(3, "restrict", lasts=7), fact(1, "restrict", lasts=30)],
     "restricted", NOW + timedelta(days=29)),
]


@pytest.mark.parametrize(("history", "status", "until"), [(h, s, u) for _, h, s, u in STATUS],
                         ids=[n for n, *_ in STATUS])
def test_account_status_and_expiry(history, status, until):
    got = account_status(history, NOW)
    assert (got.status, got.until) == (status, until)


def test_restricted_functions_are_those_of_the_restrictions_in_force():
    got = account_status([fact(3, "restrict", lasts=7, functions=("post_status",)),
                          fact(40, "restrict", lasts=30, functions=("nearby_discovery",))], NOW)
    assert got.functions == ("post_status",)
