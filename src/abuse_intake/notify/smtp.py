"""Build the MIME message we send, and hand it to a transport.

Transports (``[outgoing] url``):
  smtp://HOST:PORT            plain SMTP (no AUTH: a password never crosses
                              the network unencrypted)
  smtps://[USER@]HOST:PORT    TLS from the first byte, optional AUTH
  smtp+starttls://[USER@]HOST:PORT   STARTTLS (required), optional AUTH
  dir:PATH                    each email written to PATH/<message-id>.eml

Errors are DeliveryError with ``permanent`` set: a 5xx reply is permanent
(never retry), a 4xx, refused connection or timeout is temporary. A
misconfiguration (no STARTTLS offered, bad password, certificate not
trusted) is a TransportConfigError (a permanent DeliveryError, exit 78)
raised by ``open_transport``.
Certificates are verified against the system store; SSL_CERT_FILE points
Python at another CA bundle.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import socket
import ssl
import threading
import time
from datetime import datetime
import base64
from email.policy import EmailPolicy
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from ..config import OutgoingSettings
from ..errors import ConfigError, DeliveryError, TokenEndpointError, TransportConfigError
from ..intake.oauth2 import xoauth2_string
from .headers import NAME_MAX, clean_message_id, clean_message_ids, clean_text, plain_address


class _HeaderClasses(HeaderRegistry):
    """The stdlib registry makes a new class (type(...)) for every header it
    builds: ~0.9 ms an email, half of building one. The class depends only on
    the header's name, so one per name is kept."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        cls = self._made.get(key)
        if cls is None:
            cls = self._made[key] = super().__getitem__(name)
        return cls


# Headers we write ourselves: the stdlib's folding RFC 2047-encodes a msg-id
# longer than a line (no client then threads on it) and, on some subjects,
# loses or adds a space where it folds (a long first word leaves the subject
# starting with a space). See shared/NOTES.md, "Message-ID headers".
MSGID_HEADERS = frozenset({"message-id", "in-reply-to", "references"})
OWN_FOLD = MSGID_HEADERS | {"subject"}
LINE = 78  # RFC 5322's SHOULD; the MUST is 998, which no value of ours reaches
_B64_CHUNK = 45  # UTF-8 bytes per encoded word: 60 base64 characters, a 72-character word


def fold_msgids(name: str, ids: list[str]) -> str:
    """`Name: <id> <id>` folded only between ids, plain ASCII, CRLF ends."""
    lines = [f"{name}: <{ids[0]}>"]
    for mid in ids[1:]:
        token = f"<{mid}>"
        if len(lines[-1]) + 1 + len(token) > LINE:
            lines.append(f" {token}")
        else:
            lines[-1] += f" {token}"
    return "\r\n".join(lines) + "\r\n"


def fold_subject(name: str, value: str) -> str:
    """A one-line value folded so that unfolding gives it back exactly.

    Printable ASCII is folded at its (single) spaces, never right after the
    colon; anything else, or text that would read as an encoded word, goes
    as UTF-8 base64 encoded words, whole characters each, which a reader
    joins without the folding space between them."""
    if value.isascii() and value.isprintable() and "=?" not in value:
        words = value.split(" ")
        lines = [f"{name}: {words[0]}"]
        for word in words[1:]:
            if len(lines[-1]) + 1 + len(word) > LINE and word:
                lines.append(f" {word}")
            else:
                lines[-1] += f" {word}"
        return "\r\n".join(lines) + "\r\n"
    words, chunk = [], b""
    for ch in value:
        b = ch.encode("utf-8", "replace")
        if len(chunk) + len(b) > _B64_CHUNK:
            words.append(chunk)
            chunk = b""
        chunk += b
    words.append(chunk)
    encoded = [f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words]
    return f"{name}: " + "\r\n ".join(encoded) + "\r\n"


