"""The hub daemon: the single owner of the reading store.

Device values are committed first; the uplink and the patient screen only see committed rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from hub import ipc
from hub.config import ConfigError, HubConfig
from hub.core.care_plan import CarePlan
from hub.core.live import LiveBoard, progressed, result_stored, session_ended, session_started
from hub.core.pipeline import outbox_alarm, status_reading, to_reading
from hub.core.reading import URGENT, now_utc
from hub.devices.ble.session import DeviceWatcher
from hub.devices.decode import decode
from hub.devices.errors import ParseError
from hub.devices.events import DeviceProgress, DeviceValue, SessionEnded, SessionStarted
from hub.keys import KeyFileError, load_signing_key, record_digest_key
from hub.notify import Notifier, keep_pinging
from hub.requests import SocketOps
from hub.store import ReadingStore, StoreError
from hub.sync.uplink import Uplink
from hub.wire.documents import AlreadyHeld, CentreKeyNotice, open_document, stored_document
from hub.wire.envelope import EnvelopeError
from hub.wire.hub_key import HubKeyPair, load_hub_key
from hub.wire.sealing import ItemSealer
from hub.wire.suites import centre_key
from hub.wire.topics import DOWNLINK_TOPIC

log = logging.getLogger(__name__)
T = TypeVar("T")
DeviceEvent = DeviceValue | DeviceProgress | SessionStarted | SessionEnded

STORE_RETRY_S = 5.0
HOUSEKEEPING_S = 60.0
HOUSEKEEPING_MIN_S = 5.0  # woken by acks, but no more often than this (it sums the outbox)


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
            centre_key=lambda: self.sealer.centre,
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
            server = await ipc.serve(self.config.socket_path, SocketOps(self).handle)
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


def run(config: HubConfig) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(HubDaemon(config).run())
