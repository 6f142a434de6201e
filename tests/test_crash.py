"""Crash safety (issue 5, guarantee 1): SIGKILL `abuse-intake poll` at many
points, run again, and prove nothing was lost or doubled.

Every round gets its own IMAP folder on one shared Dovecot, its own database
(raw messages included), and reporters of its own on one shared aiosmtpd server,
so rounds are independent and two run at a time. A round appends six
messages (three reports, one duplicate, one auto-reply, one non-report),
kills the real CLI in a subprocess (named crash points via
ABUSE_INTAKE_CRASH_AT, or SIGKILL at a random, seeded moment of the run),
runs it again without a crash, and checks:

- every appended message stored exactly once (by raw bytes; by Message-ID
  the original and its duplicate), raw bytes on disk, kinds as in a clean run;
- every case there (one per account, right reporters and reports);
- every email queued, sent, and received by the SMTP server once, twice
  only for an email caught in the documented window (the server had said
  250, the run died before recording it);
- PRAGMA integrity_check ok, no dangling foreign key;
- the folder empty and the done folder full (or every message flagged).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crash_harness import (CRASH_AT, integrity_problems, missing_raw, record_figures, rows, sha256,
                           stray_files)
from helpers import cli, email
from support.dovecot import IMAP_PASSWORD_ENV, DovecotServer
from support.smtp import SmtpServer

# Two rounds at a time: each is mostly a CLI subprocess, the machine has two cores.
WORKERS = 2
SEED = 20261102
RANDOM_KILLS = 14

VARIANTS = {
    # marked done after every batch
    "move2": {"mailbox__done_action": "move", "mailbox__batch_size": 2, "mailbox__mark_done_every": 1},  # 3 batches
    "move1": {"mailbox__done_action": "move", "mailbox__batch_size": 1, "mailbox__mark_done_every": 1},  # 6 batches
    "flag3": {"mailbox__done_action": "flag", "mailbox__batch_size": 3, "mailbox__mark_done_every": 1},  # 2 batches
    # the default: marked done in one group at the end of the run
    "grouped2": {"mailbox__done_action": "move", "mailbox__batch_size": 2},  # 3 batches, 1 marking
}
BATCHES = {"move2": 3, "move1": 6, "flag3": 2, "grouped2": 3}
MARKINGS = {"move2": 3, "move1": 6, "flag3": 2, "grouped2": 1}
EMAILS = 4  # ack A, ack B, not_a_report C, needs_info D

EXPECTED_KINDS = Counter({"report": 3, "duplicate": 1, "robot": 1, "non_report": 1})
# (account_id, status, reporters, reports)
EXPECTED_CASES = sorted([("dewi_manja88", "open", 2, 2), ("sari.bo_jkt", "open", 1, 1),
                         (None, "needs_info", 1, 1)], key=repr)


def _named_single() -> list[tuple[str, list[str]]]:
    out = []
    for variant, batches in BATCHES.items():
        for point in ("before_commit", "after_commit"):
            out += [(variant, [f"{point}:{n}"]) for n in range(1, batches + 1)]
        out += [(variant, [f"after_mark_done:{n}"]) for n in range(1, MARKINGS[variant] + 1)]
    # Delivery does not depend on how intake batched: one variant is enough.
    for point in ("before_send", "after_smtp_250"):
        out += [("move2", [f"{point}:{n}"]) for n in range(1, EMAILS + 1)]
    return out


# A second kill during the run that recovers from the first.
DOUBLE = [
    ("move2", ["after_commit:1", "after_commit:1"]),  # leftovers marked, then killed again
    ("move2", ["after_commit:2", "before_commit:1"]),
    ("move2", ["before_commit:3", "after_smtp_250:2"]),
    ("move2", ["after_smtp_250:1", "after_smtp_250:1"]),  # the same email caught in the window twice
    ("move2", ["after_mark_done:3", "before_send:3"]),
    ("move2", ["after_commit:3", "after_smtp_250:4"]),
]


@dataclass
class World:
    dovecot: DovecotServer
    smtp: SmtpServer
    root: Path
    # A clean run's time to exit from two anchors (for random kills): from taking
    # its lock, and from its first commit.
    after_lock: float = 0.0
    after_commit: float = 0.0
    tally: Counter = field(default_factory=Counter)
    random_stages: Counter = field(default_factory=Counter)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One Dovecot and one SMTP server for every round of this module."""
    home = Path(tempfile.mkdtemp(prefix="abuse-intake-crash-"))
    home.chmod(0o755)  # Dovecot's workers run as nobody
    smtp = None
    with pytest.MonkeyPatch.context() as mp:
        server = DovecotServer(home)
        mp.setenv(IMAP_PASSWORD_ENV, server.password)
        try:
            server.start()
            smtp = SmtpServer()
            smtp.start()
            w = World(server, smtp, tmp_path_factory.mktemp("rounds"))
            yield w
            _write_figures(w)
        finally:
            if smtp is not None:
                smtp.stop()
            server.stop()
            shutil.rmtree(home, ignore_errors=True)


