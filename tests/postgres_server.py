"""A real PostgreSQL server for tests and benchmarks: ``initdb`` into a temp dir and
``postgres`` in the foreground on 127.0.0.1 and a free port, from the server binaries of
Debian's packages (``/usr/lib/postgresql/<version>/bin``; ``make test`` installs them
when a machine lacks them).

    with PostgresServer() as server:
        url = server.create_database("t1")   # postgresql+psycopg://dunning@127.0.0.1:PORT/t1

PostgreSQL refuses to run as root; as root, the data directory belongs to the
``postgres`` user and the server runs as that user (``setpriv``). Trust authentication on
loopback only; ``fsync`` is off (a test server, thrown away after the run).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

try:  # tests/ is not a package: pytest puts it on sys.path
    from smtp_server import free_port
except ImportError:  # pragma: no cover
    from tests.smtp_server import free_port

INSTALL_HINT = "PostgreSQL's server is not installed: as root, apt-get install -y postgresql"


class PostgresNotInstalled(RuntimeError):
    pass


def server_bin() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise PostgresNotInstalled(INSTALL_HINT)


class PostgresServer:
    user = "dunning"

    def __init__(self) -> None:
        self.bin = server_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="dunning-pg-"))
        self.data = self.root / "data"
        self._process: subprocess.Popen[bytes] | None = None
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            # setpriv execs (runuser would fork and stand between us and the server)
            self._as = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def _libpq(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={database}"

    def __enter__(self) -> PostgresServer:
        subprocess.run(
            [
                *self._as,
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
            ],
            check=True,
            capture_output=True,
        )
        log = open(self.root / "postgres.log", "wb")  # noqa: SIM115 (the server keeps it)
        self._process = subprocess.Popen(
            [
                *self._as,
                str(self.bin / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log()[-2000:]}")
            try:
                psycopg.connect(self._libpq(), connect_timeout=1).close()
                return self
            except psycopg.OperationalError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"postgres did not start: {self.log()[-2000:]}")

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        with psycopg.connect(self._libpq(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # fast shutdown (SIGTERM waits for clients)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
