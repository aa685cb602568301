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