@dataclass
class Round:
    idx: int
    variant: str
    kills: list[str]
    dir: Path
    folder: str
    conf: Path
    mails: list[bytes]
    recipients: dict[str, str]  # address -> the kind of email it must get
    window: Counter = field(default_factory=Counter)  # Message-ID -> kills inside its 250 window
    killed: int = 0
    random_kills: int = 0
    random_extra: int = 0  # extra copies that random kills may explain (at most one per kill)
    lost: int = 0  # appended messages not stored after recovery (must stay 0)

    @property
    def db(self) -> Path:
        return self.dir / "abuse-intake.db"



def _mails(idx: int) -> tuple[list[bytes], dict[str, str]]:
    a, b, c, d = (f"{n}.r{idx}@gmail.com" for n in ("ana", "budi", "citra", "dedi"))
    first = email(sender=a, name="Ana", message_id=f"r{idx}-1@example.test",
                  body="Saya melaporkan akun @dewi_manja88 yang menawarkan open BO tarif 300rb.")
    mails = [
        first,
        email(sender=b, name="Budi", message_id=f"r{idx}-2@example.test",
              body="Akun @dewi_manja88 dan ID: sari.bo_jkt jual cewek di bawah umur."),
        # Relayed again by a backup MX: same Message-ID, other bytes.
        b"Received: from backup-mx.example by mx.example; Mon, 2 Nov 2026 08:00:00 +0000\r\n" + first,
        email(sender=f"away.r{idx}@gmail.com", name="Away", subject="Out of office",
              message_id=f"r{idx}-4@example.test", headers={"Auto-Submitted": "auto-replied"},
              body="I am away until Monday."),
        email(sender=c, name="Citra", subject="Lupa kata sandi", message_id=f"r{idx}-5@example.test",
              body="Halo, saya lupa kata sandi dan tidak bisa masuk. Tolong bantu."),
        email(sender=d, name="Dedi", subject="Laporan", message_id=f"r{idx}-6@example.test",
              body="Ada yang menawarkan open BO di aplikasi kalian, tolong ditindak."),
    ]
    return mails, {a: "ack", b: "ack", c: "not_a_report", d: "needs_info"}


_counter = iter(range(1, 10_000))


def _setup(world: World, variant: str, kills: list[str]) -> Round:
    idx = next(_counter)
    rdir = world.root / f"r{idx:03d}"
    rdir.mkdir()
    folder = f"R{idx:03d}"
    conf = world.dovecot.config_toml(
        rdir, mailbox__url=world.dovecot.url.rsplit("/", 1)[0] + "/" + folder,
        mailbox__done_folder=f"{folder}-done", outgoing__url=world.smtp.url(), outgoing__timeout=20,
        **VARIANTS[variant])
    mails, recipients = _mails(idx)
    world.dovecot.append_many(mails, folder=folder)
    return Round(idx, variant, kills, rdir, folder, conf, mails, recipients)


