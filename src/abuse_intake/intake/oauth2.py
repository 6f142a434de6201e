"""OAuth2 access tokens for XOAUTH2 logins (IMAP and SMTP).

The HTTP is plain RFC 6749 form POSTs over urllib: one request shape
(token endpoint, device authorization endpoint), no new dependency, and
full control over what may reach a log (no library logs the request body
or echoes a secret in an exception).

- An access token is cached (in the database, through a TokenStore) until
  shortly before it expires; `token(fresh=True)` gets a new one after the
  server refused a login.
- A refresh token the provider rotates is saved every time, inside the same
  write lock as the request, and used from then on; the old one never again.
  `refresh_token_file` only seeds the store (and a new file content is taken
  in once, so re-running `oauth2 authorize` by hand still works).
- invalid_client / invalid_grant / invalid_scope are configuration errors
  (exit 78) naming the key; an unreachable or 5xx endpoint is
  TokenEndpointError (exit 75). Nothing secret is in any message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable, Protocol

from ..config import OAuth2Settings
from ..errors import ConfigError, TokenEndpointError

MAX_RESPONSE = 64 * 1024  # a token answer is a few KB; a hostile endpoint gets no more
EARLY = 60.0  # refresh this many seconds before expiry (less for very short-lived tokens)
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class TokenStore(Protocol):
    def load(self, name: str): ...
    def save(self, name: str, row) -> None: ...
    def exclusive(self): ...


@dataclass
class TokenAnswer:
    access_token: str
    expires_in: float
    refresh_token: str | None


def store_name(o: OAuth2Settings) -> str:
    return f"{o.section} {o.client_id}@{o.token_url}"


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (Google / Microsoft), before base64."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


class TokenProvider:
    """Current access token for one `[section.oauth2]`, refreshed as needed."""

    def __init__(self, settings: OAuth2Settings, store: TokenStore, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.store = store
        self.clock = clock
        self.name = store_name(settings)
        self._secrets: list[str] = []  # what must never appear in a message we raise

    def token(self, *, fresh: bool = False) -> str:
        from ..store.tokens import TokenRow  # the row type only; the store is passed in

        o = self.settings
        with self.store.exclusive():
            row = self.store.load(self.name) or TokenRow()
            now = self.clock()
            if not fresh and row.access_token and row.expires_at and row.expires_at > now:
                return row.access_token
            if o.grant == "client_credentials":
                answer = self._post({"grant_type": "client_credentials", "scope": o.scope}, "client_id")
            else:
                refresh, seed = self._refresh_token(row)
                form = {"grant_type": "refresh_token", "refresh_token": refresh}
                if o.scope:
                    form["scope"] = o.scope
                answer = self._post(form, "refresh_token_file")
                row.refresh_token = answer.refresh_token or refresh  # rotated: the new one from now on
                row.seed_sha256 = seed
            row.access_token = answer.access_token
            row.expires_at = now + answer.expires_in - min(EARLY, answer.expires_in / 2)
            self.store.save(self.name, row)
            return answer.access_token

    def _refresh_token(self, row) -> tuple[str, str | None]:
        """The stored (maybe rotated) refresh token, unless the seed file holds a new one."""
        o = self.settings
        seed_text, seed_hash = None, row.seed_sha256
        if o.refresh_token_file is not None:
            try:
                seed_text = o.refresh_token_file.read_text(encoding="utf-8").strip() or None
            except FileNotFoundError:
                seed_text = None
            except OSError as exc:
                raise ConfigError(o.key("refresh_token_file"),
                                  f"cannot read {o.refresh_token_file}: {exc.strerror}") from None
        if seed_text is not None:
            digest = hashlib.sha256(seed_text.encode()).hexdigest()
            if digest != row.seed_sha256:
                return seed_text, digest
        if row.refresh_token:
            return row.refresh_token, seed_hash
        raise ConfigError(o.key("refresh_token_file"),
                          "no refresh token yet: run `abuse-intake oauth2 authorize` (or write one to the file)")

    def _post(self, form: dict, grant_key: str) -> TokenAnswer:
        data = request_form(self.settings, self.settings.token_url, form, grant_key)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenEndpointError(f"{self.settings.key('token_url')}: the answer holds no access_token")
        try:
            expires_in = float(data.get("expires_in", 3600))
        except (TypeError, ValueError):
            expires_in = 3600.0
        refresh = data.get("refresh_token")
        return TokenAnswer(token, max(1.0, min(expires_in, 24 * 3600.0)),
                           refresh if isinstance(refresh, str) and refresh else None)


class FixedToken:
    """A token handed to a child process (the backlog fetcher): no secret, no refresh."""

    def __init__(self, token: str):
        self._token = token

    def token(self, *, fresh: bool = False) -> str:
        return self._token


def request_form(o: OAuth2Settings, url: str, form: dict, grant_key: str,
                 *, pending_ok: bool = False) -> dict:
    """POST `form` with the client's credentials; the JSON answer as a dict.

    The client authenticates with HTTP Basic when it has a secret (RFC 6749
    2.3.1, which every provider accepts) and with client_id in the form too.
    """
    secret = o.client_secret()
    body = dict(form, client_id=o.client_id)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
               "User-Agent": "abuse-intake"}
    if secret:
        pair = f"{urllib.parse.quote(o.client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    secrets_ = [s for s in (secret, form.get("refresh_token"), form.get("device_code"),
                            form.get("code_verifier"), form.get("code")) if s]
    request = urllib.request.Request(url, data=urllib.parse.urlencode(body).encode(), headers=headers,
                                     method="POST")
    where = o.key("token_url") if url == o.token_url else url
    deadline = time.monotonic() + o.timeout
    try:
        with urllib.request.urlopen(request, timeout=o.timeout, context=ssl.create_default_context()) as resp:
            status, raw = resp.status, _read(resp, deadline)
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            raw = _read(exc, deadline)
        except (OSError, TimeoutError):
            raw = b""
        finally:
            exc.close()
    except (urllib.error.URLError, OSError, TimeoutError, socket.timeout, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            text = f"no answer within {o.timeout:g} s"
        else:
            text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        raise TokenEndpointError(f"{where}: token endpoint unreachable: {_clean(text, secrets_)}") from None
    try:
        data = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    if 200 <= status < 300 and "error" not in data:
        return data
    error = str(data.get("error", "")) if data else ""
    if pending_ok and error in ("authorization_pending", "slow_down"):
        return data
    detail = _clean(str(data.get("error_description", "")), secrets_)[:200]
    said = f"{error}" + (f": {detail}" if detail else "")
    if status >= 500 or status == 429 or not error:
        raise TokenEndpointError(f"{where}: token endpoint answered HTTP {status}"
                                 + (f" ({said})" if error else ""))
    if error == "invalid_client" or (status == 401 and error != "invalid_grant"):
        key = o.key("client_secret_env" if o.client_secret_env else "client_secret_file") if secret \
            else o.key("client_id")
        raise ConfigError(key, f"the token endpoint rejected the client ({said}); "
                               "a client secret may have expired")
    if error == "invalid_grant":
        if form.get("grant_type") == "refresh_token":
            raise ConfigError(o.key("refresh_token_file"), f"the refresh token was rejected ({said}): "
                                                           "run `abuse-intake oauth2 authorize` again")
        raise ConfigError(o.key(grant_key), f"the grant was rejected ({said})")
    if error == "invalid_scope":
        raise ConfigError(o.key("scope"), f"the token endpoint rejected the scope ({said})")
    raise ConfigError(o.key(grant_key), f"the token endpoint refused ({said})")


def _read(resp, deadline: float) -> bytes:
    """The body, at most MAX_RESPONSE bytes, within the deadline (a trickling server is cut off)."""
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("token endpoint too slow")
        chunk = resp.read(8192)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_RESPONSE:
            raise TimeoutError("token endpoint answer too large")
        chunks.append(chunk)


def _clean(text: str, secrets_: list[str]) -> str:
    for s in secrets_:
        text = text.replace(s, "***")
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


# -- first refresh token: the device flow (RFC 8628) ---------------------------------------

@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    interval: float
    expires_in: float


def start_device_flow(o: OAuth2Settings) -> DeviceCode:
    if not o.device_authorization_url:
        raise ConfigError(o.key("device_authorization_url"), "is required for the device flow "
                                                             "(or set provider = \"microsoft\" / \"google\")")
    scope = o.scope if "offline_access" in o.scope or o.provider != "microsoft" else f"{o.scope} offline_access"
    data = request_form(o, o.device_authorization_url, {"scope": scope.strip()}, "device_authorization_url")
    try:
        return DeviceCode(device_code=str(data["device_code"]), user_code=str(data["user_code"]),
                          verification_uri=str(data.get("verification_uri") or data["verification_url"]),
                          verification_uri_complete=data.get("verification_uri_complete"),
                          interval=float(data.get("interval", 5)), expires_in=float(data.get("expires_in", 900)))
    except (KeyError, TypeError, ValueError):
        raise TokenEndpointError(f"{o.key('device_authorization_url')}: the answer is not a device "
                                 "authorization (RFC 8628)") from None


def finish_device_flow(o: OAuth2Settings, code: DeviceCode, store: TokenStore,
                       sleep: Callable[[float], None] = time.sleep,
                       clock: Callable[[], float] = time.monotonic) -> None:
    """Poll the token endpoint until the user approved; store the refresh token."""
    from ..store.tokens import TokenRow

    interval = max(code.interval, 0.2)
    deadline = clock() + code.expires_in
    while True:
        if clock() > deadline:
            raise ConfigError(o.key("client_id"), "the device code expired before it was approved")
        data = request_form(o, o.token_url, {"grant_type": DEVICE_GRANT, "device_code": code.device_code},
                            "client_id", pending_ok=True)
        if data.get("error") == "slow_down":
            interval += 5
        if data.get("error"):
            sleep(interval)
            continue
        refresh, access = data.get("refresh_token"), data.get("access_token")
        if not isinstance(refresh, str) or not refresh:
            raise ConfigError(o.key("scope"), "no refresh token was issued (for Microsoft, add offline_access)")
        save_refresh_token(o, store, refresh, access if isinstance(access, str) else None,
                           float(data.get("expires_in", 0) or 0))
        return


def save_refresh_token(o: OAuth2Settings, store: TokenStore, refresh: str, access: str | None = None,
                       expires_in: float = 0.0) -> None:
    from ..store.tokens import TokenRow

    name = store_name(o)
    with store.exclusive():
        old = store.load(name) or TokenRow()
        # Keep the seed file's fingerprint: the file is older than this token.
        row = TokenRow(refresh_token=refresh, seed_sha256=old.seed_sha256, access_token=access,
                       expires_at=time.time() + expires_in - min(EARLY, expires_in / 2) if access else None)
        if o.refresh_token_file is not None and old.seed_sha256 is None:
            try:
                text = o.refresh_token_file.read_text(encoding="utf-8").strip()
                row.seed_sha256 = hashlib.sha256(text.encode()).hexdigest() if text else None
            except OSError:
                pass
        store.save(name, row)


def provider(o: OAuth2Settings | None, db) -> TokenProvider | None:
    """The token provider of a `[section.oauth2]` table, its tokens kept in `db`."""
    if o is None:
        return None
    if db is None:
        raise ConfigError(o.key("token_url"), "OAuth2 needs the database (tokens are kept there)")
    from ..store.tokens import DbTokenStore
    return TokenProvider(o, DbTokenStore(db))
