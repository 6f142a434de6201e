"""Read one IMAP folder by UID cursor (imapclient).

Pitfalls handled here (measured, see shared/NOTES.md):
- fetch() with a string range raises *after* the server ran the command, so
  only explicit integer UID lists from search() are fetched, in chunks.
- `UID N:*` returns the highest message even when its UID < N: filter.
- BODY.PEEK[] keeps messages unseen until they are committed and marked done.
- a read timeout is a plain TimeoutError, not an IMAPClientError.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
import ssl
import threading
import time
from datetime import datetime, timezone
from typing import Iterator
from urllib.parse import quote

from imapclient import IMAPClient, imap4, tls
from imapclient.exceptions import IMAPClientError, LoginError

from ..config import MailboxSettings
from ..errors import ConfigError, MailboxError, MailboxLoginError
from ..models import RawMessage, Source
from ..models import Cursor
from .oauth2 import FixedToken

SEEN = b"\\Seen"
DELETED = b"\\Deleted"
# Dovecot answers "BAD Too long argument" at 20,000 UIDs; stay far below.
MAX_UIDS_PER_COMMAND = 1000
HEADER_BYTES = 65_536  # what is fetched of a message over the size limit: its headers, at most this

# Everything the network, TLS or the server can throw at us.
_TRANSPORT_ERRORS = (IMAPClientError, imaplib.IMAP4.error, OSError, TimeoutError, socket.timeout,
                     ssl.SSLError, ssl.CertificateError, EOFError)


def source_name(settings: MailboxSettings) -> str:
    """The cursor key. Transport (imap/imaps/starttls) is not part of a folder's identity."""
    user = quote(settings.user, safe="")
    return f"imap://{user}@{settings.host.lower()}:{settings.port}/{settings.folder}"


