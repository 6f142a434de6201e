"""One open case per account: the rule for a case that gets its account later.

A needs_info case learns its account either from a staff member (`link_account`
in cases/triage.py) or from the reporter's reply (flow/process.py). Either way
the same rule applies, written once here: if the account has no open case,
this case becomes it; if it has one, this case folds into that one (its
reports and reporters move, it becomes `merged`) and that case takes the more
severe category of the two.
"""

from __future__ import annotations

from ..store import cases as case_store


def give_account(db, case: dict, account: str, at: str) -> dict | None:
    """Give `case` (a row with id, category, severity) its account, inside the caller's
    transaction. Returns the account's open case it was merged into, or None."""
    target = case_store.open_case_for(db, account)
    if target is None:
        case_store.attach_account(db, case["id"], account, at)
        return None
    case_store.move_reports(db, case["id"], target["id"], at)
    case_store.raise_severity(db, target["id"], case["category"], case["severity"])
    return target
