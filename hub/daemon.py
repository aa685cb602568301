"""The hub daemon: the single owner of the reading store.

Device values are committed first; the uplink and the patient screen only see committed rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from hub import ipc
from hub.config import ConfigError, HubConfig
from hub.core.answers import AnswerError, to_answer_reading, to_receipt_reading
from hub.core.live import LiveBoard, progressed, result_stored, session_ended, session_started
from hub.core.outcome import assess
from hub.core.timing import resolve_time
from hub.devices import ParseError, decode
from hub.devices.ble.driver import DeviceProgress, DeviceValue, SessionEnded, SessionStarted
from hub.devices.ble.session import DeviceWatcher, PairingError
from hub.devices.decode import short_uuid
from hub.devices.profiles import kind_of
from hub.keys import KeyFileError, load_signing_key, record_digest_key
from hub.notify import Notifier, keep_pinging
from hub.socket_requests import (
    ForgetRequest,
    LiveRequest,
    MessageReadRequest,
    PairRequest,
    RequestRefused,
    parse,
)
from hub.store import ROUTINE, URGENT, NewReading, ReadingStore, StoreError, now_utc
from hub.sync.downlink import TOPIC as DOWNLINK_TOPIC
from hub.sync.downlink import (
    AlreadyHeld,
    CarePlan,
    CentreKeyNotice,
    open_document,
    outside_limits,
    stored_document,
)
from hub.sync.uplink import Uplink
from hub.wire.envelope import EnvelopeError
from hub.wire.hub_key import HubKeyPair, load_hub_key
from hub.wire.sealing import ItemSealer
from hub.wire.suites import centre_key

log = logging.getLogger(__name__)
T = TypeVar("T")
DeviceEvent = DeviceValue | DeviceProgress | SessionStarted | SessionEnded

PAIR_TIMEOUT_S = 60.0
STORE_RETRY_S = 5.0
HOUSEKEEPING_S = 60.0
HOUSEKEEPING_MIN_S = 5.0  # woken by acks, but no more often than this (it sums the outbox)
TREND_DAYS = 14
LIVE_WAIT_MAX_S = 30.0  # the longest a screen's "live" request is held open


def outbox_alarm(outbox_bytes: int, budget_mb: float) -> str | None:
    """`near_full` from 80 % of the budget, `over_budget` past it; None below."""
    share = outbox_bytes / (budget_mb * 1024 * 1024)
    if share >= 1.0:
        return "over_budget"
    if share >= 0.8:
        return "near_full"
    return None


def record_key(value: DeviceValue, values: dict[str, Any]) -> str | None:
    """What identifies a record if the device sends it again: device, characteristic, the
    device's record number or time stamp, and the bytes. None when nothing identifies it."""
    number, stamp = values.get("sequence_number"), values.get("timestamp")
    if number is None and stamp is None:
        return None
    digest = hashlib.sha256(value.data).hexdigest()[:16]
    char = short_uuid(value.characteristic)
    return f"{value.device_address}|{char}|{number}|{stamp}|{digest}"


def to_reading(
    value: DeviceValue,
    zone: ZoneInfo,
    hub_clock_offset_s: float | None = None,
    plan: CarePlan | None = None,
) -> NewReading | None:
    """Decode, assess and time a device value; None (logged, with raw hex) if unreadable.

    ``hub_clock_offset_s`` is the hub clock's error as last estimated from a centre ack. A value
    outside the care plan's limits is flagged and goes out in the urgent lane.
    """
    kind = kind_of(value.characteristic)
    if kind is None:
        log.warning(
            "value from %s on unexpected characteristic %s: %s",
            value.device_address,
            value.characteristic,
            value.data.hex(),
        )
        return None
    try:
        values = decode(value.characteristic, value.data)
    except ParseError as exc:
        log.error("unreadable value from %s: %s", value.device_address, exc)
        return None
    assessment = assess(kind, values)
    beyond = outside_limits(kind, values, plan) if assessment.outcome != "failed" else ()
    stamp = values.get("timestamp")
    timing = resolve_time(
        datetime.fromisoformat(stamp) if stamp else None,
        datetime.fromisoformat(value.received_at),
        zone,
        value.clock,
        hub_clock_synced=value.hub_clock_synced,
        device_clock_unset=bool(values.get("device_clock_not_set")),
    )
    return NewReading(
        kind=kind,
        characteristic=value.characteristic,
        device_address=value.device_address,
        device_time=timing.device_time,
        received_at=value.received_at,
        raw_hex=value.data.hex(),
        values=values,
        measured_at=timing.measured_at,
        time_source=timing.time_source,
        clock_correction_s=timing.clock_correction_s,
        hub_clock_synced=timing.hub_clock_synced,
        outcome="flagged" if beyond else assessment.outcome,
        problems=assessment.problems + beyond,
        record_key=record_key(value, values),
        hub_clock_offset_s=hub_clock_offset_s,
        priority=URGENT if beyond else ROUTINE,
    )