def _received(world: World, r: Round) -> list[tuple[str, list[str]]]:
    """(Message-ID, envelope recipients) of every email the server got for this round."""
    out = []
    for m in world.smtp.messages:
        if any(t in r.recipients for t in m.rcpt_tos):
            out.append((str(m.message()["Message-ID"]).strip().strip("<>"), list(m.rcpt_tos)))
    return out


def _sent_status(r: Round) -> dict[str, str]:
    if not r.db.exists():
        return {}
    return {row["message_id"]: row["status"] for row in rows(r.db, "SELECT message_id, status FROM outbox")}


def _kill_named(world: World, r: Round, spec: str) -> None:
    before = len(_received(world, r))
    proc = cli(r.conf, "poll", "-q", env={CRASH_AT: spec})
    assert proc.returncode == -signal.SIGKILL, \
        f"round {r.idx} {r.variant}: crash point {spec} was not reached (exit {proc.returncode}): {proc.stderr}"
    r.killed += 1
    # Emails the server took in this run but whose row is not marked sent: the 250 window.
    status = _sent_status(r)
    for mid, _ in _received(world, r)[before:]:
        if status.get(mid) != "sent":
            r.window[mid] += 1


def _holds_lock(r: Round, proc: subprocess.Popen) -> bool:
    lock = r.db.with_name(r.db.name + ".lock")
    try:
        return lock.read_text().strip() == str(proc.pid)
    except OSError:
        return False


def _committed(r: Round, proc: subprocess.Popen) -> bool:
    try:
        return rows(r.db, "SELECT COUNT(*) AS n FROM messages")[0]["n"] > 0
    except sqlite3.OperationalError:  # no database yet, or no schema yet
        return False


def _wait_for(proc: subprocess.Popen, ready) -> float:
    """Poll until `ready()` or the run ends; returns the moment."""
    while proc.poll() is None and not ready():
        time.sleep(0.002)
    return time.monotonic()


