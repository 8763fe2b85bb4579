"""Reading the AR inbox: customers' replies, from an IMAP folder or from a local Maildir.

This module owns the transport side of incoming mail: finding the messages that are new,
handing them over in batches, and remembering, once the caller says so, that they are
handled. It does not parse, match or store messages; that is the caller's job.

The contract, for both kinds of inbox::

    for batch in inbox.poll():      # lists of InboxMessage, oldest first; nothing if none
        store_and_process(batch)    # the caller dedupes by Message-ID
        inbox.done(batch)           # only now does the cursor move past the batch
    inbox.wait(timeout)             # IDLE (or sleep) until something may be new

The cursor only advances in ``done``. A crash between ``poll`` and ``done`` delivers the
batch again on the next ``poll``; so does a UIDVALIDITY change (the IMAP server renumbered
the folder), which resets the cursor. Delivery is therefore at least once, and the caller's
Message-ID dedupe makes processing exactly once.

``ImapInbox`` never sets ``\\Seen`` (the folder is opened read-only unless handled messages
are moved to a processed folder, and bodies are fetched with ``BODY.PEEK[]``): people read
the shared AR mailbox too. It keeps its connection open between polls (an empty poll is one
``UID SEARCH``) and reconnects with exponential backoff on network trouble; a refused login
is never retried. Its cursor, ``(UIDVALIDITY, last UID)`` per account and folder, lives in a
``CursorStore`` (the database-backed one is elsewhere; ``MemoryCursorStore`` is for tests).

``MaildirInbox`` reads a local Maildir (the default when no IMAP server is configured): the
new messages are the files in ``new/``; ``done`` moves them to ``cur/``.

Neither class is thread-safe: one reader per inbox.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import mailbox
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar, runtime_checkable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
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
    "CursorStore",
    "ImapInbox",
    "Inbox",
    "InboxError",
    "InboxLoginError",
    "InboxMessage",
    "InboxUnavailableError",
    "MaildirInbox",
    "MemoryCursorStore",
    "inbox_from_settings",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

TlsMode = Literal["none", "starttls", "ssl"]


class InboxError(Exception):
    """Reading the inbox failed for a reason a retry will not fix (a missing folder, a
    rejected TLS certificate, a command the server refused)."""


class InboxLoginError(InboxError):
    """The server refused the login (wrong password, expired OAuth2 token); never retried."""


class InboxUnavailableError(InboxError):
    """The server could not be reached, or kept dropping the connection, on every attempt."""


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One message as it came in.

    ``ref`` says where it came from, for the audit trail, and lets ``done`` find it again:
    ``"imap:<folder>:<uidvalidity>:<uid>"`` or ``"maildir:<key>"``. ``raw`` is the message
    exactly as the server or file holds it (IMAP: CRLF line ends); ``size`` is ``len(raw)``.
    """

    ref: str
    raw: bytes
    size: int


@runtime_checkable
class Inbox(Protocol):
    def poll(self) -> Iterator[list[InboxMessage]]:
        """Yield the messages that are new since the last ``done``, in batches, oldest
        first; yield nothing when nothing is new."""
        ...

    def done(self, messages: Sequence[InboxMessage]) -> None:
        """The caller has stored or processed ``messages``: do not deliver them again."""
        ...

    def wait(self, timeout: float) -> bool:
        """Block until something may be new, at most ``timeout`` seconds; True when the
        server said something changed."""
        ...

    def close(self) -> None: ...


class CursorStore(Protocol):
    """Where ``ImapInbox`` keeps ``(uidvalidity, last_uid)`` per ``key``
    (``"imap:<user>@<host>/<folder>"``)."""

    def load(self, key: str) -> tuple[int, int] | None: ...

    def save(self, key: str, uidvalidity: int, last_uid: int) -> None: ...