class _Policy(EmailPolicy):
    """policy.SMTP (CRLF line ends) that keeps our own values for OWN_FOLD as
    given (no parsing, no re-folding) and folds them itself."""

    def header_store_parse(self, name, value):
        if name.lower() in OWN_FOLD and isinstance(value, str):
            if "\r" in value or "\n" in value:
                raise ValueError("header values may not contain linefeed or carriage return characters")
            return (name, value)
        return super().header_store_parse(name, value)

    def fold(self, name, value):
        if name.lower() in OWN_FOLD and not hasattr(value, "name"):
            text = str(value)
            if name.lower() in MSGID_HEADERS:
                return fold_msgids(name, [t.strip("<>") for t in text.split()]).replace("\r\n", self.linesep)
            return fold_subject(name, text).replace("\r\n", self.linesep)
        return super().fold(name, value)

    def fold_binary(self, name, value):
        if name.lower() in OWN_FOLD and not hasattr(value, "name"):
            return self.fold(name, value).encode("ascii")
        return super().fold_binary(name, value)


POLICY = _Policy(linesep="\r\n", header_factory=_HeaderClasses())


def build_message(*, from_name: str, from_address: str, to: str, subject: str, text: str, html: str,
                  message_id: str, in_reply_to: str | None, references: list[str] | None,
                  date: datetime) -> bytes:
    """The email as bytes with CRLF line ends, 7-bit clean (quoted-printable UTF-8)."""
    recipient = plain_address(to)
    if recipient is None:
        raise DeliveryError(f"refusing to write to {to!r}: not a single plain address", permanent=True)
    own_id = clean_message_id(message_id)
    if own_id is None:
        raise DeliveryError(f"bad Message-ID {message_id!r}", permanent=True)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = Address(display_name=clean_text(from_name, NAME_MAX), addr_spec=from_address)
    msg["To"] = Address(addr_spec=recipient)
    msg["Subject"] = clean_text(subject, 300)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{own_id}>"
    parent = clean_message_id(in_reply_to)
    if parent:
        msg["In-Reply-To"] = f"<{parent}>"
    refs = clean_message_ids(references)
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    # RFC 3834: tells autoresponders (and our own intake) not to answer this.
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    # Derived from the Message-ID, not random: `outbox show` prints the very bytes
    # `send` writes. "=_" never occurs in quoted-printable text (it would be "=3D_").
    msg.set_boundary("=_" + hashlib.sha256(own_id.encode()).hexdigest()[:40])
    return msg.as_bytes()


class Transport(Protocol):
    broken: bool

    def send(self, sender: str, recipient: str, raw: bytes, message_id: str) -> str:
        """Hand over one message to exactly `recipient`; returns the server's reply."""

    def close(self) -> None: ...


def open_transport(outgoing: OutgoingSettings, deadline: float | None = None, db=None) -> Transport:
    """`deadline`: seconds this connection may last in total (default
    [outgoing] connection_deadline); a file transport has none. `db` keeps the
    OAuth2 tokens when `[outgoing] auth = "oauth2"`."""
    if outgoing.scheme == "dir":
        return DirTransport(outgoing.path)
    if outgoing.scheme in ("smtp", "smtps", "smtp+starttls"):
        tokens = None
        if outgoing.auth == "oauth2":
            from ..intake.oauth2 import provider
            tokens = provider(outgoing.oauth2, db)
        return SmtpTransport(outgoing, deadline, tokens=tokens)
    raise TransportConfigError(f"unknown outgoing transport {outgoing.scheme!r}")


class DirTransport:
    """Writes each message to a file, for demos and dry runs."""

    broken = False
    expired = False

    def __init__(self, path: Path | None):
        if path is None:
            raise TransportConfigError("dir: transport without a path")
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise TransportConfigError(f"cannot create {self.path}: {exc.strerror}") from None

    def send(self, sender: str, recipient: str, raw: bytes, message_id: str) -> str:
        # Our own Message-ID (hex@domain) is the file name, so a re-send overwrites, never duplicates.
        name = "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in message_id) + ".eml"
        target = self.path / name
        tmp = self.path / f".{name}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            os.replace(tmp, target)
        except OSError as exc:
            raise DeliveryError(f"cannot write {target}: {exc.strerror}") from None
        return f"written {target}"

    def close(self) -> None:
        pass


