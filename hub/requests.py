"""What the daemon answers on the local socket (hub.sock): a table from op to its request model
and handler; the requests and answers are the models of hub.local_protocol.

`pair` and `forget` change whose readings reach the centre: they run only for root, the
daemon's own user, or a user holding a technician unlock (hub/core/technician_unlock.py; who
asked is the kernel's word, SO_PEERCRED, read by hub.ipc.serve)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import TypeAdapter, ValidationError

from hub.core.answers import AnswerError, to_answer_reading, to_receipt_reading
from hub.core.call_request import CallRequest, CallRequestError, to_call_reading
from hub.core.health import KIND as HEALTH_KIND
from hub.core.pipeline import status_reading
from hub.core.reading import now_utc
from hub.core.technician_pin import (
    KeptLockout,
    Lockout,
    after_try,
    from_kept,
    locked_for,
    pin_matches,
    to_kept,
    tries_left,
)
from hub.core.technician_unlock import (
    BY_UNLOCK,
    Unlocks,
    after_lock,
    after_unlock,
    decide,
    unlocked_for,
)
from hub.devices.ble.session import PairingError
from hub.ipc import Peer
from hub.local_protocol import (
    Answer,
    AnswerRequest,
    AnswerStored,
    CallMeAnswer,
    CallMeRequest,
    CallState,
    Device,
    DevicesAnswer,
    DevicesRequest,
    ForgetAnswer,
    ForgetRequest,
    HistoryEntry,
    LiveAnswer,
    LiveRequest,
    Message,
    MessageReadAnswer,
    MessageReadRequest,
    PairAnswer,
    PairRequest,
    ReadingsAnswer,
    ReadingsRequest,
    Refusal,
    Request,
    RequestRefused,
    StatusAnswer,
    StatusReading,
    StatusRequest,
    StoredReading,
    TechnicianLockAnswer,
    TechnicianLockRequest,
    TechnicianUnlockAnswer,
    TechnicianUnlockRequest,
    parse,
)
from hub.store import StoreError
from hub.wire.strict import Stamp

if TYPE_CHECKING:
    from hub.daemon import HubDaemon

log = logging.getLogger(__name__)

PAIR_TIMEOUT_S = 60.0
TREND_DAYS = 14
LIVE_WAIT_MAX_S = 30.0  # the longest a screen's "live" request is held open

Reply = Answer | Refusal


R = TypeVar("R", bound=Request)


@dataclass(frozen=True)
class Route(Generic[R]):
    """How one op is answered: its arguments read as `request`, then handled."""

    request: type[R]
    handle: Callable[[SocketOps, R, Peer | None], Awaitable[Reply]]


class LockoutKeeper(Protocol):
    """Where the PIN's lockout outlives a restart: the daemon's store (hub/store.py)."""

    def pin_lockout(self) -> KeptLockout: ...

    def keep_pin_lockout(self, kept: KeptLockout, /) -> None: ...


class SocketOps:
    """The daemon's answers to the screen and the technician tools; the daemon stays the only
    writer of the store (these run on its loop)."""

    def __init__(self, hub: HubDaemon, lockout_keeper: LockoutKeeper | None = None) -> None:
        self.hub = hub
        self._status: tuple[tuple[object, ...], StatusAnswer] | None = None
        # The touchscreen's technician PIN: wrong tries in a row and the lockout, kept in the
        # daemon's store by `lockout_keeper` (the daemon passes its store) so that neither a
        # restart of the screen nor of the daemon (pulling the plug) lifts them; read at the
        # first try. None: in memory only (stand-ins that test other rules). One try at a
        # time, so that tries sent together cannot all be checked before the first wrong one
        # is counted.
        self._lockout = Lockout()
        self._lockout_keeper = lockout_keeper
        self._lockout_read = lockout_keeper is None
        self._pin_turn = asyncio.Lock()
        self.monotonic: Callable[[], float] = time.monotonic
        self.wall: Callable[[], float] = time.time
        # Who holds a technician unlock (a right PIN from that uid, recently), and who needs
        # none: root and the daemon's own user (SO_PEERCRED gives effective uids).
        self._unlocks = Unlocks()
        self.daemon_uid = os.geteuid()

    async def handle(self, req: dict[str, Any], asker: Peer | None) -> Reply:
        """Answer one request; `asker`: who sent it, the socket's peer (hub.ipc.serve), None if
        the kernel would not say."""
        op = req.get("op")
        route = ROUTES.get(op) if isinstance(op, str) else None
        if route is None:
            known = ", ".join(ROUTES)
            return Refusal(error=f"unknown op {op!r:.60} (the ops: {known})")
        try:
            request = parse(route.request, {k: v for k, v in req.items() if k != "op"})
        except RequestRefused as exc:
            return Refusal(error=str(exc))
        uid = None if asker is None else asker.uid
        verdict = decide(self._unlocks, route.request.op, uid, self.daemon_uid, self.monotonic())
        self._unlocks = verdict.unlocks
        if not verdict.allowed:
            log.warning(
                "refused %s on the hub socket to uid %s (pid %s): %s",
                route.request.op,
                uid,
                None if asker is None else asker.pid,
                verdict.why,
            )
            return Refusal(error=verdict.why, error_kind="needs_technician")
        if verdict.why == BY_UNLOCK:
            log.info("%s for uid %s, under its technician unlock", route.request.op, uid)
        return await route.handle(self, request, asker)

    async def status(self, _: StatusRequest, _asker: Peer | None = None) -> StatusAnswer:
        """Asked every second by the patient screen: built again only when something it shows
        may have changed (the store, the hour the trends start in, the daemon's own fields),
        otherwise the same answer as last time."""
        hub, store = self.hub, self.hub.store
        trend_start = self._trend_start()
        inputs = (
            store.changes(),
            trend_start,
            hub.uplink.ready.is_set(),
            hub.uplink.broker_problem,
            hub.uplink.last_ack_at,
            hub.uplink.clock_offset_s,
            hub.store_problem,
            hub.outbox_alarm,
            hub.outbox_bytes,
            hub.care_plan,
            hub.sealer.centre.key_id,
            hub.downlink_refused,
            hub.incoming.qsize(),
        )
        if self._status is not None and self._status[0] == inputs:
            return self._status[1]
        latest = store.latest_per_kind()
        pending = store.pending_count()
        # A health report waits at most one at a time (hub/core/health.py, report_due).
        health_waiting = any(r.kind == HEALTH_KIND and r.synced_at is None for r in latest)
        answer = StatusAnswer(
            hub_id=hub.config.hub_id,
            # The hub's health reports are the technician's, not the patient's: no card, no
            # trend, no "sent at" on her screen.
            readings=[
                StatusReading.model_validate(status_reading(r))
                for r in latest
                if r.kind != HEALTH_KIND
            ],
            pending=pending,
            patient_pending=max(0, pending - health_waiting),
            broker_connected=hub.uplink.ready.is_set(),
            broker_problem=hub.uplink.broker_problem,
            last_ack_at=hub.uplink.last_ack_at,
            hub_clock_offset_s=hub.uplink.clock_offset_s,
            store_problem=hub.store_problem,
            outbox_alarm=hub.outbox_alarm,
            outbox_bytes=hub.outbox_bytes,
            care_plan=hub.care_plan,
            care_plan_version=store.held_version("care_plan"),
            messages=[Message.model_validate(m) for m in store.patient_messages()],
            centre_key_id=hub.sealer.centre.key_id,
            downlink_refused=hub.downlink_refused,
            history=[
                HistoryEntry(kind=r.kind, measured_at=r.measured_at, values=r.values)
                for r in store.history(trend_start)
                if r.kind != HEALTH_KIND
            ],
            waiting_in_memory=hub.incoming.qsize(),
            call_request=call_state(store.latest_call()),
        )
        # Kept only if nothing changed while it was built (nothing awaits above: it cannot).
        self._status = (inputs, answer)
        return answer

    async def readings(self, _: ReadingsRequest, _asker: Peer | None = None) -> ReadingsAnswer:
        return ReadingsAnswer(
            readings=[StoredReading.model_validate(r.to_json()) for r in self.hub.store.all()]
        )

    async def devices(self, _: DevicesRequest, _asker: Peer | None = None) -> DevicesAnswer:
        return DevicesAnswer(
            devices=[Device.model_validate(d.to_json()) for d in self.hub.store.devices()]
        )

    async def live(self, req: LiveRequest, _asker: Peer | None = None) -> LiveAnswer:
        wait_s = min(req.wait_s, LIVE_WAIT_MAX_S)
        return LiveAnswer.model_validate(
            await self.hub.live.newer_than(req.boot, req.version, wait_s)
        )

    @staticmethod
    def _trend_start() -> str:
        """The screen's trends look back 14 days (as far as the plaintext window allows), from
        the start of an hour: the trends keep the last reading of each hour, and the screen
        shows whole days (hub/ui/present.py: from 13 days before today), so the part of the
        first hour before "14 days ago" is never shown. The start then moves once an hour, not
        every second, and an unchanged status is answered again as it was."""
        start = datetime.now(UTC) - timedelta(days=TREND_DAYS)
        return start.replace(minute=0, second=0, microsecond=0).isoformat(timespec="seconds")

    async def message_read(
        self, req: MessageReadRequest, _asker: Peer | None = None
    ) -> MessageReadAnswer | Refusal:
        """The patient read a message: note it, and send the centre a receipt (once)."""
        version, at = req.version, now_utc()
        try:
            if not any(m["version"] == version for m in self.hub.store.patient_messages(1000)):
                return Refusal(error=f"there is no message {version}")
            self.hub.store.add(to_receipt_reading(version, at))  # stored once per message
            self.hub.store.mark_message_read(version, at)
        except StoreError as exc:
            return Refusal(error=str(exc))
        self.hub.uplink.wake.set()
        return MessageReadAnswer(version=version)

    async def call_me(
        self, req: CallMeRequest, _asker: Peer | None = None
    ) -> CallMeAnswer | Refusal:
        """Ring meg ("call me"): store the request for the centre (once per id; while one is
        open, that one is the answer and nothing is stored)."""
        try:
            call, stored = self.hub.store.ask_call(
                req.request_id, to_call_reading(req.request_id, now_utc())
            )
        except (CallRequestError, StoreError) as exc:
            return Refusal(error=str(exc))  # nothing stored: the screen asks again
        if stored:
            log.info("stored call request %s", call.request_id)
            self.hub.uplink.wake.set()
        return CallMeAnswer(call_request=call_state(call), stored_before=not stored)

    async def answer(
        self, req: AnswerRequest, _asker: Peer | None = None
    ) -> AnswerStored | Refusal:
        """Store the patient's answers: a sequence number, sealed, like any reading."""
        try:
            reading = to_answer_reading(req.response, now_utc())
            seq = self.hub.store.add(reading)
        except (AnswerError, StoreError) as exc:
            # The screen keeps the answers and tries again; nothing was stored.
            return Refusal(error=str(exc))
        if seq is None:
            return AnswerStored(seq=None, stored_before=True)
        log.info("stored questionnaire response seq %d", seq)
        self.hub.uplink.wake.set()
        return AnswerStored(seq=seq, stored_before=False)

    async def pair(self, req: PairRequest, _asker: Peer | None = None) -> PairAnswer | Refusal:
        timeout = PAIR_TIMEOUT_S if req.scan_s is None else req.scan_s
        try:
            device = await self.hub.watcher.pair(req.address, req.passkey, timeout)
        except PairingError as exc:
            return Refusal(error=str(exc))
        try:
            self.hub.store.save_device(device)
        except StoreError as exc:
            return Refusal(error=f"paired, but not recorded: {exc}; pair it again")
        self.hub.health_wanted.set()  # the centre's page shows the device soon
        return PairAnswer(device=Device.model_validate(device.to_json()))

    async def forget(
        self, req: ForgetRequest, _asker: Peer | None = None
    ) -> ForgetAnswer | Refusal:
        address = req.address.upper()
        try:
            known = self.hub.store.forget_device(address)
        except StoreError as exc:
            return Refusal(error=str(exc))
        if not known:
            return Refusal(error=f"{address} is not a device of this hub")
        await self.hub.watcher.forget(address)
        self.hub.health_wanted.set()
        return ForgetAnswer(address=address)

    async def technician_unlock(
        self, req: TechnicianUnlockRequest, asker: Peer | None = None
    ) -> TechnicianUnlockAnswer | Refusal:
        """The PIN checked against the config's hash; while locked it is not checked at all.
        The PIN itself is never logged, nor repeated in an answer. A right PIN unlocks `pair`
        and `forget` for the uid that sent it (hub/core/technician_unlock.py)."""
        pin = self.hub.config.technician_pin
        if pin is None:
            return Refusal(
                error="no technician PIN is set on this hub: set one with "
                "`hub set-technician-pin`, then restart dho-hub"
            )
        async with self._pin_turn:
            now = self.monotonic()
            self._read_lockout(now)
            if locked_for(self._lockout, now) > 0:
                return self._unlock_answer(False, now)
            # scrypt takes a while (by design): in a thread, so the loop serves the devices.
            right = await asyncio.to_thread(pin_matches, req.pin, pin.kept)
            now = self.monotonic()
            before, self._lockout = self._lockout, after_try(self._lockout, now, right)
            if self._lockout != before:
                self._keep_lockout(now)
            answer = self._unlock_answer(right, now)
            if right and asker is not None:
                self._unlocks = after_unlock(self._unlocks, asker.uid, now)
        if right:
            log.info(
                "technician mode opened on the touchscreen (pair and forget unlocked for uid %s)",
                None if asker is None else asker.uid,
            )
        elif answer.tries_left:
            log.warning(
                "a wrong technician PIN on the touchscreen (%d tries left)", answer.tries_left
            )
        else:
            log.warning(
                "technician PIN: %d wrong in a row, no PIN is checked for %.0f s",
                self._lockout.failures,
                answer.locked_for_s,
            )
        return answer

    async def technician_lock(
        self, _: TechnicianLockRequest, asker: Peer | None = None
    ) -> TechnicianLockAnswer:
        """The screen left technician mode: the sender's unlock ends now (others' stay)."""
        if asker is None:
            return TechnicianLockAnswer(was_unlocked=False)
        now = self.monotonic()
        was = unlocked_for(self._unlocks, asker.uid, now) > 0
        self._unlocks = after_lock(self._unlocks, asker.uid, now)
        if was:
            log.info("technician mode left: pair and forget locked again for uid %s", asker.uid)
        return TechnicianLockAnswer(was_unlocked=was)

    def _read_lockout(self, now: float) -> None:
        """The lockout as kept before this daemon started, read once. A store that cannot be
        read locks for the full time (the safe side), with the reason logged."""
        if self._lockout_read or self._lockout_keeper is None:
            return
        try:
            kept = self._lockout_keeper.pin_lockout()
        except StoreError as exc:
            log.error("technician PIN: the kept lockout cannot be read (%s): locked", exc)
            kept = KeptLockout(failures=-1)  # breaks the rules: from_kept locks
        self._lockout = from_kept(kept, now, self.wall())
        self._lockout_read = True

    def _keep_lockout(self, now: float) -> None:
        """The lockout kept for the next start. A store that cannot be written leaves it in
        memory for as long as the daemon runs (logged): the tries are counted all the same."""
        if self._lockout_keeper is None:
            return
        try:
            self._lockout_keeper.keep_pin_lockout(to_kept(self._lockout, now, self.wall()))
        except StoreError as exc:
            log.error("technician PIN: the lockout could not be kept for a restart: %s", exc)

    def _unlock_answer(self, right: bool, now: float) -> TechnicianUnlockAnswer:
        return TechnicianUnlockAnswer(
            unlocked=right,
            tries_left=tries_left(self._lockout, now),
            locked_for_s=round(locked_for(self._lockout, now), 1),
        )


def call_state(call: CallRequest | None) -> CallState:
    """The screen's view of a call request. A time that is no instant the screen can show
    (a centre's call_ack may carry any issued_at) is left out, with a warning, rather than
    failing the whole status the screen asks for every second."""
    if call is None:
        return CallState()
    return CallState(
        state=call.state,
        request_id=call.request_id,
        asked_at=_instant_or_none(call.asked_at, "asked_at", call.request_id),
        acknowledged_at=_instant_or_none(call.acknowledged_at, "acknowledged_at", call.request_id),
        delivered=call.delivered,
    )


_STAMP: TypeAdapter[str] = TypeAdapter(Stamp)


def _instant_or_none(text: str | None, name: str, request_id: str) -> str | None:
    if text is None:
        return None
    try:
        return _STAMP.validate_python(text)
    except ValidationError:
        log.warning(
            "call request %s: %s %r is not a time the screen can show", request_id, name, text[:40]
        )
        return None


ROUTES: dict[str, Route[Any]] = {
    StatusRequest.op: Route(StatusRequest, SocketOps.status),
    ReadingsRequest.op: Route(ReadingsRequest, SocketOps.readings),
    DevicesRequest.op: Route(DevicesRequest, SocketOps.devices),
    PairRequest.op: Route(PairRequest, SocketOps.pair),
    ForgetRequest.op: Route(ForgetRequest, SocketOps.forget),
    AnswerRequest.op: Route(AnswerRequest, SocketOps.answer),
    MessageReadRequest.op: Route(MessageReadRequest, SocketOps.message_read),
    CallMeRequest.op: Route(CallMeRequest, SocketOps.call_me),
    LiveRequest.op: Route(LiveRequest, SocketOps.live),
    TechnicianUnlockRequest.op: Route(TechnicianUnlockRequest, SocketOps.technician_unlock),
    TechnicianLockRequest.op: Route(TechnicianLockRequest, SocketOps.technician_lock),
}
