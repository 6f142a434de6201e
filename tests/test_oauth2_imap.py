"""XOAUTH2 against a real Dovecot whose passdb checks bearer tokens at a real
local OAuth2 server (tests/support/oauth2.py), through the real CLI."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

from helpers import cli, cli_json, email
from support.oauth2 import OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET

SECRET_ENV = "ABUSE_INTAKE_TEST_OAUTH_SECRET"


def _conf(dovecot, oauth2_server, tmp_path, monkeypatch, grant="refresh_token", seed=True, **extra):
    monkeypatch.setenv(SECRET_ENV, OAUTH_CLIENT_SECRET)
    o = {"mailbox__auth": "oauth2", "mailbox__password_env": None,
         "mailbox__oauth2__token_url": f"{oauth2_server.base}/token",
         "mailbox__oauth2__device_authorization_url": f"{oauth2_server.base}/device",
         "mailbox__oauth2__client_id": OAUTH_CLIENT_ID,
         "mailbox__oauth2__client_secret_env": SECRET_ENV,
         "mailbox__oauth2__grant": grant, "mailbox__oauth2__scope": "imap"}
    if grant == "refresh_token":
        token_file = tmp_path / "refresh-token"
        if seed:
            token_file.write_text(oauth2_server.seed_refresh_token() + "\n")
        o["mailbox__oauth2__refresh_token_file"] = str(token_file)
    o.update(extra)
    return dovecot.config_toml(tmp_path, **o)


def _report(i: int) -> bytes:
    return email(sender=f"r{i}@gmail.com", body=f"akun @pelaku_{i:04d} open BO")


def _stored_refresh(tmp_path) -> str:
    with sqlite3.connect(tmp_path / "abuse-intake.db") as c:
        return c.execute("SELECT refresh_token FROM oauth2_tokens").fetchone()[0]


def _all_secrets(oauth2_server) -> list[str]:
    st = oauth2_server.state
    return [OAUTH_CLIENT_SECRET, *st.access, *st.refresh, *st.spent]


def test_refresh_token_login_rotation_and_refresh_on_refusal(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch):
    conf = _conf(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch)
    seed = (tmp_path / "refresh-token").read_text().strip()
    dovecot_oauth2.append(_report(1))
    first = cli_json(conf, "poll")
    assert first["stored"] == 1 and dovecot_oauth2.folder_count("Processed") == 1
    assert [r["refresh_token"] for r in oauth2_server.requests] == [seed]
    rotated = _stored_refresh(tmp_path)
    assert rotated != seed and rotated in oauth2_server.state.refresh  # the new one is stored

    # A cached access token is reused: no request to the token endpoint.
    dovecot_oauth2.append(_report(2))
    assert cli_json(conf, "poll")["stored"] == 1
    assert len(oauth2_server.requests) == 1

    # The server stops accepting the cached token: one fresh token, with the rotated refresh token.
    oauth2_server.revoke_access()
    dovecot_oauth2.append(_report(3))
    assert cli_json(conf, "poll")["stored"] == 1
    used = [r["refresh_token"] for r in oauth2_server.requests]
    assert used == [seed, rotated]  # the seed (rotated away) never again
    assert _stored_refresh(tmp_path) not in (seed, rotated)


def test_expired_access_token_is_refreshed_before_the_run(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch):
    oauth2_server.state.expires_in = 2
    conf = _conf(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch)
    dovecot_oauth2.append(_report(1))
    assert cli_json(conf, "poll")["stored"] == 1
    time.sleep(2.2)
    dovecot_oauth2.append(_report(2))
    assert cli_json(conf, "poll")["stored"] == 1
    assert [r["grant"] for r in oauth2_server.requests] == ["refresh_token", "refresh_token"]
    # Refreshed before the login (not after a refusal): Dovecot saw only live tokens.
    assert all(r["basic"] for r in oauth2_server.requests)


def test_client_credentials(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch):
    conf = _conf(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch, grant="client_credentials")
    dovecot_oauth2.append(_report(1))
    assert cli_json(conf, "poll")["stored"] == 1
    assert [r["grant"] for r in oauth2_server.requests] == ["client_credentials"]


def test_revoked_grant_is_78_naming_the_key_and_no_secret_in_output(dovecot_oauth2, oauth2_server, tmp_path,
                                                                    monkeypatch):
    conf = _conf(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch)
    dovecot_oauth2.append(_report(1))
    ok = cli(conf, "-vv", "poll")
    assert ok.returncode == 0, ok.stderr
    oauth2_server.revoke_refresh()
    oauth2_server.revoke_access()
    dovecot_oauth2.append(_report(2))
    bad = cli(conf, "-vv", "poll")
    assert bad.returncode == 78, bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert lines[-1].startswith("abuse-intake: config: mailbox.oauth2.refresh_token_file: the refresh token "
                                "was rejected (invalid_grant")
    show = cli(conf, "config", "show")
    for out in (ok.stdout, ok.stderr, bad.stdout, bad.stderr, show.stdout, show.stderr):
        for secret in _all_secrets(oauth2_server):
            assert secret not in out
    assert dovecot_oauth2.uids("INBOX") != []  # nothing taken from the mailbox


def test_bad_client_secret_is_78_and_endpoint_down_is_75(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch):
    conf = _conf(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch, grant="client_credentials")
    assert cli(conf, "init").returncode == 0
    wrong = cli(conf, "poll", env={SECRET_ENV: "not-the-secret"})
    assert wrong.returncode == 78
    assert wrong.stderr.strip().startswith("abuse-intake: config: mailbox.oauth2.client_secret_env: the token "
                                           "endpoint rejected the client (invalid_client")
    assert "not-the-secret" not in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    oauth2_server.state.down = True
    down = cli(conf, "poll")
    assert down.returncode == 75, down.stderr
    assert "mailbox.oauth2.token_url" in down.stderr and "503" in down.stderr
    oauth2_server.stop()
    gone = cli(conf, "poll")
    assert gone.returncode == 75 and "unreachable" in gone.stderr


def test_backlog_fetcher_process_gets_the_token(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch):
    conf = _conf(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch, mailbox__batch_size=50)
    dovecot_oauth2.append_many([_report(i) for i in range(220)])  # >= prefetch.MIN_BACKLOG
    proc = cli(conf, "-v", "poll", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "fetching ahead in process" in proc.stderr
    assert '"stored": 220' in proc.stdout
    assert len(oauth2_server.requests) == 1  # the fetcher did not ask for a token of its own


def test_authorize_with_the_device_flow(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch):
    conf = _conf(dovecot_oauth2, oauth2_server, tmp_path, monkeypatch, seed=False)
    from helpers import REPO  # noqa: F401
    proc = subprocess.Popen([sys.executable, "-m", "abuse_intake", "--config", str(conf), "oauth2", "authorize"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert "enter the code" in line, line
    oauth2_server.approve(line.rsplit(" ", 1)[1].strip())
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    for secret in _all_secrets(oauth2_server):
        assert secret not in out + err + line
    dovecot_oauth2.append(_report(1))
    assert cli_json(conf, "poll")["stored"] == 1  # the stored token, no file needed
