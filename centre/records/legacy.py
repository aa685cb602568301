"""The centre's store from before the centre's web (issue 13), converted to the models.

Before issue 13 the centre kept its records in `centre.sqlite` through plain SQL, under the same
table names the models use now (hubs, readings, rejections, batches, downlink,
revoked_certificates), with times as ISO 8601 text. Django's migrations cannot make those tables
over the old ones, so `centre migrate` converts such a store here: in one SQLite transaction it
renames the old tables to legacy_*, makes the models' tables, copies every row across (times as
the models' date-times, each reading's content digest kept, or computed as the old store did),
checks that nothing was lost and drops the old tables. Any failure rolls all of it back: the
store is as it was, and the old software still runs on it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from centre.errors import CentreError

if TYPE_CHECKING:  # Django loads with the centre's settings, after this module is imported
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Field, Model

log = logging.getLogger(__name__)

REFUSAL = (
    "this database is from before the centre's web (issue 13): run `centre migrate` to convert "
    "it (docs/operations.md)"
)

LEGACY_PREFIX = "legacy_"
_CHUNK = 2000  # rows copied per statement: memory stays flat on a year of readings


class LegacyStoreError(CentreError, RuntimeError):
    """The old store could not be converted; nothing of it was changed."""


@dataclass(frozen=True)
class LegacyTable:
    """An old table and the model whose table of the same name takes its rows, in the order
    the rows are copied (a hub before what refers to it)."""

    name: str
    model: str  # in the records app
    order: str  # the old order of its rows, kept in the new ids


LEGACY_TABLES = (
    LegacyTable("hubs", "Hub", "rowid"),
    LegacyTable("readings", "Reading", "rowid"),
    LegacyTable("batches", "AcceptedBatch", "rowid"),
    LegacyTable("downlink", "Document", "rowid"),
    LegacyTable("revoked_certificates", "RevokedCertificate", "rowid"),
    LegacyTable("rejections", "Rejection", "id"),
)


def is_legacy(connection: BaseDatabaseWrapper) -> bool:
    """Whether the database is an old store: SQLite with a `hubs` table the records app's
    first migration did not make (a store from before, or one a failed migrate left half done)."""
    from django.db.migrations.recorder import MigrationRecorder

    if connection.vendor != "sqlite":
        return False
    if "hubs" not in connection.introspection.table_names():
        return False
    applied = MigrationRecorder(connection).applied_migrations()
    return ("records", "0001_initial") not in applied


def content_digest(device_address: str, received_at: str, characteristic: str, raw_hex: str) -> str:
    """The old store's digest of a reading (centre/store.py's, the same text in the same order):
    kept for the readings that have one, computed for those stored before it had any."""
    text = "\x00".join((device_address, received_at, characteristic, raw_hex))
    return hashlib.sha256(text.encode()).hexdigest()


def parse_time(text: Any) -> datetime:
    """An old store's time: ISO 8601 text, UTC when it names no offset (the old store wrote
    UTC). Raises ValueError for anything else."""
    if not isinstance(text, str):
        raise ValueError(f"not a time text: {type(text).__name__}")
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def convert(alias: str) -> dict[str, int]:
    """Convert the old store at `alias` to the models, in one transaction; returns the rows
    copied per table. Raises LegacyStoreError (the store unchanged) when a row cannot be."""
    from django.db import DatabaseError, connections, transaction

    connection = connections[alias]
    # SQLite turns foreign keys off only outside a transaction; Django's schema editor needs
    # them off, and the rows are checked at the end instead.
    connection.disable_constraint_checking()
    try:
        with transaction.atomic(using=alias):
            copied = _convert(connection, alias)
    except LegacyStoreError:
        raise
    except (DatabaseError, ValueError) as exc:
        raise LegacyStoreError(_unchanged(str(exc))) from exc
    finally:
        connection.enable_constraint_checking()
    log.info(
        "converted the centre's store from before issue 13: %s",
        ", ".join(f"{n} {t}" for t, n in copied.items()),
    )
    return copied


def _convert(connection: BaseDatabaseWrapper, alias: str) -> dict[str, int]:
    from django.core.management import call_command

    present = _rename_old_tables(connection)
    call_command("migrate", database=alias, interactive=False, verbosity=0)
    copied = {table.name: _copy(connection, table) for table in LEGACY_TABLES if table in present}
    _check_nothing_lost(connection, present)
    try:
        connection.check_constraints(table_names=[t.name for t in LEGACY_TABLES])
    except Exception as exc:  # IntegrityError, saying which row refers to which missing hub
        raise LegacyStoreError(_unchanged(str(exc))) from exc
    with connection.cursor() as cursor:
        for table in present:
            cursor.execute(f"DROP TABLE {_quote(connection, LEGACY_PREFIX + table.name)}")
    return copied


def _rename_old_tables(connection: BaseDatabaseWrapper) -> list[LegacyTable]:
    """Move the old tables (those this store has) aside, and their indexes out of the way of
    the models' indexes of the same names."""
    tables = set(connection.introspection.table_names())
    present = [t for t in LEGACY_TABLES if t.name in tables]
    taken = sorted(LEGACY_PREFIX + t.name for t in present if LEGACY_PREFIX + t.name in tables)
    if taken:
        raise LegacyStoreError(
            _unchanged(f"it has tables named {', '.join(taken)} already; rename or remove them")
        )
    with connection.cursor() as cursor:
        for table in present:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s"
                " AND sql IS NOT NULL",
                [table.name],
            )
            for (index,) in cursor.fetchall():
                cursor.execute(f"DROP INDEX {_quote(connection, index)}")
            cursor.execute(
                f"ALTER TABLE {_quote(connection, table.name)}"
                f" RENAME TO {_quote(connection, LEGACY_PREFIX + table.name)}"
            )
    return present