class MemoryCursorStore:
    """A ``CursorStore`` in a dict, for tests and one-off runs."""

    def __init__(self) -> None:
        self.cursors: dict[str, tuple[int, int]] = {}
        self.saves = 0

    def load(self, key: str) -> tuple[int, int] | None:
        return self.cursors.get(key)

    def save(self, key: str, uidvalidity: int, last_uid: int) -> None:
        self.cursors[key] = (uidvalidity, last_uid)
        self.saves += 1


# --------------------------------------------------------------------------- IMAP

# Errors after which a fresh connection may succeed. IMAPClientAbortError is
# imaplib.IMAP4.abort (a dropped connection, a BYE); socket.timeout and ssl.SSLError are
# OSErrors. A certificate the client rejects is not transient (_attempt checks it first).
_TRANSIENT = (imaplib.IMAP4.abort, IMAPClientAbortError, OSError, ssl.SSLError, socket.timeout)

# More UIDs than this in one SEARCH answer could pass imaplib's line limit (_MAXLINE,
# 1,000,000 bytes): a bigger folder is searched in UID windows of this size.
SEARCH_WINDOW = 50_000


class _Transient(Exception):
    """Internal: one attempt failed in a way a reconnect may fix (the cause is chained)."""


class ImapInbox:
    """New messages of one IMAP folder, tracked by a UID cursor.

    ``tls``: ``"ssl"`` (implicit TLS, port 993), ``"starttls"`` or ``"none"``; with TLS the
    certificate is verified against the system's CAs, or only those in ``ca_file``. Logs in
    with ``password``, or with ``oauth2_token`` (XOAUTH2, for Gmail and Microsoft 365).

    ``processed_folder``: when set, ``done`` moves the handled messages there (created if
    missing; MOVE, else COPY + ``\\Deleted`` + EXPUNGE), and the folder is opened
    read-write; otherwise it is opened read-only and nothing on the server changes.

    ``batch_size`` messages are fetched per request and yielded as one batch. Every network
    operation gets up to ``attempts`` tries with a fresh connection each, with exponential
    backoff from ``backoff_initial`` to ``backoff_max`` seconds, and then raises
    ``InboxUnavailableError``. ``wait`` uses IDLE when the server offers it, renewed every
    ``idle_renew`` seconds (RFC 2177 allows 29 minutes; some servers drop it sooner), else
    sleeps up to ``poll_seconds``.

    The cursor is read from ``cursor_store`` (key ``cursor_key``) on the first connection,
    then kept in memory and saved on every change. A folder seen for the first time is read
    from its first message.
    """

    def __init__(
        self,
        host: str,
        port: int = 993,
        *,
        user: str,
        password: str | None = None,
        oauth2_token: str | None = None,
        tls: TlsMode = "ssl",
        folder: str = "INBOX",
        processed_folder: str | None = None,
        timeout: float = 60.0,
        batch_size: int = 200,
        cursor_store: CursorStore,
        ca_file: str | Path | None = None,
        poll_seconds: float = 60.0,
        idle_renew: float = 25 * 60.0,
        attempts: int = 4,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
    ) -> None:
        if tls not in ("none", "starttls", "ssl"):
            raise ValueError(f"tls must be 'none', 'starttls' or 'ssl', not {tls!r}")
        if password is None and oauth2_token is None:
            raise ValueError("ImapInbox needs a password or an oauth2_token")
        if batch_size < 1 or attempts < 1:
            raise ValueError("batch_size and attempts must be at least 1")
        if not 0 < idle_renew <= 29 * 60:
            raise ValueError("idle_renew must be more than 0 and at most 29 minutes")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ValueError(f"CA file {ca_file} does not exist or is not a file")
        if processed_folder is not None and processed_folder == folder:
            raise ValueError("processed_folder must differ from folder")
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self._oauth2_token = oauth2_token
        self.tls = tls
        self.folder = folder
        self.processed_folder = processed_folder
        self.timeout = timeout
        self.batch_size = batch_size
        self.cursor_store = cursor_store
        self.ca_file = Path(ca_file) if ca_file is not None else None
        self.poll_seconds = poll_seconds
        self.idle_renew = idle_renew
        self.attempts = attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.cursor_key = f"imap:{user}@{host}/{folder}"
        self._client: IMAPClient | None = None
        self._validity: int | None = None  # of the selected folder, on this connection
        self._exists = 0  # messages in the folder, as last reported
        self._cursor: tuple[int, int] | None = None  # (uidvalidity, last_uid), as stored
        # UIDs the current poll found (ascending) and those of them the caller has done:
        self._pending: list[int] = []
        self._finished: set[int] = set()
        self.connects = 0  # how many connections were opened (for tests and metrics)

    @classmethod
    def from_settings(cls, settings: Settings, cursor_store: CursorStore) -> ImapInbox:
        """The inbox the ``imap_*`` settings describe; ``InboxError`` names a missing one."""
        if not settings.imap_host:
            raise InboxError("setting imap_host (DUNNING_IMAP_HOST) is not set")
        if not settings.imap_user:
            raise InboxError("setting imap_user (DUNNING_IMAP_USER) must be set with imap_host")
        password = settings.imap_password
        token = settings.imap_oauth2_token
        if password is None and token is None:
            raise InboxError(
                "IMAP needs setting imap_password (DUNNING_IMAP_PASSWORD) or "
                "imap_oauth2_token (DUNNING_IMAP_OAUTH2_TOKEN)"
            )
        return cls(
            settings.imap_host,
            settings.imap_port,
            user=settings.imap_user,
            password=password.get_secret_value() if password is not None else None,
            oauth2_token=token.get_secret_value() if token is not None else None,
            tls=settings.imap_tls,
            folder=settings.imap_folder,
            processed_folder=settings.imap_processed_folder,
            timeout=settings.imap_timeout,
            batch_size=settings.imap_batch,
            cursor_store=cursor_store,
            ca_file=settings.imap_ca_file,
            poll_seconds=settings.imap_poll_seconds,
        )

    def __repr__(self) -> str:
        return (
            f"ImapInbox({self.host!r}, {self.port}, user={self.user!r}, tls={self.tls!r}, "
            f"folder={self.folder!r}, processed_folder={self.processed_folder!r})"
        )

    def __enter__(self) -> ImapInbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ public

    def poll(self) -> Iterator[list[InboxMessage]]:
        """Yield the messages after the cursor in batches of up to ``batch_size``.

        One ``UID SEARCH`` finds them, then each batch is one ``UID FETCH BODY.PEEK[]``. A
        reconnect in between that finds a new UIDVALIDITY ends the poll early (the next poll
        starts over from the reset cursor). A message deleted between SEARCH and FETCH is
        skipped.
        """
        validity, uids = self._run(self._search_new)
        self._pending = uids
        self._finished = set()
        for start in range(0, len(uids), self.batch_size):
            chunk = uids[start : start + self.batch_size]
            batch = self._run(self._fetch, validity, chunk)
            if batch is None:
                log.warning(
                    "IMAP %s: UIDVALIDITY of %s changed during a poll; polling again from the "
                    "start of the folder",
                    self.host,
                    self.folder,
                )
                return
            if batch:
                yield batch

    def done(self, messages: Sequence[InboxMessage]) -> None:
        """Mark ``messages`` handled: move them to the processed folder (if configured), then
        advance the cursor past every UID of the current poll handled so far.

        The cursor moves only over an unbroken run of handled UIDs: if a batch is not done,
        it and everything after it come again on the next poll, even if later batches were
        done. Messages from before a UIDVALIDITY change are ignored (logged).
        """
        if not messages:
            return
        uids: list[int] = []
        validity: int | None = None
        for message in messages:
            parsed = _parse_imap_ref(message.ref)
            if parsed is None or parsed[0] != self.folder:
                raise ValueError(f"{message.ref!r} is not a message of {self!r}")
            _folder, message_validity, uid = parsed
            if validity is None:
                validity = message_validity
            elif message_validity != validity:
                raise ValueError("done() got messages of two UIDVALIDITY values")
            uids.append(uid)
        assert validity is not None
        if self._cursor is None:
            self._run(lambda _client: None)  # connect: loads the cursor
        assert self._cursor is not None
        if validity != self._cursor[0]:
            log.warning(
                "IMAP %s: done() for %d message(s) of %s from UIDVALIDITY %d, now %d: ignored",
                self.host,
                len(uids),
                self.folder,
                validity,
                self._cursor[0],
            )
            return
        if self.processed_folder is not None:
            self._run(self._move, validity, sorted(uids))
        self._finished.update(uids)
        self._advance()

    def wait(self, timeout: float) -> bool:
        """Block until the folder may have new mail, at most ``timeout`` seconds.

        With IDLE: True as soon as the server announces a new message (or announced one
        after the last poll's SEARCH), and True at once when it had to (re)connect or the
        connection drops during IDLE, since mail may have come meanwhile (the next poll
        reconnects and looks); False when the time is up. Without IDLE: sleeps
        ``min(timeout, poll_seconds)``, then sends NOOP (which shows the session new mail on
        servers that wait for one) and returns True if that announced new mail.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            connects = self.connects
            client = self._run(lambda c: c)
            if self.connects != connects:
                return True  # a new session: nothing tells what came in between
            if not client.has_capability("IDLE"):
                time.sleep(max(0.0, min(deadline - time.monotonic(), self.poll_seconds)))
                # NOOP: some servers show a session new mail only on NOOP (or IDLE)
                _text, responses = self._run(lambda c: c.noop())
                return _announces_mail(responses)
            if self._take_exists(client):
                return True  # announced after the last SEARCH: a poll will find it
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._idle(client, min(remaining, self.idle_renew)):
                return True

    def close(self) -> None:
        """Log out and close the connection (the next poll opens a new one)."""
        client, self._client = self._client, None
        self._validity = None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            try:
                client.shutdown()
            except Exception as exc:  # noqa: BLE001 - already gone
                log.debug("IMAP %s: closing: %s", self.host, exc)

    # ------------------------------------------------------------------ operations
    # Each takes the connected client; _run gives it one, reconnecting between attempts.

    def _search_new(self, client: IMAPClient) -> tuple[int, list[int]]:
        assert self._cursor is not None and self._validity is not None
        last = self._cursor[1]
        # A session sees a message only once the server has announced it (* n EXISTS), and
        # the server announces what arrived meanwhile at the end of a command, here the
        # SEARCH that did not see it yet: search again when that happens.
        self._take_exists(client)
        found = self._search_after(client, last)
        if self._take_exists(client):
            found = self._search_after(client, last)
        # "UID n:*" always matches the highest UID, even one below n (RFC 3501): filter.
        return self._validity, sorted({uid for uid in found if uid > last})

    def _search_after(self, client: IMAPClient, last: int) -> list[int]:
        if self._exists <= SEARCH_WINDOW:
            return list(client.search(f"UID {last + 1}:*"))
        found: list[int] = []
        top = max(client.search("UID *"), default=0)
        low = last + 1
        while low <= top:
            high = min(low + SEARCH_WINDOW - 1, top)
            found.extend(client.search(f"UID {low}:{high}"))
            low = high + 1
        return found

    def _fetch(
        self, client: IMAPClient, validity: int, uids: list[int]
    ) -> list[InboxMessage] | None:
        if self._validity != validity:
            return None
        response = client.fetch(uids, ["BODY.PEEK[]"])
        batch = []
        for uid in uids:
            data = response.get(uid)
            raw = data.get(b"BODY[]") if data is not None else None
            if raw is None:  # expunged since the SEARCH: nothing to deliver
                if data is not None:
                    log.warning("IMAP %s: no body for UID %d of %s", self.host, uid, self.folder)
                self._finished.add(uid)
                continue
            raw = bytes(raw)
            batch.append(InboxMessage(f"imap:{self.folder}:{validity}:{uid}", raw, len(raw)))
        return batch

    def _move(self, client: IMAPClient, validity: int, uids: list[int]) -> None:
        if self._validity != validity:
            log.warning(
                "IMAP %s: not moving %d message(s): UIDVALIDITY of %s changed",
                self.host,
                len(uids),
                self.folder,
            )
            return
        target = self.processed_folder
        if client.has_capability("MOVE"):
            client.move(uids, target)
            return
        client.copy(uids, target)
        client.add_flags(uids, [b"\\Deleted"], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:  # no UID EXPUNGE: this also expunges other messages marked \Deleted
            client.expunge()

    def _idle(self, client: IMAPClient, seconds: float) -> bool:
        """One IDLE of at most ``seconds``; True on new mail or a lost connection."""
        end = time.monotonic() + seconds
        changed = False
        try:
            client.idle()
            while not changed and (left := end - time.monotonic()) > 0:
                responses = client.idle_check(timeout=left)
                if any(_is_bye(r) for r in responses):
                    raise IMAPClientAbortError("the server said BYE during IDLE")
                if not responses and time.monotonic() < end - 0.05:
                    # woken early with nothing to read: imapclient's sign of EOF
                    raise IMAPClientAbortError("connection closed during IDLE")
                changed = _announces_mail(responses)
            _text, responses = client.idle_done()
            return changed or _announces_mail(responses)
        except (*_TRANSIENT, IMAPClientError) as exc:
            log.info(
                "IMAP %s: connection lost in IDLE (%s); the next poll reconnects", self.host, exc
            )
            self._drop()
            return True

    # ------------------------------------------------------------------ connection

    def _run(self, operation: Callable[..., T], *args: object) -> T:
        """``operation(client, *args)`` with retries on a fresh connection."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_initial, max=self.backoff_max),
            retry=retry_if_exception_type(_Transient),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        try:
            return retrying(self._attempt, operation, *args)
        except _Transient as exc:
            plural = "s" if self.attempts != 1 else ""
            cause = exc.__cause__
            raise InboxUnavailableError(
                f"IMAP {self.host}:{self.port} ({self.user}): {type(cause).__name__}: {cause} "
                f"(gave up after {self.attempts} attempt{plural})"
            ) from cause

    def _attempt(self, operation: Callable[..., T], *args: object) -> T:
        try:
            return operation(self._connection(), *args)
        except LoginError as exc:
            self._drop()
            if isinstance(exc.__context__, _TRANSIENT):  # the connection broke during login
                raise _Transient(str(exc)) from exc.__context__
            raise InboxLoginError(
                f"IMAP {self.host}:{self.port}: login as {self.user!r} refused: {exc}"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise InboxError(
                f"IMAP {self.host}:{self.port}: TLS certificate rejected: {exc}"
            ) from exc
        except _TRANSIENT as exc:  # includes imaplib.IMAP4.abort, before IMAPClientError
            self._drop()
            raise _Transient(str(exc)) from exc
        except IMAPClientError as exc:
            self._drop()
            raise InboxError(f"IMAP {self.host}:{self.port} ({self.user}): {exc}") from exc

    def _connection(self) -> IMAPClient:
        if self._client is not None:
            return self._client
        client = self.connect()
        try:
            if self.processed_folder is not None:
                self._ensure_folder(client, self.processed_folder)
            info = client.select_folder(self.folder, readonly=self.processed_folder is None)
        except BaseException:
            _hang_up(client)
            raise
        self._client = client
        self.connects += 1
        self._selected(info)
        return client

    def connect(self) -> IMAPClient:
        """A new logged-in connection (not the inbox's own)."""
        context = self._ssl_context() if self.tls != "none" else None
        client = IMAPClient(
            self.host,
            self.port,
            ssl=self.tls == "ssl",
            ssl_context=context,
            timeout=self.timeout,
        )
        try:
            if self.tls == "starttls":
                client.starttls(context)
            if self._oauth2_token is not None:
                client.oauth2_login(self.user, self._oauth2_token)
            else:
                client.login(self.user, self._password or "")
        except BaseException:
            _hang_up(client)
            raise
        return client

    def _ssl_context(self) -> ssl.SSLContext:
        if self.ca_file is None:
            return ssl.create_default_context()
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except OSError as exc:  # also ssl.SSLError: no PEM certificate in the file
            raise InboxError(
                f"IMAP {self.host}:{self.port}: cannot load CA file {self.ca_file}: {exc}"
            ) from exc

    def _ensure_folder(self, client: IMAPClient, folder: str) -> None:
        if client.folder_exists(folder):
            return
        try:
            client.create_folder(folder)
            log.info("IMAP %s: created folder %s", self.host, folder)
        except IMAPClientError:
            if not client.folder_exists(folder):  # not a race with another creator
                raise

    def _selected(self, info: dict[bytes, object]) -> None:
        """After SELECT: check UIDVALIDITY and UIDNEXT against the stored cursor."""
        validity = int(info[b"UIDVALIDITY"])  # type: ignore[call-overload]
        uidnext = int(info.get(b"UIDNEXT", 0))  # type: ignore[call-overload]
        self._validity = validity
        self._exists = int(info.get(b"EXISTS", 0))  # type: ignore[call-overload]
        if self._cursor is None:
            self._cursor = self.cursor_store.load(self.cursor_key) or (validity, 0)
        stored_validity, last = self._cursor
        if stored_validity != validity:
            log.warning(
                "IMAP %s: UIDVALIDITY of %s changed from %d to %d (the folder was recreated or "
                "renumbered): reading it again from the start; Message-ID dedupe drops the "
                "messages already handled",
                self.host,
                self.folder,
                stored_validity,
                validity,
            )
            self._set_cursor(validity, 0)
            self._pending, self._finished = [], set()
        elif uidnext and last >= uidnext:
            log.warning(
                "IMAP %s: UIDNEXT of %s (%d) is at or below the cursor (%d): the server "
                "rewound it; clamping the cursor",
                self.host,
                self.folder,
                uidnext,
                last,
            )
            self._set_cursor(validity, uidnext - 1)

    def _set_cursor(self, validity: int, last_uid: int) -> None:
        self._cursor = (validity, last_uid)
        self.cursor_store.save(self.cursor_key, validity, last_uid)

    def _advance(self) -> None:
        assert self._cursor is not None
        validity, last = self._cursor
        new_last = last
        for uid in self._pending:
            if uid <= last:
                continue
            if uid not in self._finished:
                break
            new_last = uid
        if new_last != last:
            self._set_cursor(validity, new_last)

    def _take_exists(self, client: IMAPClient) -> bool:
        """Pop the EXISTS counts imaplib collected since the last call; True if any came."""
        counts = client._imap.untagged_responses.pop("EXISTS", None)
        if not counts:
            return False
        with contextlib.suppress(TypeError, ValueError):
            self._exists = int(counts[-1])
        return True

    def abort(self) -> None:
        """Close at once without a LOGOUT: for a stop in the middle of an IDLE, where the
        server would not answer LOGOUT before DONE."""
        self._drop()

    def _drop(self) -> None:
        """Forget the connection without a LOGOUT (it is broken)."""
        client, self._client = self._client, None
        self._validity = None
        if client is not None:
            _hang_up(client)


def _hang_up(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception as exc:  # noqa: BLE001 - already closed
        log.debug("IMAP: closing a broken connection: %s", exc)


def _announces_mail(responses: list[object]) -> bool:
    """True if the untagged responses include ``* n EXISTS`` (a message arrived)."""
    return any(isinstance(r, tuple) and len(r) >= 2 and r[1] == b"EXISTS" for r in responses)


def _is_bye(response: object) -> bool:
    return isinstance(response, tuple) and len(response) >= 1 and response[0] == b"BYE"


def _parse_imap_ref(ref: str) -> tuple[str, int, int] | None:
    """``"imap:<folder>:<uidvalidity>:<uid>"`` -> ``(folder, uidvalidity, uid)``."""
    kind, _, rest = ref.partition(":")
    folder, _, numbers = rest.rpartition(":")
    folder, _, validity = folder.rpartition(":")
    if kind != "imap" or not folder or not validity.isdigit() or not numbers.isdigit():
        return None
    return folder, int(validity), int(numbers)


# --------------------------------------------------------------------------- Maildir


class MaildirInbox:
    """A local Maildir as the inbox (created if missing).

    New messages are the files in ``new/`` (oldest first, by modification time); ``done``
    renames them into ``cur/`` with the standard ``:2,`` info and no flags (so not Seen).
    ``wait`` looks at ``new/`` every ``check_interval`` seconds.
    """

    def __init__(
        self, path: str | Path, *, batch_size: int = 200, check_interval: float = 0.5
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.path = Path(path)
        mailbox.Maildir(self.path, create=True)  # makes cur/, new/, tmp/
        for sub in ("cur", "new", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.batch_size = batch_size
        self.check_interval = check_interval
        self._delivered: set[str] = set()  # delivered by the last poll, not done yet

    def __repr__(self) -> str:
        return f"MaildirInbox({str(self.path)!r})"

    def __enter__(self) -> MaildirInbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def poll(self) -> Iterator[list[InboxMessage]]:
        names = self._new_names()
        self._delivered = set()
        for start in range(0, len(names), self.batch_size):
            batch = []
            for name in names[start : start + self.batch_size]:
                try:
                    raw = (self.path / "new" / name).read_bytes()
                except FileNotFoundError:  # taken by another reader meanwhile
                    continue
                batch.append(InboxMessage(f"maildir:{name}", raw, len(raw)))
                self._delivered.add(name)
            if batch:
                yield batch

    def done(self, messages: Sequence[InboxMessage]) -> None:
        for message in messages:
            kind, _, name = message.ref.partition(":")
            if kind != "maildir" or not name or "/" in name:
                raise ValueError(f"{message.ref!r} is not a message of {self!r}")
            source = self.path / "new" / name
            target = self.path / "cur" / (name if ":" in name else f"{name}:2,")
            try:
                os.rename(source, target)
            except FileNotFoundError:
                if not target.exists():
                    log.warning("Maildir %s: %s vanished before done()", self.path, name)
            self._delivered.discard(name)

    def wait(self, timeout: float) -> bool:
        """True as soon as ``new/`` holds a message the last poll did not deliver."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if any(name not in self._delivered for name in self._new_names()):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.check_interval, left))

    def close(self) -> None:
        pass

    def _new_names(self) -> list[str]:
        entries = []
        with os.scandir(self.path / "new") as scan:
            for entry in scan:
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                try:
                    entries.append((entry.stat().st_mtime_ns, entry.name))
                except FileNotFoundError:
                    continue
        return [name for _mtime, name in sorted(entries)]


# --------------------------------------------------------------------------- settings


def inbox_from_settings(settings: Settings, cursor_store: CursorStore) -> Inbox:
    """IMAP when ``settings.imap_host`` is set, else a Maildir at ``settings.inbox_dir``."""
    if settings.imap_host:
        return ImapInbox.from_settings(settings, cursor_store)
    return MaildirInbox(settings.inbox_dir, batch_size=settings.imap_batch)


def imap_connector(settings: Settings) -> Callable[[], IMAPClient]:
    """A function that opens a new logged-in IMAP connection with the ``imap_*`` settings
    (the outbox's Sent-folder check uses it); errors name the missing setting."""
    inbox = ImapInbox.from_settings(settings, MemoryCursorStore())
    return inbox.connect
