"""Issue 15 item 1: overlapping runs never deliver one email twice, and never
hand one sanction to the enforcement command twice. Real processes (the CLI
in subprocesses), a real SQLite file, a real aiosmtpd server counting the
Message-IDs it accepted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

from helpers import cli, cli_json, email, make_maildir, write_config
from triage_fixtures import add_case

from abuse_intake import config
from abuse_intake.store.db import open_db, transaction

N = 120


def _reports(n: int, tag: str) -> list[bytes]:
    # A different reporter each, so the per-recipient daily cap holds nothing back.
    return [email(sender=f"pelapor{tag}{i}@example.com", message_id=f"{tag}-{i}@example.test",
                  body=f"Akun @pelaku_{tag}{i:04d} menawarkan open BO, tarif 300rb.") for i in range(n)]


def _config(tmp_path, smtp_server, extra: str = ""):
    return write_config(tmp_path, outgoing_url=smtp_server.url(), extra=extra)


def _popen(cfg, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "abuse_intake", "--config", str(cfg), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _ids_at_server(smtp_server) -> Counter:
    return Counter(m.message()["Message-ID"] for m in smtp_server.messages)


def _assert_each_once(cfg, smtp_server, n: int) -> None:
    ids = _ids_at_server(smtp_server)
    twice = {k: v for k, v in ids.items() if v > 1}
    assert twice == {}, f"{len(twice)} emails delivered more than once"
    queued = cli_json(cfg, "outbox", "list")
    assert len(queued) == n and len(ids) == n
    assert {f"<{r['message_id']}>" for r in queued} == set(ids)
    assert all(r["status"] == "sent" for r in queued)


def test_send_beside_send_delivers_every_email_once(tmp_path, smtp_server):
    cfg = _config(tmp_path, smtp_server)
    make_maildir(tmp_path / "mailbox", _reports(N, "ss"))
    assert cli_json(cfg, "poll", "--no-send")["stored"] == N
    first, second = _popen(cfg, "send", "--json"), _popen(cfg, "send", "--json")
    results = [_finish(first), _finish(second)]
    for code, _, err in results:
        assert code == 0, err
    sent = [json.loads(out)["sent"] for _, out, _ in results]
    assert sum(sent) == N
    _assert_each_once(cfg, smtp_server, N)


def test_poll_beside_send_delivers_every_email_once(tmp_path, smtp_server):
    cfg = _config(tmp_path, smtp_server, extra="")
    make_maildir(tmp_path / "mailbox", _reports(N, "ps"))
    poll = _popen(cfg, "poll", "--json")
    time.sleep(0.3)
    sends = []
    # Cron's `send` arrives while the poll stores and delivers.
    while poll.poll() is None and len(sends) < 20:
        sends.append(_popen(cfg, "send"))
        time.sleep(0.3)
    code, _, err = _finish(poll)
    assert code == 0, err
    for s in sends:
        c, _, e = _finish(s)
        assert c == 0, e
    assert cli(cfg, "send").returncode == 0  # anything still due goes now
    _assert_each_once(cfg, smtp_server, N)


def test_a_crashed_senders_claim_is_taken_over(tmp_path, smtp_server):
    cfg = _config(tmp_path, smtp_server)
    make_maildir(tmp_path / "mailbox", _reports(3, "cr"))
    assert cli_json(cfg, "poll", "--no-send")["stored"] == 3
    # Killed with its batch claimed (all three rows, one statement) and none yet
    # handed to the server: the process is gone from this host, so the next run
    # takes the rows over at once.
    crashed = cli(cfg, "send", env={"ABUSE_INTAKE_CRASH_AT": "before_send:1"})
    assert crashed.returncode == -9
    claimed = [r for r in _outbox_rows(cfg) if r["claimed_by"]]
    assert len(claimed) == 3 and len({r["claimed_by"] for r in claimed}) == 1
    assert all(r["lease_until"] > r["created_at"] for r in claimed)
    assert cli_json(cfg, "send")["sent"] == 3
    _assert_each_once(cfg, smtp_server, 3)


def test_a_claim_from_another_host_waits_for_its_lease(tmp_path, smtp_server):
    cfg = _config(tmp_path, smtp_server)
    make_maildir(tmp_path / "mailbox", _reports(2, "lh"))
    assert cli_json(cfg, "poll", "--no-send")["stored"] == 2
    # Another machine's run holds the first row (whether it is alive cannot be known from here).
    db = open_db(config.load(cfg).database_path)
    try:
        with transaction(db):
            db.execute("UPDATE outbox SET claimed_by = 'other-host:4242:beef', "
                       "lease_until = '2999-01-01T00:00:00Z' WHERE id = 1")
        assert cli_json(cfg, "send")["sent"] == 1
        assert len(smtp_server.messages) == 1
        with transaction(db):  # its lease ran out: that run died
            db.execute("UPDATE outbox SET lease_until = '2000-01-01T00:00:00Z' WHERE id = 1")
    finally:
        db.conn.close()
    assert cli_json(cfg, "send")["sent"] == 1
    _assert_each_once(cfg, smtp_server, 2)


def _outbox_rows(cfg) -> list[dict]:
    db = open_db(config.load(cfg).database_path)
    try:
        cur = db.execute("SELECT * FROM outbox ORDER BY id")
        return [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]
    finally:
        db.conn.close()


ENFORCE = """\
import json, sys, time, pathlib
rec = json.loads(sys.stdin.read())
log = pathlib.Path(sys.argv[1])
with log.open("a") as fh:
    fh.write(f"start {rec['id']} {rec['revoked']}\\n")
