"""The hub's retained status at the centre (issue 13: "hub offline since ...", "the page shows
which version the hub holds"): the payload read strictly (tables of good and hostile ones), the
record merged so that no older status overwrites a newer one (a table of orders), hostile and
unenrolled statuses refused and recorded while the worker goes on, then the real hub through
the real broker to the real ingest worker, and the editor page showing the version held."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from centre.ingest import Ingest
from centre.presence import Presence, merge, too_far_ahead
from centre.store import CentreStore
from hub.wire.status import HubStatus, StatusError, read_status, status_payload
from hub.wire.topics import STATUS_TOPIC, status_topic
from testbed.home import SimulatedHome
from tests.test_web_care_plan import (  # noqa: F401 (fixtures)
    HUB,
    client_of,
    rendered_context,
    sent_plan,
    url_of,
    wait_for,
    ward,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def stamp(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat(timespec="milliseconds")


def fields(**changes: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "v": 1,
        "hub_id": HUB,
        "state": "online",
        "at": stamp(1),
        "since": stamp(0),
        "alarm": None,
        "care_plan_version": 3,
    }
    status.update(changes)
    return status


def raw(**changes: Any) -> bytes:
    return json.dumps(fields(**changes)).encode()


def status(state: str, since: float, at: float, version: int | None = 3, **more: Any) -> HubStatus:
    return HubStatus.model_validate(
        fields(state=state, since=stamp(since), at=stamp(at), care_plan_version=version, **more)
    )


# Reading: what a hub sends, and what it may not.


def test_what_the_hub_publishes_is_read_back_as_it_was_said() -> None:
    payload = status_payload(HUB, "online", stamp(1), stamp(0), "near_full", 7)
    assert read_status(payload, HUB) == HubStatus(
        v=1,
        hub_id=HUB,
        state="online",
        at=stamp(1),
        since=stamp(0),
        alarm="near_full",
        care_plan_version=7,
    )
    assert len(payload) < 250  # small: published on every connect, retained for every hub


def test_an_older_hub_s_status_without_the_new_fields_is_read() -> None:
    old = {"v": 1, "hub_id": HUB, "state": "offline", "at": stamp(0), "alarm": None}
    read = read_status(json.dumps(old).encode(), HUB)
    assert (read.since, read.care_plan_version, read.state) == (None, None, "offline")


HOSTILE: list[tuple[str, bytes, str]] = [
    ("not JSON", b"{online", "not JSON"),
    ("not UTF-8", b'{"v": 1, "hub_id": "\xff"}', "not UTF-8"),
    ("empty", b"", "not JSON"),
    ("a list", b"[1, 2]", "not valid"),
    ("huge", raw(alarm="x" * 5000), "at most 1024"),
    ("another hub's id", raw(hub_id="hub-0002"), "names hub hub-0002"),
    ("a hub id that is no hub id", raw(hub_id="../../etc"), "hub_id"),
    ("version as text", raw(care_plan_version="3"), "care_plan_version"),
    ("version as a float", raw(care_plan_version=3.0), "care_plan_version"),
    ("version as a boolean", raw(care_plan_version=True), "care_plan_version"),
    ("version 0", raw(care_plan_version=0), "care_plan_version"),
    ("a negative version", raw(care_plan_version=-1), "care_plan_version"),
    ("a version past 2^63", raw(care_plan_version=2**63), "out of range"),
    ("NaN", raw().replace(b'"care_plan_version": 3', b'"care_plan_version": NaN'), "not JSON"),
    ("Infinity", raw().replace(b'"v": 1', b'"v": Infinity'), "not JSON"),
    ("1e999", raw().replace(b'"v": 1', b'"v": 1e999'), "not JSON"),
    ("another protocol version", raw(v=2), "v:"),
    ("an unknown state", raw(state="<script>alert(1)</script>"), "state"),
    ("an unknown alarm", raw(alarm="<script>alert(1)</script>"), "alarm"),
    ("a time without offset", raw(at="2026-12-01T08:00:00"), "at"),
    ("a time that is no time", raw(since="yesterday"), "since"),
    ("a time as a number", raw(at=1764576000), "at"),
    ("an unknown field", raw(battery=5), "battery"),
    ("a field missing", json.dumps({"v": 1, "hub_id": HUB, "state": "online"}).encode(), "at"),
    ("a lone surrogate", raw().replace(b'"online"', b'"\\ud800"'), "lone surrogate"),
    ("nested deep", raw().replace(b'"alarm": null', b'"alarm": ' + b"[" * 40 + b"]" * 40), ""),
]


@pytest.mark.parametrize(("payload", "why"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_a_hostile_status_is_refused_with_a_reason(payload: bytes, why: str) -> None:
    with pytest.raises(StatusError, match="status") as refused:
        read_status(payload, HUB)
    assert why in str(refused.value)


def test_the_status_topic_names_the_hub() -> None:
    match = STATUS_TOPIC.match(status_topic(HUB))
    assert match is not None and match.group(1) == HUB
    assert STATUS_TOPIC.match(status_topic("+")) is None
    assert STATUS_TOPIC.match(status_topic(HUB) + "/x") is None


# Merging: the newer wins, whatever order the statuses come in.

CONNECTED = status("online", 0, 1, version=None)
TOOK_PLAN = status("online", 0, 5, version=1)
ALARM = status("online", 0, 6, version=1, alarm="near_full")
WILL = status("offline", 0, 0, version=None)  # made when the connection began
STOPPED = status("offline", 0, 7, version=1)
RECONNECTED = status("online", 10, 11, version=1)
RECONNECT_WILL = status("offline", 10, 10, version=1)


def presence_after(*statuses: HubStatus) -> Presence:
    recorded = Presence()
    for each in statuses:
        recorded = merge(recorded, each)
    return recorded


ORDERS: list[tuple[str, tuple[HubStatus, ...], str, int | None, str | None]] = [
    ("connected", (CONNECTED,), "online", None, None),
    ("took a plan", (CONNECTED, TOOK_PLAN), "online", 1, None),
    ("the older one late", (TOOK_PLAN, CONNECTED), "online", 1, None),
    ("the same one twice", (TOOK_PLAN, TOOK_PLAN), "online", 1, None),
    ("the will ends its connection", (CONNECTED, TOOK_PLAN, WILL), "offline", 1, None),
    ("the will first, then the older online", (WILL, TOOK_PLAN), "offline", 1, None),
    ("the alarm", (TOOK_PLAN, ALARM), "online", 1, "near_full"),
    ("stopped cleanly", (ALARM, STOPPED), "offline", 1, None),
    ("the stop late", (ALARM, RECONNECTED, STOPPED), "online", 1, None),
    ("the old will late", (RECONNECTED, WILL), "online", 1, None),
    ("the new will", (RECONNECTED, WILL, RECONNECT_WILL), "offline", 1, None),
]


@pytest.mark.parametrize(
    ("statuses", "state", "version", "alarm"),
    [o[1:] for o in ORDERS],
    ids=[o[0] for o in ORDERS],
)
def test_no_older_status_overwrites_a_newer_one(
    statuses: tuple[HubStatus, ...], state: str, version: int | None, alarm: str | None
) -> None:
    recorded = presence_after(*statuses)
    assert (recorded.state, recorded.held_care_plan_version, recorded.outbox_alarm) == (
        state,
        version,
        alarm,
    )


def test_an_alarm_keeps_the_time_it_began_and_clears() -> None:
    later = status("online", 0, 9, version=1, alarm="near_full")
    worse = status("online", 0, 12, version=1, alarm="over_budget")
    recorded = presence_after(TOOK_PLAN, ALARM, later)
    assert recorded.outbox_since == T0 + timedelta(minutes=6)
    assert presence_after(ALARM, later, worse).outbox_since == T0 + timedelta(minutes=12)
    cleared = presence_after(ALARM, status("online", 0, 13, version=1))
    assert (cleared.outbox_alarm, cleared.outbox_since) == (None, None)


def test_merging_what_is_recorded_changes_nothing() -> None:
    recorded = presence_after(CONNECTED, TOOK_PLAN, WILL)
    for again in (CONNECTED, TOOK_PLAN, WILL):
        assert merge(recorded, again) == recorded


# The ingest worker: records, refuses, goes on.


@pytest.fixture
def ingest(tmp_path: Path) -> Ingest:
    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    store.enrol(HUB, "test")
    return Ingest(store, {}, Ed25519PrivateKey.generate())


def recorded(ingest: Ingest) -> dict[str, Any]:
    found = ingest.store.presence(HUB)
    assert found is not None
    return found


def test_a_status_is_recorded_and_an_older_one_after_it_changes_nothing(ingest: Ingest) -> None:
    topic = status_topic(HUB)
    assert ingest.handle(topic, raw(at=stamp(5), care_plan_version=2)) is None
    assert ingest.handle(topic, raw(at=stamp(2), care_plan_version=1)) is None
    held = recorded(ingest)
    assert (held["status_state"], held["held_care_plan_version"]) == ("online", 2)
    assert held["status_at"] == held["reported_at"] == T0 + timedelta(minutes=5)
    assert held["seen_at"] is not None
    assert ingest.store.rejections() == []


def test_a_retained_copy_does_not_count_as_hearing_from_the_hub(ingest: Ingest) -> None:
    ingest.handle(status_topic(HUB), raw(), retained=True)
    held = recorded(ingest)
    assert (held["held_care_plan_version"], held["seen_at"]) == (3, None)


@pytest.mark.parametrize(("payload", "why"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_a_hostile_status_is_recorded_as_a_rejection_and_the_worker_goes_on(
    ingest: Ingest, payload: bytes, why: str
) -> None:
    assert ingest.handle(status_topic(HUB), payload) is None
    (rejection,) = ingest.store.rejections()
    assert rejection["hub_id"] == HUB and why in rejection["reason"]
    assert recorded(ingest)["status_state"] is None
    ingest.handle(status_topic(HUB), raw())  # the next good one is recorded
    assert recorded(ingest)["status_state"] == "online"


def test_a_status_of_a_hub_never_enrolled_or_revoked_is_refused(ingest: Ingest) -> None:
    ingest.handle(status_topic("hub-9999"), raw(hub_id="hub-9999"))
    ingest.store.revoke(HUB)
    ingest.handle(status_topic(HUB), raw())
    reasons = [r["reason"] for r in ingest.store.rejections()]
    assert len(reasons) == 2
    assert "hub-9999 is not enrolled" in reasons[0] and f"{HUB} is revoked" in reasons[1]
    assert ingest.store.presence("hub-9999") is None
    assert recorded(ingest)["status_state"] is None


# The real hub, the real broker, the real ingest worker.


def test_the_centre_records_the_plan_the_hub_holds_and_the_hub_going_offline(
    home: SimulatedHome,
) -> None:
    home.start_centre(taking_batches=True)
    plan_file = home.workdir / "plan.json"
    plan_file.write_text(json.dumps({"schedule": [{"kind": "weight", "times": ["07:00"]}]}))
    sent = home.centre_cli("send-care-plan", home.hub_id, str(plan_file))
    assert sent.returncode == 0, sent.stderr
    store = CentreStore(home.centre.database_url)

    def presence() -> dict[str, Any]:
        found = store.presence(home.hub_id)
        assert found is not None
        return found

    hub = home.start_hub()
    wait_for(
        lambda: (p := presence())["status_state"] == "online" and p["held_care_plan_version"] == 1,
        "the centre to record that the hub holds version 1",
    )
    hub.kill()  # kill -9: the broker publishes the will, made before the plan was taken
    wait_for(lambda: presence()["status_state"] == "offline", "the centre to record the will")
    assert presence()["held_care_plan_version"] == 1
    hub = home.start_hub()
    wait_for(lambda: presence()["status_state"] == "online", "the hub online again")
    hub.stop()  # SIGTERM: the hub says offline itself
    wait_for(lambda: presence()["status_state"] == "offline", "the centre to record the stop")
    held = presence()
    assert held["held_care_plan_version"] == 1 and held["seen_at"] is not None
    assert home.centre_rejections() == []


# The editor page.


def test_the_editor_shows_the_version_the_hub_holds(ward: dict[str, Any]) -> None:  # noqa: F811
    from centre.records.models import Hub

    sent_plan({"schedule": [{"kind": "weight", "times": ["07:00"]}]}, days_ago=2)
    client = client_of("kari")

    def shown() -> tuple[Any, str]:
        response = client.get(url_of(ward["ola"]))
        assert response.status_code == 200
        return response.context, response.content.decode()

    context, page = shown()  # not reported yet
    assert context["held"].reported_at is None and not context["held_lags"]
    assert 'id="held-version"' in page and 'id="held-lags"' not in page
    reported = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    Hub.objects.filter(hub_id=HUB).update(held_care_plan_version=1, reported_at=reported)
    context, page = shown()
    assert context["held"].version == 1 and not context["held_lags"]
    assert "01.12.2026" in page and 'id="held-lags"' not in page
    sent_plan({"schedule": [{"kind": "weight", "times": ["08:00"]}]}, days_ago=1)
    context, page = shown()
    assert context["held"].version == 1 and context["held_lags"]
    assert 'id="held-lags"' in page


@pytest.mark.parametrize(
    ("at", "since", "ahead"),
    [
        (timedelta(minutes=59), None, False),  # a clock a little fast: taken
        (timedelta(minutes=61), None, True),
        (timedelta(days=-1), timedelta(days=3650), True),  # its connection "began" in 2036
        (timedelta(days=-3650), timedelta(days=-3651), False),  # old: merge decides
    ],
)
def test_a_status_dated_too_far_ahead_is_told_apart(
    at: timedelta, since: timedelta | None, ahead: bool
) -> None:
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)

    def stamp_of(delta: timedelta) -> str:
        return (now + delta).isoformat(timespec="milliseconds")

    said = status("online", 0, 0).model_copy(
        update={"at": stamp_of(at), "since": stamp_of(since) if since is not None else None}
    )
    assert (too_far_ahead(said, now) is not None) == ahead


def test_a_status_from_a_clock_far_ahead_is_refused_and_hides_no_later_true_one(
    ingest: Ingest,
) -> None:
    """Recorded, a status dated years ahead kept every true status after it out (only newer
    ones are taken), the outbox alarm on the worklist included (second outsider review)."""
    now = datetime.now(UTC)
    future = (now + timedelta(days=3650)).isoformat(timespec="milliseconds")
    true = (now - timedelta(minutes=1)).isoformat(timespec="milliseconds")
    topic = status_topic(HUB)
    assert ingest.handle(topic, raw(at=future, since=future, alarm=None)) is None
    (rejection,) = ingest.store.rejections()
    assert "more than an hour ahead of the centre's clock" in rejection["reason"]
    ingest.handle(topic, raw(at=true, since=true, alarm="over_budget"))
    assert recorded(ingest)["outbox_alarm"] == "over_budget"
