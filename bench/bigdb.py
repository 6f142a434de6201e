"""A store that has seen years of reports: 100,000 cases, built in seconds.

Rows go in with executemany inside one transaction, straight into the real
schema (store.db.open_db creates it). They look like what poll writes: each
case has an account, a reporter, one report, its message (with text) and the
acknowledgment it caused. The accounts overlap the generator's, so new
reports meet accounts with history: ~10 % of the cases are still open (a
third of the generator's popular accounts have one), the rest decided.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import timedelta
from pathlib import Path

from abuse_intake.cases.dedupe import fingerprint
from abuse_intake.store.db import iso, open_db, transaction

from .generate import BASE_TIME, _FILLER, handle, reporter

_CATS = (("prostitution", "high", 3, "open bo"), ("sexual_solicitation", "high", 3, "vcs"),
         ("sexual_content", "medium", 2, "bugil"), ("other", "low", 1, "penipuan"),
         ("human_trafficking", "critical", 4, "mucikari"))


def build(path: Path, n_cases: int = 100_000, seed: int = 3) -> dict:
    """Create `path` holding n_cases historical cases; returns row counts."""
    rng = random.Random(seed)
    db = open_db(path)
    conn = db.conn
    span = 365 * 24 * 3600
    accounts = n_cases * 7 // 10  # the last 30 % of cases revisit accounts; a third of those are open
    messages, reports, cases, case_reports, case_reporters, outbox, outbox_cases = ([] for _ in range(7))
    for k in range(1, n_cases + 1):
        at = BASE_TIME - timedelta(seconds=span - (k * span) // n_cases + 60)
        when = iso(at)
        name, address, _ = reporter(rng.randrange(3000))
        account = handle((k - 1) % accounts)
        lang = "id" if k % 5 < 3 else "en"
        category, severity, rank, word = _CATS[k % len(_CATS)]
        text = f"Halo admin, akun {account} {word}. " + " ".join(rng.sample(_FILLER[lang], 6))
        mid = f"hist-{k}-{rng.randrange(10**9)}@{address.split('@')[1]}"
        messages.append((k, mid, hashlib.sha256(f"hist:{k}".encode()).hexdigest(), 9000 + k % 40000,
                         "maildir:/var/mail/support", when, address, name, address, f"Laporan akun {account}",
                         lang, "report", "", text, "", when))
        reports.append((k, k, address, when, lang, category, severity, json.dumps([account]),
                        json.dumps([word]), fingerprint(text), "email"))
        is_open = k > accounts and k % 3 == 0  # the latest case of its account, still waiting
        decided = None if is_open else iso(at + timedelta(days=2))
        cases.append((k, f"OB-{k:06d}", account, "open" if is_open else "decided", category, severity, rank,
                      1, 1, when, decided or when, decided, "staff" if decided else None,
                      None if is_open else ("violation" if k % 4 else "no_violation")))
        case_reports.append((k, k, when))
        case_reporters.append((k, address, lang, mid, when))
        our = f"ob-{k:06d}.{rng.randrange(16**12):012x}@obrolan.example"
        body = "Terima kasih, laporan Anda sudah kami terima. " * 12
        outbox.append((k, "ack", address, lang, f"[OB-{k:06d}] Laporan Anda telah kami terima", body,
                       f"<p>{body}</p>", our, mid, mid, json.dumps([f"OB-{k:06d}"]), f"ack:{k}:{address}", k,
                       "sent", 1, when, when))
        outbox_cases.append((k, k, "ack", address))
    with transaction(db):
        conn.executemany(
            "INSERT INTO messages (id, message_id, raw_sha256, size, mailbox, received_at, from_address, "
            "from_name, reporter, subject, language, kind, reason, text, forwarded_text, stored_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", messages)
        conn.executemany(
            "INSERT INTO reports (id, message_id, reporter, received_at, language, category, severity, "
            "account_ids, matched_words, text_fingerprint, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)", reports)
        conn.executemany(
            "INSERT INTO cases (id, ref, account_id, status, category, severity, severity_rank, reporters, "
            "reports, opened_at, updated_at, decided_at, decided_by, decision) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", cases)
        conn.executemany("INSERT INTO case_reports (case_id, report_id, added_at) VALUES (?,?,?)", case_reports)
        conn.executemany("INSERT INTO case_reporters (case_id, reporter, language, message_id, added_at) "
                         "VALUES (?,?,?,?,?)", case_reporters)
        conn.executemany(
            "INSERT INTO outbox (id, kind, recipient, language, subject, body_text, body_html, message_id, "
            "in_reply_to, refs, case_refs, dedupe_key, source_message, status, attempts, created_at, sent_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", outbox)
        conn.executemany("INSERT INTO outbox_cases (outbox_id, case_id, kind, recipient) VALUES (?,?,?,?)",
                         outbox_cases)
    with transaction(db):
        # The raw bytes of every historical message, at its recorded size (what a
        # real store holds since schema 3). Only the size matters here, so the
        # content is a filler, streamed rather than held.
        filler = bytes(range(32, 127)) * (50_000 // 95 + 1)
        conn.executemany("INSERT INTO raw_messages (sha256, size, data) VALUES (?,?,?)",
                         ((m[2], m[3], f"hist:{m[0]}\n".encode() + filler[:m[3]]) for m in messages))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # one self-contained file to copy
    open_cases = conn.execute("SELECT COUNT(*) FROM cases WHERE status = 'open'").fetchone()[0]
    conn.close()
    return {"cases": n_cases, "open_cases": open_cases, "bytes": path.stat().st_size}
