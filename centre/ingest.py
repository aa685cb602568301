"""Turning one MQTT message from a hub into stored readings and a signed acknowledgement, or
into what the centre records of the hub's status (centre/presence.py).

`handle` never raises: whatever arrives, it ends in an ack or in a rejection that is logged
and recorded, and the worker goes on with the next message (a message that crashed the worker
would be redelivered by the broker, and crash it again, for every hub).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from centre.errors import CentreError
from centre.keyring import Keyring
from centre.presence import too_far_ahead
from centre.store import CentreStore, ReplayedBatch, RevokedHub, StoredBatch, UnknownHub, now_utc
from hub.core.call_request import KIND as CALL_KIND
from hub.wire.batch import OpenedBatch, open_batch
from hub.wire.envelope import Ack, EnvelopeError, read_header, sign_ack, to_ranges
from hub.wire.public_keys import KeyFileError, ed25519_public
from hub.wire.status import StatusError, read_status
from hub.wire.suites import CentreKeyPair
from hub.wire.topics import BATCH_TOPIC, STATUS_TOPIC, ack_topic

log = logging.getLogger(__name__)
MAX_REASON = 500  # characters of a refusal kept: the reason may quote what the sender sent


@dataclass(frozen=True)
class Reply:
    topic: str
    payload: bytes


@dataclass(frozen=True)
class Message:
    """One MQTT message as the broker handed it over (`retained`: a retained copy sent on
    subscribing)."""

    topic: str
    payload: bytes
    retained: bool = False


GROUP_MESSAGES = 10
GROUP_READINGS = 2_000
"""A group (`Ingest.handle_group`, one transaction) takes at most this many messages and this
many readings: the commit and its fsync are paid once per group, and no hub's ack waits behind
more than a group's work."""

# A hub holds one call request open at a time (hub/core/call_request.py: another only after a
# nurse's answer or 12 hours): more than this many unanswered are not a patient asking, but a
# hub (or a holder of its key) flooding the worklist and the nurse's "I am calling now". Those
# beyond are refused alone; she is first on the worklist already. Counted over the window in
# which the worklist shows an unanswered request, and only since the hub's latest care episode
# began or ended (CentreStore.open_call_requests): the previous patient's unanswered requests
# are not the next one's, and must not refuse her first.
MAX_OPEN_CALLS = 5
OPEN_CALLS_WINDOW = timedelta(days=90)  # centre/web/worklist_data.py OPEN_WINDOW

# A sealed reading takes about 650 bytes in a batch; a message counts at least one reading for
# every this many bytes of it (`readings_in`).
BYTES_PER_READING = 1024

GROUPED = "stored in one transaction"  # logged for a group of batches; the tests look for it


@dataclass(frozen=True)
class _Opened:
    """A batch opened and checked, not yet stored."""

    index: int  # its place in the group
    topic: str
    hub_id: str
    batch: OpenedBatch


@dataclass(frozen=True)
class _Refusal:
    topic: str
    hub_id: str | None
    reason: str