STATUS_FIELDS = (
    "kind",
    "seq",
    "device_time",
    "measured_at",
    "time_source",
    "received_at",
    "outcome",
    "problems",
    "values",
    "synced",
    "synced_at",
)


def status_reading(r: Any) -> dict[str, Any]:
    """A stored reading as the screen sees it (no raw bytes, no store internals)."""
    full = r.to_json()
    return {k: full[k] for k in STATUS_FIELDS}


class DaemonFailure(RuntimeError):
    """One of the daemon's parts stopped; the daemon exits so that it is restarted whole."""


class HubDaemon:
    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.sealer = ItemSealer(config.hub_id, config.centre.encryption)
        self.hub_key = load_signing_key(config.signing_key_path)
        self.store = ReadingStore(
            config.db_path,
            sealer=self.sealer,
            digest_key=record_digest_key(self.hub_key),
            record_memory_days=config.sync.record_memory_days,
        )
        self.outbox_alarm: str | None = None
        self.downlink_refused: str | None = None  # why the last document was refused
        self.hub_seal_key = self._hub_seal_key()
        notice = self._stored_document("centre_key")
        if isinstance(notice, CentreKeyNotice):  # the centre rotated its key since provisioning
            self.sealer.centre = centre_key(notice.encryption_suite, notice.encryption_key)
        plan = self._stored_document("care_plan")
        self.care_plan = plan if isinstance(plan, CarePlan) else None
        self.incoming: asyncio.Queue[DeviceEvent] = asyncio.Queue()
        self.live = LiveBoard()  # what the devices are doing now, for the measuring screen
        self.store_problem: str | None = None  # why the last write failed, until one succeeds

    def _hub_seal_key(self) -> HubKeyPair | None:
        """The key care plans and messages are sealed to; None (reported) if this hub has none:
        it then still measures and sends readings, but takes nothing from the centre."""
        path = self.config.encryption_key_path
        try:
            return load_hub_key(path.read_text(), f"hub encryption key {path}")
        except (OSError, KeyFileError) as exc:
            self.downlink_refused = (
                f"{exc}. Care plans and messages cannot be opened: enrol this hub again "
                "(`centre enrol`, then `hub provision` with the new bundle)"
            )
            log.error("%s", self.downlink_refused)
            return None

    def _stored_document(self, doc_type: str) -> object | None:
        """A kept document, checked again: one that no longer validates (kept by an older hub
        version, or under another type) is set aside and reported, never stops the start."""
        try:
            content = self.store.document(doc_type)
            return None if content is None else stored_document(doc_type, content)
        except ValueError as exc:
            try:
                version = self.store.set_aside_document(doc_type)
            except StoreError as store_exc:
                version, exc = None, ValueError(f"{exc} (not set aside: {store_exc})")
            self.downlink_refused = (
                f"{doc_type} version {version} held by this hub was set aside: {exc}. The "
                f"centre's {doc_type} of that version or newer will be taken when it comes"
            )
            log.error("%s", self.downlink_refused)
            return None

    async def run(self) -> None:
        self._acks_arrived = asyncio.Event()
        uplink = Uplink(
            self.config,
            self.store,
            self.hub_key,
            on_downlink=self._downlink,
            on_synced=self._acks_arrived.set,
        )
        self.uplink = uplink
        self.watcher = watcher = DeviceWatcher(
            self.config.bluetooth,
            self.config.clock.zone,
            self.config.clock.source,
            known=lambda: {d.address: d for d in self.store.devices()},
            last_record_number=self.store.last_record_number,
            on_event=self.incoming.put_nowait,
        )
        await watcher.start_agent()
        try:
            server = await ipc.serve(self.config.socket_path, self.handle_request)
        except OSError as exc:
            raise ConfigError(
                f"cannot open the hub's local socket {self.config.socket_path}: {exc}; socket_dir "
                "must be a directory this user may write (dho-hub.service makes /run/dho-hub)"
            ) from exc
        uplink.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("hub %s running (store %s)", self.config.hub_id, self.config.db_path)
        notifier = Notifier.from_environment()
        notifier.ready()  # the socket serves and the uplink runs: systemd may start the screen
        pings = asyncio.create_task(keep_pinging(notifier))  # stop when this loop is stuck
        sealed = await self._retrying(self.store.seal_backlog)
        if sealed:
            log.info("sealed %d readings stored by an older hub version", sealed)
        tasks = [
            asyncio.create_task(t)
            for t in (
                watcher.run(),
                self._store_incoming(uplink),
                uplink.run(),
                self._housekeeping(uplink),
            )
        ]
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopping}:
                # A part that dies must take the daemon down, so systemd restarts all of it.
                raise DaemonFailure(f"hub task ended unexpectedly: {task.exception()!r}")
        finally:
            notifier.stopping()
            pings.cancel()
            stopping.cancel()
            for task in tasks:
                task.cancel()
            server.close()
            uplink.stop()
            self.store.close()
            self.config.socket_path.unlink(missing_ok=True)
            log.info("hub stopped")

    async def _store_incoming(self, uplink: Uplink) -> None:
        while True:
            event = await self.incoming.get()
            if isinstance(event, SessionStarted):
                await self.live.apply(
                    session_started, event.device_address, event.profile, event.at
                )
                continue
            if isinstance(event, DeviceProgress):
                await self._show_progress(event)
                continue
            if isinstance(event, SessionEnded):
                await self._retrying(
                    functools.partial(
                        self.store.note_connection,
                        event.device_address,
                        event.at,
                        event.clock_written,
                        event.battery_level,
                    )
                )
                await self.live.apply(session_ended, event.device_address, event.at)
                continue
            reading = to_reading(
                event, self.config.clock.zone, uplink.clock_offset_s, self.care_plan
            )
            if reading is None:
                continue
            seq = await self._retrying(functools.partial(self.store.add, reading))
            if seq is None:
                log.info(
                    "%s record from %s was stored before; not stored again",
                    reading.kind,
                    reading.device_address,
                )
                continue
            log.info(
                "stored %s seq %d from %s (%s%s)",
                reading.kind,
                seq,
                reading.device_address,
                reading.outcome,
                ", urgent" if reading.priority == URGENT else "",
            )
            uplink.wake.set()
            await self.live.apply(
                result_stored,
                reading.device_address,
                status_reading(reading.stored(seq, now_utc())),
            )

    async def _show_progress(self, event: DeviceProgress) -> None:
        """An in-progress value goes to the screen only; an unreadable one is skipped."""
        try:
            values = decode(event.characteristic, event.data)
        except ParseError as exc:
            log.warning("unreadable progress value from %s: %s", event.device_address, exc)
            return
        await self.live.apply(progressed, event.device_address, values)

    def _downlink(self, topic: str, payload: bytes) -> None:
        """A document from the centre: checked, kept, then used; or refused and logged."""
        match = DOWNLINK_TOPIC.match(topic)
        if match is None or match.group(1) != self.config.hub_id:
            log.error("refused message on unexpected topic %s", topic)
            return
        doc_type = match.group(2)
        if self.hub_seal_key is None:
            log.error(
                "refused %s from the centre: this hub has no encryption key (enrol it again)",
                doc_type,
            )
            return
        try:
            doc = open_document(
                payload,
                self.uplink.centre_verify,
                self.hub_seal_key,
                self.config.hub_id,
                doc_type,
                self.store.version_floor(doc_type),
            )
        except AlreadyHeld as exc:
            log.debug("%s", exc)
            return
        except EnvelopeError as exc:
            self.downlink_refused = f"{doc_type}: {exc}"
            log.error("refused %s from the centre: %s", doc_type, exc)
            return
        content = doc.content.model_dump(mode="json")
        try:
            self.store.save_document(doc_type, doc.version, doc.issued_at, content)
        except StoreError as exc:
            # Not kept, not used: the retained copy comes again on the next connection.
            log.error("%s version %d not kept: %s", doc_type, doc.version, exc)
            return
        if isinstance(doc.content, CarePlan):
            self.care_plan = doc.content
        elif isinstance(doc.content, CentreKeyNotice):
            key = centre_key(doc.content.encryption_suite, doc.content.encryption_key)
            # New readings and batches are sealed to the new key; readings sealed before stay
            # as they are (the centre keeps its old keys to open them).
            self.sealer.centre = key
        log.info("took %s version %d from the centre", doc_type, doc.version)

    async def _housekeeping(self, uplink: Uplink) -> None:
        """Delete plaintext past the screen's window; watch the outbox's share of the disk."""
        sync = self.config.sync
        while True:
            self._acks_arrived.clear()
            cutoff = datetime.now(UTC) - timedelta(days=sync.plaintext_days)
            pruned = await self._retrying(
                functools.partial(
                    self.store.prune_plaintext, cutoff.isoformat(timespec="milliseconds")
                )
            )
            if pruned:
                log.info(
                    "deleted the plaintext of %d readings older than %g days (their "
                    "sealed copies stay until the centre has them)",
                    pruned,
                    sync.plaintext_days,
                )
            forgotten = await self._retrying(
                functools.partial(self.store.forget_old_records, datetime.now(UTC))
            )
            if forgotten:
                log.info("forgot %d device records no device can send again", forgotten)
            alarm = outbox_alarm(self.store.outbox_bytes(), sync.outbox_budget_mb)
            if alarm != self.outbox_alarm:
                self.outbox_alarm = alarm
                if alarm:
                    log.error(
                        "outbox %s: %d readings wait for the centre (budget %g MB). "
                        "Nothing is dropped; check the hub's network and the centre",
                        alarm,
                        self.store.pending_count(),
                        sync.outbox_budget_mb,
                    )
                uplink.set_alarm(alarm)
            await asyncio.sleep(HOUSEKEEPING_MIN_S)
            with contextlib.suppress(TimeoutError):
                # An alarm clears soon after the outbox drains; otherwise check every minute.
                await asyncio.wait_for(
                    self._acks_arrived.wait(), HOUSEKEEPING_S - HOUSEKEEPING_MIN_S
                )

    async def _retrying(self, write: Callable[[], T]) -> T:
        while True:
            try:
                result = write()
            except StoreError as exc:
                # Keep the value in memory and retry; never drop it. The screen and the
                # technician see the problem through `status` until a write succeeds again.
                self.store_problem = str(exc)
                log.error("%s; retrying in %.0f s", exc, STORE_RETRY_S)
                await asyncio.sleep(STORE_RETRY_S)
                continue
            if self.store_problem is not None:
                log.info("reading store writable again")
                self.store_problem = None
            return result

    async def handle_request(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "status":
            return {
                "ok": True,
                "hub_id": self.config.hub_id,
                "readings": [status_reading(r) for r in self.store.latest_per_kind()],
                "pending": self.store.pending_count(),
                "broker_connected": self.uplink.ready.is_set(),
                "last_ack_at": self.uplink.last_ack_at,
                "hub_clock_offset_s": self.uplink.clock_offset_s,
                "store_problem": self.store_problem,
                "outbox_alarm": self.outbox_alarm,
                "care_plan": (
                    None if self.care_plan is None else self.care_plan.model_dump(mode="json")
                ),
                "care_plan_version": self.store.held_version("care_plan"),
                "messages": self.store.patient_messages(),
                "centre_key_id": self.sealer.centre.key_id,
                "downlink_refused": self.downlink_refused,
                "history": [
                    {"kind": r.kind, "measured_at": r.measured_at, "values": r.values}
                    for r in self.store.history(self._trend_start())
                ],
                "waiting_in_memory": self.incoming.qsize(),
            }
        if op == "readings":
            return {"ok": True, "readings": [r.to_json() for r in self.store.all()]}
        if op == "devices":
            return {"ok": True, "devices": [d.to_json() for d in self.store.devices()]}
        if op == "pair":
            return await self._pair(req)
        if op == "forget":
            return await self._forget(req)
        if op == "answer":
            return self._answer(req)
        if op == "message_read":
            return self._message_read(req)
        if op == "live":
            try:
                live = parse(LiveRequest, req)
            except RequestRefused as exc:
                return {"ok": False, "error": str(exc)}
            wait_s = min(live.wait_s, LIVE_WAIT_MAX_S)
            return await self.live.newer_than(live.boot, live.version, wait_s)
        return {"ok": False, "error": f"unknown op {op!r}"}

    @staticmethod
    def _trend_start() -> str:
        """The screen's trends look back 14 days (as far as the plaintext window allows)."""
        return (datetime.now(UTC) - timedelta(days=TREND_DAYS)).isoformat(timespec="seconds")

    def _message_read(self, req: dict[str, Any]) -> dict[str, Any]:
        """The patient read a message: note it, and send the centre a receipt (once)."""
        try:
            version = parse(MessageReadRequest, req).version
        except RequestRefused as exc:
            return {"ok": False, "error": str(exc)}
        at = now_utc()
        try:
            if not any(m["version"] == version for m in self.store.patient_messages(1000)):
                return {"ok": False, "error": f"there is no message {version}"}
            self.store.add(to_receipt_reading(version, at))  # stored once per message
            self.store.mark_message_read(version, at)
        except StoreError as exc:
            return {"ok": False, "error": str(exc)}
        self.uplink.wake.set()
        return {"ok": True, "version": version}

    def _answer(self, req: dict[str, Any]) -> dict[str, Any]:
        """Store the patient's answers: a sequence number, sealed, like any reading."""
        try:
            reading = to_answer_reading(req.get("response"), now_utc())
            seq = self.store.add(reading)
        except (AnswerError, StoreError) as exc:
            # The screen keeps the answers and tries again; nothing was stored.
            return {"ok": False, "error": str(exc)}
        if seq is None:
            return {"ok": True, "seq": None, "stored_before": True}
        log.info("stored questionnaire response seq %d", seq)
        self.uplink.wake.set()
        return {"ok": True, "seq": seq, "stored_before": False}

    async def _pair(self, req: dict[str, Any]) -> dict[str, Any]:
        try:
            args = parse(PairRequest, req)
        except RequestRefused as exc:
            return {"ok": False, "error": str(exc)}
        timeout = PAIR_TIMEOUT_S if args.scan_s is None else args.scan_s
        try:
            device = await self.watcher.pair(args.address, args.passkey, timeout)
        except PairingError as exc:
            return {"ok": False, "error": str(exc)}
        try:
            self.store.save_device(device)
        except StoreError as exc:
            return {"ok": False, "error": f"paired, but not recorded: {exc}; pair it again"}
        return {"ok": True, "device": device.to_json()}

    async def _forget(self, req: dict[str, Any]) -> dict[str, Any]:
        try:
            address = parse(ForgetRequest, req).address.upper()
        except RequestRefused as exc:
            return {"ok": False, "error": str(exc)}
        try:
            known = self.store.forget_device(address)
        except StoreError as exc:
            return {"ok": False, "error": str(exc)}
        if not known:
            return {"ok": False, "error": f"{address} is not a device of this hub"}
        await self.watcher.forget(address)
        return {"ok": True, "address": address}


def run(config: HubConfig) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(HubDaemon(config).run())
