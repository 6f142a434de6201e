"""SQL for staff triage: decisions, the audit log, sanctions and account history.

Like every store module: functions take `db`, never commit; callers own the
transaction.
"""

from __future__ import annotations

import json
from typing import Any

from .rows import all_rows, one_row

SANCTION_COLUMNS = (
    "s.id, s.account_id, s.case_id, c.ref AS case_ref, s.action, s.functions, s.starts_at, s.until, "
    "s.category, s.severity, s.rule, s.violation_number, s.decided_by, s.revoked, s.revoked_at, "
    "s.revoked_by, s.revoke_note, s.enforcement_status, s.enforcement_attempts, s.enforcement_error, "
    "s.created_at, s.ladder_pick, s.override_reason, s.counts"
)


# -- audit log (append-only: the schema's triggers refuse UPDATE and DELETE) --

def append_audit(db, *, at: str, actor: str, action: str, case_id: int | None = None,
                 account_id: str | None = None, detail: dict[str, Any] | None = None) -> int:
    cur = db.execute(
        "INSERT INTO audit_log (at, actor, action, case_id, account_id, detail) VALUES (?,?,?,?,?,?)",
        (at, actor, action, case_id, account_id,
         json.dumps(detail or {}, ensure_ascii=False, sort_keys=True)))
    return cur.lastrowid


def audit_of_case(db, case_id: int) -> list[dict]:
    return [_decode_audit(r) for r in all_rows(
        db, "SELECT id, at, actor, action, case_id, account_id, detail FROM audit_log "
            "WHERE case_id = ? ORDER BY id", (case_id,))]


def audit_of_account(db, account_id: str) -> list[dict]:
    return [_decode_audit(r) for r in all_rows(
        db, "SELECT id, at, actor, action, case_id, account_id, detail FROM audit_log "
            "WHERE account_id = ? ORDER BY id", (account_id,))]


def _decode_audit(row: dict) -> dict:
    row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
    return row


# -- case changes ---------------------------------------------------------

def record_decision(db, *, case_id: int, decision: str, category: str | None, severity: str | None,
                    by: str, note: str | None, at: str, referral: bool, reason: str | None = None) -> None:
    """Close the case with staff's decision (the grouping index then frees the account)."""
    db.execute(
        "UPDATE cases SET status = 'decided', decision = ?, decision_category = ?, decision_severity = ?, "
        "decided_by = ?, decided_at = ?, decision_note = ?, referral = MAX(referral, ?), updated_at = ?, "
        "decision_reason = ?, new_info = 0 WHERE id = ?",
        (decision, category, severity, by, at, note, int(referral), at, reason, case_id))


def reopen_case(db, case_id: int, at: str) -> None:
    """Undo a decision: open again (needs_info if it still has no account), decision fields cleared."""
    db.execute(
        "UPDATE cases SET status = CASE WHEN account_id IS NULL THEN 'needs_info' ELSE 'open' END, "
        "decision = NULL, decision_category = NULL, decision_severity = NULL, decided_by = NULL, "
        "decided_at = NULL, decision_note = NULL, decision_reason = NULL, referral = 0, new_info = 0, "
        "updated_at = ? WHERE id = ?", (at, case_id))


def mark_new_info(db, case_id: int, at: str) -> None:
    db.execute("UPDATE cases SET new_info = 1, updated_at = MAX(updated_at, ?) WHERE id = ?", (at, case_id))


def clear_new_info(db, case_id: int, at: str) -> None:
    db.execute("UPDATE cases SET new_info = 0, updated_at = ? WHERE id = ?", (at, case_id))


def set_assignee(db, case_id: int, assignee: str | None, at: str) -> None:
    db.execute("UPDATE cases SET assignee = ?, updated_at = ? WHERE id = ?", (assignee, at, case_id))


def touch_case(db, case_id: int, at: str) -> None:
    db.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (at, case_id))


def merged_into(db, case_id: int) -> str | None:
    """The ref a merged case was folded into (store.cases.move_reports keeps it in decision_note)."""
    row = one_row(db, "SELECT decision_note FROM cases WHERE id = ? AND status = 'merged'", (case_id,))
    return row["decision_note"] if row else None


# -- sanctions ------------------------------------------------------------

def insert_sanction(db, *, account_id: str, case_id: int, action: str, functions: tuple[str, ...] | list[str],
                    starts_at: str, until: str | None, category: str, severity: str, rule: str,
                    violation_number: int, decided_by: str, enforcement_status: str, at: str,
                    ladder_pick: str | None = None, override_reason: str | None = None, counts: bool = True) -> int:
    cur = db.execute(
        "INSERT INTO sanctions (account_id, case_id, action, functions, starts_at, until, category, severity, "
        "rule, violation_number, decided_by, enforcement_status, created_at, ladder_pick, override_reason, "
        "counts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (account_id, case_id, action, json.dumps(list(functions)), starts_at, until, category, severity,
         rule, violation_number, decided_by, enforcement_status, at, ladder_pick, override_reason, int(counts)))
    return cur.lastrowid


def sanction_by_id(db, sanction_id: int) -> dict | None:
    row = one_row(db, f"SELECT {SANCTION_COLUMNS} FROM sanctions s JOIN cases c ON c.id = s.case_id "
                   "WHERE s.id = ?", (sanction_id,))
    return _decode_sanction(row) if row else None


def sanctions_of_account(db, account_id: str) -> list[dict]:
    return [_decode_sanction(r) for r in all_rows(
        db, f"SELECT {SANCTION_COLUMNS} FROM sanctions s JOIN cases c ON c.id = s.case_id "
            "WHERE s.account_id = ? ORDER BY s.starts_at, s.id", (account_id,))]


