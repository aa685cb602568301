"""Django in the test process, and a fresh, migrated centre database per test on SQLite or on
the real PostgreSQL server (testbed/postgres.py), as the process's default database, so Django's
test client and the models work on it as `centre web` would."""

from __future__ import annotations

import dataclasses
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from testbed.postgres import PostgresAddress

TEST_SECRET = "tests only: " + "x" * 50


def configure_django() -> None:
    """Django with the centre's settings, a test secret and an empty SQLite default (each test
    that needs a database takes a fresh one with `fresh_database`)."""
    import django
    from django.conf import settings

    from centre.web import base

    if not settings.configured:
        folder = Path(tempfile.mkdtemp(prefix="dho-django-"))
        values = {k: v for k, v in vars(base).items() if k.isupper()}
        values.update(
            SECRET_KEY=TEST_SECRET,
            DATABASES={"default": _sqlite(folder / "unused.sqlite")},
            ALLOWED_HOSTS=["testserver", "localhost", "127.0.0.1"],
        )
        settings.configure(**values)
    django.setup()


def _sqlite(path: Path) -> dict[str, Any]:
    from centre.web.runtime import database_settings

    return database_settings(f"sqlite:///{path}")


def use_default(url: str) -> None:
    """Make `url` the process's default database (this thread's connection reopened)."""
    from django.db import connections

    from centre.web.runtime import database_settings

    connections["default"].close()
    filled = connections.configure_settings({"default": database_settings(url)})
    connections.settings["default"] = filled["default"]
    del connections["default"]


_templates: dict[str, str] = {}


@contextmanager
def fresh_database(kind: str, folder: Path, postgres: PostgresAddress | None) -> Iterator[str]:
    """A new, migrated centre database ("sqlite" in `folder`, or "postgres" on the server) as
    the default for the duration; yields its URL."""
    from django.db import connections

    from centre.store import CentreStore

    if kind == "sqlite":
        url = f"sqlite:///{folder / 'centre.sqlite'}"
        CentreStore(url, migrate=True).close()  # a copy of a migrated file after the first
        use_default(url)
        try:
            yield url
        finally:
            connections.close_all()  # a CentreStore's own alias too: each test's is another
        return
    assert postgres is not None, "the postgres fixture"
    template = _postgres_template(postgres)
    name = f"centre_{secrets.token_hex(6)}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    url = dataclasses.replace(postgres, dbname=name).url
    use_default(url)
    try:
        yield url
    finally:
        connections.close_all()
        _drop(postgres, name)


def _drop(postgres: PostgresAddress, name: str, tries: int = 50) -> None:
    """Drop a test's database. FORCE ends the test's own sessions; one of the server's own
    (autovacuum, a superuser's) it may not end, and that one is over within moments: try again
    (seen once in CI: InsufficientPrivilege)."""
    statement = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
    for attempt in range(tries):
        try:
            with psycopg.connect(postgres.url, autocommit=True) as conn:
                conn.execute(statement)
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == tries - 1:
                raise
            time.sleep(0.2)


def _postgres_template(postgres: PostgresAddress) -> str:
    """A migrated database to copy (CREATE DATABASE ... TEMPLATE), made once per process."""
    from django.db import connections

    from centre.store import CentreStore

    if postgres.url in _templates:
        return _templates[postgres.url]
    name = f"template_{secrets.token_hex(6)}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    store = CentreStore(dataclasses.replace(postgres, dbname=name).url, migrate=True)
    connections[store.alias].close()  # a template must have no one connected
    _templates[postgres.url] = name
    return name
