"""Who gets an `outcome_corrected` when a reopened case is decided again.

Apart from cases/lifecycle.py (which imports triage) so that triage.decide can
ask without an import cycle.
"""

from __future__ import annotations

from ..store import outbox as outbox_store
from ..store import triage as store
from ..store.db import parse_iso


def reporters_to_correct(db, case_id: int, decision: str, sanction) -> set[str]:
    """Reporters who were sent "we took action" for this case before it was
    reopened, when the new decision says something else (no violation, or
    another measure). Called by triage.decide inside its transaction."""
    told = outbox_store.sent_of_case(db, case_id, "outcome_actioned")
    if not told:
        return set()
    revoked = [s for s in store.sanctions_of_case(db, case_id) if s["revoked"]]
    if decision != "violation" or sanction is None or not revoked:
        return set(told)
    before = revoked[-1]
    if before["action"] != sanction.action:
        return set(told)
    if sanction.action == "restrict":
        old_days = (parse_iso(before["until"]) - parse_iso(before["starts_at"])).days if before["until"] else None
        new_days = sanction.days
        if old_days != new_days or sorted(before["functions"]) != sorted(sanction.functions):
            return set(told)
    return set()
