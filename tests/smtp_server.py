"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, in a background thread.

Import it from a test module and build your own fixture. While ``tests/`` has no
``__init__.py``, pytest's default import mode puts ``tests/`` on ``sys.path`` and the module
is ``smtp_server``; should ``tests`` become a package, it is ``tests.smtp_server``::

    from smtp_server import SmtpTestServer

    @pytest.fixture
    def smtp_server():
        with SmtpTestServer() as server:
            yield server

    def test_something(smtp_server):
        transport = SmtpTransport(smtp_server.host, smtp_server.port, tls="none")
        ...
        assert smtp_server.messages[0].message["Subject"] == "..."

``fail_next(451, "try later")`` makes the next DATA answer 451 (``stage="RCPT"`` or
``"MAIL"`` for those commands); with ``user``/``password`` set, the server offers AUTH over
plain text and refuses MAIL FROM until the client has logged in.

TLS, with a certificate from ``make_test_certificate`` (self-signed, for ``127.0.0.1`` and
``localhost``; the client trusts it with ``ca_file=cert``)::

    cert, key = make_test_certificate(tmp_path)
    with SmtpTestServer(tls="starttls", certfile=cert, keyfile=key) as server:
        SmtpTransport(server.host, server.port, tls="starttls", ca_file=cert).send(msg)
        assert server.messages[0].tls  # e.g. "TLSv1.3"

``tls="starttls"`` requires STARTTLS before anything but EHLO/HELO/NOOP/QUIT (a plain-text
MAIL FROM gets ``530``) and offers AUTH only after it; ``tls="ssl"`` speaks TLS from the
first byte (implicit TLS, as on port 465).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

Stage = Literal["MAIL", "RCPT", "DATA"]
TlsMode = Literal["none", "starttls", "ssl"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (also handy for a "connection refused")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def make_test_certificate(directory: str | Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for ``127.0.0.1``/``localhost`` and its key.

    Returns ``(cert_path, key_path)`` (PEM, the key unencrypted). Uses the ``openssl``
    command line; raises ``RuntimeError`` when it is not installed.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("make_test_certificate needs the openssl command line")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "smtp-test-cert.pem", directory / "smtp-test-key.pem"
    command = [
        openssl, "req", "-x509", "-new", "-nodes", "-days", "2",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", str(key), "-out", str(cert),
        "-subj", "/CN=localhost",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
        "-addext", "extendedKeyUsage=serverAuth",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"openssl could not make a certificate: {result.stderr.strip()}")
    return cert, key


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage
    login: str | None = None  # the AUTH user of the session, if any
    tls: str | None = None  # the TLS version the message came over ("TLSv1.3"), or None


@dataclass(frozen=True)
class Attempt:
    """One reply the server gave at a programmable stage (success or injected failure)."""

    stage: Stage
    code: int
    mail_from: str | None = None
    rcpt: str | None = None
    message_id: str | None = None


@dataclass
class SmtpTestServer:
    """A real SMTP server recording what it receives, with injectable failures.

    ``messages``: the accepted messages, in order. ``attempts``: every MAIL/RCPT/DATA
    reply (``data_attempts`` for only the DATA ones), so a test can tell how often a
    client tried. ``logins``: the users that authenticated.

    ``tls``: ``"starttls"`` or ``"ssl"`` (implicit TLS) serve ``certfile``/``keyfile``.
    """

    host: str = "127.0.0.1"
    user: str | None = None
    password: str | None = None
    port: int = 0
    tls: TlsMode = "none"
    certfile: str | Path | None = None
    keyfile: str | Path | None = None
    messages: list[ReceivedMessage] = field(default_factory=list, init=False)
    attempts: list[Attempt] = field(default_factory=list, init=False)
    logins: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.tls not in ("none", "starttls", "ssl"):
            raise ValueError(f"tls must be 'none', 'starttls' or 'ssl', not {self.tls!r}")
        if self.tls != "none" and (self.certfile is None or self.keyfile is None):
            raise ValueError(f"tls={self.tls!r} needs certfile and keyfile")
        self._lock = threading.Lock()
        self._failures: dict[str, deque[tuple[int, str]]] = {
            "MAIL": deque(),
            "RCPT": deque(),
            "DATA": deque(),
        }
        self._controller: Controller | None = None

    # ------------------------------------------------------------------ control

    def start(self) -> SmtpTestServer:
        if self._controller is not None:
            return self
        if not self.port:
            self.port = free_port(self.host)  # Controller(port=0) cannot work
        kwargs: dict[str, Any] = {}
        if self.tls != "none":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # no client certs
            context.load_cert_chain(str(self.certfile), str(self.keyfile))
            if self.tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context)
        if self.user is not None:
            # With STARTTLS, AUTH only after it; aiosmtpd does not count implicit TLS as TLS.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=self.tls == "starttls")
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail_next(self, code: int, text: str, times: int = 1, *, stage: Stage = "DATA") -> None:
        """Answer the next ``times`` commands of ``stage`` with ``code text``."""
        if stage not in self._failures:
            raise ValueError(f"stage must be MAIL, RCPT or DATA, not {stage!r}")
        with self._lock:
            self._failures[stage].extend([(code, text)] * times)

    def reset(self) -> None:
        """Forget received messages, attempts, logins and pending failures."""
        with self._lock:
            self.messages.clear()
            self.attempts.clear()
            self.logins.clear()
            for queue in self._failures.values():
                queue.clear()

    @property
    def data_attempts(self) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.stage == "DATA"]

    # ------------------------------------------------------------------ internals

    def _take_failure(self, stage: Stage) -> tuple[int, str] | None:
        with self._lock:
            queue = self._failures[stage]
            return queue.popleft() if queue else None

    def _record(self, attempt: Attempt, message: ReceivedMessage | None = None) -> int:
        """Log ``attempt`` (and keep ``message``); return how many messages were accepted."""
        with self._lock:
            self.attempts.append(attempt)
            if message is not None:
                self.messages.append(message)
            return len(self.messages)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if user == self.user and password == self.password:
            with self._lock:
                self.logins.append(user)
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)


