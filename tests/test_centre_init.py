"""`centre init` never overwrites what a centre has: its config, or, with the config moved
aside, its private keys (docs/operations.md, the file table)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def init(config: Path, state: Path) -> subprocess.CompletedProcess[str]:
    where = ["--state-dir", str(state), "--hub-broker-host", "mqtt.example.org"]
    ports = ["--hub-broker-port", "8883", "--mqtt-host", "localhost", "--mqtt-port", "8884"]
    return subprocess.run(
        [sys.executable, "-m", "centre.cli", "--config", str(config), "init", *where, *ports],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_init_refuses_to_replace_a_config_or_a_key(tmp_path: Path) -> None:
    config, state = tmp_path / "centre.toml", tmp_path / "state"
    assert init(config, state).returncode == 0
    keys = {path: path.read_bytes() for path in (state / "keys").rglob("*") if path.is_file()}
    written = config.read_text()
    again = init(config, state)
    assert again.returncode == 2 and "exists already" in again.stderr
    config.rename(tmp_path / "aside.toml")
    moved = init(config, state)
    assert moved.returncode == 2
    assert "centre-signing.pem exists already; centre keys are never overwritten" in moved.stderr
    assert "Traceback" not in again.stderr + moved.stderr
    assert {path: path.read_bytes() for path in keys} == keys
    assert (tmp_path / "aside.toml").read_text() == written


def test_init_refuses_a_database_that_holds_a_centres_hubs(tmp_path: Path) -> None:
    """With the config and keys moved aside but the database left (SQLite in the state
    folder; a --database URL alike), a new centre's keys would lock its hubs out (second
    outsider review)."""
    config, state = tmp_path / "centre.toml", tmp_path / "state"
    assert init(config, state).returncode == 0
    run = [sys.executable, "-m", "centre.cli", "--config", str(config)]
    enrolled = subprocess.run(
        [*run, "enrol", "hub-0001", "--out", str(tmp_path / "bundle.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    config.rename(tmp_path / "aside.toml")
    (state / "keys").rename(tmp_path / "keys-aside")
    again = init(config, state)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert "already holds 1 enrolled hub(s) (hub-0001, ...)" in again.stderr
    assert not (state / "keys").exists() and not config.exists(), "nothing written"