def sanctions_of_case(db, case_id: int) -> list[dict]:
    return [_decode_sanction(r) for r in all_rows(
        db, f"SELECT {SANCTION_COLUMNS} FROM sanctions s JOIN cases c ON c.id = s.case_id "
            "WHERE s.case_id = ? ORDER BY s.id", (case_id,))]


def list_sanctions(db, *, account_id: str | None = None, since: str | None = None,
                   include_revoked: bool = True, enforcement_due: bool = False,
                   sanction_id: int | None = None) -> list[dict]:
    """Sanctions with what a statement of reasons needs: the case ref and how many
    reports and reporters it rested on (counts only, never who).

    `since` keeps sanctions created or revoked at or after that time, so an
    incremental export also carries revocations of older sanctions.
    """
    where, params = [], []
    if account_id:
        where.append("s.account_id = ?")
        params.append(account_id)
    if since:
        where.append("(s.created_at >= ? OR s.revoked_at >= ?)")
        params += [since, since]
    if not include_revoked:
        where.append("s.revoked = 0")
    if enforcement_due:
        where.append("s.enforcement_status IN ('pending', 'failed')")
    if sanction_id is not None:
        where.append("s.id = ?")
        params.append(sanction_id)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return [_decode_sanction(r) for r in all_rows(
        db,
        f"SELECT {SANCTION_COLUMNS}, "
        "(SELECT COUNT(*) FROM case_reports cr WHERE cr.case_id = s.case_id) AS reports, "
        "(SELECT COUNT(*) FROM case_reporters cp WHERE cp.case_id = s.case_id) AS reporters, "
        "c.decision_note AS case_note "
        f"FROM sanctions s JOIN cases c ON c.id = s.case_id {clause} ORDER BY s.id",
        params)]


def revoke_sanction(db, sanction_id: int, *, by: str, note: str, at: str, requeue_enforcement: bool) -> None:
    """Mark revoked; if enforcement is configured, the platform must hear of it too."""
    db.execute(
        "UPDATE sanctions SET revoked = 1, revoked_at = ?, revoked_by = ?, revoke_note = ?, "
        "enforcement_status = CASE WHEN ? THEN 'pending' ELSE enforcement_status END WHERE id = ?",
        (at, by, note, int(requeue_enforcement), sanction_id))


def claim_enforcement(db, *, owner: str, now: str, lease_until: str, after_id: int = 0) -> int | None:
    """Claim the next sanction after `after_id` whose hand-over is due and not
    held by a live lease (an expired lease is a crashed claimant's); its id."""
    row = db.conn.execute(
        "UPDATE sanctions SET enforcement_claimed_by = ?, enforcement_lease_until = ? WHERE id = ("
        " SELECT id FROM sanctions WHERE enforcement_status IN ('pending', 'failed') AND id > ? "
        " AND (enforcement_lease_until IS NULL OR enforcement_lease_until <= ?) ORDER BY id LIMIT 1) "
        "RETURNING id", (owner, lease_until, after_id, now)).fetchall()
    return row[0][0] if row else None


def live_enforcement_claimants(db, now: str) -> list[str]:
    return [r[0] for r in db.conn.execute(
        "SELECT DISTINCT enforcement_claimed_by FROM sanctions WHERE enforcement_claimed_by IS NOT NULL "
        "AND enforcement_lease_until > ?", (now,))]


def release_enforcement_claims(db, owner: str) -> None:
    db.execute("UPDATE sanctions SET enforcement_claimed_by = NULL, enforcement_lease_until = NULL "
               "WHERE enforcement_claimed_by = ?", (owner,))


def record_enforcement(db, sanction_id: int, *, ok: bool, error: str | None,
                       revoked: bool | None = None) -> None:
    """The hand-over's result; the claim ends. `revoked`: what the record told the
    platform. If the sanction was revoked meanwhile, the revocation is still due."""
    db.execute(
        "UPDATE sanctions SET enforcement_status = CASE WHEN ? AND ? IS NOT NULL AND revoked != ? "
        "THEN 'pending' ELSE ? END, enforcement_attempts = enforcement_attempts + 1, "
        "enforcement_error = ?, enforcement_claimed_by = NULL, enforcement_lease_until = NULL WHERE id = ?",
        (int(ok), revoked, None if revoked is None else int(revoked), "done" if ok else "failed", error,
         sanction_id))


def _decode_sanction(row: dict) -> dict:
    row["functions"] = json.loads(row["functions"]) if row["functions"] else []
    row["revoked"] = bool(row["revoked"])
    if "counts" in row:
        row["counts"] = bool(row["counts"])
    return row


# -- account history ------------------------------------------------------

def cases_of_account(db, account_id: str) -> list[dict]:
    return all_rows(
        db, "SELECT id, ref, status, category, severity, reporters, reports, opened_at, decided_at, "
            "decision, decision_category, decision_severity, referral FROM cases "
            "WHERE account_id = ? ORDER BY opened_at, id", (account_id,))


def account_known(db, account_id: str) -> bool:
    return one_row(db, "SELECT 1 AS x FROM cases WHERE account_id = ? UNION ALL "
                    "SELECT 1 FROM sanctions WHERE account_id = ? LIMIT 1", (account_id, account_id)) is not None


def queue_unhanded_in_force(db, now: str) -> int:
    """Sanctions in force that the enforcement command never received (decided
    before one was configured) become due; returns how many."""
    return db.execute(
        "UPDATE sanctions SET enforcement_status = 'pending' WHERE enforcement_status = 'none' AND revoked = 0 "
        "AND starts_at <= ? AND (action = 'ban' OR (action = 'restrict' AND until > ?))", (now, now)).rowcount
