"""A throwaway PostgreSQL server for the centre's tests (issue 13): Debian's binaries, a fresh
cluster in a temporary folder, a unix socket in that folder and 127.0.0.1 on a free port.

PostgreSQL refuses to run as root, and the tests and CI do run as root: then initdb and the
server run as Debian's `postgres` system user (setpriv execs in place, so the process we hold
is the postmaster itself), and the folder is given to that user. Nothing here touches the
system cluster or systemd."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from testbed.processes import Process, TestbedError, free_port, port_open, wait_until

DEBIAN_BIN_DIRS = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"  # Debian's system user, created by the `postgresql-common` package
SUPERUSER = "postgres"  # the cluster's bootstrap role; trusted on the private socket only
ROLE = "centre"  # what the centre logs in as: may create databases (Django's test_ copies)
DBNAME = "centre"


@dataclass(frozen=True)
class PostgresAddress:
    """Where and as whom the centre reaches the test server."""

    host: str  # 127.0.0.1: password (scram-sha-256) checked, as on a shared centre
    port: int
    user: str
    password: str
    dbname: str
    socket_dir: Path  # the same server over a unix socket, trusted without a password

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"


def server_bin_dir(root: Path = DEBIAN_BIN_DIRS) -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and postgres."""
    versions = [
        d
        for d in root.glob("*/bin")
        if d.parent.name.isdigit() and (d / "initdb").exists() and (d / "postgres").exists()
    ]
    if not versions:
        raise TestbedError(
            f"no PostgreSQL server binaries under {root}/<version>/bin: "
            "install the Debian package 'postgresql' (./run.sh test does)"
        )
    return max(versions, key=lambda d: int(d.parent.name))


def _as_server_user() -> list[str]:
    """The argv prefix that drops root to the server user; nothing when not root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise TestbedError(
            f"running as root and there is no '{SERVER_USER}' user to run PostgreSQL as: "
            "install the Debian package 'postgresql', which creates it"
        ) from None
    return ["setpriv", f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--init-groups", "--"]


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, SERVER_USER, SERVER_USER)


# Throwaway data: skip the disk flushes; small buffers, two servers share a box.
THROWAWAY = [
    *("-c", "fsync=off"),
    *("-c", "synchronous_commit=off"),
    *("-c", "full_page_writes=off"),
    *("-c", "shared_buffers=16MB"),
]


class Postgres:
    """A PostgreSQL server of its own: started on construction, gone (folder too) after stop.
    `durable`: as initdb configures it (the settings of a Debian cluster: fsync on, 128 MB of
    shared buffers), for benchmarks; else with throwaway data's settings (tests)."""

    def __init__(
        self, bin_dir: Path | None = None, startup_timeout: float = 30.0, *, durable: bool = False
    ) -> None:
        self.bin_dir = bin_dir or server_bin_dir()
        self.durable = durable
        # Short on purpose: the socket path (folder + "/.s.PGSQL.<port>") must fit 107 bytes.
        self.workdir = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
        self.data = self.workdir / "data"
        self.log_path = self.workdir / "postgres.log"
        self.port = free_port()
        self.process: Process | None = None
        self.started_in = 0.0  # seconds from initdb to accepting the test role, for reports
        began = time.monotonic()
        try:
            _give_to_server_user(self.workdir)
            self._initdb()
            self._start(startup_timeout)
            password = secrets.token_hex(16)
            self._create_role_and_database(password)
        except BaseException:
            self.stop()
            raise
        self.address = PostgresAddress(
            "127.0.0.1", self.port, ROLE, password, DBNAME, socket_dir=self.workdir
        )
        self.started_in = time.monotonic() - began

    def _run(self, argv: list[str], what: str) -> None:
        done = subprocess.run(
            argv, cwd=self.workdir, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if done.returncode != 0:
            raise TestbedError(
                f"{what} failed with {done.returncode}: {done.stderr.strip() or done.stdout}"
            )

    def _initdb(self) -> None:
        # Trust on the private socket (only we can reach its folder); passwords over TCP.
        # --no-sync: a test cluster need not survive a power cut.
        self._run(
            [
                *_as_server_user(),
                str(self.bin_dir / "initdb"),
                f"--pgdata={self.data}",
                f"--username={SUPERUSER}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )

    def _start(self, timeout: float) -> None:
        self.process = Process(
            "postgres",
            [
                *_as_server_user(),
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.data),
                "-k",
                str(self.workdir),  # unix socket folder
                "-h",
                "127.0.0.1",  # and loopback only
                "-p",
                str(self.port),
                *([] if self.durable else THROWAWAY),
            ],
            self.log_path,
        )
        wait_until(self._ready, timeout, f"PostgreSQL on port {self.port} (log: {self.log_path})")

    def _ready(self) -> bool:
        assert self.process is not None
        self.process.check_alive()
        # The postmaster writes "ready" on the 8th line of its pid file once it takes clients.
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready" and port_open(self.port)

    def _create_role_and_database(self, password: str) -> None:
        assert re.fullmatch(r"[0-9a-f]+", password)  # safe inside the SQL literal below
        psql = [
            str(self.bin_dir / "psql"),
            f"--host={self.workdir}",
            f"--port={self.port}",
            f"--username={SUPERUSER}",
            "--dbname=postgres",
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
        ]
        self._run(
            [*psql, f"--command=CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{password}'"],
            "creating the test role",
        )
        self._run(
            [*psql, f"--command=CREATE DATABASE {DBNAME} OWNER {ROLE}"],
            "creating the test database",
        )

    def tail(self, lines: int = 30) -> str:
        return self.process.tail(lines) if self.process is not None else ""

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (open sessions are ended, not waited for), then remove the folder."""
        if self.process is not None:
            if self.process.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.popen.wait(timeout)
            self.process.stop()  # SIGTERM then SIGKILL if it is somehow still there
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    server = Postgres()
    try:
        yield server
    finally:
        server.stop()
