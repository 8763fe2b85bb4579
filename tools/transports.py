"""Delivering composed emails: over SMTP, or into a local Maildir when no server is set.

``SmtpTransport.send`` is the only place that retries a delivery: a transient failure (a
4xx reply, a refused or dropped connection, a timeout) is retried with exponential backoff
and, once the attempts are spent, raised as ``TransientSendError``; a 5xx reply raises
``PermanentSendError`` at once. Callers must not add a retry loop of their own.

Delivery to several recipients is all-or-nothing: if the server refuses any recipient the
transaction is abandoned before DATA, so a retry cannot send a second copy to the others.
A connection lost after the message data started to go out (e.g. while waiting for the
final reply) may or may not have delivered it: that raises ``InDoubtSendError`` and is
never retried, so the outbox leaves the message for the Sent-folder check or a person.

``was_sent(message_id)`` answers, after a crash, whether a message left: the Maildir knows
(``"sent"`` or ``"not_sent"``); SMTP alone cannot tell (``"unknown"``); ``FilingTransport``
looks in the mailbox's Sent folder over IMAP (``"sent"`` when it is there, else ``"unknown"``:
a missing copy is no proof).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import io
import logging
import os
import smtplib
import ssl
import uuid
from collections.abc import Callable
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

if TYPE_CHECKING:
    from agent.config import Settings

__all__ = [
    "FilingTransport",
    "InDoubtSendError",
    "MaildirTransport",
    "PermanentSendError",
    "SmtpTransport",
    "TransientSendError",
    "Transport",
    "transport_from_settings",
]

log = logging.getLogger(__name__)


class TransientSendError(Exception):
    """Delivery failed for a reason that may pass (4xx, connection trouble, timeout)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class PermanentSendError(Exception):
    """Delivery failed for good (5xx, or a client-side misconfiguration); do not retry."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class InDoubtSendError(Exception):
    """The connection was lost after the message data went out: it may have been delivered.
    Never retried blindly."""


SentState = Literal["sent", "not_sent", "unknown"]


def was_sent(transport: object, message_id: str) -> SentState:
    """Whether ``transport`` delivered ``message_id`` (for a message a crash left in
    ``sending``); ``"unknown"`` when the transport cannot tell."""
    check = getattr(transport, "was_sent", None)
    return check(message_id) if check is not None else "unknown"


@runtime_checkable
class Transport(Protocol):
    name: str

    def send(self, message: EmailMessage) -> str:
        """Deliver ``message``; return a short receipt (server reply or file path)."""
        ...


# --------------------------------------------------------------------------- Maildir


class MaildirTransport:
    """Writes each message as one file into ``directory/new`` (a Maildir).

    The file name comes from the ``Message-ID``, so writing the same message again replaces
    the earlier file (or, if a mail reader already moved it to ``cur/``, leaves it there).
    The file is written in ``tmp/`` and renamed into ``new/``, so readers never see half a
    message.
    """

    name = "maildir"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        for sub in ("cur", "new", "tmp"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True, mode=0o700)

    def send(self, message: EmailMessage) -> str:
        message_id = message.get("Message-ID")
        if not message_id:
            raise ValueError("MaildirTransport needs a message with a Message-ID")
        filename = _maildir_name(str(message_id))
        for existing in (self.directory / "cur").glob(f"{_glob_escape(filename)}*"):
            if existing.name == filename or existing.name.startswith(filename + ":"):
                return str(existing)
        data = _flatten(message, linesep="\n")
        tmp = self.directory / "tmp" / f"{filename}.{os.getpid()}.{uuid.uuid4().hex}"
        target = self.directory / "new" / filename
        try:
            with open(tmp, "xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return str(target)

    def was_sent(self, message_id: str) -> SentState:
        filename = _maildir_name(message_id)
        if (self.directory / "new" / filename).exists():
            return "sent"
        for existing in (self.directory / "cur").glob(f"{_glob_escape(filename)}*"):
            if existing.name == filename or existing.name.startswith(filename + ":"):
                return "sent"
        return "not_sent"  # written under tmp/ and renamed: there is no half-sent message


_NAME_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+@")


def _maildir_name(message_id: str) -> str:
    """A file name for a Message-ID: unsafe characters (``/``, ``:``, ...) as ``%XX``."""
    core = message_id.strip().removeprefix("<").removesuffix(">")
    name = "".join(
        ch if ch in _NAME_SAFE else "".join(f"%{b:02X}" for b in ch.encode("utf-8")) for ch in core
    )
    if name.startswith("."):  # hidden files are skipped by Maildir readers
        name = "%2E" + name[1:]
    if len(name) > 200:
        name = name[:160] + "." + hashlib.sha256(core.encode()).hexdigest()[:32]
    return name or "%3C%3E"


def _glob_escape(name: str) -> str:
    return "".join(f"[{ch}]" if ch in "*?[]" else ch for ch in name)


# --------------------------------------------------------------------------- SMTP


class SmtpTransport:
    """Delivers over SMTP, one connection per message, retrying transient failures.

    With ``tls="starttls"`` or ``"ssl"`` the server's certificate is always verified, and
    its name must match ``host``: against the system's CA certificates, or only against
    those in the PEM file ``ca_file`` (for a server with a private CA or a self-signed
    certificate). ``ca_file`` has no effect with ``tls="none"``.
    """

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        user: str | None = None,
        password: str | None = None,
        tls: Literal["none", "starttls", "ssl"] = "starttls",
        timeout: float = 30.0,
        attempts: int = 4,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        ca_file: str | Path | None = None,
    ) -> None:
        if tls not in ("none", "starttls", "ssl"):
            raise ValueError(f"tls must be 'none', 'starttls' or 'ssl', not {tls!r}")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ValueError(f"CA file {ca_file} does not exist or is not a file")
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.tls = tls
        self.timeout = timeout
        self.attempts = attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.ca_file = Path(ca_file) if ca_file is not None else None

    def __repr__(self) -> str:
        return (
            f"SmtpTransport({self.host!r}, {self.port}, tls={self.tls!r}, "
            f"user={self.user!r}, attempts={self.attempts}, ca_file={self.ca_file!r})"
        )

    def send(self, message: EmailMessage) -> str:
        """Deliver ``message``; return the server's final reply, e.g. ``250 2.0.0 Ok: queued``.

        The envelope sender is the ``Sender`` (else ``From``) address, the recipients are
        To + Cc + Bcc; a ``Bcc`` header is not transmitted.
        """
        sender, recipients, data = _envelope(message)
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_initial, max=self.backoff_max),
            retry=retry_if_exception_type(TransientSendError),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        try:
            return retrying(self._attempt, sender, recipients, data)
        except TransientSendError as exc:
            plural = "s" if self.attempts != 1 else ""
            raise TransientSendError(
                f"{exc} (not delivered after {self.attempts} attempt{plural})", exc.code
            ) from exc

    def _attempt(self, sender: str, recipients: list[str], data: bytes) -> str:
        context = self._ssl_context() if self.tls != "none" else None
        smtp: smtplib.SMTP | None = None
        clean_exit = False
        data_started = False
        try:
            # Connecting in the constructor: smtplib takes the TLS server name from there.
            if self.tls == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            smtp.ehlo_or_helo_if_needed()
            if self.tls == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.user:
                _login(smtp, self.user, self._password or "")
            code, reply = smtp.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            refused = {}
            for rcpt in recipients:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, reply)
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)
            data_started = True
            code, reply = smtp.data(data)  # raises on a bad DATA reply, not on a bad final one
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
            clean_exit = True
            return f"{code} {_text(reply)}"
        except smtplib.SMTPResponseException as exc:
            clean_exit = not isinstance(exc, smtplib.SMTPConnectError)
            raise self._classify(exc) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            clean_exit = True
            raise self._classify(exc) from exc
        except OSError as exc:  # includes SMTPException, ssl and socket errors
            if data_started:
                raise InDoubtSendError(
                    f"SMTP {self.host}:{self.port}: connection lost after the message data "
                    f"went out ({type(exc).__name__}: {exc}); it may have been delivered"
                ) from exc
            raise self._classify(exc) from exc
        finally:
            if smtp is not None:
                _hang_up(smtp, polite=clean_exit)

    def _ssl_context(self) -> ssl.SSLContext:
        """A verifying client context: the system's CAs, or only those in ``ca_file``."""
        if self.ca_file is None:
            return ssl.create_default_context()
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except OSError as exc:  # also ssl.SSLError: no PEM certificate in the file
            raise PermanentSendError(
                f"SMTP {self.host}:{self.port}: cannot load CA file {self.ca_file}: {exc}"
            ) from exc

    def _classify(self, exc: BaseException) -> TransientSendError | PermanentSendError:
        where = f"SMTP {self.host}:{self.port}"
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(
                f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in exc.recipients.items()
            )
            message = f"{where}: recipient refused: {detail}"
            if all(400 <= code < 500 for code in codes):
                return TransientSendError(message, codes[0])
            return PermanentSendError(message, next(c for c in codes if not 400 <= c < 500))
        if isinstance(exc, smtplib.SMTPResponseException):
            code = exc.smtp_code
            message = f"{where}: {type(exc).__name__}: {code} {_text(exc.smtp_error)}"
            if 400 <= code < 500:
                return TransientSendError(message, code)
            return PermanentSendError(message, code)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return TransientSendError(f"{where}: {exc or 'server disconnected'}")
        if isinstance(exc, smtplib.SMTPException):
            # SMTPNotSupportedError (no STARTTLS / AUTH offered), no usable AUTH mechanism:
            # a configuration problem that no retry will fix.
            return PermanentSendError(f"{where}: {type(exc).__name__}: {exc}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return PermanentSendError(f"{where}: TLS certificate rejected: {exc}")
        return TransientSendError(f"{where}: {type(exc).__name__}: {exc}")


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """``smtp.login``, plus AUTH PLAIN in UTF-8 for the non-ASCII credentials it rejects."""
    if user.isascii() and password.isascii():
        smtp.login(user, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if "plain" not in smtp.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPException(
            "non-ASCII SMTP credentials need AUTH PLAIN, which the server does not offer"
        )
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _hang_up(smtp: smtplib.SMTP, *, polite: bool) -> None:
    """QUIT when the session is in a sane state, then close the socket regardless."""
    try:
        if polite and smtp.sock is not None:
            smtp.quit()
    except (OSError, smtplib.SMTPException):
        pass
    finally:
        smtp.close()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _envelope(message: Message) -> tuple[str, list[str], bytes]:
    senders = getaddresses([str(v) for v in message.get_all("Sender") or []]) or getaddresses(
        [str(v) for v in message.get_all("From") or []]
    )
    sender = next((addr for _, addr in senders if addr), None)
    if sender is None:
        raise ValueError("the message has no From address")
    recipients: list[str] = []
    seen: set[str] = set()
    for header in ("To", "Cc", "Bcc"):
        for _, addr in getaddresses([str(v) for v in message.get_all(header) or []]):
            if addr and addr.lower() not in seen:
                seen.add(addr.lower())
                recipients.append(addr)
    if not recipients:
        raise ValueError("the message has no To/Cc/Bcc recipients")
    if "Bcc" in message:
        message = _copy_without(message, "Bcc")
    return sender, recipients, _flatten(message, linesep="\r\n")


def _copy_without(message: Message, header: str) -> Message:
    clone = copy.copy(message)
    del clone[header]
    return clone


def _flatten(message: Message, *, linesep: str) -> bytes:
    with io.BytesIO() as buffer:
        BytesGenerator(buffer, policy=message.policy).flatten(message, linesep=linesep)
        return buffer.getvalue()


# --------------------------------------------------------------------------- Sent folder


class FilingTransport:
    """``inner`` (SMTP) plus the mailbox's Sent folder over IMAP: looked up by Message-ID
    after a crash, and, with ``append``, given a copy of each message once it is sent
    (for servers that do not file submitted mail themselves)."""

    def __init__(
        self,
        inner: Transport,
        connect: Callable[[], IMAPClient],
        folder: str,
        *,
        append: bool = False,
    ) -> None:
        self.inner = inner
        self.name = f"{inner.name}+sent-folder"
        self.connect = connect
        self.folder = folder
        self.append = append

    def send(self, message: EmailMessage) -> str:
        receipt = self.inner.send(message)
        if self.append:
            try:
                client = self.connect()
                try:
                    if not client.folder_exists(self.folder):
                        client.create_folder(self.folder)
                    client.append(self.folder, _flatten(message, linesep="\r\n"), flags=[b"\\Seen"])
                finally:
                    _close_imap(client)
            except (OSError, IMAPClientError) as exc:  # it was sent: only the copy is missing
                log.warning(
                    "sent %s, but could not file it in %s: %s",
                    message["Message-ID"],
                    self.folder,
                    exc,
                )
        return receipt

    def was_sent(self, message_id: str) -> SentState:
        try:
            client = self.connect()
        except (OSError, IMAPClientError) as exc:
            log.warning("Sent folder %s unreachable: %s", self.folder, exc)
            return "unknown"
        try:
            if not client.folder_exists(self.folder):
                return "unknown"
            client.select_folder(self.folder, readonly=True)
            found = client.search(["HEADER", "Message-ID", message_id])
            return "sent" if found else "unknown"
        except (OSError, IMAPClientError) as exc:
            log.warning("Sent folder %s: search failed: %s", self.folder, exc)
            return "unknown"
        finally:
            _close_imap(client)


def _close_imap(client: IMAPClient) -> None:
    try:
        client.logout()
    except (OSError, IMAPClientError):
        with contextlib.suppress(OSError):
            client.shutdown()


# --------------------------------------------------------------------------- settings


def transport_from_settings(settings: Settings) -> Transport:
    """SMTP when ``settings.smtp_host`` is set, else a Maildir at ``settings.outbox_dir``;
    with ``sent_folder`` (and an IMAP host) SMTP is wrapped in ``FilingTransport``."""
    if settings.smtp_host:
        password = settings.smtp_password
        smtp = SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            user=settings.smtp_user,
            password=password.get_secret_value() if password is not None else None,
            tls=settings.smtp_tls,
            timeout=settings.smtp_timeout,
            attempts=settings.smtp_retries,
            ca_file=settings.smtp_ca_file,
        )
        if settings.sent_folder and settings.imap_host:
            from tools.inbox import imap_connector

            return FilingTransport(
                smtp,
                imap_connector(settings),
                settings.sent_folder,
                append=settings.sent_folder_append,
            )
        return smtp
    return MaildirTransport(settings.outbox_dir)