class ImapSource:
    """One IMAP folder as a MailSource. Use as a context manager."""

    def __init__(self, settings: MailboxSettings, password: str, *, readonly: bool = False,
                 max_message_bytes: int = 25 * 1024 * 1024, tokens=None):
        if settings.scheme not in ("imap", "imaps", "imap+starttls"):
            raise ConfigError("mailbox.url", f"not an IMAP URL: {settings.url!r}")
        if settings.done_action == "move" and _same_folder(settings.done_folder, settings.folder):
            raise ConfigError("mailbox.done_folder", "must differ from the folder that is read")
        self.settings = settings
        self.readonly = readonly  # EXAMINE: a reader that never marks (the backlog fetcher)
        self.max_message_bytes = max_message_bytes  # [limits]: larger messages are fetched as headers only
        self.name = source_name(settings)
        self._password = password
        self.tokens = tokens  # XOAUTH2: a TokenProvider (or a FixedToken in the fetcher)
        self._token = ""  # the access token of this connection, redacted from every message
        self._client: IMAPClient | None = None
        self._watchdog: _Watchdog | None = None
        self._uidvalidity: int | None = None
        self._use_move = False  # set from CAPABILITY at connect
        # One command at a time: the flow may mark done from a background
        # thread while this thread fetches (see flow/marking.py).
        self._lock = threading.RLock()
        self.prefetch = True  # a backlog may be fetched by a process of its own (flow/prefetch.py)

    # ------------------------------------------------------------ connection

    def __enter__(self) -> "ImapSource":
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def connect(self) -> None:
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> None:
        s = self.settings
        self._watchdog = _Watchdog(s.deadline)
        with self._errors("connect"):
            context = ssl.create_default_context() if s.scheme != "imap" else None
            client = _WatchedClient(self._watchdog, s.host, port=s.port, use_uid=True, ssl=s.scheme == "imaps",
                                    ssl_context=context, timeout=s.timeout)
            self._client = client
            client.normalise_times = False  # keep INTERNALDATE's offset; we convert to UTC
            # imapclient sets imaplib's debug level to 5 for its logger, so imaplib
            # formats the repr() of every response (whole messages) into a debug
            # line even when nothing logs it: ~35 % of a FETCH's client CPU, and a
            # 20 MB message would cost a ~80 MB string. Our logs never carry the
            # protocol anyway.
            client._imap.debug = 0  # noqa: SLF001
            if s.scheme == "imap+starttls":
                client.starttls(context)
        try:
            if s.auth == "oauth2":
                self._oauth2_login()
            else:
                self._client.login(s.user, self._password)
        except LoginError as exc:
            # from None: the exception chain never carries the LOGIN command into logs.
            # A refused login is configuration (78); only [UNAVAILABLE] (RFC 5530) is temporary.
            reason = self._reason(exc)
            error = MailboxError if "[UNAVAILABLE]" in reason.upper() else MailboxLoginError
            raise error(f"{self._where()}: login as {s.user!r} refused: {reason}") from None
        except _TRANSPORT_ERRORS as exc:
            raise MailboxError(f"{self._where()}: login failed: {self._reason(exc)}") from None
        with self._errors(f"open folder {s.folder!r}"):
            self._use_move = self._client.has_capability("MOVE")
            info = self._client.select_folder(s.folder, readonly=self.readonly)  # marking needs read-write
            self._uidvalidity = int(info[b"UIDVALIDITY"]) if b"UIDVALIDITY" in info else None
        if s.done_action == "move" and not self.readonly:
            with self._errors(f"create folder {s.done_folder!r}"):
                if not self._client.folder_exists(s.done_folder):
                    self._client.create_folder(s.done_folder)

    def _oauth2_login(self) -> None:
        """XOAUTH2 with the cached token; after a refusal once more with a fresh one."""
        if self.tokens is None:
            raise ConfigError("mailbox.auth", "oauth2 login without a token provider")
        self._token = self.tokens.token()
        try:
            self._client.oauth2_login(self.settings.user, self._token)
            return
        except LoginError:
            if isinstance(self.tokens, FixedToken):
                raise
        self._token = self.tokens.token(fresh=True)
        try:
            self._client.oauth2_login(self.settings.user, self._token)
        except LoginError as exc:
            # A token fresh from the endpoint and still refused: scope or mailbox permission.
            raise ConfigError("mailbox.oauth2.scope", f"{self._where()}: the server refused a fresh access "
                                                      f"token for {self.settings.user!r} ({self._reason(exc)}); "
                                                      "check the scope and the app's mailbox permission") from None

    def close(self) -> None:
        """Log out; never raises (called on error paths too)."""
        client, self._client = self._client, None
        try:
            if client is None:
                return
            try:
                client.logout()
            except Exception:  # noqa: BLE001  (a dead connection cannot log out: just drop it)
                with contextlib.suppress(Exception):
                    client.shutdown()
        finally:
            self._stop_watchdog()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()
        self._stop_watchdog()

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()

    # ------------------------------------------------------------ MailSource

    def uidvalidity(self) -> int | None:
        self._require()
        return self._uidvalidity

    def leftovers(self, cursor: Cursor) -> list[Source]:
        s = self.settings
        if cursor.last_uid <= 0 or s.done_action == "none" or not self._same_validity(cursor):
            return []
        criteria: list = ["UID", f"1:{cursor.last_uid}"]
        if s.done_action == "flag":
            criteria += ["UNKEYWORD", s.done_keyword]
        with self._errors("search"):
            uids = self._require().search(criteria)
        return [self._source(u) for u in sorted(u for u in uids if u <= cursor.last_uid)]

    def fetch_new(self, cursor: Cursor, limit: int | None) -> Iterator[list[RawMessage]]:
        # In this process; the poll fetches a backlog ahead in a process of its
        # own through pending()/reader()/fetch_batch() (flow/prefetch.py).
        yield from self.fetch_uids(self.pending(cursor, limit))

    def reader(self) -> "ImapSource":
        """A second, read-only (EXAMINE) source on the same folder, not yet connected:
        a reader that never marks, for fetching ahead. With OAuth2 it gets this
        connection's access token, never the client secret or refresh token."""
        tokens = FixedToken(self._token) if self.settings.auth == "oauth2" else None
        return ImapSource(self.settings, self._password, readonly=True, max_message_bytes=self.max_message_bytes,
                          tokens=tokens)

    def pending(self, cursor: Cursor, limit: int | None) -> list[int]:
        """UIDs above the cursor, in order, at most `limit`."""
        if limit is not None and limit <= 0:
            return []
        with self._errors("search"):
            found = self._require().search(["UID", f"{cursor.last_uid + 1}:*"])
        uids = sorted(u for u in found if u > cursor.last_uid)  # N:* always returns the last one
        return uids[:limit] if limit is not None else uids

    def fetch_uids(self, uids: list[int]) -> Iterator[list[RawMessage]]:
        """The messages of `uids` in batches of batch_size (an expunged UID is skipped)."""
        size = self.batch_size()
        for i in range(0, len(uids), size):
            batch = self.fetch_batch(uids[i:i + size])
            if batch:
                yield batch

    def batch_size(self) -> int:
        return max(1, min(self.settings.batch_size, MAX_UIDS_PER_COMMAND))

    def mark_done(self, sources: list[Source]) -> None:
        s = self.settings
        if s.done_action == "none":
            return
        uids = sorted({src.uid for src in sources if self._ours(src)})
        if not uids:
            return
        with self._lock:
            self._mark(self._require(), uids)

    def _mark(self, client: IMAPClient, uids: list[int]) -> None:
        s = self.settings
        for i in range(0, len(uids), MAX_UIDS_PER_COMMAND):
            chunk = uids[i:i + MAX_UIDS_PER_COMMAND]
            if s.done_action == "flag":
                with self._errors("flag messages done"):
                    client.add_flags(chunk, [SEEN, s.done_keyword.encode("ascii")], silent=True)
            elif self._use_move:
                with self._errors(f"move messages to {s.done_folder!r}"):
                    client.move(chunk, s.done_folder)
            else:
                with self._errors(f"copy messages to {s.done_folder!r}"):
                    client.copy(chunk, s.done_folder)
                    client.add_flags(chunk, [DELETED], silent=True)
                    if client.has_capability("UIDPLUS"):
                        client.uid_expunge(chunk)
                    else:  # RFC 3501 EXPUNGE also removes others' \Deleted mail: the only option left
                        client.expunge()

    # ------------------------------------------------------------ IDLE (for `watch`)

    def has_folder(self, name: str) -> bool:
        with self._errors(f"look up folder {name!r}"):
            return bool(self._require().folder_exists(name))

    def supports_idle(self) -> bool:
        with self._errors("capability"):
            return bool(self._require().has_capability("IDLE"))

    def wait_for_mail(self, seconds: float, stop) -> bool:
        """IDLE (RFC 2177) for up to `seconds`, or until `stop()`; True when the
        server announced a new message (EXISTS). A dead connection raises MailboxError."""
        client = self._require()
        deadline = time.monotonic() + seconds
        with self._errors("idle"):
            client.idle()
            try:
                while not stop():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    # Short checks so a stop request is seen within a second.
                    for response in client.idle_check(timeout=min(1.0, left)):
                        if len(response) > 1 and response[1] in (b"EXISTS", b"RECENT"):
                            return True
                return False
            finally:
                client.idle_done()

    def fetch_batch(self, uids: list[int]) -> list[RawMessage]:
        """The messages of `uids` in one FETCH (an expunged UID is skipped)."""
        limit = self.max_message_bytes
        with self._errors("fetch"):
            with self._lock:
                client = self._require()
                # RFC822.SIZE first (one small round trip a batch): a 200 MB message is
                # never downloaded whole only to be refused; its headers are enough to
                # record it, and the message itself stays on the server.
                sizes = client.fetch(uids, ["RFC822.SIZE"])
                big = {u for u, item in sizes.items() if int(item.get(b"RFC822.SIZE") or 0) > limit}
                normal = [u for u in uids if u not in big]
                resp = client.fetch(normal, ["BODY.PEEK[]", "INTERNALDATE"]) if normal else {}
                if big:
                    resp.update(client.fetch(sorted(big), [f"BODY.PEEK[HEADER]<0.{HEADER_BYTES}>", "INTERNALDATE"]))
        out = []
        for uid in uids:
            item = resp.get(uid)
            if item is None:
                continue  # expunged by someone else since the search: nothing to read
            if uid in big:
                data = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER]")), None)
                size = int(sizes[uid][b"RFC822.SIZE"])
            else:
                data, size = item.get(b"BODY[]"), None
            if data is None:
                # Skipping would move the cursor past an unread message: fail, retry later.
                raise MailboxError(f"{self._where()}: server returned no body for UID {uid}")
            out.append(RawMessage(data=bytes(data), source=self._source(uid),
                                  received_at=_utc(item.get(b"INTERNALDATE")), oversize=size))
        return out

    # ------------------------------------------------------------ helpers

    def _source(self, uid: int) -> Source:
        return Source(mailbox=self.name, uidvalidity=self._uidvalidity, uid=uid)

    def _same_validity(self, cursor: Cursor) -> bool:
        return cursor.uidvalidity is None or cursor.uidvalidity == self._uidvalidity

    def _ours(self, src: Source) -> bool:
        # A UID from another UIDVALIDITY names a different message now: never touch it.
        return (src.mailbox == self.name and src.uid is not None
                and src.uidvalidity == self._uidvalidity)

    def _require(self) -> IMAPClient:
        if self._client is None:
            raise MailboxError(f"{self._where()}: not connected (or the connection was lost)")
        return self._client

    def _where(self) -> str:
        return f"imap {self.settings.host}:{self.settings.port}"

    def _reason(self, exc: BaseException) -> str:
        if self._watchdog is not None and self._watchdog.expired:
            text = f"cut off after {self.settings.deadline:g} s (mailbox.deadline), the server was too slow"
        elif isinstance(exc, (TimeoutError, socket.timeout)):
            text = f"no answer within {self.settings.timeout:g} s"
        elif isinstance(exc, ConnectionRefusedError):
            text = "connection refused"
        elif isinstance(exc, ssl.SSLCertVerificationError):
            text = f"TLS certificate not trusted ({exc.verify_message})"
        elif isinstance(exc, OSError) and exc.strerror:
            text = exc.strerror
        else:
            text = str(exc) or type(exc).__name__
        text = re.sub(r"""^b(['"])(.*)\1$""", r"\2", text)  # imapclient str()s server bytes
        text = " ".join(text.split())  # one line
        for secret in (self._password, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text

    @contextlib.contextmanager
    def _errors(self, action: str):
        """Turn every transport/server error into one MailboxError line."""
        try:
            yield
        except MailboxError:
            raise
        except _TRANSPORT_ERRORS as exc:
            if not _is_server_answer(exc):
                self._drop()  # a dead or desynchronised stream: LOGOUT would only wait out another timeout
            raise MailboxError(f"{self._where()}: {action} failed: {self._reason(exc)}") from exc


class _Watchdog:
    """A total deadline for one connection (mailbox.deadline).

    The socket timeout bounds each read, but a server that sends one byte every
    few seconds never trips it. When the deadline passes, the watchdog shuts the
    connection down from its own thread: the blocked read returns at once and the
    command fails as a MailboxError. It holds a dup() of the socket, so it still
    reaches the connection after TLS wraps (and detaches) the original object.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock.dup()
            if self.expired:
                self._shutdown()

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.close()
                self._sock = None


class _WatchedIMAP4(imap4.IMAP4WithTimeout):
    def __init__(self, watchdog: _Watchdog, host: str, port: int, timeout):
        self._watchdog = watchdog  # before __init__: it connects and reads the greeting
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout=None):
        sock = super()._create_socket(timeout)
        self._watchdog.attach(sock)
        return sock


class _WatchedIMAP4TLS(tls.IMAP4_TLS):
    def __init__(self, watchdog: _Watchdog, host: str, port: int, ssl_context, timeout):
        self._watchdog = watchdog
        super().__init__(host, port, ssl_context, timeout)

    def _create_socket(self, timeout=None):
        sock = socket.create_connection((self.host, self.port), timeout=self._timeout if timeout is None else timeout)
        self._watchdog.attach(sock)  # before the TLS handshake, which can trickle too
        return tls.wrap_socket(sock, self.ssl_context, self.host)


class _WatchedClient(IMAPClient):
    """IMAPClient whose socket the watchdog can reach from the first byte on."""

    def __init__(self, watchdog: _Watchdog, *args, **kwargs):
        self._watchdog = watchdog
        super().__init__(*args, **kwargs)

    def _create_IMAP4(self):
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _WatchedIMAP4TLS(self._watchdog, self.host, self.port, self.ssl_context, connect_timeout)
        return _WatchedIMAP4(self._watchdog, self.host, self.port, connect_timeout)


def _same_folder(a: str, b: str) -> bool:
    return a == b or a.upper() == b.upper() == "INBOX"  # INBOX alone is case-insensitive (RFC 3501)


def _is_server_answer(exc: BaseException) -> bool:
    """A NO/BAD reply leaves the connection usable; aborts and socket errors do not."""
    return isinstance(exc, IMAPClientError) and not isinstance(exc, imaplib.IMAP4.abort)


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    # A naive INTERNALDATE is local time (astimezone assumes so).
    return value.astimezone(timezone.utc)