class _Handler:
    def __init__(self, owner: SmtpTestServer) -> None:
        self.owner = owner

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        owner = self.owner
        if owner.user is not None and not session.authenticated:
            owner._record(Attempt("MAIL", 530, mail_from=address))
            return "530 5.7.0 Authentication required"
        failure = owner._take_failure("MAIL")
        if failure is not None:
            owner._record(Attempt("MAIL", failure[0], mail_from=address))
            return f"{failure[0]} {failure[1]}"
        owner._record(Attempt("MAIL", 250, mail_from=address))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        owner = self.owner
        failure = owner._take_failure("RCPT")
        if failure is not None:
            owner._record(Attempt("RCPT", failure[0], mail_from=envelope.mail_from, rcpt=address))
            return f"{failure[0]} {failure[1]}"
        owner._record(Attempt("RCPT", 250, mail_from=envelope.mail_from, rcpt=address))
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        owner = self.owner
        raw = envelope.original_content or b""
        # ``data`` keeps the wire form; the parsed copy gets \n line ends, as from a file.
        message = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        message_id = message.get("Message-ID")
        message_id = str(message_id) if message_id is not None else None
        failure = owner._take_failure("DATA")
        if failure is not None:
            owner._record(
                Attempt(
                    "DATA",
                    failure[0],
                    mail_from=envelope.mail_from,
                    message_id=message_id,
                )
            )
            return f"{failure[0]} {failure[1]}"
        auth = session.auth_data
        login = auth.login.decode("utf-8", "replace") if isinstance(auth, LoginPassword) else None
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        received = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=raw,
            message=message,  # type: ignore[arg-type]
            login=login,
            tls=ssl_object.version() if ssl_object is not None else None,
        )
        number = owner._record(
            Attempt("DATA", 250, mail_from=envelope.mail_from, message_id=message_id), received
        )
        return f"250 2.0.0 Ok: queued as test-{number}"
