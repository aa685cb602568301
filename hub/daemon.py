"""The hub daemon: the single owner of the reading store.

Device values are committed first; the uplink and the patient screen only see committed rows.
Every long-lived part runs as a named task of one asyncio.TaskGroup: the first to fail (or to
end, which none should) stops the daemon with its traceback, after every other part has been
cancelled and awaited and before the store closes; systemd then restarts it whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from hub import health_facts, ipc
from hub.config import ConfigError, HubConfig
from hub.core.call_request import CallAcknowledged
from hub.core.care_plan import CarePlan
from hub.core.health import health_report, report_due, to_health_reading
from hub.core.live import LiveBoard, progressed, result_stored, session_ended, session_started
from hub.core.pipeline import outbox_alarm, status_reading, to_reading
from hub.core.reading import URGENT, now_utc
from hub.devices.ble.session import DeviceWatcher
from hub.devices.decode import decode
from hub.devices.errors import ParseError
from hub.devices.events import DeviceProgress, DeviceValue, SessionEnded, SessionStarted
from hub.keys import load_signing_key, record_digest_key
from hub.notify import Notifier, keep_pinging
from hub.requests import SocketOps
from hub.store import ReadingStore, StoreError
from hub.sync.uplink import Uplink
from hub.wire.documents import AlreadyHeld, CentreKeyNotice, open_document, stored_document
from hub.wire.envelope import EnvelopeError
from hub.wire.hub_key import HubKeyPair, load_hub_key
from hub.wire.public_keys import KeyFileError
from hub.wire.sealing import ItemSealer
from hub.wire.suites import centre_key
from hub.wire.topics import DOWNLINK_TOPIC

log = logging.getLogger(__name__)
T = TypeVar("T")
DeviceEvent = DeviceValue | DeviceProgress | SessionStarted | SessionEnded

STORE_RETRY_S = 5.0
HOUSEKEEPING_S = 60.0
HOUSEKEEPING_MIN_S = 5.0  # woken by acks, but no more often than this (it sums the outbox)
# Deleting old plaintext reads every reading kept (stored_at has no index): 160 ms for a year
# plus 14 days of a 1 Hz oximeter, which every minute was most of the idle daemon's CPU. The
# window is days long; an hour more of plaintext on the hub is nothing next to it.
PRUNE_EVERY_S = 3600.0


class DaemonFailure(RuntimeError):
    """One of the daemon's parts stopped; the daemon exits so that it is restarted whole."""


class PartEnded(RuntimeError):
    """A part of the daemon that runs for as long as the daemon returned (or failed)."""


class StopRequested(Exception):
    """SIGTERM or SIGINT: every part is cancelled, the daemon stops cleanly."""


