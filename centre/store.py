"""The centre's store: enrolled hubs, readings (idempotent on hub id + sequence), rejections,
documents sent down. The tables are Django models (centre/records/models.py) on SQLite or
PostgreSQL; each store writes through Django's ORM to the database it was opened on."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from centre.errors import CentreError
from centre.presence import AHEAD_MOST, Presence, merge
from centre.web.runtime import database_alias, prepare
from hub.core.call_request import KIND as CALL_KIND
from hub.core.health import KIND as HEALTH_KIND
from hub.core.health import HealthUnreadable, HubHealth, read_health
from hub.core.reading import WIRE_FIELDS
from hub.wire.status import HubStatus
from hub.wire.topics import batch_topic

if TYPE_CHECKING:  # the models load with Django, after the store has set it up
    from django.db.models import QuerySet

    from centre.records.models import Hub

log = logging.getLogger(__name__)

REJECTIONS_KEPT = 10_000
"""The rejections table keeps the newest this many: a misconfigured hub re-sends forever."""

_TIMES = ("measured_at", "received_at")  # wire stamps kept as time stamps, for queries by time


def _content(device_address: str, received_at: str, characteristic: str, raw_hex: str) -> str:
    """What makes two readings the same reading: which bytes the hub received when, from which
    device and characteristic."""
    text = "\x00".join((device_address, received_at, characteristic, raw_hex))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class StoredBatch:
    """What storing a batch did: how many readings were new, which of its sequence numbers the
    centre now holds with this batch's reading, and which hold a different one."""

    new: int
    held: tuple[int, ...]
    conflicts: tuple[int, ...]
    stored: tuple[int, ...] = ()
    """The numbers of the readings this batch stored (the `new` ones): `held` also names
    numbers whose reading sits under another number, which are not stored under theirs."""
    health_unreadable: tuple[str, ...] = ()
    """Why each health report this batch stored could not be taken as its hub's health (the
    items are stored all the same, and acknowledged: a bad report never holds the hub's
    outbox back). The ingest records each as a rejection."""


class ReplayedBatch(CentreError, ValueError):
    """A batch the centre accepted before arrived again (a replay, or the broker's redelivery)."""


class GroupNotStored(CentreError, RuntimeError):
    """A group's transaction could not be committed: none of its batches is stored."""


class UnknownHub(CentreError, KeyError):
    """A hub id this centre never enrolled."""

    def __str__(self) -> str:
        return f"hub {self.args[0]} is not enrolled"


class RevokedHub(CentreError, KeyError):
    """A hub revoked at this centre (`centre revoke`)."""

    def __str__(self) -> str:
        return f"hub {self.args[0]} is revoked at this centre (centre revoke)"


_PRESENCE_FIELDS = (  # the Hub model's names of Presence's fields, in its order
    "status_state",
    "status_since",
    "status_at",
    "reported_at",
    "held_care_plan_version",
    "outbox_alarm",
    "outbox_since",
)


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _stamp(text: str) -> datetime:
    """A wire time stamp (ISO 8601 with an offset; hub/wire/envelope.py checks it)."""
    return datetime.fromisoformat(text).astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else _stamp(text)


HEALTH_REASONS_NAMED = 10
"""The most health reports of one batch named as not taken (each a rejection); the rest are
counted in one more: a batch may hold 10 000, and their causes are alike."""


@dataclass(frozen=True)
class NewestHealth:
    """A batch's (or group's) newest readable health report, by the hub's time."""

    seq: int
    made: datetime
    health: HubHealth


@dataclass(frozen=True)
class HealthRead:
    """What a batch's health reports say: the newest that may be taken as the hub's health
    (None: none), and why others may not (at most HEALTH_REASONS_NAMED named, then a count)."""

    newest: NewestHealth | None
    reasons: tuple[str, ...]


def newer(held: NewestHealth | None, candidate: NewestHealth) -> NewestHealth:
    """The newer of two reports by the hub's time; of two made at once, the lower number (the
    first stored, as when each was taken in turn)."""
    if held is None or candidate.made > held.made:
        return candidate
    if candidate.made == held.made and candidate.seq < held.seq:
        return candidate
    return held


def read_newest_health(hub_id: str, items: Sequence[dict[str, Any]], at: datetime) -> HealthRead:
    """Every health report among a batch's new items read (pure, cheap), keeping only the
    newest readable one: taking each in turn as the hub's health cost a savepoint, an upsert,
    a delete and a device insert per report, 16-21 s (SQLite) and 48 s (PostgreSQL) for a batch
    of 2 000, holding the ingest worker while other hubs' batches waited (issue 15 review)."""
    newest: NewestHealth | None = None
    reasons: list[str] = []
    for item in sorted((i for i in items if i["kind"] == HEALTH_KIND), key=itemgetter("seq")):
        seq = item["seq"]
        try:
            health = read_health(item["values"])
        except HealthUnreadable as exc:
            reasons.append(
                f"health report {seq} of hub {hub_id} is stored, not read as its health: {exc}"
            )
            continue
        made = _stamp(item["received_at"])
        if made > at + AHEAD_MOST:
            # Taken, it would hide every true report after it until real time caught up.
            reasons.append(
                f"health report {seq} of hub {hub_id} is stored, not taken as its health: it "
                f"is dated {_iso(made)}, more than an hour ahead of the centre's clock (check "
                "the hub's time synchronisation)"
            )
            continue
        newest = newer(newest, NewestHealth(seq, made, health))
    return HealthRead(newest, _capped(hub_id, reasons))


