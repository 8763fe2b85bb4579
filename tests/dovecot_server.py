"""A real IMAP server for tests: Dovecot in the foreground, from a config in a temp dir.

Import it from a test module (``tests/`` is on ``sys.path``, like ``smtp_server``) or use
the session-scoped ``dovecot`` fixture of ``conftest.py``::

    with DovecotServer() as server:              # users ar/secret and other/secret2
        server.append("ar", "INBOX", raw_bytes)  # IMAP APPEND; returns the new UID
        inbox = ImapInbox(server.host, server.port, user="ar", password="secret", tls="none",
                          ...)
        server.restart()                          # sessions end, as in a real restart
        server.recreate_folder("ar", "Replies")   # a new UIDVALIDITY
        server.reset("ar")                        # an empty mailbox for the next test

Dovecot 2.3 (Debian 12) and 2.4 (Debian 13) need differently written configs; the version
comes from ``dovecot --version`` and one function per syntax writes the file
(``config_v23``, ``config_v24``). Plain-text login on 127.0.0.1 and a free port, passwd-file
users, Maildir mail, no TLS, no imaps listener, logs in ``<root>/dovecot.log``; the
authentication penalty is off, so a test's wrong password does not slow the next logins
(each failed login still takes Dovecot's fixed 2 s).

Dovecot runs in its own process group: ``stop()`` ends the master and every IMAP session
process at once (SIGTERM to the master alone leaves running sessions alive).

As root, Dovecot will not open mail as root: the mail files belong to the ``dovecot`` user
(its uid/gid are in the passwd file), and the temp dir is 0755 so that the auth process,
which runs as ``dovecot``, can read the user list (pytest's 0700 tmp dirs make every login
fail with "Temporary authentication failure"). As another user, everything runs as that
user (a rootless Dovecot: no chroot, internal and login user = the current user).

When Dovecot is not installed, ``DovecotServer`` raises ``DovecotNotInstalled``, whose
message says how to install it (``make test`` does).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient

try:  # tests/ is not a package: pytest puts it on sys.path
    from smtp_server import free_port
except ImportError:  # pragma: no cover - if tests/ becomes a package
    from tests.smtp_server import free_port

__all__ = ["DovecotNotInstalled", "DovecotServer", "config_v23", "config_v24", "dovecot_version"]

INSTALL_HINT = (
    "Dovecot is not installed, and the IMAP tests run against a real Dovecot. "
    "`make test` installs it (its tools-for-tests target runs "
    "`apt-get install -y --no-install-recommends dovecot-imapd`); or install the "
    "dovecot-imapd package yourself."
)


class DovecotNotInstalled(RuntimeError):
    """No ``dovecot`` binary on this machine."""


def find_dovecot() -> str:
    """Path of the ``dovecot`` binary (``/usr/sbin`` is often not on a user's PATH)."""
    path = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")
    if path is None:
        raise DovecotNotInstalled(INSTALL_HINT)
    return path


def dovecot_version(binary: str | None = None) -> tuple[int, int]:
    """``(major, minor)`` of the installed Dovecot, e.g. ``(2, 3)`` for "2.3.19.1 (9b53102964)"."""
    binary = binary or find_dovecot()
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    match = re.match(r"\s*(\d+)\.(\d+)", out)
    if match is None:
        raise RuntimeError(f"cannot read the Dovecot version from {out!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class _Layout:
    """Everything a config needs: paths, the port and who runs what."""

    root: Path
    port: int
    users_file: Path
    log_file: Path
    base_dir: Path
    state_dir: Path
    mail_user: str  # the mail files belong to this user...
    mail_group: str
    mail_uid: int
    rootless: bool  # ...and when not root, every process runs as that user


# Both configs use no %variables: the users file gives each user's uid, gid and home.


def config_v23(layout: _Layout) -> str:
    """dovecot.conf in Dovecot 2.3 syntax."""
    run_as = _run_as_v23(layout) if layout.rootless else ""
    return f"""\
# written by tests/dovecot_server.py for Dovecot 2.3
base_dir = {layout.base_dir}
state_dir = {layout.state_dir}
instance_name = dovecot-test-{layout.port}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {layout.log_file}
mail_location = maildir:~/Maildir
mail_uid = {layout.mail_user}
mail_gid = {layout.mail_group}
first_valid_uid = {layout.mail_uid}
{run_as}
namespace inbox {{
  inbox = yes
}}
passdb {{
  driver = passwd-file
  args = {layout.users_file}
}}
userdb {{
  driver = passwd-file
  args = {layout.users_file}
}}
service imap-login {{
  inet_listener imap {{
    port = {layout.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def _run_as_v23(layout: _Layout) -> str:
    return f"""\
default_internal_user = {layout.mail_user}
default_internal_group = {layout.mail_group}
default_login_user = {layout.mail_user}
service imap-login {{
  chroot =
}}
service anvil {{
  chroot =
}}
"""


def config_v24(layout: _Layout) -> str:
    """dovecot.conf in Dovecot 2.4 syntax (the version settings first; named passdb/userdb
    sections with ``passwd_file_path``; ``mail_driver``/``mail_path`` instead of
    ``mail_location``; ``auth_allow_cleartext`` instead of ``disable_plaintext_auth``).

    Written from the 2.4 documentation ("Upgrading Dovecot CE from 2.3 to 2.4", the
    passwd-file database page); not run on this project's development machine (Debian 12).
    """
    run_as = ""
    if layout.rootless:
        run_as = f"""\
default_internal_user = {layout.mail_user}
default_internal_group = {layout.mail_group}
default_login_user = {layout.mail_user}
service imap-login {{
  chroot =
}}
service anvil {{
  chroot =
}}
"""
    return f"""\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
# written by tests/dovecot_server.py for Dovecot 2.4
base_dir = {layout.base_dir}
state_dir = {layout.state_dir}
instance_name = dovecot-test-{layout.port}
protocols = imap
listen = 127.0.0.1
ssl = no
auth_allow_cleartext = yes
auth_mechanisms = plain login
log_path = {layout.log_file}
mail_driver = maildir
mail_path = ~/Maildir
mail_uid = {layout.mail_user}
mail_gid = {layout.mail_group}
first_valid_uid = {layout.mail_uid}
{run_as}
namespace inbox {{
  inbox = yes
}}
passdb passwd-file {{
  passwd_file_path = {layout.users_file}
}}
userdb passwd-file {{
  passwd_file_path = {layout.users_file}
}}
service imap-login {{
  inet_listener imap {{
    port = {layout.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def write_config(version: tuple[int, int], layout: _Layout) -> str:
    """The config text for ``version``: 2.4 syntax from 2.4 on, else 2.3 syntax."""
    if version >= (2, 4):
        return config_v24(layout)
    return config_v23(layout)


@dataclass
class DovecotServer:
    """A Dovecot IMAP server on 127.0.0.1 for the users in ``users`` (name -> password)."""

    users: dict[str, str] = field(default_factory=lambda: {"ar": "secret", "other": "secret2"})
    host: str = "127.0.0.1"
    port: int = 0
    start_timeout: float = 15.0
    root: Path | None = field(default=None, init=False)
    version: tuple[int, int] | None = field(default=None, init=False)
    config_file: Path | None = field(default=None, init=False)
    log_file: Path | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._binary = find_dovecot()
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: Path | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> DovecotServer:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    def start(self) -> DovecotServer:
        """Start Dovecot (writing its config the first time); return once it greets."""
        if self._process is not None and self._process.poll() is None:
            return self
        if self.root is None:
            self._prepare()
        assert self.config_file is not None and self._stderr is not None
        with open(self._stderr, "ab") as stderr:
            self._process = subprocess.Popen(
                [self._binary, "-F", "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # its own process group: stop() ends all of it
            )
        self._wait_ready()
        return self

    def stop(self) -> None:
        """Stop Dovecot and every process it started, as a server restart would.

        SIGTERM alone ends the master but leaves running IMAP sessions behind (their
        processes live on until the client leaves): the whole process group gets SIGTERM,
        and SIGKILL for whatever is left.
        """
        process, self._process = self._process, None
        if process is None:
            return
        group = process.pid  # start_new_session: the master leads its own group
        _signal_group(group, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        deadline = time.monotonic() + 5
        while _signal_group(group, 0) and time.monotonic() < deadline:
            time.sleep(0.02)
        _signal_group(group, signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop Dovecot and remove its temp dir."""
        self.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """Dovecot's log so far (for a failing test's message)."""
        parts = []
        for path in (self._stderr, self.log_file):
            if path is not None and path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    # ------------------------------------------------------------------ mail helpers

    @contextlib.contextmanager
    def client(self, user: str, *, timeout: float = 10.0) -> Iterator[IMAPClient]:
        """A logged-in IMAP connection as ``user``."""
        imap = IMAPClient(self.host, self.port, ssl=False, timeout=timeout)
        try:
            imap.login(user, self.users[user])
            yield imap
        finally:
            try:
                imap.logout()
            except Exception:
                with contextlib.suppress(Exception):
                    imap.shutdown()

    def append(self, user: str, folder: str, raw: bytes, flags: Iterable[str] = ()) -> int:
        """IMAP APPEND ``raw`` to ``folder`` (created if missing); return the new UID."""
        return self.append_many(user, folder, [raw], flags)[0]

    def append_many(
        self, user: str, folder: str, messages: Iterable[bytes], flags: Iterable[str] = ()
    ) -> list[int]:
        """APPEND the messages over one connection (MULTIAPPEND, 500 per command: about six
        times faster than one APPEND each); return their UIDs, in order."""
        flags = tuple(flags)
        pending = list(messages)
        uids: list[int] = []
        with self.client(user) as imap:
            if not imap.folder_exists(folder):
                imap.create_folder(folder)
            if not imap.has_capability("MULTIAPPEND"):
                return [_appenduid(imap.append(folder, raw, flags=flags))[0] for raw in pending]
            for start in range(0, len(pending), 500):
                chunk = [{"msg": raw, "flags": flags} for raw in pending[start : start + 500]]
                typ, data = imap.multiappend(folder, chunk)
                if typ != "OK":
                    raise RuntimeError(f"MULTIAPPEND to {folder} failed: {data!r}")
                uids.extend(_appenduid(data[-1]))
        return uids

    def uids(self, user: str, folder: str = "INBOX") -> list[int]:
        with self.client(user) as imap:
            if not imap.folder_exists(folder):
                return []
            imap.select_folder(folder, readonly=True)
            return sorted(imap.search("ALL"))

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """UID -> flags of every message in ``folder``."""
        with self.client(user) as imap:
            imap.select_folder(folder, readonly=True)
            uids = imap.search("ALL")
            if not uids:
                return {}
            return dict(imap.get_flags(uids))

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.client(user) as imap:
            return int(imap.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def recreate_folder(self, user: str, folder: str) -> int:
        """Delete ``folder`` and create it again, empty, with a new UIDVALIDITY; return it.

        INBOX cannot be deleted over IMAP: it is emptied and given a new UIDVALIDITY with
        ``doveadm mailbox update --uid-validity``.
        """
        if folder.upper() == "INBOX":
            old = self.uidvalidity(user, "INBOX")
            self._empty(user, "INBOX")
            self._doveadm("mailbox", "update", "-u", user, "--uid-validity", str(old + 1), "INBOX")
        else:
            with self.client(user) as imap:
                if imap.folder_exists(folder):
                    imap.delete_folder(folder)
                imap.create_folder(folder)
        return self.uidvalidity(user, folder)

    def reset(self, user: str) -> None:
        """Delete every folder but INBOX and every message in INBOX."""
        with self.client(user) as imap:
            names = [name for _flags, _sep, name in imap.list_folders()]
            for name in sorted(names, key=len, reverse=True):  # children before parents
                if name.upper() != "INBOX":
                    imap.delete_folder(name)
        self._empty(user, "INBOX")

    def _empty(self, user: str, folder: str) -> None:
        with self.client(user) as imap:
            imap.select_folder(folder)
            uids = imap.search("ALL")
            if uids:
                imap.add_flags(uids, [b"\\Deleted"], silent=True)
                imap.expunge()

    def _doveadm(self, *args: str) -> str:
        doveadm = shutil.which("doveadm") or shutil.which("doveadm", path="/usr/bin:/usr/sbin")
        if doveadm is None:
            raise RuntimeError("doveadm is not installed (it comes with dovecot-core)")
        result = subprocess.run(
            [doveadm, "-c", str(self.config_file), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    # ------------------------------------------------------------------ internals

    def _prepare(self) -> None:
        self.version = dovecot_version(self._binary)
        if not self.port:
            self.port = free_port(self.host)
        root = Path(tempfile.mkdtemp(prefix="dovecot-test-", dir="/tmp"))
        root.chmod(0o755)  # the auth process (user dovecot) must get through it
        self.root = root
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("dovecot")
            except KeyError as exc:
                raise RuntimeError("Dovecot is installed but there is no dovecot user") from exc
            rootless = False
        else:
            account = pwd.getpwuid(os.geteuid())
            rootless = True
        group = grp.getgrgid(account.pw_gid).gr_name
        homes = root / "home"
        homes.mkdir(mode=0o755)
        os.chown(homes, account.pw_uid, account.pw_gid)
        users_file = root / "users"
        users_file.write_text(
            "".join(
                f"{name}:{{PLAIN}}{password}:{account.pw_uid}:{account.pw_gid}::{homes / name}::\n"
                for name, password in self.users.items()
            )
        )
        users_file.chmod(0o644)
        layout = _Layout(
            root=root,
            port=self.port,
            users_file=users_file,
            log_file=root / "dovecot.log",
            base_dir=root / "run",
            state_dir=root / "state",
            mail_user=account.pw_name,
            mail_group=group,
            mail_uid=account.pw_uid,
            rootless=rootless,
        )
        layout.state_dir.mkdir(mode=0o755)
        self.config_file = root / "dovecot.conf"
        self.config_file.write_text(write_config(self.version, layout))
        self.log_file = layout.log_file
        self._stderr = root / "dovecot.stderr"

    def _wait_ready(self) -> None:
        """Wait for the IMAP greeting; raise with Dovecot's log if it does not come."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(
                    f"dovecot exited at start (config {self.config_file}):\n{self.log()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        sock.sendall(b"a LOGOUT\r\n")
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"dovecot did not answer on {self.host}:{self.port} within "
                    f"{self.start_timeout} s:\n{self.log()}"
                )
            time.sleep(0.05)


def _signal_group(group: int, sig: int) -> bool:
    """Send ``sig`` to process group ``group``; False if no process is left in it."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    return True


def _appenduid(reply: bytes) -> list[int]:
    """The UIDs in an ``[APPENDUID validity uid-set]`` reply, e.g. ``1001:1003`` -> 3 UIDs."""
    match = re.search(rb"\[APPENDUID \d+ ([\d:,]+)\]", reply)
    if match is None:
        raise RuntimeError(f"no APPENDUID in the APPEND reply {reply!r}")
    uids: list[int] = []
    for part in match.group(1).split(b","):
        low, _, high = part.partition(b":")
        uids.extend(range(int(low), int(high or low) + 1))
    return uids