class _Watchdog:
    """Ends a connection when its total deadline passes.

    The socket timeout bounds one read; a server that sends a line (or a byte)
    just inside it every time would hold the run forever. At the deadline the
    watchdog shuts the socket down, so whatever read or write is blocked
    returns at once and smtplib raises. It holds a duplicate of the socket's
    descriptor, taken before TLS wraps it: shutdown acts on the connection
    itself, whichever object the session uses by then."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = socket.socket(fileno=os.dup(sock.fileno()))
            if self.fired:
                self._shutdown()

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


class _WatchedSMTP(smtplib.SMTP):
    """smtplib.SMTP whose socket is handed to a watchdog as soon as it connects
    (before the greeting is read), and whose connect is bounded by the deadline too."""

    watchdog: _Watchdog

    def _get_socket(self, host, port, timeout):
        timeout = min(timeout, max(self.watchdog.remaining(), 0.01))
        sock = socket.create_connection((host, port), timeout, self.source_address)
        self.watchdog.watch(sock)
        return sock


class _WatchedSMTP_SSL(smtplib.SMTP_SSL):
    watchdog: _Watchdog

    def _get_socket(self, host, port, timeout):
        sock = _WatchedSMTP._get_socket(self, host, port, timeout)  # noqa: SLF001 - same steps
        return self.context.wrap_socket(sock, server_hostname=self._host)


def _watched(cls, watchdog: _Watchdog, *args, **kwargs):
    # The watchdog must be in place before __init__ connects and reads the greeting.
    conn = cls.__new__(cls)
    conn.watchdog = watchdog
    conn.__init__(*args, **kwargs)
    return conn


class SmtpTransport:
    """One SMTP session, opened on construction and reused for every message,
    for at most `deadline` seconds in total (then `expired`; the caller opens
    another if its run has time left)."""

    def __init__(self, outgoing: OutgoingSettings, deadline: float | None = None, tokens=None):
        self.broken = False
        self.where = f"{outgoing.scheme}://{outgoing.host}:{outgoing.port}"
        if (outgoing.user or tokens is not None) and outgoing.scheme == "smtp":
            raise TransportConfigError(f"outgoing.url {self.where}: refusing AUTH without TLS; "
                                       "use smtps:// or smtp+starttls://")
        context = ssl.create_default_context()
        self.conn: smtplib.SMTP | None = None
        self.watchdog = _Watchdog(max(deadline if deadline is not None else outgoing.connection_deadline, 0.01))
        try:
            if outgoing.scheme == "smtps":
                self.conn = _watched(_WatchedSMTP_SSL, self.watchdog, outgoing.host, outgoing.port,
                                     timeout=outgoing.timeout, context=context)
            else:
                self.conn = _watched(_WatchedSMTP, self.watchdog, outgoing.host, outgoing.port,
                                     timeout=outgoing.timeout)
            self.conn.ehlo()
            if outgoing.scheme == "smtp+starttls":
                if not self.conn.has_extn("starttls"):
                    raise TransportConfigError(f"{self.where} does not offer STARTTLS")
                self.conn.starttls(context=context)
                self.conn.ehlo()
            if tokens is not None:
                self._xoauth2(outgoing.user, tokens)
            elif outgoing.user:
                self.conn.login(outgoing.user, outgoing.password())
        except TokenEndpointError as exc:  # the relay is fine; its token must wait: temporary
            self.close()
            raise DeliveryError(str(exc), permanent=False) from None
        except DeliveryError:
            self.close()
            raise
        except ConfigError as exc:
            self.close()
            raise TransportConfigError(str(exc)) from None
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise TransportConfigError(f"{self.where}: login as {outgoing.user} refused: {_reply(exc)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            self.close()
            raise TransportConfigError(f"{self.where}: {exc}") from None
        except ssl.SSLCertVerificationError as exc:
            self.close()
            raise TransportConfigError(f"{self.where}: TLS certificate not trusted: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            self.close()
            raise TransportConfigError(f"{self.where}: TLS failed: {exc.reason or exc}") from None
        except smtplib.SMTPResponseException as exc:
            # A 421/554 greeting or refused EHLO: the server is there but will not talk now.
            self.close()
            raise DeliveryError(f"{self.where}: {_reply(exc)}", permanent=False) from None
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, DNS, disconnect
            self.close()
            raise DeliveryError(f"{self.where} unreachable: {self._why(exc)}", permanent=False) from None

    @property
    def expired(self) -> bool:
        return self.watchdog.fired or self.watchdog.remaining() <= 0

    def _why(self, exc: BaseException) -> str:
        if self.watchdog.fired:
            return f"gave up after the connection deadline of {self.watchdog.seconds:g} s"
        return _oserror(exc)

    def _xoauth2(self, user: str, tokens) -> None:
        """AUTH XOAUTH2; after a 535 once more with a fresh token (it may have been revoked)."""
        for fresh in (False, True):
            token = tokens.token(fresh=fresh)
            # After a refusal the server sends a 334 JSON challenge; answering it with an
            # empty line is the protocol, and gets the final 535.
            auth = lambda challenge=None, t=token: "" if challenge else xoauth2_string(user, t)  # noqa: E731
            try:
                self.conn.auth("XOAUTH2", auth, initial_response_ok=True)
                return
            except smtplib.SMTPAuthenticationError:
                if fresh:
                    raise

    def send(self, sender: str, recipient: str, raw: bytes, message_id: str) -> str:
        conn = self.conn
        if conn is None or self.broken:
            raise DeliveryError(f"{self.where}: connection lost")
        if self.expired:
            self.broken = True
            raise DeliveryError(f"{self.where}: {self._why(TimeoutError())}")
        try:
            # The envelope names exactly one recipient: headers never decide who gets mail.
            code, resp = conn.mail(sender)
            if code != 250:
                self._reset()
                raise _classified("MAIL FROM", code, resp)
            code, resp = conn.rcpt(recipient)
            if code not in (250, 251):
                self._reset()
                raise _classified("RCPT TO", code, resp)
            code, resp = conn.data(raw)
            if code != 250:
                self._reset()
                raise _classified("DATA", code, resp)
            return f"{code} {_text(resp)}"
        except DeliveryError:
            raise
        except smtplib.SMTPResponseException as exc:  # SMTPDataError: DATA not accepted
            self._reset()
            raise _classified("DATA", exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPException) as exc:
            # Disconnect or timeout mid-transaction: the session state is unknown.
            self.broken = True
            raise DeliveryError(f"{self.where}: {self._why(exc)}") from None

    def _reset(self) -> None:
        try:
            self.conn.rset()
        except (OSError, smtplib.SMTPException):
            self.broken = True

    def close(self) -> None:
        if self.conn is None:
            self.watchdog.stop()
            return
        try:
            if self.expired:
                raise OSError("deadline passed: no QUIT")
            self.conn.quit()
        except (OSError, smtplib.SMTPException):
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None
        self.watchdog.stop()


def _classified(stage: str, code: int, resp) -> DeliveryError:
    text = f"{stage}: {code} {_text(resp)}"
    return DeliveryError(text, permanent=500 <= code <= 599)


def _text(resp) -> str:
    if isinstance(resp, bytes):
        resp = resp.decode("utf-8", "replace")
    return " ".join(str(resp).split())


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}"


def _oserror(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