def _capped(hub_id: str, reasons: list[str]) -> tuple[str, ...]:
    named = reasons[:HEALTH_REASONS_NAMED]
    more = len(reasons) - len(named)
    if more:
        named.append(
            f"{more} more health reports of hub {hub_id} in the same batch are stored but not "
            f"taken as its health (the first {HEALTH_REASONS_NAMED} are named; their causes "
            "are likely the same)"
        )
    return tuple(named)


_HEALTH_FIELDS = tuple(name for name in HubHealth.model_fields if name != "devices")


def _health_data(report: Any, devices: list[dict[str, Any]]) -> dict[str, Any]:
    """A HubHealthReport row as plain data."""
    return {
        "hub_id": report.hub_id,
        "seq": report.seq,
        "at": _iso(report.at),
        "stored_at": _iso(report.stored_at),
        **{name: getattr(report, name) for name in _HEALTH_FIELDS},
        "devices": devices,
    }


class CentreStore:
    """The centre's records in the database at `database`: a URL (sqlite:///..., postgresql://)
    or the path of an SQLite file. With `migrate`, the tables are made or brought up to date;
    without, a database at an older version is refused with what to run."""

    def __init__(self, database: str | Path, *, migrate: bool = False) -> None:
        url = f"sqlite:///{database}" if isinstance(database, Path) else database
        self.alias = database_alias(url)
        prepare(self.alias, migrate=migrate)
        self._contiguous: dict[str, int] = {}
        # Inside `group`, per thread (as Django's connections and transactions are): each
        # hub's newest readable health report of the group so far.
        self._in_group = threading.local()

    def close(self) -> None:
        """Close this thread's connection to the database (SQLite: its -wal and -shm go)."""
        from django.db import connections

        connections[self.alias].close()

    def drop_broken_connection(self) -> bool:
        """Close this thread's connection if it no longer works (PostgreSQL restarted, the
        connection cut; asked with one `SELECT 1`), so that the next statement connects again;
        whether it did. Django mends connections only between web requests: a worker outside
        them failed every statement after a cut, for as long as it ran. Not inside a
        transaction (its end closes a broken connection)."""
        from django.db import connections

        connection = connections[self.alias]
        if connection.connection is None or connection.in_atomic_block or connection.is_usable():
            return False
        connection.close()
        return True

    # Hubs

    def enrol(self, hub_id: str, signing_key: str) -> None:
        from centre.records.models import Hub

        Hub.objects.using(self.alias).update_or_create(
            hub_id=hub_id,
            defaults={"signing_key": signing_key},
            create_defaults={"signing_key": signing_key, "enrolled_at": datetime.now(UTC)},
        )

    def set_hub_encryption_key(self, hub_id: str, suite: str, key: str) -> None:
        """Record the public key a hub's care plans and messages are sealed to."""
        self._hubs().filter(hub_id=hub_id).update(encryption_key=key, encryption_suite=suite)

    def hub_encryption_key(self, hub_id: str) -> tuple[str, str] | None:
        """(suite, base64 public key) of a hub; None if it has none (or is not enrolled)."""
        row = self._hubs().filter(hub_id=hub_id).values_list("encryption_suite", "encryption_key")
        found = row.first()
        return (found[0], found[1]) if found and found[1] and found[0] else None

    def hub_signing_key(self, hub_id: str) -> str | None:
        """The key a hub's batches must be signed with; None if not enrolled or revoked."""
        key: str | None = (
            self._hubs()
            .filter(hub_id=hub_id, revoked_at=None)
            .values_list("signing_key", flat=True)
            .first()
        )
        return key

    def batch_signing_key(self, hub_id: str) -> tuple[str, bool] | None:
        """(the key its batches must be signed with, whether it is revoked) of a hub; None if
        it was never enrolled. One query for what every batch needs, in SQL (through the ORM
        it cost twenty times as much, bench/ingest.py)."""
        from centre.records.models import Hub

        rows = self._sql(
            "SELECT {signing_key}, {revoked_at} FROM {table} WHERE {hub_id} = %s", Hub, [hub_id]
        )
        return (rows[0][0], rows[0][1] is not None) if rows else None

    def enrolled_hubs(self) -> list[str]:
        return list(self._hubs().order_by("hub_id").values_list("hub_id", flat=True))

    # Revocation (issue 11): each hub's current certificate, and every certificate revoked.

    def record_certificate(self, hub_id: str, serial: str) -> str | None:
        """Make `serial` the hub's certificate (and the hub no longer revoked); the certificate
        it replaces is revoked, so a copy of the old one (a stolen hub) no longer connects.
        Returns the replaced serial, if any."""
        from django.db import transaction

        from centre.records.models import RevokedCertificate

        with transaction.atomic(using=self.alias):
            hub = self._hub(hub_id)
            old = hub.cert_serial if hub.cert_serial != serial else None
            if old:
                RevokedCertificate.objects.using(self.alias).get_or_create(
                    serial=old,
                    defaults={"hub": hub, "revoked_at": datetime.now(UTC), "reason": "superseded"},
                )
            hub.cert_serial, hub.revoked_at = serial, None
            hub.save(using=self.alias, update_fields=["cert_serial", "revoked_at"])
        return old

    def revoke(self, hub_id: str) -> str | None:
        """Revoke a hub: its batches are refused and its current certificate (serial returned,
        None if none was recorded) goes on the revocation list. Raises UnknownHub if the hub id
        was never enrolled."""
        from django.db import transaction

        from centre.records.models import RevokedCertificate

        with transaction.atomic(using=self.alias):
            hub = self._hub(hub_id)
            at = hub.revoked_at or datetime.now(UTC)
            if hub.cert_serial:
                RevokedCertificate.objects.using(self.alias).get_or_create(
                    serial=hub.cert_serial,
                    defaults={"hub": hub, "revoked_at": at, "reason": "revoked"},
                )
            hub.revoked_at = at
            hub.save(using=self.alias, update_fields=["revoked_at"])
        serial: str | None = hub.cert_serial
        return serial

    def is_revoked(self, hub_id: str) -> bool:
        return self._hubs().filter(hub_id=hub_id).exclude(revoked_at=None).exists()

    def revoked_hubs(self) -> list[str]:
        """The ids of the hubs revoked now (enrolled again: no longer), in order."""
        return list(
            self._hubs()
            .exclude(revoked_at=None)
            .order_by("hub_id")
            .values_list("hub_id", flat=True)
        )

    def hub_certificate(self, hub_id: str) -> str | None:
        """The serial of the hub's current certificate (None: not enrolled or not recorded)."""
        serial: str | None = (
            self._hubs().filter(hub_id=hub_id).values_list("cert_serial", flat=True).first()
        )
        return serial

    def revoked_certificates(self) -> list[tuple[str, str]]:
        """(serial, revoked_at) of every certificate revoked, oldest first."""
        from centre.records.models import RevokedCertificate

        rows = (
            RevokedCertificate.objects.using(self.alias)
            .order_by("revoked_at", "serial")
            .values_list("serial", "revoked_at")
        )
        return [(serial, _iso(at) or "") for serial, at in rows]

    # Presence (the hubs' retained status, centre/presence.py)

    def record_status(self, hub_id: str, status: HubStatus, *, live: bool) -> bool:
        """Record what a hub's status says that is newer than what is recorded (a status
        arriving again, or after a newer one, changes nothing of it); `live`: sent now, not a
        retained copy handed over on subscribing, so the hub was heard from now. Returns
        whether the record changed. Raises UnknownHub for a hub never enrolled, RevokedHub for
        a revoked one."""
        from django.db import transaction

        with transaction.atomic(using=self.alias):
            hub = self._hub(hub_id)  # locked: workers record the same status side by side
            if hub.revoked_at is not None:
                raise RevokedHub(hub_id)
            recorded = Presence(*(getattr(hub, name) for name in _PRESENCE_FIELDS))
            merged = merge(recorded, status)
            fields = [] if merged == recorded else list(_PRESENCE_FIELDS)
            for name, value in zip(_PRESENCE_FIELDS, astuple(merged), strict=True):
                setattr(hub, name, value)
            if live:
                hub.seen_at = datetime.now(UTC)
                fields.append("seen_at")
            if fields:
                hub.save(using=self.alias, update_fields=fields)
            alarm = (merged.outbox_alarm, merged.outbox_since)
            if alarm != (recorded.outbox_alarm, recorded.outbox_since):
                self._alarm_changed(hub, *alarm)
        return merged != recorded

    def _alarm_changed(self, hub: Hub, alarm: str | None, since: datetime | None) -> None:
        from centre.records.models import OutboxAlarmChange

        OutboxAlarmChange.objects.using(self.alias).create(
            hub=hub, alarm=alarm, since=since, recorded_at=datetime.now(UTC)
        )

    def presence(self, hub_id: str) -> dict[str, Any] | None:
        """What is recorded of a hub's status, as plain data; None if it is not enrolled."""
        found: dict[str, Any] | None = (
            self._hubs().filter(hub_id=hub_id).values("seen_at", *_PRESENCE_FIELDS).first()
        )
        return found

    # Readings

    @contextmanager
    def group(self) -> Iterator[None]:
        """One transaction around several `store_batch` calls (each then a savepoint: one that
        raises undoes only its own part). Committed when the block ends; raises, keeping none
        of it, if it cannot be (a savepoint that could not be rolled back leaves the
        transaction to be rolled back, which Django does without raising)."""
        from django.db import connections, transaction

        connection = connections[self.alias]
        if self._group_health() is not None:  # within a group already: part of it
            yield
            return
        taken: dict[str, NewestHealth] = {}
        self._in_group.health = taken
        try:
            with transaction.atomic(using=self.alias):
                yield
                if not connection.needs_rollback:
                    self._take_group_health(taken)
                if connection.needs_rollback:
                    raise GroupNotStored("the database refused part of a group; none of it is kept")
        finally:
            self._in_group.health = None

    def _group_health(self) -> dict[str, NewestHealth] | None:
        found: dict[str, NewestHealth] | None = getattr(self._in_group, "health", None)
        return found

    def store_batch(
        self,
        hub_id: str,
        batch_id: str,
        items: list[dict[str, Any]],
        values_json: Sequence[str] = (),
    ) -> StoredBatch:
        """Store every item once, in one transaction; a re-sent item changes nothing.

        An item under a sequence number that already holds a *different* reading (the hub's
        counter went back: a lost write, a restored SD card) is not stored and is named in
        `conflicts`, so the hub can renumber it, unless the centre holds that same reading
        under another number (then it is held); the rest of the batch is stored. Raises
        ReplayedBatch, storing nothing, for a batch id accepted before (a hub re-sends under a
        new batch id). `values_json`: each item's values as json.dumps writes them, if made
        already (hub/wire/batch.py OpenedBatch), else made here.
        """
        from django.db import connections, transaction

        at = datetime.now(UTC)
        connection = connections[self.alias]
        with transaction.atomic(using=self.alias), connection.cursor() as cursor:
            # Heard from it now; and it must be enrolled, checked before writing (foreign keys
            # are checked at commit).
            enrolled, accepted = _heard_and_accepted(connection, cursor, hub_id, batch_id, at)
            if not enrolled:  # or revoked since its batch was opened (a group's, say)
                raise RevokedHub(hub_id) if self.is_revoked(hub_id) else UnknownHub(hub_id)
            if not accepted:
                raise ReplayedBatch(
                    f"batch {batch_id} from {hub_id} was accepted before (a replay, or the broker "
                    "delivering it twice); not stored or acknowledged again"
                )
            digests = [_digest(item) for item in items]
            texts = values_json or [_as_json(item["values"]) for item in items]
            held = self._held_under(hub_id, items, digests)
            plan = _Placement.of(held, items, digests, texts)
            _insert_readings(connection, cursor, hub_id, batch_id, at, plan.new)
            read = read_newest_health(hub_id, [item for item, _, _ in plan.new], at)
            unreadable = read.reasons
            group_health = self._group_health()
            if read.newest is not None and group_health is not None:
                # Inside a group: taken once, when the group ends (the newest of all its
                # batches), not once per batch.
                group_health[hub_id] = newer(group_health.get(hub_id), read.newest)
            elif read.newest is not None:
                failed = self._take_health(hub_id, read.newest, at)
                unreadable += () if failed is None else (failed,)
        stored = tuple(item["seq"] for item, _, _ in plan.new)
        return StoredBatch(
            len(plan.new), tuple(plan.held), tuple(plan.conflicts), stored, unreadable
        )

    def _take_health(self, hub_id: str, newest: NewestHealth, at: datetime) -> str | None:
        """The newest readable report of a batch (or group), already stored as an item, taken
        as the hub's health if it is newer (by the hub's time) than the one held; a replayed or
        older one changes nothing. Inside the batch's transaction, in a savepoint of its own:
        None, or why it could not be (the item stays stored either way)."""
        from django.db import DatabaseError, transaction

        try:
            with transaction.atomic(using=self.alias):
                self._newest_health(hub_id, newest.seq, newest.made, at, newest.health)
        except (DatabaseError, ValueError, OverflowError) as exc:
            return (
                f"health report {newest.seq} of hub {hub_id} is stored but could not be "
                f"recorded as its health ({type(exc).__name__}: {exc})"
            )
        return None

    def _take_group_health(self, taken: dict[str, NewestHealth]) -> None:
        """At a group's end, each hub's newest report of the group taken as its health. A
        failure is logged and recorded as a rejection (the batches' acks are made already;
        the reports stay stored as items)."""
        at = datetime.now(UTC)
        for hub_id, newest in sorted(taken.items()):
            failed = self._take_health(hub_id, newest, at)
            if failed is not None:
                log.error("%s", failed)
                self.reject(batch_topic(hub_id), hub_id, failed)

    def _newest_health(
        self, hub_id: str, seq: int, made: datetime, at: datetime, health: HubHealth
    ) -> None:
        from centre.records.models import HubDeviceHealth, HubHealthReport

        reports = HubHealthReport.objects.using(self.alias)
        held = reports.filter(hub_id=hub_id).values_list("at", flat=True).first()
        if held is not None and held >= made:
            return
        fields = health.model_dump(exclude={"devices"})
        reports.update_or_create(
            hub_id=hub_id, defaults={"seq": seq, "at": made, "stored_at": at, **fields}
        )
        devices = HubDeviceHealth.objects.using(self.alias)
        devices.filter(hub_id=hub_id).delete()
        devices.bulk_create(
            HubDeviceHealth(
                hub_id=hub_id,
                address=device.address.upper(),
                profile=device.profile,
                name=device.name,
                battery_level=device.battery_level,
                last_connected_at=_moment(device.last_connected_at),
                clock_set_at=_moment(device.clock_set_at),
            )
            for device in health.devices
        )

    def _held_under(self, hub_id: str, items: list[dict[str, Any]], digests: list[str]) -> _Held:
        """What the centre holds of this hub under the items' numbers and contents: one query
        per 250 items (in SQL: the ORM took longer to build it than the database to answer)."""
        from django.db import connections

        connection = connections[self.alias]
        statement = _held_statement(connection)
        by_seq: dict[int, str] = {}
        contents: set[str] = set()
        with connection.cursor() as cursor:
            for start in range(0, len(items), _CHUNK // 2):
                seqs = {item["seq"] for item in items[start : start + _CHUNK // 2]}
                wanted = set(digests[start : start + _CHUNK // 2])
                if connection.vendor == "postgresql":
                    numbers = ",".join(map(str, seqs))  # one text each: psycopg's arrays
                    cursor.execute(statement, [numbers, hub_id, ",".join(wanted), hub_id])
                else:
                    marks = (", ".join(["%s"] * len(some)) for some in (seqs, wanted))
                    cursor.execute(statement.format(*marks), [hub_id, *seqs, hub_id, *wanted])
                for held_seq, held_digest in cursor.fetchall():
                    if held_seq in seqs:
                        by_seq[held_seq] = held_digest
                    if held_digest in wanted:
                        contents.add(held_digest)
        return _Held(by_seq, contents)

    def open_call_requests(self, hub_id: str, since: datetime) -> set[int]:
        """The numbers of the hub's call requests stored since `since` and since the hub's
        latest care episode began or ended, that no nurse has acknowledged (the ingest caps
        them: centre/ingest.py MAX_OPEN_CALLS). A request stored before that boundary was the
        previous patient's (or asked between patients): she cannot answer it from her row,
        and counting it refused the next patient's first 'Ring meg' for up to 90 days. By
        the centre's clock (stored_at), as the worklist places a request in an episode: the
        hub's own clock may be days behind (centre/web/worklist_data.py)."""
        from django.db.models import CharField, Exists, OuterRef, Value
        from django.db.models.functions import Cast, Concat

        from centre.followup.models import Acknowledgement
        from centre.records.models import Reading

        # The worklist acknowledges a reading as "reading:<its id>" (centre/web/worklist_data.py).
        answered = Acknowledgement.objects.using(self.alias).filter(
            key=Concat(Value("reading:"), Cast(OuterRef("id"), CharField()))
        )
        since = max([since, *self._episode_boundaries(hub_id)])
        rows = (
            Reading.objects.using(self.alias)
            .filter(hub_id=hub_id, kind=CALL_KIND, stored_at__gte=since)
            .exclude(Exists(answered))
            .values_list("seq", flat=True)
        )
        return set(rows)

    def _episode_boundaries(self, hub_id: str) -> list[datetime]:
        """When the hub's latest care episode began, and when its latest ended (none: not
        there), up to now."""
        from django.db.models import Max

        from centre.people.models import CareEpisode

        now = datetime.now(UTC)
        episodes = CareEpisode.objects.using(self.alias).filter(hub_id=hub_id)
        started = episodes.filter(started__lte=now).aggregate(at=Max("started"))["at"]
        ended = episodes.filter(ended__lte=now).aggregate(at=Max("ended"))["at"]
        return [at for at in (started, ended) if at is not None]

    def highest_held(self, hub_id: str) -> int:
        from centre.records.models import Reading

        rows = self._sql("SELECT MAX({seq}) FROM {table} WHERE {hub} = %s", Reading, [hub_id])
        return int(rows[0][0] or 0)

    def highest_contiguous(self, hub_id: str, stored: Collection[int] = ()) -> int:
        """The highest n such that every sequence number 1..n of this hub is stored.

        Readings are never deleted, so the answer only grows: it is walked forward from the
        last one, which keeps a 100 000-reading drain linear. `stored`: numbers of readings
        committed since (StoredBatch.stored, never its `held`), walked in memory first; the
        database is then asked only what lies beyond (a group's 2 000 readings were read back
        from it, 2 ms a group)."""
        from centre.records.models import Reading

        through = self._contiguous.get(hub_id, 0)
        while through + 1 in stored:
            through += 1
        while True:
            seqs = [
                row[0]
                for row in self._sql(
                    "SELECT {seq} FROM {table} WHERE {hub} = %s AND {seq} > %s"
                    " ORDER BY {seq} LIMIT 1000",
                    Reading,
                    [hub_id, through],
                )
            ]
            for seq in seqs:
                if seq != through + 1:
                    break
                through = seq
            else:
                if len(seqs) == 1000:
                    continue
            break
        self._contiguous[hub_id] = through
        return through

    def _sql(self, statement: str, model: Any, params: list[Any]) -> list[tuple[Any, ...]]:
        """The rows of a statement on one model's table, its {table} and {field} names filled
        in as the database quotes them. For what every batch asks: through the ORM, building
        the query cost twenty times the database's answer (bench/ingest.py)."""
        from django.db import connections

        connection = connections[self.alias]
        quote = connection.ops.quote_name
        names = {name: quote(column) for name, column in _columns(model).items()}
        with connection.cursor() as cursor:
            cursor.execute(statement.format(table=quote(model._meta.db_table), **names), params)
            return list(cursor.fetchall())

    def readings(self) -> list[dict[str, Any]]:
        """Every reading, by hub and sequence number, as plain data."""
        from centre.records.models import Reading

        keys = (
            "hub_id",
            "seq",
            "kind",
            "device_address",
            "device_time",
            "measured_at",
            "time_source",
            "clock_correction_s",
            "hub_clock_synced",
            "hub_clock_offset_s",
            "received_at",
            "outcome",
            "problems_json",
            "values_json",
            "batch_id",
            "stored_at",
        )
        out = []
        rows = Reading.objects.using(self.alias).order_by("hub_id", "seq").values_list(*keys)
        for row in rows.iterator(chunk_size=2000):
            reading = dict(zip(keys, row, strict=True))
            for name in (*_TIMES, "stored_at"):
                reading[name] = _iso(reading[name])
            reading["problems"] = json.loads(reading.pop("problems_json"))
            reading["values"] = json.loads(reading.pop("values_json"))
            out.append(reading)
        return out

    # Hub health (issue 15): the newest report of each hub, for the technician's page

    def hub_health(self, hub_id: str) -> dict[str, Any] | None:
        """The hub's newest health report as plain data (times as ISO 8601 UTC text), with its
        `devices` (by address); None if the centre holds none for it."""
        from centre.records.models import HubHealthReport

        report = HubHealthReport.objects.using(self.alias).filter(hub_id=hub_id).first()
        if report is None:
            return None
        return _health_data(report, self._health_devices([hub_id]).get(hub_id, []))

    def health_history(self, hub_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The hub's health reports as stored (every one, as the items they came in), newest
        first by number: `seq`, `at` (the hub's time), `stored_at` and `values` as sent."""
        from centre.records.models import Reading

        rows = (
            Reading.objects.using(self.alias)
            .filter(hub_id=hub_id, kind=HEALTH_KIND)
            .order_by("-seq")
            .values_list("seq", "received_at", "stored_at", "values_json")[:limit]
        )
        return [
            {"seq": seq, "at": _iso(made), "stored_at": _iso(stored), "values": json.loads(text)}
            for seq, made, stored, text in rows
        ]

    def _health_devices(self, hub_ids: list[str] | None) -> dict[str, list[dict[str, Any]]]:
        from centre.records.models import HubDeviceHealth

        rows = HubDeviceHealth.objects.using(self.alias).order_by("hub_id", "address")
        if hub_ids is not None:
            rows = rows.filter(hub_id__in=hub_ids)
        out: dict[str, list[dict[str, Any]]] = {}
        for device in rows:
            out.setdefault(device.hub_id, []).append(
                {
                    "address": device.address,
                    "profile": device.profile,
                    "name": device.name,
                    "battery_level": device.battery_level,
                    "last_connected_at": _iso(device.last_connected_at),
                    "clock_set_at": _iso(device.clock_set_at),
                }
            )
        return out

    # Documents sent down

    def record_document(
        self, hub_id: str, doc_type: str, issued_at: str, content: dict[str, Any]
    ) -> int:
        """Give the next document of a type for a hub its version (one more than the last)."""
        from django.db import transaction
        from django.db.models import Max

        from centre.records.models import Document

        with transaction.atomic(using=self.alias):
            documents = Document.objects.using(self.alias).filter(hub_id=hub_id, doc_type=doc_type)
            version = int(documents.aggregate(top=Max("version"))["top"] or 0) + 1
            documents.create(
                hub_id=hub_id,
                doc_type=doc_type,
                version=version,
                issued_at=_stamp(issued_at),
                content_json=json.dumps(content),
            )
        return version

    # Refusals

    def reject(self, topic: str, hub_id: str | None, reason: str) -> None:
        from centre.records.models import Rejection

        rejections = Rejection.objects.using(self.alias)
        newest = rejections.create(at=datetime.now(UTC), topic=topic, hub_id=hub_id, reason=reason)
        rejections.filter(id__lte=newest.id - REJECTIONS_KEPT).delete()

    def rejections(self) -> list[dict[str, Any]]:
        from centre.records.models import Rejection

        rows = Rejection.objects.using(self.alias).order_by("id")
        return [
            {"at": _iso(r.at), "topic": r.topic, "hub_id": r.hub_id, "reason": r.reason}
            for r in rows
        ]

    # Helpers

    def _hubs(self) -> QuerySet[Hub]:
        from centre.records.models import Hub

        return Hub.objects.using(self.alias)

    def _hub(self, hub_id: str) -> Hub:
        from centre.records.models import Hub

        try:
            return Hub.objects.using(self.alias).select_for_update().get(hub_id=hub_id)
        except Hub.DoesNotExist:
            raise UnknownHub(hub_id) from None


@dataclass
class _Held:
    by_seq: dict[int, str]  # seq -> content digest held under it
    contents: set[str]  # every content digest held


@dataclass
class _Placement:
    """Where each item of a batch goes: new, held (this reading, under this number or another),
    or a conflict (another reading under this number). Items are placed in order, so a batch
    that holds one reading twice stores it once."""

    new: list[tuple[dict[str, Any], str, str]]  # item, content digest, values as JSON
    held: list[int]
    conflicts: list[int]

    @classmethod
    def of(
        cls, held: _Held, items: list[dict[str, Any]], digests: list[str], texts: Sequence[str]
    ) -> _Placement:
        plan = cls([], [], [])
        for item, digest, text in zip(items, digests, texts, strict=True):
            seq = item["seq"]
            under = held.by_seq.get(seq)
            if under == digest or digest in held.contents:
                plan.held.append(seq)  # under this number, or renumbered after a lost write
            elif under is not None:
                plan.conflicts.append(seq)
            else:
                plan.new.append((item, digest, text))
                plan.held.append(seq)
                held.by_seq[seq] = digest
                held.contents.add(digest)
        return plan


def _digest(item: dict[str, Any]) -> str:
    return _content(
        item["device_address"], item["received_at"], item["characteristic"], item["raw_hex"]
    )


_CHUNK = 500
"""Query parameters per statement (SQLite allows a limited number)."""


def _columns(model: Any) -> dict[str, str]:
    """A model's columns by its fields' names."""
    return {f.name: str(f.column) for f in model._meta.concrete_fields}


def _held_statement(connection: Any) -> str:
    """The readings of a hub (first parameter) under some numbers, then those of a hub with
    some contents. On PostgreSQL one index look-up per number and per content, whatever the
    planner believes: on a table not analysed yet (a new centre draining its first hubs) it
    read every reading of the hub instead, for every batch. On SQLite, two IN lists (its
    planner takes the two indexes as they are), to be filled in with their placeholders.
    PostgreSQL takes the numbers and the contents as comma-separated text (numbers, and
    digests in hex, hold no comma): psycopg made an array of 200 items in a millisecond."""
    from centre.records.models import Reading

    quote, column = connection.ops.quote_name, _columns(Reading)
    hub, seq, digest = (quote(column[name]) for name in ("hub", "seq", "content_digest"))
    table = quote(Reading._meta.db_table)
    if connection.vendor == "postgresql":
        return " UNION ALL ".join(
            f"SELECT r.{seq}, r.{digest} FROM unnest(string_to_array(%s, ',')::{kind}[]) AS w(v)"
            " CROSS JOIN LATERAL"
            f" (SELECT {seq}, {digest} FROM {table} WHERE {hub} = %s AND {by} = w.v LIMIT 1) r"
            for by, kind in ((seq, "bigint"), (digest, "text"))
        )
    return (
        f"SELECT {seq}, {digest} FROM {table} WHERE {hub} = %s AND {seq} IN ({{}})"
        f" UNION ALL SELECT {seq}, {digest} FROM {table} WHERE {hub} = %s AND {digest} IN ({{}})"
    )


def _heard_and_accepted(
    connection: Any, cursor: Any, hub_id: str, batch_id: str, at: datetime
) -> tuple[bool, bool]:
    """Note that the hub was heard from at `at` and record the batch as accepted: whether the
    hub is enrolled and not revoked (if not, nothing is written), and whether the batch is new
    (if not, the caller raises and its transaction undoes the note). On PostgreSQL in one
    statement, one round trip fewer a batch; on SQLite (no writes in a WITH) in two, in
    process."""
    if connection.vendor != "postgresql":
        if not _heard_from(connection, cursor, hub_id, at):
            return False, False
        return True, _accept(connection, cursor, hub_id, batch_id, at)
    from centre.records.models import AcceptedBatch, Hub

    quote = connection.ops.quote_name
    hub, batch = _columns(Hub), _columns(AcceptedBatch)
    columns = ", ".join(quote(batch[name]) for name in ("hub", "batch_id", "stored_at"))
    moment = connection.ops.adapt_datetimefield_value(at)
    cursor.execute(
        f"WITH seen AS (UPDATE {quote(Hub._meta.db_table)} SET {quote(hub['seen_at'])} = %s"
        f" WHERE {quote(hub['hub_id'])} = %s AND {quote(hub['revoked_at'])} IS NULL"
        f" RETURNING {quote(hub['hub_id'])} AS hub),"
        f" taken AS (INSERT INTO {quote(AcceptedBatch._meta.db_table)} ({columns})"
        " SELECT hub, %s, %s FROM seen ON CONFLICT DO NOTHING RETURNING 1)"
        " SELECT (SELECT count(*) FROM seen), (SELECT count(*) FROM taken)",
        [moment, hub_id, batch_id, moment],
    )
    seen, taken = cursor.fetchone()
    return seen == 1, taken == 1


def _heard_from(connection: Any, cursor: Any, hub_id: str, at: datetime) -> bool:
    """Note that the hub was heard from at `at`; False if it is not enrolled, or revoked."""
    from centre.records.models import Hub

    quote, column = connection.ops.quote_name, _columns(Hub)
    cursor.execute(
        f"UPDATE {quote(Hub._meta.db_table)} SET {quote(column['seen_at'])} = %s"
        f" WHERE {quote(column['hub_id'])} = %s AND {quote(column['revoked_at'])} IS NULL",
        [connection.ops.adapt_datetimefield_value(at), hub_id],
    )
    return bool(cursor.rowcount == 1)


def _accept(connection: Any, cursor: Any, hub_id: str, batch_id: str, at: datetime) -> bool:
    """Record the batch as accepted; False if it was accepted before. One statement: the
    ORM's create needed a savepoint around it to survive the unique constraint refusing it."""
    from centre.records.models import AcceptedBatch

    quote, column = connection.ops.quote_name, _columns(AcceptedBatch)
    columns = ", ".join(quote(column[name]) for name in ("hub", "batch_id", "stored_at"))
    cursor.execute(
        f"INSERT INTO {quote(AcceptedBatch._meta.db_table)} ({columns}) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        [hub_id, batch_id, connection.ops.adapt_datetimefield_value(at)],
    )
    return bool(cursor.rowcount == 1)


def _insert_readings(
    connection: Any,
    cursor: Any,
    hub_id: str,
    batch_id: str,
    at: datetime,
    new: list[tuple[dict[str, Any], str, str]],
) -> None:
    """The new readings into the Reading model's table, its columns taken from the model: on
    PostgreSQL by COPY, on SQLite by one INSERT run for every row. Not bulk_create: building
    a model instance and preparing each field through it cost five times the database's work,
    and executemany on PostgreSQL sent each row as a statement of its own (bench/ingest.py).
    Each row is a tuple made in one go, in the order of `_row_layout` (not the model's)."""
    if not new:
        return
    plain, columns = _row_layout(connection)
    stamp = _database_stamp(connection)
    stored_at = connection.ops.adapt_datetimefield_value(at)
    encode = _as_json
    rows = [
        (
            *plain(item),
            stamp(item["measured_at"]),
            stamp(item["received_at"]),
            bool(item["hub_clock_synced"]),
            encode(list(problems)) if (problems := item["problems"]) else "[]",
            values,
            hub_id,
            batch_id,
            stored_at,
            digest,
        )
        for item, digest, values in new
    ]
    if connection.vendor == "postgresql":
        with cursor.cursor.copy(f"COPY {columns.table} ({columns.names}) FROM STDIN") as copy:
            for values in rows:
                copy.write_row(values)
    else:
        cursor.executemany(
            f"INSERT INTO {columns.table} ({columns.names}) VALUES ({columns.marks})", rows
        )


_as_json = json.JSONEncoder().encode  # json.dumps's text, without its call's own cost

_MADE = (  # the columns a row holds after the plain fields, in the row's order
    "measured_at",
    "received_at",
    "hub_clock_synced",
    "problems_json",
    "values_json",
    "hub_id",
    "batch_id",
    "stored_at",
    "content_digest",
)


@dataclass(frozen=True)
class _Columns:
    table: str
    names: str  # quoted, comma separated
    marks: str  # a %s each


def _row_layout(connection: Any) -> tuple[Callable[[dict[str, Any]], tuple[Any, ...]], _Columns]:
    """What a row of `_insert_readings` takes from the item as it came (the plain wire fields
    but the time stamps), and the columns of a row in its order. Raises TypeError if the
    Reading model has a column the row does not fill (a field added to the model alone)."""
    from centre.records.models import Reading

    fields = [f for f in Reading._meta.concrete_fields if not f.primary_key]
    plain = [f.name for f in WIRE_FIELDS if f.storage == "plain" and f.name not in _TIMES]
    order = [*plain, *_MADE]
    if sorted(order) != sorted(str(f.attname) for f in fields):
        raise TypeError(
            f"centre/store.py: a reading's row {sorted(order)} does not fill the Reading "
            f"model's columns {sorted(str(f.attname) for f in fields)}"
        )
    quote, column = connection.ops.quote_name, {str(f.attname): str(f.column) for f in fields}
    take = itemgetter(*plain)
    return take, _Columns(
        quote(Reading._meta.db_table),
        ", ".join(quote(column[name]) for name in order),
        ", ".join(["%s"] * len(order)),
    )


def _database_stamp(connection: Any) -> Callable[[str], Any]:
    """A wire stamp as the database takes it: what Django's adapt_datetimefield_value makes of
    the moment. On SQLite with UTC connections (the centre's) that is the naive UTC text, made
    here in one step: Django's way cost three times the parsing, twice per reading."""
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor == "sqlite" and connection.timezone is UTC:
        return _sqlite_utc_text
    return lambda text: adapt(_stamp(text))


def _sqlite_utc_text(text: str) -> str:
    """str() of the naive UTC moment, which is its isoformat(" ") less the "+00:00" of UTC.
    A stamp the hub writes (UTC, to the second or millisecond) is cut from the text instead,
    checked by parsing, which costs a fifth of making the text again; the same text either way
    (tests/test_centre_store_batch.py)."""
    moment = datetime.fromisoformat(text)
    if _HUB_UTC.fullmatch(text) is None:
        return moment.astimezone(UTC).isoformat(" ")[:-6]
    if moment.microsecond == 0:  # isoformat writes no fraction then: ".000" is left out
        return f"{text[:10]} {text[11:19]}"
    return f"{text[:10]} {text[11:23]}000"


_HUB_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3})?\+00:00", re.ASCII)
"""A stamp as the hub writes it: UTC, to the second or to the millisecond."""