def _start_poll(r: Round, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "abuse_intake", "--config", str(r.conf), "poll", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_random(world: World, r: Round, rng: random.Random) -> None:
    """SIGKILL at a seeded moment: half anchored at the lock (start-up, schema,
    first batch), half at the first commit (later batches, delivery)."""
    proc = _start_poll(r, "-q")
    if rng.random() < 0.5:
        _wait_for(proc, lambda: _holds_lock(r, proc))
        time.sleep(rng.uniform(0, world.after_lock))
    else:
        _wait_for(proc, lambda: _committed(r, proc))
        time.sleep(rng.uniform(0, world.after_commit))
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate()
    if proc.returncode == -signal.SIGKILL:
        r.killed += 1
        r.random_kills += 1
        # Where it died, roughly: how far the run had got.
        try:
            stored = rows(r.db, "SELECT COUNT(*) AS n FROM messages")[0]["n"]
            sent = sum(1 for s in _sent_status(r).values() if s == "sent")
        except sqlite3.OperationalError:  # no database yet, or killed while creating the schema
            stored = sent = 0
        stage = "before any commit" if stored == 0 else \
            "during intake" if stored < len(r.mails) else \
            "during delivery" if sent < EMAILS else "after delivery"
        world.random_stages[stage] += 1
    else:
        assert proc.returncode == 0, f"round {r.idx}: run failed ({proc.returncode}): {err}"
        world.random_stages["finished before the kill"] += 1


def _recover(r: Round) -> None:
    proc = cli(r.conf, "poll", "-q")
    assert proc.returncode == 0, f"round {r.idx} {r.variant} {r.kills}: recovery run exit {proc.returncode}: {proc.stderr}"


def _check(world: World, r: Round) -> list[str]:
    """Everything that must hold after the recovery run; returns the problems found."""
    p: list[str] = []
    msgs = rows(r.db, "SELECT message_id, raw_sha256, kind FROM messages")
    want = Counter(sha256(m) for m in r.mails)
    got = Counter(m["raw_sha256"] for m in msgs)
    r.lost = sum((want - got).values())
    if got != want:
        p.append(f"stored raw messages differ: missing {want - got}, extra {got - want}")
    by_mid = Counter(m["message_id"] for m in msgs)
    want_mid = Counter({f"r{r.idx}-1@example.test": 2, **{f"r{r.idx}-{n}@example.test": 1 for n in (2, 4, 5, 6)}})
    if by_mid != want_mid:
        p.append(f"messages by Message-ID: {dict(by_mid)} (want {dict(want_mid)})")
    kinds = Counter(m["kind"] for m in msgs)
    if kinds != EXPECTED_KINDS:
        p.append(f"kinds {dict(kinds)} (want {dict(EXPECTED_KINDS)})")
    p += missing_raw(r.db)
    p += [f"stray file {f}" for f in stray_files(r.dir)]

    cases = sorted(((c["account_id"], c["status"], c["reporters"], c["reports"])
                    for c in rows(r.db, "SELECT * FROM cases")), key=repr)
    if cases != EXPECTED_CASES:
        p.append(f"cases {cases} (want {EXPECTED_CASES})")
    if rows(r.db, "SELECT COUNT(*) AS n FROM reports")[0]["n"] != 3:
        p.append("reports: want 3")

    outbox = rows(r.db, "SELECT message_id, kind, recipient, status FROM outbox")
    queued = sorted((o["recipient"], o["kind"]) for o in outbox)
    if queued != sorted(r.recipients.items()):
        p.append(f"outbox {queued} (want {sorted(r.recipients.items())})")
    p += [f"outbox {o['kind']} to {o['recipient']} is {o['status']}" for o in outbox if o["status"] != "sent"]
    received = _received(world, r)
    copies = Counter(mid for mid, _ in received)
    rcpt_of = {o["message_id"]: o["recipient"] for o in outbox}
    for mid, tos in received:
        if tos != [rcpt_of.get(mid)]:
            p.append(f"email {mid} went to {tos}, its row says {rcpt_of.get(mid)}")
    extra = 0
    for o in outbox:
        n, allowed = copies[o["message_id"]], 1 + r.window[o["message_id"]]
        if n < 1:
            p.append(f"{o['kind']} to {o['recipient']} never reached the server")
        elif n > allowed:
            extra += n - allowed
        if n > 1 and r.window[o["message_id"]] == 0 and r.random_kills == 0:
            p.append(f"{o['kind']} to {o['recipient']} received {n} times outside the 250 window")
        elif r.window[o["message_id"]] and n != allowed:
            p.append(f"{o['kind']} to {o['recipient']}: {n} copies, want {allowed} (window)")
    if r.random_kills and extra > r.random_kills:
        # One kill can catch at most one email between the server's 250 and our commit.
        p.append(f"{extra} extra copies after {r.random_kills} random kill(s)")
    r.random_extra = extra

    p += integrity_problems(r.db)
    cursor = rows(r.db, "SELECT last_uid FROM mailbox_cursors")
    if [c["last_uid"] for c in cursor] != [len(r.mails)]:
        p.append(f"cursor {cursor} (want last_uid {len(r.mails)})")
    if VARIANTS[r.variant]["mailbox__done_action"] == "move":
        left, done = world.dovecot.uids(r.folder), world.dovecot.folder_count(f"{r.folder}-done")
        if left or done != len(r.mails):
            p.append(f"server: {len(left)} left in {r.folder}, {done} in {r.folder}-done")
    else:
        flags = world.dovecot.fetch_flags(r.folder)
        unflagged = [u for u, f in flags.items() if b"\\Seen" not in f or b"AbuseIntakeDone" not in f]
        if len(flags) != len(r.mails) or unflagged:
            p.append(f"server: {len(flags)} messages, not flagged done: {unflagged}")
    return p


def _play(world: World, variant: str, kills: list[str], rng: random.Random | None = None) -> tuple[Round, list[str]]:
    r = _setup(world, variant, kills)
    for spec in kills:
        if spec == "random":
            _kill_random(world, r, rng)
        else:
            _kill_named(world, r, spec)
    _recover(r)
    return r, _check(world, r)


def _play_all(world: World, plans: list[tuple[str, list[str]]], seed: int | None = None) -> list[Round]:
    rngs = [random.Random(seed * 1000 + i) if seed is not None else None for i in range(len(plans))]
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda a: _play(world, *a), [(v, k, g) for (v, k), g in zip(plans, rngs)]))
    failures = [f"round {r.idx} {r.variant} {r.kills}: {'; '.join(p)}" for r, p in results if p]
    rounds = [r for r, _ in results]
    for r in rounds:
        world.tally["messages_appended"] += len(r.mails)
        world.tally["kills"] += r.killed
        world.tally["emails_duplicated_in_window"] += sum(r.window.values()) + r.random_extra
        world.tally["messages_lost"] += r.lost
    assert not failures, "\n".join(failures)
    return rounds


