"""The real PostgreSQL server the centre's tests run against (testbed/postgres.py, issue 13)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import psycopg
import pytest

from testbed import processes
from testbed.postgres import SERVER_USER, Postgres, PostgresAddress, server_bin_dir


def test_a_row_written_over_tcp_is_read_back_over_the_socket(postgres: PostgresAddress) -> None:
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE fixture_probe (id serial PRIMARY KEY, note text NOT NULL)")
        conn.execute("INSERT INTO fixture_probe (note) VALUES (%s)", ("café ✓",))
    with psycopg.connect(
        host=str(postgres.socket_dir),
        port=postgres.port,
        user=postgres.user,
        dbname=postgres.dbname,
    ) as conn:
        rows = conn.execute("SELECT note FROM fixture_probe").fetchall()
        conn.execute("DROP TABLE fixture_probe")
        conn.commit()
    assert rows == [("café ✓",)]


def test_a_wrong_password_is_refused_over_tcp(postgres: PostgresAddress) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host=postgres.host,
            port=postgres.port,
            user=postgres.user,
            password="not-" + postgres.password,
            dbname=postgres.dbname,
        )


def test_the_role_may_create_databases_as_django_test_runs_do(postgres: PostgresAddress) -> None:
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE test_probe")
        conn.execute("DROP DATABASE test_probe")


def test_the_server_listens_on_loopback_only_and_not_as_root(postgres: PostgresAddress) -> None:
    with psycopg.connect(postgres.url) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert backend is not None
        uid = os.stat(f"/proc/{backend[0]}").st_uid  # while the backend lives: it ends with us
    assert listen == ("127.0.0.1",)
    expected = pwd.getpwnam(SERVER_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert uid == expected != 0


def test_after_stop_the_server_and_its_folder_are_gone() -> None:
    server = Postgres()
    address = server.address
    process = server.process
    assert process is not None and process.alive()
    socket = address.socket_dir / f".s.PGSQL.{address.port}"
    assert socket.exists()
    conn = psycopg.connect(address.url)  # stop must end open sessions, not wait for them
    server.stop()
    assert not process.alive()
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()
    assert not processes.port_open(address.port)
    assert not address.socket_dir.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(address.url, connect_timeout=2)


def test_missing_server_binaries_name_the_debian_package(tmp_path: Path) -> None:
    (tmp_path / "15" / "bin").mkdir(parents=True)  # a client-only install: no initdb, postgres
    with pytest.raises(processes.TestbedError, match="Debian package 'postgresql'"):
        server_bin_dir(tmp_path)


def test_the_newest_server_version_is_chosen(tmp_path: Path) -> None:
    for version in ("9", "15", "16"):
        bin_dir = tmp_path / version / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "initdb").touch()
        (bin_dir / "postgres").touch()
    assert server_bin_dir(tmp_path) == tmp_path / "16" / "bin"


@pytest.mark.parametrize(
    ("durable", "expected"),
    [(False, ("off", "off", "16MB")), (True, ("on", "on", "128MB"))],
)
def test_a_durable_server_keeps_the_settings_initdb_gives_a_cluster(
    durable: bool, expected: tuple[str, str, str]
) -> None:
    """bench/ingest.py measures against a server as a centre runs it; the tests' own server
    skips the disk flushes."""
    server = Postgres(durable=durable)
    try:
        with psycopg.connect(server.address.url) as conn:
            found = tuple(
                str(row[0]) if (row := conn.execute(f"SHOW {name}").fetchone()) else None
                for name in ("fsync", "synchronous_commit", "shared_buffers")
            )
    finally:
        server.stop()
    assert found == expected
