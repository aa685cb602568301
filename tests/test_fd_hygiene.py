"""The tests' databases leave no file open behind them.

A CentreStore opens a connection of its own per database, and every test's database is another
file. Left open, they piled up in a worker (1,100 files) until a socket's number passed 1023,
which paho's select() cannot watch: the centre's downlink inside that test process never
connected and the broker logged "Protocol error" (tests/test_web_worklist.py's receipt test
failed only in full runs). testbed.centre_db.fresh_database closes them all, and
tests/conftest.py closes what a test opened outside it."""

from __future__ import annotations

import os
from pathlib import Path

from centre.people.models import Municipality
from centre.store import CentreStore
from testbed.centre_db import fresh_database


def open_under(folder: Path) -> list[str]:
    """The files under `folder` this process holds open."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed since
            continue
        if target.startswith(f"{folder}/"):
            found.append(target)
    return found


def test_a_fresh_database_closes_every_connection_made_in_it(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path, None) as url:
        Municipality.objects.create(name="Oslo", number="0301")  # the default connection
        CentreStore(url).readings()  # the same database: Django's default alias
        elsewhere = tmp_path / "other"
        elsewhere.mkdir()
        other = CentreStore(f"sqlite:///{elsewhere / 'centre.sqlite'}", migrate=True)
        other.readings()  # a database of its own: an alias of its own
        assert any(p.startswith(f"{elsewhere}/") for p in open_under(tmp_path))
        assert any(p.endswith("/centre.sqlite") for p in open_under(tmp_path))
    assert open_under(tmp_path) == []