time.sleep(1.5)
with log.open("a") as fh:
    fh.write(f"done {rec['id']} {rec['revoked']}\\n")
"""


def test_revoke_beside_enforce_runs_the_command_once(tmp_path):
    script, log = tmp_path / "enforce.py", tmp_path / "enforce.log"
    script.write_text(ENFORCE)
    cfg = write_config(tmp_path, replace={"command = []": f"command = ['{sys.executable}', '{script}', '{log}']"})
    db = open_db(config.load(cfg).database_path)
    try:
        with transaction(db):
            c = add_case(db, account_id="dewi_manja88")
    finally:
        db.conn.close()
    assert cli(cfg, "decide", c["ref"], "--violation", "prostitution", "--by", "rina").returncode == 0
    [s] = cli_json(cfg, "sanctions", "list")
    assert log.read_text().splitlines() == [f"start {s['id']} False", f"done {s['id']} False"]

    revoke = _popen(cfg, "sanctions", "revoke", str(s["id"]), "--by", "rina", "--note", "appeal upheld")
    deadline = time.monotonic() + 60
    while f"start {s['id']} True" not in log.read_text():
        assert revoke.poll() is None and time.monotonic() < deadline, revoke.communicate()
        time.sleep(0.02)
    enforce = _popen(cfg, "sanctions", "enforce")  # while revoke's command still runs
    code, _, err = _finish(enforce)
    assert code == 0, err
    code, _, err = _finish(revoke)
    assert code == 0, err
    runs = Counter(line for line in log.read_text().splitlines() if line.startswith("start"))
    assert runs[f"start {s['id']} True"] == 1
    assert cli_json(cfg, "sanctions", "list")[0]["enforcement_status"] == "done"


def test_which_claimants_are_certainly_gone():
    from abuse_intake import leases
    me = leases.claimant()
    assert not leases.certainly_gone(me)  # this process
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = me.split(":", 1)[0]
    assert leases.certainly_gone(f"{host}:{int(dead.stdout)}:abcd")  # exited and reaped
    assert not leases.certainly_gone(f"other-{host}:{int(dead.stdout)}:abcd")  # another host: wait for the lease
    assert not leases.certainly_gone(f"{host}:1:abcd")  # alive (init)
    assert not leases.certainly_gone("garbage")
