"""The hub daemon: the single owner of the reading store.

Device values are committed first; the uplink and the patient screen only see committed rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from hub import ipc
from hub.config import HubConfig
from hub.devices import ParseError, decode
from hub.devices.profiles import kind_of
from hub.devices.session import DeviceWatcher, Indication
from hub.keys import load_signing_key
from hub.store import NewReading, ReadingStore, StoreError
from hub.sync.uplink import Uplink

log = logging.getLogger(__name__)


def to_reading(ind: Indication) -> NewReading | None:
    """Decode a device value into a reading to store; None (logged, with raw hex) if garbage."""
    kind = kind_of(ind.characteristic)
    if kind is None:
        log.warning("value from %s on unexpected characteristic %s: %s",
                    ind.device_address, ind.characteristic, ind.data.hex())
        return None
    try:
        values = decode(ind.characteristic, ind.data)
    except ParseError as exc:
        log.error("unreadable value from %s: %s", ind.device_address, exc)
        return None
    return NewReading(
        kind=kind, characteristic=ind.characteristic, device_address=ind.device_address,
        device_time=values.get("timestamp"), received_at=ind.received_at,
        raw_hex=ind.data.hex(), values=values,
    )


class DaemonFailure(RuntimeError):
    """One of the daemon's parts stopped; the daemon exits so that it is restarted whole."""


class HubDaemon:
    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.store = ReadingStore(config.db_path)
        self.hub_key = load_signing_key(config.signing_key_path)
        self.incoming: asyncio.Queue[Indication] = asyncio.Queue()

    async def run(self) -> None:
        uplink = Uplink(self.config, self.store, self.hub_key)
        self.uplink = uplink
        watcher = DeviceWatcher(self.config.bluetooth, self.incoming.put_nowait)
        server = await ipc.serve(self.config.socket_path, self.handle_request)
        uplink.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("hub %s running (store %s)", self.config.hub_id, self.config.db_path)
        tasks = [asyncio.create_task(t) for t in
                 (watcher.run(), self._store_incoming(uplink), uplink.run())]
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopping}:
                # A part that dies must take the daemon down, so systemd restarts all of it.
                raise DaemonFailure(f"hub task ended unexpectedly: {task.exception()!r}")
        finally:
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
            ind = await self.incoming.get()
            reading = to_reading(ind)
            if reading is None:
                continue
            while True:
                try:
                    seq = self.store.add(reading)
                    break
                except StoreError as exc:
                    # Keep the value in memory and retry; never drop it.
                    log.error("%s; retrying in 5 s", exc)
                    await asyncio.sleep(5)
            log.info("stored %s seq %d from %s", reading.kind, seq, reading.device_address)
            uplink.wake.set()

    async def handle_request(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "status":
            return {
                "ok": True, "hub_id": self.config.hub_id,
                "readings": [self._status_reading(r) for r in self.store.latest_per_kind()],
                "pending": self.store.pending_count(),
                "broker_connected": self.uplink.ready.is_set(),
                "last_ack_at": self.uplink.last_ack_at,
            }
        if op == "readings":
            return {"ok": True, "readings": [r.to_json() for r in self.store.all()]}
        return {"ok": False, "error": f"unknown op {op!r}"}

    @staticmethod
    def _status_reading(r: Any) -> dict[str, Any]:
        full = r.to_json()
        return {k: full[k] for k in
                ("kind", "seq", "device_time", "received_at", "values", "synced", "synced_at")}


def run(config: HubConfig) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(HubDaemon(config).run())
