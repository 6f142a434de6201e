"""A real aiosmtpd SMTP server for tests (see shared/NOTES.md).

`smtp_server` starts a Controller on 127.0.0.1 and a free port (port=0 does
not work with aiosmtpd), records every accepted message with its envelope
and raw bytes, can answer the next commands with a scripted 4xx/5xx reply,
and can be stopped and started again on the same port (to be "down").
`smtp_tls_server` (TLS from the first byte) and `smtp_starttls_server`
(STARTTLS required, AUTH) use a throwaway self-signed certificate for
127.0.0.1 made with the openssl command; point the client at it with
SSL_CERT_FILE (the `trust_test_cert` fixture).
"""

from __future__ import annotations

import collections
import email
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["SmtpServer", "Received", "smtp_server", "smtp_tls_server", "smtp_starttls_server",
           "smtp_test_cert", "trust_test_cert", "SMTP_USER", "SMTP_PASSWORD"]

SMTP_USER = "relay-user"
SMTP_PASSWORD = "relay-secret"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes  # the DATA as it arrived (dot-unstuffed), CRLF line ends

    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=policy.default)

    def header_names(self) -> list[str]:
        """Names of the top-level header lines, exactly as on the wire."""
        head = self.raw.split(b"\r\n\r\n", 1)[0]
        return [line.split(b":", 1)[0].decode("ascii", "replace")
                for line in head.split(b"\r\n") if line and not line[:1].isspace()]


class _Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.scripted: collections.deque[tuple[str, str]] = collections.deque()
        self.lock = threading.Lock()

    def _scripted(self, stage: str) -> str | None:
        with self.lock:
            if self.scripted and self.scripted[0][0] == stage:
                return self.scripted.popleft()[1]
        return None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = self._scripted("MAIL")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self._scripted("RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self._scripted("DATA")
        if reply:
            return reply
        raw = envelope.original_content or envelope.content
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(raw)))
        return f"250 2.0.0 Ok: queued as Q{len(self.received)}"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
          and auth_data.password == SMTP_PASSWORD.encode())
    # handled=False: let aiosmtpd send the 535 itself.
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    host = "127.0.0.1"

    def __init__(self, **controller_kwargs) -> None:
        self.port = _free_port()
        self.handler = _Handler()
        self.kwargs = controller_kwargs
        self.controller: Controller | None = None

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def url(self, scheme: str = "smtp", user: str | None = None) -> str:
        who = f"{user}@" if user else ""
        return f"{scheme}://{who}{self.host}:{self.port}"

    def fail(self, reply: str, stage: str = "DATA", times: int = 1) -> None:
        """Answer the next `times` commands of `stage` (MAIL, RCPT or DATA) with `reply`."""
        with self.handler.lock:
            self.handler.scripted.extend([(stage, reply)] * times)

    def start(self) -> None:
        # A stopped Controller's loop is closed: a restart needs a new one (same port).
        self.controller = Controller(self.handler, hostname=self.host, port=self.port, **self.kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smtp_test_cert(tmp_path_factory) -> tuple[Path, Path]:
    """(cert, key) for 127.0.0.1, self-signed, made with the openssl command."""
    d = tmp_path_factory.mktemp("smtp-tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True)
    return cert, key


@pytest.fixture
def trust_test_cert(smtp_test_cert, monkeypatch) -> Path:
    """Make ssl.create_default_context() trust the test certificate (and nothing else)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_test_cert[0]))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return smtp_test_cert[0]


def _server_context(cert_key: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_key[0]), str(cert_key[1]))
    return ctx


@pytest.fixture
def smtp_tls_server(smtp_test_cert):
    """TLS from the first byte (smtps://), AUTH required."""
    # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; this session is TLS throughout.
    server = SmtpServer(ssl_context=_server_context(smtp_test_cert), authenticator=_authenticator,
                        auth_required=True, auth_require_tls=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_starttls_server(smtp_test_cert):
    """STARTTLS required before anything else, then AUTH required."""
    server = SmtpServer(tls_context=_server_context(smtp_test_cert), require_starttls=True,
                        authenticator=_authenticator, auth_required=True)
    server.start()
    yield server
    server.stop()
