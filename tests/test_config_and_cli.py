"""Broken configuration gets a clear error; the technician's decode tool."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import ConfigError, load_config
from tests.conftest import provisioned_hub

KEY = "A" * 43 + "="  # 32 zero-ish bytes in base64


def provisioned(tmp_path: Path) -> Path:
    return provisioned_hub(tmp_path, "hub-0001")


def test_provisioned_config_loads_and_key_is_owner_only(tmp_path: Path) -> None:
    config = load_config(provisioned(tmp_path))
    assert config.hub_id == "hub-0001"
    assert config.signing_key_path.stat().st_mode & 0o777 == 0o600


def test_provisioning_never_overwrites_an_identity(tmp_path: Path) -> None:
    provisioned(tmp_path)
    with pytest.raises(FileExistsError):
        provisioned(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hub_id = ", "not valid TOML"),
        (
            'hub_id = "Hub 1"\nstate_dir = "/x"\n[centre]\nencryption_key = "k"\nsigning_key = "k"',
            "hub_id: String should match pattern",
        ),
        ('hub_id = "hub-0001"\nstate_dir = "/x"', "centre: Field required"),
        (
            'hub_id = "hub-0001"\nstate_dir = "/x"\n[centre]\n'
            'encryption_key = "!!"\nsigning_key = "k"',
            "centre.encryption_key is not base64",
        ),
        (
            f'hub_id = "hub-0001"\nstate_dir = "/x"\ncolour = "red"\n[centre]\n'
            f'encryption_key = "{KEY}"\nsigning_key = "{KEY}"',
            "colour: Extra inputs are not permitted",
        ),
    ],
)
def test_broken_config_says_what_is_wrong(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_missing_config_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"no hub config .*nope\.toml: this hub is not provisioned"
    ):
        load_config(tmp_path / "nope.toml")


def hub(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def test_cli_reports_broken_config_without_traceback(tmp_path: Path) -> None:
    result = hub("--config", str(tmp_path / "missing.toml"), "readings", "--json")
    assert result.returncode == 2
    assert "there is no hub config" in result.stderr and "hub provision" in result.stderr
    assert "Traceback" not in result.stderr


def test_decode_prints_json_per_value() -> None:
    # Laid out by hand from the GSS 0x2A35 field table: flags 0x1E (mmHg, time stamp, pulse,
    # user id, status), 138/88/120 mmHg, 2019-12-31 23:00:00, pulse 60, user 1, status 0.
    value = "1e" + "8a00" + "5800" + "7800" + "e3070c1f170000" + "3c00" + "01" + "0000"
    result = hub("decode", "2A35", value, "00")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1  # the second value does not parse
    assert lines[0]["type"] == "blood_pressure_measurement"
    assert (lines[0]["systolic"], lines[0]["diastolic"], lines[0]["mean_arterial_pressure"]) == (
        138.0,
        88.0,
        120.0,
    )
    assert lines[0]["timestamp"] == "2019-12-31T23:00:00"
    assert lines[0]["pulse_rate"] == 60.0
    assert lines[0]["unit"] == "mmHg"
    assert lines[0]["user_id"] == 1
    assert "cannot decode" in lines[1]["error"]


def test_decode_reads_stdin_lines() -> None:
    result = hub("decode", stdin="2a49 0700\n2a35 zz\n")
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["features"][:3] == [
        "body_movement_detection",
        "cuff_fit_detection",
        "irregular_pulse_detection",
    ]
    assert second["error"].startswith("not hex")


def test_readings_without_daemon_lists_outcome_and_time_source(tmp_path: Path) -> None:
    from hub.config import load_config
    from hub.core.reading import NewReading
    from hub.store import ReadingStore

    config = provisioned(tmp_path)
    store = ReadingStore(load_config(config).db_path)
    store.add(
        NewReading(
            kind="blood_pressure",
            characteristic="00002a35-0000-1000-8000-00805f9b34fb",
            device_address="00:BB:00:00:00:02",
            device_time="2000-01-01T00:05:00",
            received_at="2026-11-22T10:40:01.000+00:00",
            raw_hex="00",
            values={"systolic": "NaN"},
            measured_at="2026-11-22T10:40:01+00:00",
            time_source="hub_received",
            outcome="failed",
            problems=("systolic_NaN",),
        )
    )
    store.close()
    result = hub("--config", str(config), "readings")
    assert result.returncode == 0, result.stderr
    assert "[hub_received]" in result.stdout and "failed (systolic_NaN)" in result.stdout


def test_technician_commands_need_the_daemon(tmp_path: Path) -> None:
    config = provisioned(tmp_path)
    for args in (["pair"], ["devices"], ["forget", "00:BB:00:00:00:02"]):
        result = hub("--config", str(config), *args)
        assert result.returncode == 2
        assert "not answering" in result.stderr and "start it first" in result.stderr
    result = hub("--config", str(config), "pair", "--passkey", "12a456")
    assert result.returncode == 2 and "6 digits" in result.stderr


def test_the_screen_logs_to_the_journal_when_it_cannot_write_the_state_dir(
    tmp_path: Path,
) -> None:
    """Under its own user (issue 11) the screen cannot write <state_dir>/ui.log: its errors go
    to the journal's socket instead of nowhere, and never to the patient's display."""
    import logging
    import socket

    from hub.cli import _ui_log_handler

    journal = tmp_path / "dev-log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(journal))
        listener.settimeout(5)
        handler = _ui_log_handler(tmp_path / "no-such-dir" / "ui.log", journal)
        try:
            handler.handle(
                logging.makeLogRecord(
                    {
                        "name": "hub.ui",
                        "levelno": logging.ERROR,
                        "levelname": "ERROR",
                        "msg": "the daemon does not answer",
                    }
                )
            )
            received = listener.recv(4096)
        finally:
            handler.close()
    assert b"dho-hub-ui: ERROR hub.ui: the daemon does not answer" in received
    assert isinstance(_ui_log_handler(tmp_path / "ui.log", journal), logging.FileHandler)
