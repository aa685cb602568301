"""The centre's database (issue 13): opened by URL or path, refused with what to do when it is
missing, unreachable or at an older version; several centres' databases in one process never
mix; `centre migrate` brings one up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from centre.store import CentreStore
from centre.web.runtime import DatabaseError, database_settings
from hub.wire.public_keys import public_text
from testbed.postgres import PostgresAddress
from tests.test_envelope import HUB_KEY


def test_a_database_without_tables_is_refused_with_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match=r"has no tables yet: run `centre migrate`"):
        CentreStore(tmp_path / "empty.sqlite")


def test_a_database_at_an_older_version_is_refused_with_what_to_run(tmp_path: Path) -> None:
    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    call_command("migrate", "followup", "zero", database=store.alias, verbosity=0)
    from centre.web import runtime

    runtime._prepared.discard(store.alias)  # as a new process would find it
    with pytest.raises(DatabaseError, match=r"older version .* run `centre migrate`"):
        CentreStore(tmp_path / "centre.sqlite")
    CentreStore(tmp_path / "centre.sqlite", migrate=True)  # what `centre migrate` does


def test_an_unreachable_server_is_named_without_its_password() -> None:
    url = "postgresql://centre:s3cret-password@127.0.0.1:9/nowhere"
    with pytest.raises(DatabaseError, match="cannot open the centre's database") as refused:
        CentreStore(url)
    assert "s3cret-password" not in str(refused.value)


@pytest.mark.parametrize("url", ["mysql://u:p@h/db", "redis://h", "not a url at all"])
def test_a_database_the_centre_does_not_run_on_is_refused(url: str) -> None:
    with pytest.raises(DatabaseError):
        database_settings(url)


def test_two_centres_in_one_process_keep_their_own_readings(tmp_path: Path) -> None:
    first = CentreStore(tmp_path / "a.sqlite", migrate=True)
    second = CentreStore(tmp_path / "b.sqlite", migrate=True)
    assert first.alias != second.alias
    first.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    assert first.enrolled_hubs() == ["hub-0001"] and second.enrolled_hubs() == []
    assert CentreStore(tmp_path / "a.sqlite").alias == first.alias  # the same database again


def test_centre_migrate_makes_a_postgresql_database_ready(
    postgres: PostgresAddress, tmp_path: Path
) -> None:
    import dataclasses
    import secrets

    import psycopg
    from psycopg import sql

    name = f"migrate_{secrets.token_hex(4)}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = dataclasses.replace(postgres, dbname=name).url
    config = tmp_path / "centre.toml"
    config.write_text(f'state_dir = "{tmp_path}"\ndatabase = "{url}"\n')
    run = [sys.executable, "-m", "centre.cli", "--config", str(config)]
    refused = subprocess.run([*run, "readings"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "run `centre migrate`" in refused.stderr
    assert "Traceback" not in refused.stderr
    done = subprocess.run([*run, "migrate"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run([*run, "readings", "--json"], capture_output=True, text=True)
    assert listed.returncode == 0 and listed.stdout.strip() == "[]", listed.stderr


def test_the_password_can_live_in_libpqs_password_file_not_in_the_config(
    postgres: PostgresAddress, tmp_path: Path
) -> None:
    """docs/operations.md: centre.toml is readable by every local user, so a shared centre's
    database password goes in the centre user's .pgpass (here named by PGPASSFILE)."""
    import dataclasses
    import os

    url = dataclasses.replace(postgres, password="").url.replace(":@", "@")
    assert postgres.password not in url
    config = tmp_path / "centre.toml"
    config.write_text(f'state_dir = "{tmp_path}"\ndatabase = "{url}"\n')
    run = [sys.executable, "-m", "centre.cli", "--config", str(config), "migrate"]
    passfile = tmp_path / "pgpass"
    line = f"{postgres.host}:{postgres.port}:{postgres.dbname}:{postgres.user}:{postgres.password}"
    passfile.write_text(line + "\n")
    passfile.chmod(0o600)  # libpq ignores a password file others may read
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    without = subprocess.run(run, capture_output=True, text=True, timeout=120, env=env)
    assert without.returncode == 2 and "Traceback" not in without.stderr
    assert postgres.password not in without.stderr
    env["PGPASSFILE"] = str(passfile)
    done = subprocess.run(run, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
