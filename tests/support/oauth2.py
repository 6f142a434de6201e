"""A real OAuth2 authorization server on loopback, for XOAUTH2 tests.

Endpoints (RFC 6749 form POSTs, JSON answers):
  /token       grants client_credentials, refresh_token (rotating: each use
               issues a new refresh token and revokes the old one) and the
               device code (RFC 8628); client auth by HTTP Basic or form
  /device      device authorization: user_code, device_code
  /introspect  RFC 7662 for Dovecot's oauth2 passdb: {"active", "email"}
The test controls it: `approve()` a device code, `revoke_refresh()`,
`revoke_access()`, `down` (503), `expires_in`. Every request is recorded
(grant type, which refresh token was used) so a test can check that a
rotated-away refresh token is never presented again.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

import pytest

__all__ = ["OAuth2Server", "oauth2_server", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"]

OAUTH_CLIENT_ID = "abuse-intake-test"
OAUTH_CLIENT_SECRET = "s3cret-" + secrets.token_hex(8)
USER = "support@obrolan.example"


@dataclass
class _State:
    expires_in: int = 3600
    rotate: bool = True
    down: bool = False
    access: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.time)
    refresh: set[str] = field(default_factory=set)  # live refresh tokens
    spent: set[str] = field(default_factory=set)  # rotated or revoked
    devices: dict[str, dict] = field(default_factory=dict)  # device_code -> {user_code, approved}
    requests: list[dict] = field(default_factory=list)  # {"path", "grant", "refresh_token"}
    introspections: int = 0


class OAuth2Server:
    def __init__(self) -> None:
        self.state = _State()
        self.lock = threading.Lock()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = server.handle(self.path, form, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # ------------------------------------------------------------ control

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def seed_refresh_token(self) -> str:
        token = "rt-" + secrets.token_hex(12)
        with self.lock:
            self.state.refresh.add(token)
        return token

    def approve(self, user_code: str | None = None) -> None:
        with self.lock:
            for d in self.state.devices.values():
                if user_code is None or d["user_code"] == user_code:
                    d["approved"] = True

    def revoke_refresh(self) -> None:
        with self.lock:
            self.state.spent |= self.state.refresh
            self.state.refresh.clear()

    def revoke_access(self) -> None:
        with self.lock:
            self.state.access.clear()

    def live_access(self, token: str) -> bool:
        with self.lock:
            return self.state.access.get(token, 0) > time.time()

    @property
    def requests(self) -> list[dict]:
        with self.lock:
            return list(self.state.requests)

    # ------------------------------------------------------------ protocol

    def _issue(self, with_refresh: bool) -> dict:
        access = "at-" + secrets.token_hex(16)
        self.state.access[access] = time.time() + self.state.expires_in
        out = {"access_token": access, "token_type": "Bearer", "expires_in": self.state.expires_in}
        if with_refresh:
            refresh = "rt-" + secrets.token_hex(12)
            self.state.refresh.add(refresh)
            out["refresh_token"] = refresh
        return out

    def _client_ok(self, form: dict, authorization: str) -> bool:
        cid, secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            pair = base64.b64decode(authorization[6:]).decode()
            user, _, pw = pair.partition(":")
            cid, secret = unquote(user), unquote(pw)
        return cid == OAUTH_CLIENT_ID and secret == OAUTH_CLIENT_SECRET

    def handle(self, path: str, form: dict, authorization: str) -> tuple[int, dict]:
        with self.lock:
            st = self.state
            if path == "/introspect":  # Dovecot; not counted as a client request
                st.introspections += 1
                token = form.get("token", "")
                if st.access.get(token, 0) > time.time():
                    return 200, {"active": True, "email": USER}
                return 200, {"active": False}
            st.requests.append({"path": path, "grant": form.get("grant_type"),
                                "refresh_token": form.get("refresh_token"),
                                "basic": authorization.startswith("Basic ")})
            if st.down:
                return 503, {"error": "temporarily_unavailable"}
            if path == "/device":
                if form.get("client_id") != OAUTH_CLIENT_ID:
                    return 401, {"error": "invalid_client"}
                code = secrets.token_hex(8)
                user_code = secrets.token_hex(3).upper()
                st.devices[code] = {"user_code": user_code, "approved": False, "scope": form.get("scope")}
                return 200, {"device_code": code, "user_code": user_code,
                             "verification_uri": f"{self.base}/activate", "interval": 0.2, "expires_in": 60}
            if path != "/token":
                return 404, {"error": "not_found"}
            grant = form.get("grant_type")
            if grant == "urn:ietf:params:oauth:grant-type:device_code":
                d = st.devices.get(form.get("device_code", ""))
                if d is None:
                    return 400, {"error": "invalid_grant"}
                if not d["approved"]:
                    return 400, {"error": "authorization_pending"}
                del st.devices[form["device_code"]]
                return 200, self._issue(with_refresh=True)
            if not self._client_ok(form, authorization):
                return 401, {"error": "invalid_client",
                             "error_description": "AADSTS7000222: The provided client secret keys are expired."}
            if grant == "client_credentials":
                return 200, self._issue(with_refresh=False)
            if grant == "refresh_token":
                token = form.get("refresh_token", "")
                if token not in st.refresh:
                    return 400, {"error": "invalid_grant", "error_description": "AADSTS70008: token revoked"}
                answer = self._issue(with_refresh=st.rotate)
                if st.rotate:
                    st.refresh.discard(token)
                    st.spent.add(token)
                return 200, answer
            return 400, {"error": "unsupported_grant_type"}


@pytest.fixture
def oauth2_server():
    server = OAuth2Server()
    server.start()
    yield server
    server.stop()
