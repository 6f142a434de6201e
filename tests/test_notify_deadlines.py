"""Issue 15 item 5 (SMTP side): a server that answers slowly but never quite
times out cannot hold delivery. Real sockets: a tiny server in the test that
dribbles its replies, and the CLI in a subprocess."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest

from helpers import cli, cli_json, email, make_maildir, write_config

EX_TEMPFAIL = 75


class SlowSmtp:
    """`greeting`: a multi-line 220 greeting, one line every `every` s, never
    ending. `slow`: a working SMTP server that waits `every` s before each reply."""

    def __init__(self, mode: str, every: float):
        self.mode, self.every = mode, every
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.delivered = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _say(self, conn, line: str) -> None:
        time.sleep(self.every)
        conn.sendall(line.encode() + b"\r\n")

    def _session(self, conn) -> None:
        try:
            if self.mode == "greeting":
                while not self.stop.is_set():
                    self._say(conn, "220-still saying hello")
                return
            self._say(conn, "220 slow.example ESMTP")
            f = conn.makefile("rb")
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"DATA":
                    self._say(conn, "354 go on")
                    while f.readline() not in (b".\r\n", b""):
                        pass
                    self.delivered += 1
                    self._say(conn, "250 ok")
                elif verb == b"QUIT":
                    self._say(conn, "221 bye")
                    return
                else:
                    self._say(conn, "250 ok")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def slow(request):
    server = SlowSmtp(*request.param)
    yield server
    server.close()


def _config(tmp_path, port: int, **outgoing):
    extra = "".join(f"{k} = {v}\n" for k, v in outgoing.items())
    cfg = write_config(tmp_path, outgoing_url=f"smtp://127.0.0.1:{port}")
    text = re.sub(r"(?m)^(connection_deadline|run_deadline) = .*\n", "", cfg.read_text())
    ours = 'from_name = "Obrolan Support"\ntimeout = 30\n'
    assert ours in text
    cfg.write_text(text.replace(ours, f'from_name = "Obrolan Support"\ntimeout = 5\n{extra}'))
    return cfg


def _queue(cfg, tmp_path, n: int) -> None:
    make_maildir(tmp_path / "mailbox", [
        email(sender=f"pelapor{i}@example.com", body=f"Akun @pelaku_dl{i:03d} menawarkan open BO.")
        for i in range(n)])
    assert cli_json(cfg, "poll", "--no-send")["stored"] == n


@pytest.mark.parametrize("slow", [("greeting", 3.0)], indirect=True)
def test_a_greeting_dribbled_line_by_line_ends_at_the_connection_deadline(tmp_path, slow):
    # Each line arrives inside the 5 s read timeout: only a total deadline ends it.
    cfg = _config(tmp_path, slow.port, connection_deadline=4, run_deadline=60)
    _queue(cfg, tmp_path, 1)
    began = time.monotonic()
    proc = cli(cfg, "send", "--json", timeout=60)
    took = time.monotonic() - began
    assert proc.returncode == EX_TEMPFAIL, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["sent"], result["deferred"], result["unreachable"]) == (0, 1, True)
    assert "connection deadline of 4 s" in " ".join(result["errors"])
    assert took < 4 + 6  # the deadline, plus starting Python
    [row] = cli_json(cfg, "outbox", "list")
    assert row["status"] == "pending" and "deadline" in row["last_error"]


@pytest.mark.parametrize("slow", [("greeting", 3.0)], indirect=True)
def test_poll_holding_its_lock_is_not_hung_by_a_slow_server(tmp_path, slow):
    cfg = _config(tmp_path, slow.port, connection_deadline=4, run_deadline=5)
    make_maildir(tmp_path / "mailbox", [email(body="Akun @pelaku_pl001 menawarkan open BO.")])
    began = time.monotonic()
    proc = cli(cfg, "poll", "--json", timeout=60)
    assert time.monotonic() - began < 4 + 8
    assert proc.returncode == EX_TEMPFAIL, proc.stderr
    assert cli(cfg, "poll", timeout=30).returncode != 73  # the lock was let go


@pytest.mark.parametrize("slow", [("slow", 0.3)], indirect=True)
def test_a_slow_but_working_server_is_left_at_the_run_deadline(tmp_path, slow):
    # About 2 s an email (seven replies, 0.3 s each): a 5 s run sends a few, the rest wait.
    cfg = _config(tmp_path, slow.port, connection_deadline=60, run_deadline=5)
    _queue(cfg, tmp_path, 8)
    began = time.monotonic()
    proc = cli(cfg, "send", "--json", timeout=60)
    assert time.monotonic() - began < 5 + 8
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["deadline_reached"] is True
    assert 1 <= result["sent"] < 8 and result["remaining"] == 8 - result["sent"]
    assert slow.delivered == result["sent"]
    statuses = [r["status"] for r in cli_json(cfg, "outbox", "list")]
    assert statuses.count("sent") == result["sent"] and statuses.count("pending") == 8 - result["sent"]


@pytest.mark.parametrize("key,value,words", [
    ("connection_deadline", "0", "at least 1"),
    ("run_deadline", "inf", "finite"),
    ("run_deadline", "nan", "finite"),
    ("connection_deadline", "1e308", "at most"),
    ("run_deadline", '"soon"', "must be a number"),
])
def test_deadline_keys_are_validated(tmp_path, key, value, words):
    cfg = _config(tmp_path, 25, **{key: value})
    proc = cli(cfg, "config", "check")
    assert proc.returncode == 78, proc.stderr
    assert f"outgoing.{key}" in proc.stderr and words in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