@pytest.fixture(scope="module")
def model(world):
    """A round without a kill: the expectations every crash round is held to,
    and how long a clean run works once it holds its lock (for random kills)."""
    r = _setup(world, "move2", [])
    proc = _start_poll(r, "--json")
    locked = _wait_for(proc, lambda: _holds_lock(r, proc))
    committed = _wait_for(proc, lambda: _committed(r, proc))
    out, err = proc.communicate()
    ended = time.monotonic()
    world.after_lock, world.after_commit = max(ended - locked, 0.05), max(ended - committed, 0.05)
    world.tally["messages_appended"] += len(r.mails)
    return r, proc.returncode, out, err


def test_clean_round_is_the_model(world, model):
    r, code, out, err = model
    assert code == 0, err
    counts = json.loads(out)
    assert (counts["fetched"], counts["stored"], counts["reports"], counts["duplicates"], counts["robots"],
            counts["non_reports"], counts["cases_opened"], counts["emails_sent"]) == (6, 6, 3, 1, 1, 1, 3, 4)
    assert _check(world, r) == []


def test_sigkill_at_every_named_point_loses_nothing(world):
    plans = _named_single()
    rounds = _play_all(world, plans)
    world.tally["named_points"] = len({(r.variant, tuple(r.kills)) for r in rounds})
    assert world.tally["named_points"] >= 41


def test_second_kill_during_recovery_loses_nothing(world):
    rounds = _play_all(world, DOUBLE)
    world.tally["double_kill_sequences"] = len(rounds)
    # The email caught in the window by both kills reached the server three times, no more.
    assert any(max(r.window.values(), default=0) == 2 for r in rounds)


def test_sigkill_at_random_moments_loses_nothing(world, model):
    rounds = _play_all(world, [("move2", ["random"])] * RANDOM_KILLS, seed=SEED)
    world.tally["random_kills"] = sum(r.random_kills for r in rounds)
    # Most seeded moments fall inside the run; a few may land after it ended.
    assert world.tally["random_kills"] >= RANDOM_KILLS // 2, dict(world.random_stages)


def _write_figures(w: World) -> None:
    t = w.tally
    distinct = t["named_points"] + t["double_kill_sequences"] + t["random_kills"]
    record_figures(crash={
        "distinct_crash_points_survived": distinct,
        "named_points": t["named_points"],
        "double_kill_sequences": t["double_kill_sequences"],
        "random_kills": t["random_kills"],
        "random_kill_stages": dict(w.random_stages),
        "sigkills_total": t["kills"],
        "messages_appended": t["messages_appended"],
        "messages_lost": t["messages_lost"],
        "extra_email_copies_in_documented_window": t["emails_duplicated_in_window"],
    })
