"""The schema, as an ordered list of migrations.

PRAGMA user_version holds how many have run; opening a database applies the
rest in one transaction. Append new migrations; never edit an applied one.
Table and column names are meant to be read by people (Datasette, the
sqlite-utils CLI).
"""

MIGRATIONS: list[str] = [
    # 1: the whole first schema
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        message_id TEXT,                 -- Message-ID without <>, as sent
        raw_sha256 TEXT NOT NULL UNIQUE, -- raw bytes stored at data/raw/<sha256>.eml
        size INTEGER NOT NULL,
        mailbox TEXT NOT NULL,           -- where it was read from
        uidvalidity INTEGER,
        uid INTEGER,
        received_at TEXT NOT NULL,       -- ISO 8601 UTC: Date header, else receive time
        from_address TEXT,
        from_name TEXT,
        reporter TEXT,                   -- address any reply may go to; NULL = nobody
        subject TEXT,
        language TEXT,
        kind TEXT NOT NULL,              -- report reply non_report robot duplicate resend quarantined
        reason TEXT,                     -- why that kind (robot reason, error, duplicate of ...)
        duplicate_of INTEGER REFERENCES messages(id),
        text TEXT,                       -- the sender's own words
        forwarded_text TEXT,             -- text of forwarded/attached messages
        in_reply_to TEXT,
        refs TEXT,                       -- JSON list of References ids
        stored_at TEXT NOT NULL,
        replayed_at TEXT
    );
    CREATE INDEX messages_message_id ON messages(message_id);
    CREATE INDEX messages_reporter ON messages(reporter, received_at);
    CREATE INDEX messages_kind ON messages(kind);

    CREATE TABLE reports (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id),
        reporter TEXT,
        received_at TEXT NOT NULL,
        language TEXT,
        category TEXT NOT NULL,
        severity TEXT NOT NULL,
        account_ids TEXT NOT NULL,       -- JSON list, lower-case
        matched_words TEXT NOT NULL,     -- JSON list
        text_fingerprint TEXT NOT NULL,  -- normalised text, for resend detection
        source TEXT NOT NULL DEFAULT 'email'  -- email | arf | reply
    );
    CREATE INDEX reports_reporter ON reports(reporter, received_at);

    CREATE TABLE cases (
        id INTEGER PRIMARY KEY,
        ref TEXT NOT NULL UNIQUE,        -- OB-000123
        account_id TEXT,                 -- NULL while needs_info
        status TEXT NOT NULL,            -- open | needs_info | decided
        category TEXT NOT NULL,
        severity TEXT NOT NULL,
        severity_rank INTEGER NOT NULL,  -- 4 critical .. 1 low, for ordering
        reporters INTEGER NOT NULL DEFAULT 0,
        reports INTEGER NOT NULL DEFAULT 0,
        opened_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        assignee TEXT,
        decided_at TEXT,
        decided_by TEXT,
        decision TEXT,                   -- violation | no_violation
        decision_category TEXT,
        decision_severity TEXT,
        decision_note TEXT,
        referral INTEGER NOT NULL DEFAULT 0  -- flagged for law enforcement
    );
    -- One open case per account: the grouping rule, enforced by the database.
    CREATE UNIQUE INDEX cases_one_open_per_account ON cases(account_id)
        WHERE status = 'open' AND account_id IS NOT NULL;
    CREATE INDEX cases_queue ON cases(status, severity_rank DESC, reporters DESC, opened_at);
    CREATE INDEX cases_account ON cases(account_id);

    CREATE TABLE case_reports (
        case_id INTEGER NOT NULL REFERENCES cases(id),
        report_id INTEGER NOT NULL REFERENCES reports(id),
        added_at TEXT NOT NULL,
        PRIMARY KEY (case_id, report_id)
    );
    CREATE INDEX case_reports_report ON case_reports(report_id);

    CREATE TABLE case_reporters (
        case_id INTEGER NOT NULL REFERENCES cases(id),
        reporter TEXT NOT NULL,
        language TEXT,
        message_id TEXT,                 -- the reporter's first message, for threading
        added_at TEXT NOT NULL,
        PRIMARY KEY (case_id, reporter)
    );

    CREATE TABLE attachments (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages(id),
        sha256 TEXT,                     -- stored at data/attachments/<sha256>; NULL if skipped
        filename TEXT,                   -- as sent: data, never a path
        content_type TEXT,
        size INTEGER NOT NULL,
        skipped_reason TEXT
    );
    CREATE INDEX attachments_message ON attachments(message_id);

    CREATE TABLE mailbox_cursors (
        mailbox TEXT PRIMARY KEY,
        uidvalidity INTEGER,
        last_uid INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    );

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,              -- ack needs_info outcome_actioned outcome_no_violation not_a_report
        recipient TEXT NOT NULL,
        language TEXT NOT NULL,
        subject TEXT NOT NULL,
        body_text TEXT NOT NULL,
        body_html TEXT NOT NULL,
        message_id TEXT NOT NULL UNIQUE, -- ours, without <>
        in_reply_to TEXT,
        refs TEXT,
        case_refs TEXT NOT NULL,         -- JSON list
        dedupe_key TEXT NOT NULL UNIQUE,
        source_message INTEGER REFERENCES messages(id),
        status TEXT NOT NULL,            -- pending held sent failed
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT
    );
    CREATE INDEX outbox_status ON outbox(status, next_attempt_at);
    CREATE INDEX outbox_recipient ON outbox(recipient, sent_at);

    -- (kind, case, recipient) is unique: nothing about a case is queued twice.
    CREATE TABLE outbox_cases (
        outbox_id INTEGER NOT NULL REFERENCES outbox(id),
        case_id INTEGER NOT NULL REFERENCES cases(id),
        kind TEXT NOT NULL,
        recipient TEXT NOT NULL,
        PRIMARY KEY (outbox_id, case_id),
        UNIQUE (kind, case_id, recipient)
    );

    CREATE TABLE delivery_attempts (
        id INTEGER PRIMARY KEY,
        outbox_id INTEGER NOT NULL REFERENCES outbox(id),
        at TEXT NOT NULL,
        result TEXT NOT NULL,            -- sent temporary permanent
        detail TEXT
    );

    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,             -- staff name, or 'system'
        action TEXT NOT NULL,
        case_id INTEGER REFERENCES cases(id),
        account_id TEXT,
        detail TEXT                      -- JSON
    );
    CREATE INDEX audit_case ON audit_log(case_id);
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

    CREATE TABLE sanctions (
        id INTEGER PRIMARY KEY,
        account_id TEXT NOT NULL,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        action TEXT NOT NULL,            -- warn restrict ban
        functions TEXT NOT NULL,         -- JSON list (restrict only)
        starts_at TEXT NOT NULL,
        until TEXT,                      -- NULL: permanent (ban) or instant (warn)
        category TEXT NOT NULL,
        severity TEXT NOT NULL,
        rule TEXT NOT NULL,              -- which ladder step fired
        violation_number INTEGER NOT NULL,
        decided_by TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0,
        revoked_at TEXT,
        revoked_by TEXT,
        revoke_note TEXT,
        enforcement_status TEXT NOT NULL DEFAULT 'none',  -- none pending done failed
        enforcement_attempts INTEGER NOT NULL DEFAULT 0,
        enforcement_error TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX sanctions_account ON sanctions(account_id, starts_at);

    CREATE TABLE poll_runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        mailbox TEXT NOT NULL,
        counts TEXT,                     -- JSON summary
        error TEXT
    );
    """,
    # 2: keep what the parser had to work around, so operators can see it
    """
    ALTER TABLE messages ADD COLUMN defects TEXT;  -- JSON list, NULL when the message was clean
    """,
    # 3: raw messages and attachment contents move from files into the database:
    # they commit (and survive a power cut) with the rows that name them, one
    # file to back up, and no file creation per message (measured 0.1-0.7 ms
    # each here, more than parsing). Keyed by sha256, stored once.
    """
    CREATE TABLE raw_messages (
        sha256 TEXT PRIMARY KEY,         -- = messages.raw_sha256
        size INTEGER NOT NULL,
        data BLOB NOT NULL               -- the message exactly as received
    );
    CREATE TABLE attachment_contents (
        sha256 TEXT PRIMARY KEY,         -- = attachments.sha256
        size INTEGER NOT NULL,
        data BLOB NOT NULL               -- decoded content; export with `cases evidence`
    );
    """,
    # The read views on a store of years (cases show, messages list): each answers
    # from an index instead of a scan or a sort of every row. messages(kind,
    # received_at) serves every `kind = ?` look-up the old messages(kind) did.
    """
    CREATE INDEX sanctions_case ON sanctions(case_id);
    CREATE INDEX messages_received ON messages(received_at);
    CREATE INDEX messages_kind_received ON messages(kind, received_at);
    DROP INDEX messages_kind;
    CREATE INDEX cases_queue_all ON cases(severity_rank DESC, reporters DESC, opened_at);
    """,
    # a case flagged for staff: "too_many_accounts" (a report naming more accounts than
    # [limits] max_accounts_per_report opens one flagged case instead of one per account)
    """
    ALTER TABLE cases ADD COLUMN flag TEXT;         -- NULL: nothing unusual
    ALTER TABLE cases ADD COLUMN flag_detail TEXT;  -- JSON: what staff need to see (the accounts named)
    """,
    # web console: staff accounts, their sessions, failed-login bookkeeping, and a
    # full-text index of the reports (subject, text, forwarded text, account IDs).
    # The index is contentless (the text stays in messages) and is filled by a
    # trigger, so it commits in the same transaction as the report row; existing
    # reports are indexed here. sqlite-utils transform() drops triggers: never
    # transform reports.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL,              -- viewer | triager | lead
        password_hash TEXT NOT NULL,     -- scrypt$N$r$p$salt$hash
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        password_changed_at TEXT NOT NULL,
        last_login_at TEXT
    );
    CREATE TABLE web_sessions (
        id_hash TEXT PRIMARY KEY,        -- HMAC of the cookie value: the file alone opens no session
        user_id INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        address TEXT
    );
    CREATE INDEX web_sessions_user ON web_sessions(user_id);
    CREATE TABLE login_attempts (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        username TEXT NOT NULL,
        address TEXT,
        ok INTEGER NOT NULL
    );
    CREATE INDEX login_attempts_user ON login_attempts(username, at);
    CREATE INDEX login_attempts_address ON login_attempts(address, at);
    -- The case page: a case's emails, and each reporter's track record (both were full scans).
    CREATE INDEX outbox_cases_case ON outbox_cases(case_id);
    CREATE INDEX case_reporters_reporter ON case_reporters(reporter);
    -- The queue's assignee list and filter (most cases have none).
    CREATE INDEX cases_assignee ON cases(assignee, status) WHERE assignee IS NOT NULL;
    -- The queue filtered by category (and severity): rows come in queue order, and the
    -- status, age and count are read from the index alone.
    CREATE INDEX cases_category_queue ON cases(category, severity_rank DESC, reporters DESC, opened_at, id, status);
    CREATE INDEX cases_status_category ON cases(status, category, severity_rank DESC, reporters DESC, opened_at, id);
    CREATE VIRTUAL TABLE reports_fts USING fts5(subject, body, accounts, content='',
        tokenize='unicode61 remove_diacritics 2');
    INSERT INTO reports_fts (rowid, subject, body, accounts)
        SELECT r.id, IFNULL(m.subject, ''), IFNULL(m.text, '') || ' ' || IFNULL(m.forwarded_text, ''), r.account_ids
        FROM reports r JOIN messages m ON m.id = r.message_id;
    CREATE TRIGGER reports_fts_insert AFTER INSERT ON reports BEGIN
        INSERT INTO reports_fts (rowid, subject, body, accounts)
            SELECT NEW.id, IFNULL(m.subject, ''), IFNULL(m.text, '') || ' ' || IFNULL(m.forwarded_text, ''),
                   NEW.account_ids
            FROM messages m WHERE m.id = NEW.message_id;
    END;
    """,
    # the case lifecycle (issue 12): new information after a decision, why a
    # case was closed without action, and a measure staff chose over the ladder's.
    # Outbox status gains 'cancelled'.
    """
    ALTER TABLE cases ADD COLUMN new_info INTEGER NOT NULL DEFAULT 0;  -- news arrived after the decision
    ALTER TABLE cases ADD COLUMN decision_reason TEXT;   -- not_actionable no_account duplicate (no violation)
    ALTER TABLE sanctions ADD COLUMN ladder_pick TEXT;   -- the ladder's measure when staff chose another
    ALTER TABLE sanctions ADD COLUMN override_reason TEXT;
    ALTER TABLE sanctions ADD COLUMN counts INTEGER NOT NULL DEFAULT 1;  -- counts as a strike on the ladder
    """,
    # outbox rows and enforcement hand-overs are claimed with a lease before
    # they are acted on, so two overlapping runs never both send one email or
    # run the command twice for one sanction; a crashed claimant's lease runs
    # out and a later run takes the row over. status 'withheld' (no column
    # change): an email we never send, e.g. to backscatter; last_error says why.
    """
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN lease_until TEXT;
    ALTER TABLE sanctions ADD COLUMN enforcement_claimed_by TEXT;
    ALTER TABLE sanctions ADD COLUMN enforcement_lease_until TEXT;
    """,
    # OAuth2 (XOAUTH2) credentials: the refresh token a provider rotated (stored
    # every time, used from then on) and the cached access token. One row per
    # (mailbox|outgoing, token endpoint, client id). seed_sha256 remembers which
    # refresh_token_file content was taken in, so a new file is noticed.
    """
    CREATE TABLE oauth2_tokens (
        name TEXT PRIMARY KEY,           -- "mailbox client-id@token-url"
        refresh_token TEXT,
        seed_sha256 TEXT,
        access_token TEXT,
        expires_at REAL,                 -- Unix time the access token expires
        updated_at TEXT NOT NULL
    );
    """,
    # appeals (issue 14.1): an account holder contests a sanction, or a reporter a
    # "no violation" outcome. status: open upheld overturned, or late / unmatched
    # (recorded and answered, nothing to decide).
    """
    CREATE TABLE appeals (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages(id),
        kind TEXT NOT NULL,              -- sanction (holder) | outcome (reporter contests no violation)
        account_id TEXT,                 -- the sanctioned (or reported) account; NULL when none named
        sanction_id INTEGER REFERENCES sanctions(id),
        case_id INTEGER REFERENCES cases(id),
        appellant TEXT NOT NULL,         -- the sender's address
        language TEXT,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL,            -- open upheld overturned late unmatched
        decided_by TEXT,
        decided_at TEXT,
        decision_note TEXT,
        forced INTEGER NOT NULL DEFAULT 0,  -- decided by the case's own decider, with --force
        force_note TEXT
    );
    CREATE INDEX appeals_status ON appeals(status, received_at);
    CREATE INDEX appeals_account ON appeals(account_id);
    """,
    # retention (issue 14.5): `purge` deletes raw bytes and attachment contents past
    # their time; the rows and hashes stay, purged_at says when the bytes went. A
    # case flagged for referral keeps its evidence until a lead releases the hold.
    """
    ALTER TABLE messages ADD COLUMN purged_at TEXT;      -- raw bytes deleted by retention
    ALTER TABLE attachments ADD COLUMN purged_at TEXT;   -- content deleted by retention (hash kept)
    ALTER TABLE cases ADD COLUMN hold_released_at TEXT;  -- referral hold released by a lead
    ALTER TABLE cases ADD COLUMN hold_released_by TEXT;
    ALTER TABLE cases ADD COLUMN hold_note TEXT;
    CREATE INDEX messages_unpurged ON messages(received_at) WHERE purged_at IS NULL;
    """,
]