class Ingest:
    def __init__(
        self,
        store: CentreStore,
        keyring: Keyring | dict[str, CentreKeyPair],
        signing_key: Ed25519PrivateKey,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.signing_key = signing_key

    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> Reply | None:
        """Store a batch and return the ack to publish, or record a hub's status (`retained`:
        a retained copy handed over on subscribing); or log and record why it was refused.
        Never raises."""
        return self.handle_group([Message(topic, payload, retained)])[0]

    def handle_group(self, messages: Sequence[Message]) -> list[Reply | None]:
        """`handle` for messages that were waiting together (a draining hub, many hubs): each
        is opened and checked on its own, then their batches are stored in one transaction, a
        savepoint each (so one refused never costs the others), and the acks returned, in the
        messages' order, once that transaction is committed. None for a status recorded or a
        message refused (logged and recorded as `handle` does). Never raises."""
        if self._reconnect_if_broken():
            log.warning("the connection to the centre's database was broken; connected again")
        replies: list[Reply | None] = [None] * len(messages)
        enrolled: dict[str, tuple[str, bool] | None] = {}  # each hub's key, asked once a group
        calls: dict[str, set[int]] = {}  # each hub's open call requests, this group's counted
        opened = [
            found
            for index, message in enumerate(messages)
            if (found := self._open(index, message, enrolled, calls)) is not None
        ]
        for index, reply in self._store_group(opened).items():
            replies[index] = reply
        return replies

    def _reconnect_if_broken(self) -> bool:
        """A broken database connection dropped, so that this group connects again."""
        try:
            return self.store.drop_broken_connection()
        except Exception:  # never fatal: this group's statements then fail, and are refused
            log.exception("could not check the connection to the centre's database")
            return False

    def _open(
        self,
        index: int,
        message: Message,
        enrolled: dict[str, tuple[str, bool] | None],
        calls: dict[str, set[int]],
    ) -> _Opened | None:
        """The message's batch opened and checked; None for a status (recorded here) or a
        message refused (logged and recorded here)."""
        topic = message.topic
        hub_id = _hub_of(topic)
        try:
            if STATUS_TOPIC.match(topic) is not None:
                self._record_status(str(hub_id), message.payload, message.retained)
                return None
            if hub_id is None:
                raise EnvelopeError(f"message on unexpected topic {topic[:200]}")
            batch = self._open_batch(hub_id, message.payload, enrolled)
            if any(item["kind"] == CALL_KIND for item in batch.items):
                if hub_id not in calls:
                    since = datetime.now(UTC) - OPEN_CALLS_WINDOW
                    calls[hub_id] = self.store.open_call_requests(hub_id, since)
                batch = capped_calls(batch, calls[hub_id], MAX_OPEN_CALLS)
            return _Opened(index, topic, hub_id, batch)
        except Exception as exc:  # anything: refused and recorded, never fatal
            self._record(self._refusal(topic, hub_id, exc))
        return None

    def _open_batch(
        self, hub_id: str, payload: bytes, known: dict[str, tuple[str, bool] | None]
    ) -> OpenedBatch:
        """`known`: the hubs' keys asked of the store in this group (batch_signing_key)."""
        header, _ = read_header(payload)
        if header.hub_id != hub_id:
            raise EnvelopeError(f"batch names hub {header.hub_id} but came on {hub_id}'s topic")
        if hub_id not in known:
            known[hub_id] = self.store.batch_signing_key(hub_id)
        enrolled = known[hub_id]
        if enrolled is None:
            raise EnvelopeError(f"hub {hub_id} is not enrolled at this centre")
        signing_key, revoked = enrolled
        if revoked:  # `centre revoke`: refused, saying why
            raise EnvelopeError(
                f"hub {hub_id} is revoked at this centre (centre revoke): its "
                "batches are refused until it is enrolled again"
            )
        keys = self.keyring if isinstance(self.keyring, dict) else self.keyring.keys()
        return open_batch(payload, keys, ed25519_public(signing_key))

    def _store_group(self, opened: list[_Opened]) -> dict[int, Reply]:
        """Store the batches in one transaction and return their acks by place in the group.
        Should the transaction itself fail (its commit, a connection lost), nothing of it was
        kept: each batch is then stored on its own, so the one at fault is refused alone."""
        if not opened:
            return {}
        # Each hub's row is locked by its first batch until the commit: taken in one order
        # (by hub id) by every worker, so two workers' groups may wait but never deadlock.
        order = sorted(opened, key=lambda o: o.hub_id)
        stored: dict[int, StoredBatch] = {}
        refusals: list[_Refusal] = []
        try:
            # One batch alone: its own transaction, as store_batch makes it (no savepoint).
            with self.store.group() if len(order) > 1 else contextlib.nullcontext():
                for one in order:
                    batch = one.batch
                    try:
                        stored[one.index] = self.store.store_batch(
                            one.hub_id, batch.header.batch_id, batch.items, batch.values_json
                        )
                    except Exception as exc:  # its savepoint undid its part
                        refusals.append(self._refusal(one.topic, one.hub_id, exc))
        except Exception as exc:  # nothing of the group was kept
            if len(opened) == 1:
                self._record(self._refusal(opened[0].topic, opened[0].hub_id, exc))
                return {}
            log.warning("a group of %d batches failed (%s); storing each alone", len(opened), exc)
            return {i: r for one in opened for i, r in self._store_group([one]).items()}
        if len(stored) > 1:
            log.info("%s: %d batches", GROUPED, len(stored))
        for refusal in refusals:
            self._record(refusal)
        return self._acks([o for o in opened if o.index in stored], stored)

    def _acks(self, opened: list[_Opened], stored: dict[int, StoredBatch]) -> dict[int, Reply]:
        """The signed acks of batches committed, with what the centre holds of each hub now."""
        highest: dict[str, tuple[int, int]] = {}
        replies: dict[int, Reply] = {}
        stored_by_hub: dict[str, set[int]] = {}  # what each hub's batches stored, committed
        for one in opened:
            stored_by_hub.setdefault(one.hub_id, set()).update(stored[one.index].stored)
        for one in opened:
            try:
                replies[one.index] = self._ack(one, stored[one.index], stored_by_hub, highest)
            except Exception as exc:  # stored and committed, but no ack: the hub sends it again
                log.error(
                    "batch %s from %s is stored but its ack could not be made; the hub sends "
                    "its readings again and they are acknowledged then",
                    one.batch.header.batch_id,
                    one.hub_id,
                    exc_info=exc,
                )
        return replies

    def _ack(
        self,
        one: _Opened,
        done: StoredBatch,
        stored_by_hub: dict[str, set[int]],
        highest: dict[str, tuple[int, int]],
    ) -> Reply:
        """One committed batch's signed ack (`highest`: each hub's, asked once a group)."""
        hub_id, header = one.hub_id, one.batch.header
        log.info(
            "stored batch %s from %s: %d items, %d new",
            header.batch_id,
            hub_id,
            header.count,
            done.new,
        )
        if done.conflicts:
            self._refuse(one.topic, hub_id, _conflict_reason(hub_id, done))
        for reason in done.health_unreadable:  # stored and acknowledged all the same
            self._refuse(one.topic, hub_id, reason)
        refused = one.batch.refused
        for seq, reason in list(refused.items())[:10]:  # the rest share the same cause
            self._refuse(
                one.topic,
                hub_id,
                f"item {seq} of batch {header.batch_id} refused, the hub sets it aside: {reason}",
            )
        if hub_id not in highest:  # once per hub and group: both only grow
            highest[hub_id] = (
                self.store.highest_held(hub_id),
                self.store.highest_contiguous(hub_id, stored_by_hub[hub_id]),
            )
        ack = Ack(
            hub_id=hub_id,
            batch_id=header.batch_id,
            held=to_ranges(done.held),
            conflicts=to_ranges(done.conflicts),
            refused=to_ranges(refused),
            highest_held=highest[hub_id][0],
            highest_contiguous=highest[hub_id][1],
            centre_time=now_utc(),
        )
        return Reply(ack_topic(hub_id), sign_ack(ack, self.signing_key))

    def _record_status(self, hub_id: str, payload: bytes, retained: bool) -> None:
        status = read_status(payload, hub_id)
        ahead = too_far_ahead(status, datetime.now(UTC))
        if ahead is not None:
            raise StatusError(
                f"status of hub {hub_id} is dated {ahead.isoformat()}, more than an hour ahead "
                "of the centre's clock: the hub's clock is wrong (check its time "
                "synchronisation); not recorded"
            )
        try:
            changed = self.store.record_status(hub_id, status, live=not retained)
        except (UnknownHub, RevokedHub) as exc:
            raise StatusError(f"status refused: {exc}") from None
        if changed:
            log.info(
                "hub %s is %s (at %s), holds care plan %s, outbox alarm %s",
                hub_id,
                status.state,
                status.at,
                status.care_plan_version,
                status.alarm,
            )

    def _refusal(self, topic: str, hub_id: str | None, exc: Exception) -> _Refusal:
        """Why a message is refused, from what was raised: a sender's fault in its own words,
        anything unforeseen logged with its traceback."""
        if isinstance(
            exc,
            EnvelopeError | KeyFileError | ReplayedBatch | StatusError | UnknownHub | RevokedHub,
        ):
            return _Refusal(topic, hub_id, str(exc))
        log.error("unexpected failure on a message on %s", topic[:200], exc_info=exc)
        return _Refusal(
            topic,
            hub_id,
            f"the centre could not process this message ({type(exc).__name__}: {exc})",
        )

    def _record(self, refusal: _Refusal) -> None:
        self._refuse(refusal.topic, refusal.hub_id, refusal.reason)

    def _refuse(self, topic: str, hub_id: str | None, reason: str) -> None:
        reason = _printable(reason)
        log.error("rejected message on %s: %s", _printable(topic)[:200], reason)
        try:
            self.store.reject(_printable(topic), hub_id, reason)
        except Exception:  # the refusal is logged; a store that cannot note it must not stop us
            log.exception("could not record the rejection")


def _conflict_reason(hub_id: str, stored: StoredBatch) -> str:
    first = ", ".join(str(s) for s in stored.conflicts[:10])
    return (
        f"hub {hub_id} sent a different reading under sequence number(s) {first}"
        f"{' ...' if len(stored.conflicts) > 10 else ''}, which the centre already holds: "
        "its counter went back (a lost write, a restored SD card). The centre keeps what it "
        "has; the hub renumbers these readings and sends them again"
    )


class TooManyOpenCalls(CentreError):
    """A call request beyond the MAX_OPEN_CALLS a hub may have unanswered: refused alone."""

    def __init__(self, most: int) -> None:
        super().__init__(
            f"a call request beyond the {most} this hub has that no nurse has answered yet: "
            "refused; the patient is first on the worklist already (a hub asks once at a time: "
            "if it sends more, check it)"
        )


def capped_calls(batch: OpenedBatch, open_calls: set[int], most: int) -> OpenedBatch:
    """The batch with its new call requests beyond `most` open for the hub refused alone (in
    `refused`, like any item the centre cannot take); `open_calls`, the numbers of the hub's
    open ones, gains those kept. One re-sent (its number among them) is not counted again."""
    texts: list[str | None] = [*batch.values_json] or [None] * len(batch.items)
    items: list[dict[str, Any]] = []
    kept_texts: list[str | None] = []
    refused = dict(batch.refused)
    for item, text in zip(batch.items, texts, strict=True):
        seq = item["seq"]
        if item["kind"] == CALL_KIND and seq not in open_calls:
            if len(open_calls) >= most:
                refused[seq] = str(TooManyOpenCalls(most))
                continue
            open_calls.add(seq)
        items.append(item)
        kept_texts.append(text)
    if len(items) == len(batch.items):
        return batch
    values_json = [t for t in kept_texts if t is not None] if batch.values_json else []
    return replace(batch, items=items, refused=refused, values_json=values_json)


def group_size(readings: Sequence[int]) -> int:
    """How many of the first messages, holding these many readings each (`readings_in`), make
    a group: at most GROUP_MESSAGES and GROUP_READINGS, but at least one message."""
    total = 0
    for count, held in enumerate(readings[:GROUP_MESSAGES]):
        total += held
        if total > GROUP_READINGS and count > 0:
            return count
    return min(len(readings), GROUP_MESSAGES)


def readings_in(payload: bytes) -> int:
    """How many readings a message counts for in a group, read before opening it: its batch
    header's count (1 for a status, or a header that cannot be read), or one for every
    BYTES_PER_READING of it if that is more. So a group holds at most about GROUP_READINGS
    readings' worth of bytes whatever a header claims, and a big message goes alone."""
    try:
        count = read_header(payload)[0].count
    except Exception:  # whatever a hostile header holds: handle_group refuses it, saying why
        count = 1
    return max(count, len(payload) // BYTES_PER_READING)


def _hub_of(topic: str) -> str | None:
    """The hub a message's topic names, if it is a topic the centre takes."""
    match = STATUS_TOPIC.match(topic) or BATCH_TOPIC.match(topic)
    return None if match is None else match.group(1)


def _printable(text: str) -> str:
    """Text that can be logged and stored whatever it holds (lone surrogates, control bytes)."""
    clean = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in clean)[:MAX_REASON]
