"""The ingest worker outlives a cut database connection (PostgreSQL restarted, its backend
ended, a network cut). Django mends connections only between web requests, and `centre serve`
has none: before, every batch after a cut was refused, for as long as the worker ran."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from centre.ingest import Ingest
from centre.store import CentreStore
from hub.wire.envelope import open_ack
from hub.wire.public_keys import public_text
from testbed.centre_db import fresh_database
from testbed.postgres import PostgresAddress
from tests.test_envelope import CENTRE, HUB_KEY, header, item, sealed

TOPIC = "dho/v1/hub/hub-0001/batch"
B1, B2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


@pytest.fixture
def ingest(postgres: PostgresAddress, tmp_path: Path) -> Iterator[Ingest]:
    with fresh_database("postgres", tmp_path, postgres) as url:
        store = CentreStore(url)
        store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
        yield Ingest(store, {CENTRE.public.key_id: CENTRE}, Ed25519PrivateKey.generate())
        store.close()


def batch(batch_id: str, first: int) -> bytes:
    return sealed(
        header(batch_id=batch_id, seq_first=first, seq_last=first + 1),
        [item(first, 128.0), item(first + 1, 131.0)],
    )


def cut_connection(store: CentreStore, postgres: PostgresAddress) -> None:
    """End the server's side of this thread's connection, as a server restart does."""
    from django.db import connections

    raw = connections[store.alias].connection
    assert raw is not None, "the store has a connection to cut"
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        row = admin.execute("SELECT pg_terminate_backend(%s)", [raw.info.backend_pid]).fetchone()
    assert row == (True,)


def test_a_batch_after_the_connection_was_cut_is_stored_and_acknowledged(
    ingest: Ingest, postgres: PostgresAddress, caplog: pytest.LogCaptureFixture
) -> None:
    assert ingest.handle(TOPIC, batch(B1, 1)) is not None
    cut_connection(ingest.store, postgres)
    with caplog.at_level(logging.WARNING):
        reply = ingest.handle(TOPIC, batch(B2, 3))
    assert reply is not None, ingest.store.rejections()
    ack = open_ack(reply.payload, ingest.signing_key.public_key(), "hub-0001")
    assert (ack.batch_id, ack.highest_contiguous) == (B2, 4)
    assert [r["seq"] for r in ingest.store.readings()] == [1, 2, 3, 4]
    assert "connection to the centre's database was broken; connected again" in caplog.text
    assert ingest.store.rejections() == []


def test_a_working_connection_is_kept(ingest: Ingest) -> None:
    from django.db import connections

    assert ingest.handle(TOPIC, batch(B1, 1)) is not None
    before = connections[ingest.store.alias].connection
    assert ingest.handle(TOPIC, batch(B2, 3)) is not None
    assert connections[ingest.store.alias].connection is before
