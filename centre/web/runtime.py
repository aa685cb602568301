"""Django for the centre's processes: settings from the centre's config (centre.toml), and the
databases the centre's store opens (issue 13).

Every centre process (`centre serve`, `centre web`, the CLI) configures Django from its
`--config` before it touches a model. In-process callers that open a store by path or URL (the
CLI's older commands, the testbed) get that database registered under an alias of its own, so
one process can hold several centres' stores without Django's settings changing under it.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import dj_database_url
import django
from django.conf import settings

from centre.config import CentreConfig
from centre.errors import CentreError
from centre.records import legacy
from centre.web import base
from centre.web.oidc import oidc_login_from


class DatabaseError(CentreError, RuntimeError):
    """The centre's database is missing, unreachable or at an older version; says what to do."""


_lock = threading.Lock()


def database_settings(url: str) -> dict[str, Any]:
    """Django's settings for one database URL: SQLite with WAL, full sync and writes that take
    the lock at BEGIN (two ingest workers never deadlock on a lock upgrade); PostgreSQL as is."""
    try:
        db = dict(dj_database_url.parse(url))
    except ValueError as exc:
        raise DatabaseError(f"database {_safe(url)!r} is not a database URL: {exc}") from exc
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
        }
    elif db["ENGINE"] != "django.db.backends.postgresql":
        raise DatabaseError(
            f"database {_safe(url)!r}: the centre runs on SQLite or PostgreSQL only"
        )
    return db


def settings_for(config: CentreConfig, *, web: bool) -> dict[str, Any]:
    """All of Django's settings for this centre. With `web`, the secret must exist."""
    values = {k: v for k, v in vars(base).items() if k.isupper()}
    values["DATABASES"] = {"default": database_settings(config.database_url)}
    values["ALLOWED_HOSTS"] = list(config.web.allowed_hosts)
    values["SESSION_COOKIE_AGE"] = config.web.session_idle_s
    values["SESSION_COOKIE_SECURE"] = values["CSRF_COOKIE_SECURE"] = config.web.https
    values["SECRET_KEY"] = _secret(config.web_secret_path) if web else ""
    values["CENTRE_OIDC"] = oidc_login_from(config) if web else None
    return values


def _secret(path: Path) -> str:
    try:
        secret = path.read_text().strip()
    except OSError as exc:
        raise DatabaseError(
            f"cannot read the web's secret {path} ({exc.strerror}): if it is missing, "
            "`centre migrate` makes it; if it is there, let the centre's user read it"
        ) from exc
    if len(secret) < 50:
        raise DatabaseError(
            f"the web's secret {path} is too short to be one (50+ characters): remove it and "
            "run `centre migrate` to make a new one (everyone signed in is signed out)"
        )
    return secret


def setup(config: CentreConfig, *, web: bool = False) -> None:
    """Configure Django for this centre's process (once) and load the apps."""
    with _lock:
        if not settings.configured:
            settings.configure(**settings_for(config, web=web))
        django.setup()


def ensure_django() -> None:
    """Load Django with the settings that do not depend on a centre (no default database), for
    a process that opens stores by path or URL only."""
    with _lock:
        if not settings.configured:
            values = {k: v for k, v in vars(base).items() if k.isupper()}
            settings.configure(**values, DATABASES={}, SECRET_KEY="")
        django.setup()


def database_alias(url: str) -> str:
    """The alias Django knows the database at `url` by, registered on first use; the process's
    own database ("default") when it is that one."""
    ensure_django()
    from django.db import connections

    wanted = database_settings(url)
    with _lock:
        for alias in connections.settings:
            if _same(connections.settings[alias], wanted):
                return alias
        alias = "db-" + hashlib.sha256(url.encode()).hexdigest()[:12]
        # Not a documented Django API: adding a database after start. Stable since Django 3.2
        # (ConnectionHandler.settings is a dict filled by configure_settings).
        filled = connections.configure_settings(
            {"default": connections.settings["default"], alias: wanted}
        )
        connections.settings[alias] = filled[alias]
        return alias


def _same(have: dict[str, Any], wanted: dict[str, Any]) -> bool:
    keys = ("ENGINE", "NAME", "HOST", "PORT", "USER")
    return all(str(have.get(k) or "") == str(wanted.get(k) or "") for k in keys)


def _safe(url: str) -> str:
    """A database URL without its password, for messages and logs."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url[:200]
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':')[0]}:***@{tail}"[:200]


_prepared: set[str] = set()
_template: dict[str, Path] = {}  # a migrated SQLite file this process made, to copy


def prepare(alias: str, *, migrate: bool) -> None:
    """Check that the database at `alias` is reachable and at this version; with `migrate`,
    make or update its tables instead of refusing."""
    if alias in _prepared:
        return
    from django.db import connections
    from django.db.utils import OperationalError

    connection = connections[alias]
    try:
        if migrate:
            _migrate(alias)
        elif legacy.is_legacy(connection):  # its tables are the old ones: not "no tables yet"
            raise DatabaseError(legacy.REFUSAL)
        pending = _pending(alias)
    except OperationalError as exc:
        raise DatabaseError(
            f"cannot open the centre's database ({connection.vendor}, "
            f"{_safe(str(connection.settings_dict['NAME']))}): {exc}"
        ) from exc
    if pending and pending[0] == "contenttypes.0001_initial":
        raise DatabaseError(
            "the centre's database has no tables yet: run `centre migrate` (docs/operations.md)"
        )
    if pending:
        raise DatabaseError(
            f"the centre's database is at an older version ({len(pending)} change(s) to make, "
            "the first "
            f"{pending[0]}): run `centre migrate` (docs/operations.md)"
        )
    _prepared.add(alias)


def _pending(alias: str) -> list[str]:
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, _ in plan]


def _migrate(alias: str) -> None:
    """Django's migrate on this database. A new SQLite file is a copy of one this process
    migrated before (the same migrations; a second's work saved per centre the tests make)."""
    from django.core.management import call_command
    from django.db import connections

    db = connections[alias].settings_dict
    path = Path(str(db["NAME"]))
    sqlite = db["ENGINE"] == "django.db.backends.sqlite3"
    if sqlite and path.exists() and legacy.is_legacy(connections[alias]):
        legacy.convert(alias)  # in one transaction, migrations included; no template of it
        return
    if sqlite and not path.exists() and "sqlite" in _template:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_template["sqlite"], path)
        path.chmod(0o600)
        return
    if sqlite:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch(0o600)  # health data: the centre's user alone, whatever the umask
    call_command("migrate", database=alias, interactive=False, verbosity=0)
    if sqlite and "sqlite" not in _template:
        folder = Path(tempfile.mkdtemp(prefix="dho-centre-schema-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _template["sqlite"] = folder / "migrated.sqlite"
        with connections[alias].cursor() as cursor:  # a consistent copy, WAL or not
            cursor.execute("VACUUM INTO %s", [str(_template["sqlite"])])