def _copy(connection: BaseDatabaseWrapper, table: LegacyTable) -> int:
    """Copy an old table's rows into its model's table; returns how many."""
    from django.apps import apps

    model: type[Model] = apps.get_model("records", table.model)
    old = LEGACY_PREFIX + table.name
    have = _columns(connection, old)
    fields = [
        f for f in model._meta.concrete_fields if not (f.primary_key and f.column not in have)
    ]
    quote = connection.ops.quote_name
    insert = (
        f"INSERT INTO {quote(model._meta.db_table)}"
        f" ({', '.join(quote(str(f.column)) for f in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})"
    )
    wanted = sorted(have)
    copied = 0
    for rows in _chunks(
        connection,
        f"SELECT {', '.join(map(quote, wanted))} FROM {quote(old)} ORDER BY {table.order}",
    ):
        values = []
        for raw in rows:
            row = dict(zip(wanted, raw, strict=True))
            values.append([_value(connection, table, f, row) for f in fields])
        with connection.cursor() as cursor:
            cursor.executemany(insert, values)
        copied += len(values)
    return copied


def _value(
    connection: BaseDatabaseWrapper, table: LegacyTable, field: Field[Any, Any], row: dict[str, Any]
) -> Any:
    """One field's value from an old row, as the model's column holds it."""
    column = str(field.column)
    raw = row.get(column)
    if column == "content_digest" and not raw:
        return content_digest(
            row["device_address"], row["received_at"], row["characteristic"], row["raw_hex"]
        )
    if column not in row:
        if field.null:
            return None
        if field.has_default():
            return field.get_default()
        raise LegacyStoreError(_unchanged(f"its table {table.name} has no column {column}"))
    if raw is None:
        return None
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        try:
            moment = parse_time(raw)
        except ValueError:
            raise LegacyStoreError(
                _unchanged(
                    f"{_where(table, row)} has {column} {str(raw)[:60]!r}, which is not a time; "
                    "correct that row"
                )
            ) from None
        return connection.ops.adapt_datetimefield_value(moment)
    if kind == "BooleanField":
        return bool(raw)
    return raw


def _where(table: LegacyTable, row: dict[str, Any]) -> str:
    """An old row, named so a technician can find it."""
    keys = {
        "hubs": ("hub_id",),
        "readings": ("hub_id", "seq"),
        "batches": ("hub_id", "batch_id"),
        "downlink": ("hub_id", "doc_type", "version"),
        "revoked_certificates": ("serial",),
        "rejections": ("id",),
    }[table.name]
    named = ", ".join(f"{k} {str(row.get(k))[:70]!r}" for k in keys)
    return f"the row of {table.name} with {named}"


def _check_nothing_lost(connection: BaseDatabaseWrapper, present: list[LegacyTable]) -> None:
    """Every old table's rows are in the new one: as many, and every reading by hub, number
    and bytes."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in present:
            counts = []
            for name in (LEGACY_PREFIX + table.name, table.name):
                cursor.execute(f"SELECT count(*) FROM {quote(name)}")
                counts.append(cursor.fetchone()[0])
            if counts[0] != counts[1]:
                raise LegacyStoreError(
                    _unchanged(f"{table.name}: {counts[0]} rows before, {counts[1]} after")
                )
        if any(t.name == "readings" for t in present):
            cursor.execute(
                "SELECT count(*) FROM legacy_readings AS o WHERE NOT EXISTS (SELECT 1 FROM"
                " readings AS n WHERE n.hub_id = o.hub_id AND n.seq = o.seq"
                " AND n.raw_hex = o.raw_hex)"
            )
            missing = cursor.fetchone()[0]
            if missing:
                raise LegacyStoreError(_unchanged(f"{missing} reading(s) did not copy across"))


def _columns(connection: BaseDatabaseWrapper, table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


def _chunks(connection: BaseDatabaseWrapper, query: str) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of a query, a chunk at a time. Its own cursor: the inserts between chunks
    use others."""
    with connection.cursor() as cursor:
        cursor.execute(query)
        while rows := cursor.fetchmany(_CHUNK):
            yield rows


def _quote(connection: BaseDatabaseWrapper, name: str) -> str:
    return str(connection.ops.quote_name(name))


def _unchanged(reason: str) -> str:
    return (
        f"cannot convert the centre's store from before issue 13: {reason}. Nothing was "
        "changed: the store is as it was; run `centre migrate` again once that is put right "
        "(docs/operations.md)"
    )
