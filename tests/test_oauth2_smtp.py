"""AUTH XOAUTH2 to a real aiosmtpd relay (TLS) whose tokens are checked at the
real local OAuth2 server, through the real CLI."""

from __future__ import annotations

import base64
import json

from aiosmtpd.smtp import AuthResult

from helpers import cli, cli_json, email, make_maildir, write_config
from support.oauth2 import OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET
from support.smtp import SmtpServer, _Handler, _server_context

SECRET_ENV = "ABUSE_INTAKE_TEST_OAUTH_SECRET"


class _XOAuth2Handler(_Handler):
    def __init__(self, oauth2_server):
        super().__init__()
        self.oauth2 = oauth2_server
        self.logins: list[bool] = []

    async def auth_XOAUTH2(self, server, args):  # noqa: N802  (aiosmtpd names mechanisms so)
        fields = dict(f.split("=", 1) for f in base64.b64decode(args[1]).decode().split("\x01") if "=" in f)
        ok = fields.get("user") == "relay-user" and self.oauth2.live_access(fields.get("auth", "")[7:])
        self.logins.append(ok)
        if ok:
            return AuthResult(success=True)
        # As Gmail does: a 334 JSON challenge that the client answers with an empty line, then 535.
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False, message="535 5.7.8 Authentication credentials invalid")


def test_outgoing_xoauth2_refresh_on_refusal_and_revoked_grant(oauth2_server, smtp_test_cert, trust_test_cert,
                                                               tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, OAUTH_CLIENT_SECRET)
    relay = SmtpServer(ssl_context=_server_context(smtp_test_cert), auth_required=True, auth_require_tls=False)
    relay.handler = _XOAuth2Handler(oauth2_server)
    relay.start()
    try:
        (tmp_path / "rt").write_text(oauth2_server.seed_refresh_token())
        make_maildir(tmp_path / "mailbox", [email(sender="a@gmail.com", body="akun @pelaku_0001 open BO"),
                                            email(sender="b@gmail.com", body="akun @pelaku_0002 open BO")])
        conf = write_config(
            tmp_path, outgoing_url=relay.url("smtps", "relay-user"),
            replace={'from_name = "Obrolan Support"': 'from_name = "Obrolan Support"\nauth = "oauth2"'},
            extra=f'[outgoing.oauth2]\ntoken_url = "{oauth2_server.base}/token"\nclient_id = "{OAUTH_CLIENT_ID}"\n'
                  f'client_secret_env = "{SECRET_ENV}"\ngrant = "refresh_token"\nscope = "smtp"\n'
                  f'refresh_token_file = "{tmp_path / "rt"}"\n')
        out = cli_json(conf, "poll", "--limit", "1")
        assert out["emails_sent"] == 1 and relay.handler.logins == [True]
        # The relay no longer takes the cached token: one fresh one, and the mail goes.
        oauth2_server.revoke_access()
        assert cli_json(conf, "poll")["emails_sent"] == 1
        assert relay.handler.logins == [True, False, True]
        assert len(relay.messages) == 2
        # A revoked grant: exit 78 naming the key; the email waits, nothing secret printed.
        oauth2_server.revoke_access()
        oauth2_server.revoke_refresh()
        cli(conf, "cases", "list")  # (a read command needs no token)
        make_maildir(tmp_path / "mailbox", [email(sender="c@gmail.com", body="akun @pelaku_0003 open BO")])
        bad = cli(conf, "poll")
        assert bad.returncode == 78, bad.stderr
        assert "outgoing.oauth2.refresh_token_file" in bad.stderr
        for secret in [OAUTH_CLIENT_SECRET, *oauth2_server.state.access, *oauth2_server.state.spent]:
            assert secret not in bad.stderr + bad.stdout
        pending = [r for r in cli_json(conf, "outbox", "list") if r["status"] == "pending"]
        assert len(pending) == 1
    finally:
        relay.stop()