class HubDaemon:
    def __init__(self, config: HubConfig, notifier: Notifier | None = None) -> None:
        self.config = config
        # systemd's notifications; its watchdog pings are one of the daemon's parts.
        self.notifier = notifier if notifier is not None else Notifier.from_environment()
        self._requests: set[asyncio.Task[Any]] = set()  # socket requests being answered
        self.sealer = ItemSealer(config.hub_id, config.centre.encryption)
        self.hub_key = load_signing_key(config.signing_key_path)
        self.store = ReadingStore(
            config.db_path,
            sealer=self.sealer,
            digest_key=record_digest_key(self.hub_key),
            record_memory_days=config.sync.record_memory_days,
        )
        self.outbox_alarm: str | None = None
        self.outbox_bytes: int | None = None  # as housekeeping last measured it
        # Set when the devices change (pair, forget): a health report goes now, so the centre's
        # page shows the new patient's devices before the technician leaves the home.
        self.health_wanted = asyncio.Event()
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
        self.started = time.monotonic()  # the daemon's uptime, in its health reports

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
        """Run until SIGTERM or SIGINT (returns) or until a part fails (DaemonFailure, with
        the failures as its cause)."""
        self._acks_arrived = asyncio.Event()
        uplink = Uplink(
            self.config,
            self.store,
            self.hub_key,
            centre_key=lambda: self.sealer.centre,
            on_downlink=self._downlink,
            on_synced=self._acks_arrived.set,
            care_plan_version=self.store.held_version("care_plan") or None,
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
        self._ops = SocketOps(self, lockout_keeper=self.store)  # the PIN's lockout kept
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await watcher.start_agent()
            try:
                server = await ipc.serve(self.config.socket_path, self._answer)
            except OSError as exc:
                raise ConfigError(
                    f"cannot open the hub's local socket {self.config.socket_path}: {exc}; "
                    "socket_dir must be a directory this user may write (dho-hub.service "
                    "makes /run/dho-hub)"
                ) from exc
            uplink.start()  # paho's network thread, stopped (joined) before the store closes
            try:
                # The socket serves and paho's thread runs: systemd may start the screen.
                self.notifier.ready()
                # Before any part runs: the uplink's cursor must not have passed these.
                sealed = await self._retrying(self.store.seal_backlog)
                if sealed:
                    log.info("sealed %d readings stored by an older hub version", sealed)
                try:
                    await self._run_parts(server, stop)
                finally:
                    self._store_what_is_left()
            finally:
                self.notifier.stopping()
                server.close()
                await asyncio.to_thread(uplink.stop)
        finally:
            self.store.close()
            self.config.socket_path.unlink(missing_ok=True)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            log.info("hub stopped")

    async def _run_parts(self, server: asyncio.Server, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        thread_failed: asyncio.Future[None] = loop.create_future()
        previous_hook = threading.excepthook
        threading.excepthook = functools.partial(_thread_failed, loop, thread_failed)
        log.info("hub %s running (store %s)", self.config.hub_id, self.config.db_path)
        uplink = self.uplink
        try:
            async with asyncio.TaskGroup() as parts:

                def start(name: str, work: Awaitable[None]) -> None:
                    parts.create_task(_part(name, work), name=name)

                if self.notifier.ping_every_s is not None:
                    start("watchdog pings", keep_pinging(self.notifier))  # not if stuck
                start("stop signal", _stop_on(stop))
                start("thread watch", thread_failed)
                start("socket server", self._serve(server))
                start("store writer", self._store_incoming(uplink))
                start("uplink", uplink.send_outbox())
                start("broker events", uplink.take_broker_events())
                start("downlink", uplink.take_documents())
                start("housekeeping", self._housekeeping(uplink))
                if self.config.sync.health_every_s:  # 0: never (a bench)
                    start("health reports", self._report_health(uplink))
                # Its sessions are tasks of this group too ("session with <address>").
                start("device watcher", self.watcher.run(parts))
        except BaseExceptionGroup as group:
            _, failures = group.split(StopRequested)
            if failures is not None:
                names = ", ".join(_failed_parts(failures))
                raise DaemonFailure(f"the hub stopped: {names}") from failures
            log.info("stopping on request")
        finally:
            threading.excepthook = previous_hook

    async def _serve(self, server: asyncio.Server) -> None:
        """The local socket; when the daemon stops, requests being answered are cancelled
        (each client hears that the hub is stopping) and awaited before the store closes."""
        try:
            async with server:
                await server.serve_forever()
        finally:
            for request in self._requests:
                request.cancel()
            if self._requests:
                await asyncio.wait(self._requests)

    async def _answer(self, request: dict[str, Any], asker: ipc.Peer | None) -> ipc.Reply:
        task = asyncio.current_task()
        assert task is not None
        self._requests.add(task)
        try:
            return await self._ops.handle(request, asker)
        finally:
            self._requests.discard(task)

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
            # The sender's turn before the next reading is stored: an urgent one goes out now,
            # not after a burst of queued values (a device's stored records, say).
            await asyncio.sleep(0)

    def _store_what_is_left(self) -> None:
        """Values the devices handed over that the store writer had not stored when the daemon
        stopped (SIGTERM, or a part failing): stored now, once, before the store closes. A
        device deletes what it has delivered, so a value dropped here would be lost for good."""
        stored = 0
        while not self.incoming.empty():
            event = self.incoming.get_nowait()
            if not isinstance(event, DeviceValue):
                continue  # connection notes and progress: nothing a patient measured
            reading = to_reading(
                event, self.config.clock.zone, self.uplink.clock_offset_s, self.care_plan
            )
            if reading is None:
                continue
            try:
                stored += self.store.add(reading) is not None
            except StoreError as exc:
                log.error(
                    "could not store a %s value from %s before stopping: %s (raw %s)",
                    reading.kind,
                    reading.device_address,
                    exc,
                    reading.raw_hex,
                )
        if stored:
            log.info("stored %d readings that were waiting in memory when the hub stopped", stored)

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
            self.uplink.set_care_plan_version(doc.version)  # the centre shows what is held
        elif isinstance(doc.content, CentreKeyNotice):
            key = centre_key(doc.content.encryption_suite, doc.content.encryption_key)
            # New readings and batches are sealed to the new key; readings sealed before stay
            # as they are (the centre keeps its old keys to open them).
            self.sealer.centre = key
        elif isinstance(doc.content, CallAcknowledged):
            # Kept above with the request's answer (ReadingStore.save_document): the screen's
            # status says a nurse is calling.
            log.info("a nurse is calling about call request %s", doc.content.request_id)
        log.info("took %s version %d from the centre", doc_type, doc.version)

    async def _housekeeping(self, uplink: Uplink) -> None:
        """Delete plaintext past the screen's window (once an hour); watch the outbox's share
        of the disk (every minute, and soon after acks)."""
        sync = self.config.sync
        loop = asyncio.get_running_loop()
        pruned_at: float | None = None
        while True:
            self._acks_arrived.clear()
            if pruned_at is None or loop.time() - pruned_at >= PRUNE_EVERY_S:
                await self._prune()
                pruned_at = loop.time()
            self.outbox_bytes = self.store.outbox_bytes()
            alarm = outbox_alarm(self.outbox_bytes, sync.outbox_budget_mb)
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

    async def _report_health(self, uplink: Uplink) -> None:
        """A health report for the centre now (the daemon has started), then every
        sync.health_every_s and when the devices change; none while the last one still waits
        (hub/core/health.py)."""
        while True:
            try:
                self._commit_health(uplink)
            except (ValueError, OSError):
                # The report is the technician's; the patient's readings must not stop for it.
                log.exception("health report not made")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.health_wanted.wait(), self.config.sync.health_every_s)
            self.health_wanted.clear()

    def _commit_health(self, uplink: Uplink) -> None:
        store = self.store
        waiting = store.health_report_waiting()
        if not report_due(newest_is_pending=waiting is not None):
            log.info("no new health report: number %s still waits for the centre", waiting)
            return
        facts = health_facts.gather(
            started=self.started,
            state_dir=self.config.state_dir,
            clock_source=self.config.clock.source,
            clock_offset_s=uplink.clock_offset_s,
            outbox_pending=store.pending_count(),
            outbox_alarm=self.outbox_alarm,
            devices=store.devices(),
        )
        try:
            seq = store.add(to_health_reading(health_report(facts), now_utc()))
        except StoreError as exc:
            # Not retried: a report is about now, and the next one comes in its turn.
            log.warning("health report not stored: %s", exc)
            return
        if seq is not None:
            log.info("stored health report seq %d", seq)
            uplink.wake.set()

    async def _prune(self) -> None:
        sync = self.config.sync
        cutoff = datetime.now(UTC) - timedelta(days=sync.plaintext_days)
        pruned = await self._retrying(
            functools.partial(self.store.prune_plaintext, cutoff.isoformat(timespec="milliseconds"))
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


async def _part(name: str, work: Awaitable[None]) -> None:
    """One of the daemon's parts: it runs as long as the daemon, so returning is a failure too.
    The part's name goes with its failure (task names are not kept in exception groups)."""
    try:
        await work
    except (StopRequested, PartEnded):
        raise
    except Exception as exc:
        raise PartEnded(f"{name} failed: {exc!r}") from exc
    raise PartEnded(f"{name} ended")


async def _stop_on(stop: asyncio.Event) -> None:
    await stop.wait()
    raise StopRequested


def _thread_failed(
    loop: asyncio.AbstractEventLoop, failed: asyncio.Future[None], args: threading.ExceptHookArgs
) -> None:
    """threading.excepthook while the daemon runs: a thread that dies of an exception (paho's
    network thread, say: the hub would then never reach the broker again) stops the daemon."""
    if issubclass(args.exc_type, SystemExit):
        return  # a thread that asked to end (threading ignores it too)
    exc = args.exc_value if args.exc_value is not None else RuntimeError("thread ended")
    name = args.thread.name if args.thread is not None else "a thread"
    error = PartEnded(f"thread {name} died: {exc!r}")
    error.__cause__ = exc

    def fail() -> None:
        if not failed.done():
            failed.set_exception(error)

    with contextlib.suppress(RuntimeError):  # the loop is closed: the daemon has stopped
        loop.call_soon_threadsafe(fail)


def _failed_parts(failures: BaseExceptionGroup[BaseException]) -> list[str]:
    return [
        str(exc) if isinstance(exc, PartEnded) else repr(exc)
        for exc in failures.exceptions
        if not isinstance(exc, BaseExceptionGroup)
    ] or [repr(failures)]


def run(config: HubConfig, notifier: Notifier | None = None) -> None:
    """`hub run`. A part's failure is logged with its whole traceback and the process exits
    with status 1, so that systemd restarts it."""
    try:
        asyncio.run(HubDaemon(config, notifier).run())
    except KeyboardInterrupt:
        pass
    except DaemonFailure as failure:
        log.critical("%s", failure, exc_info=failure)
        sys.exit(1)
