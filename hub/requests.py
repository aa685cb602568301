"""What the daemon answers on the local socket (hub.sock): one method per op."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hub.core.answers import AnswerError, to_answer_reading, to_receipt_reading
from hub.core.pipeline import status_reading
from hub.core.reading import now_utc
from hub.devices.ble.session import PairingError
from hub.socket_requests import (
    ForgetRequest,
    LiveRequest,
    MessageReadRequest,
    PairRequest,
    RequestRefused,
    parse,
)
from hub.store import StoreError

if TYPE_CHECKING:
    from hub.daemon import HubDaemon

log = logging.getLogger(__name__)

PAIR_TIMEOUT_S = 60.0
TREND_DAYS = 14
LIVE_WAIT_MAX_S = 30.0  # the longest a screen's "live" request is held open


class SocketOps:
    """The daemon's answers to the screen and the technician tools; the daemon stays the only
    writer of the store (these run on its loop)."""

    def __init__(self, hub: HubDaemon) -> None:
        self.hub = hub

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "status":
            return {
                "ok": True,
                "hub_id": self.hub.config.hub_id,
                "readings": [status_reading(r) for r in self.hub.store.latest_per_kind()],
                "pending": self.hub.store.pending_count(),
                "broker_connected": self.hub.uplink.ready.is_set(),
                "last_ack_at": self.hub.uplink.last_ack_at,
                "hub_clock_offset_s": self.hub.uplink.clock_offset_s,
                "store_problem": self.hub.store_problem,
                "outbox_alarm": self.hub.outbox_alarm,
                "care_plan": (
                    None
                    if self.hub.care_plan is None
                    else self.hub.care_plan.model_dump(mode="json")
                ),
                "care_plan_version": self.hub.store.held_version("care_plan"),
                "messages": self.hub.store.patient_messages(),
                "centre_key_id": self.hub.sealer.centre.key_id,
                "downlink_refused": self.hub.downlink_refused,
                "history": [
                    {"kind": r.kind, "measured_at": r.measured_at, "values": r.values}
                    for r in self.hub.store.history(self._trend_start())
                ],
                "waiting_in_memory": self.hub.incoming.qsize(),
            }
        if op == "readings":
            return {"ok": True, "readings": [r.to_json() for r in self.hub.store.all()]}
        if op == "devices":
            return {"ok": True, "devices": [d.to_json() for d in self.hub.store.devices()]}
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
            return await self.hub.live.newer_than(live.boot, live.version, wait_s)
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
            if not any(m["version"] == version for m in self.hub.store.patient_messages(1000)):
                return {"ok": False, "error": f"there is no message {version}"}
            self.hub.store.add(to_receipt_reading(version, at))  # stored once per message
            self.hub.store.mark_message_read(version, at)
        except StoreError as exc:
            return {"ok": False, "error": str(exc)}
        self.hub.uplink.wake.set()
        return {"ok": True, "version": version}

    def _answer(self, req: dict[str, Any]) -> dict[str, Any]:
        """Store the patient's answers: a sequence number, sealed, like any reading."""
        try:
            reading = to_answer_reading(req.get("response"), now_utc())
            seq = self.hub.store.add(reading)
        except (AnswerError, StoreError) as exc:
            # The screen keeps the answers and tries again; nothing was stored.
            return {"ok": False, "error": str(exc)}
        if seq is None:
            return {"ok": True, "seq": None, "stored_before": True}
        log.info("stored questionnaire response seq %d", seq)
        self.hub.uplink.wake.set()
        return {"ok": True, "seq": seq, "stored_before": False}

    async def _pair(self, req: dict[str, Any]) -> dict[str, Any]:
        try:
            args = parse(PairRequest, req)
        except RequestRefused as exc:
            return {"ok": False, "error": str(exc)}
        timeout = PAIR_TIMEOUT_S if args.scan_s is None else args.scan_s
        try:
            device = await self.hub.watcher.pair(args.address, args.passkey, timeout)
        except PairingError as exc:
            return {"ok": False, "error": str(exc)}
        try:
            self.hub.store.save_device(device)
        except StoreError as exc:
            return {"ok": False, "error": f"paired, but not recorded: {exc}; pair it again"}
        return {"ok": True, "device": device.to_json()}

    async def _forget(self, req: dict[str, Any]) -> dict[str, Any]:
        try:
            address = parse(ForgetRequest, req).address.upper()
        except RequestRefused as exc:
            return {"ok": False, "error": str(exc)}
        try:
            known = self.hub.store.forget_device(address)
        except StoreError as exc:
            return {"ok": False, "error": str(exc)}
        if not known:
            return {"ok": False, "error": f"{address} is not a device of this hub"}
        await self.hub.watcher.forget(address)
        return {"ok": True, "address": address}
