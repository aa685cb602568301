"""The centre's ingest on a real SQLite file: replays refused, rejections bounded, enrolment
checked. (Through a real broker: tests/test_centre_rejects.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import centre.store
from centre.ingest import Ingest
from centre.store import CentreStore
from hub.wire.public_keys import public_text
from tests.test_envelope import CENTRE, HUB_KEY, header, item, sealed

TOPIC = "dho/v1/hub/hub-0001/batch"
B1, B2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


def envelope(batch_id: str) -> bytes:
    return sealed(
        header(batch_id=batch_id, seq_first=1, seq_last=2), [item(1, 128.0), item(2, 131.0)]
    )


@pytest.fixture
def ingest(tmp_path: Path) -> Ingest:
    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    return Ingest(store, {CENTRE.public.key_id: CENTRE}, Ed25519PrivateKey.generate())


def test_a_batch_arriving_again_is_refused_as_a_replay(ingest: Ingest) -> None:
    first = envelope(B1)
    assert ingest.handle(TOPIC, first) is not None
    assert ingest.handle(TOPIC, first) is None  # replayed byte for byte: no second ack
    (rejection,) = ingest.store.rejections()
    assert f"{B1} from hub-0001 was accepted before" in rejection["reason"]
    assert [r["seq"] for r in ingest.store.readings()] == [1, 2]
    # The hub's own re-send of the same readings comes under a new batch id, and is acked.
    assert ingest.handle(TOPIC, envelope(B2)) is not None
    assert [r["seq"] for r in ingest.store.readings()] == [1, 2]


def test_a_batch_sealed_to_a_key_the_centre_no_longer_has_is_refused_and_logged(
    ingest: Ingest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingest.keyring = {}  # the key was deleted (or never was this centre's)
    assert ingest.handle(TOPIC, envelope(B1)) is None
    (rejection,) = ingest.store.rejections()
    assert f"sealed to unknown centre key id {CENTRE.public.key_id}" in rejection["reason"]
    assert "sealed to unknown centre key id" in caplog.text
    assert ingest.store.readings() == []


def test_rejections_keep_only_the_newest(ingest: Ingest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(centre.store, "REJECTIONS_KEPT", 3)
    for n in range(6):
        ingest.handle(TOPIC, b"garbage %d" % n)
    kept = ingest.store.rejections()
    assert len(kept) == 3
    assert all(r["topic"] == TOPIC for r in kept)


def test_enrolling_an_invalid_hub_id_says_why(tmp_path: Path) -> None:
    from centre.admin import init_centre

    config = tmp_path / "centre.toml"
    init_centre(config, tmp_path / "state", "127.0.0.1", 8884, "127.0.0.1", 8883)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "centre.cli",
            "--config",
            str(config),
            "enrol",
            "Hub 1",
            "--out",
            str(tmp_path / "bundle.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "hub id 'Hub 1' is not valid" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "bundle.json").exists()


def test_highest_contiguous_walks_past_a_filled_gap(tmp_path: Path) -> None:
    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    assert store.highest_contiguous("hub-0001") == 0
    store.store_batch("hub-0001", "b-1", [item(n, 120.0) for n in range(1, 1501) if n != 1201])
    assert store.highest_contiguous("hub-0001") == 1200
    store.store_batch("hub-0001", "b-2", [item(1201, 120.0)])
    assert store.highest_contiguous("hub-0001") == 1500
    # Another worker's store (its own memory of the watermark) agrees.
    assert CentreStore(tmp_path / "centre.sqlite").highest_contiguous("hub-0001") == 1500
    assert store.highest_contiguous("hub-0002") == 0


def test_the_centre_store_is_private_whatever_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
        store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    finally:
        os.umask(old)
    for name in ("centre.sqlite", "centre.sqlite-wal", "centre.sqlite-shm"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
