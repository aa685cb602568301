"""The hub's configuration file (TOML), validated with pydantic."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.core.technician_pin import PinHash
from hub.errors import HubError
from hub.wire.public_keys import ed25519_public
from hub.wire.suites import CentreKey, centre_key
from hub.wire.topics import HUB_ID_PATTERN


class ConfigError(HubError, ValueError):
    """A configuration file that cannot be used, with the path and the offending setting."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSettings(Strict):
    """Where the broker is. The connection is always MQTT v5 over TLS 1.2 or newer, with the
    client certificate from the enrolment bundle."""

    host: str = "localhost"
    port: int = Field(default=8883, ge=1, le=65535)
    keepalive_s: int = Field(default=30, ge=5)


class CentreKeys(Strict):
    """The follow-up centre's public keys, installed at provisioning time."""

    encryption_key: str
    # The HPKE suite of the encryption key: "x25519", or the post-quantum hybrid
    # "mlkem768-x25519" (hub/wire/suites.py).
    encryption_suite: str = "x25519"
    signing_key: str

    def check(self) -> None:
        _ = self.encryption
        ed25519_public(self.signing_key, "centre.signing_key")

    @property
    def encryption(self) -> CentreKey:
        return centre_key(self.encryption_suite, self.encryption_key, "centre.encryption_key")


class SyncSettings(Strict):
    # A batch goes out when it is full (items or bytes), when its oldest item has waited
    # batch_max_age_s, or at once if an item is urgent (outside the care plan's limits).
    batch_max: int = Field(default=200, ge=1, le=10_000)
    batch_max_bytes: int = Field(default=256 * 1024, ge=1024, le=8 * 1024 * 1024)
    batch_max_age_s: float = Field(default=2.0, ge=0)
    # Batches sent and not yet acknowledged, at most; more keeps a long backlog draining fast.
    window: int = Field(default=8, ge=1, le=64)
    ack_timeout_s: float = Field(default=10.0, gt=0)
    # Plaintext kept for the patient screen (its trends look back 14 days; fewer days give
    # shorter trends); the sealed copy waits in the outbox regardless.
    plaintext_days: float = Field(default=14.0, gt=0)
    # How long after receiving a device record the hub recognises it if the device sends it
    # again (keyed digests, then deleted). Omron-style cuffs hold about 100 records, 50 days at
    # two a day.
    record_memory_days: float = Field(default=90.0, gt=0, le=3660)
    # The outbox's share of the SD card; an alarm is raised at 80 % and nothing is dropped.
    outbox_budget_mb: float = Field(default=256.0, gt=0)
    # How often the daemon reports its health to the centre (hub/core/health.py), after one
    # report when it starts; 0: never (a bench whose tests count every item). Seconds.
    health_every_s: float = Field(default=21600.0, ge=0, le=7 * 86400)

    @field_validator("health_every_s")
    @classmethod
    def _health_every(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError("health reports at most once a second (or 0: never)")
        return value


class BluetoothSettings(Strict):
    adapter: str = "hci0"
    scan_window_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=15.0, gt=0)
    max_session_s: float = Field(default=120.0, gt=0)
    # End a session when the device has sent nothing for this long.
    quiet_disconnect_s: float = Field(default=5.0, gt=0)
    # Devices connected at the same time (BlueZ and most controllers handle several LE links).
    max_connections: int = Field(default=3, ge=1, le=10)
    # Sample continuous-only pulse oximeters this long instead of the model's own window
    # (quirks.continuous_window_s); unset keeps the model's.
    continuous_window_s: float | None = Field(default=None, gt=0)


class ClockSettings(Strict):
    # The home's time zone: device clocks keep its wall-clock time without a zone.
    timezone: str = "Europe/Oslo"
    # Whether the hub's own clock can be trusted: asked of the kernel (NTP sync status), or
    # fixed for a bench or a site with another time source.
    source: Literal["kernel", "assume_synchronised", "assume_unsynchronised"] = "kernel"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use e.g. 'Europe/Oslo'") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


HEX = r"^[0-9a-f]+$"


class TechnicianPin(Strict):
    """The touchscreen's technician PIN, as a salted scrypt hash (hub/core/technician_pin.py);
    written by `hub set-technician-pin`, never the PIN itself. Unset: no technician mode."""

    salt: str = Field(pattern=HEX, min_length=32, max_length=128)
    hash: str = Field(pattern=HEX, min_length=64, max_length=64)
    n: int = Field(ge=2**14, le=2**17)  # 16 to 128 MiB a try: a Pi 3 has 1 GiB
    r: int = Field(ge=1, le=32)
    p: int = Field(ge=1, le=16)

    @field_validator("n")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError("n must be a power of two")
        return value

    @property
    def kept(self) -> PinHash:
        return PinHash(bytes.fromhex(self.salt), bytes.fromhex(self.hash), self.n, self.r, self.p)

    @classmethod
    def of(cls, kept: PinHash) -> TechnicianPin:
        return cls(salt=kept.salt.hex(), hash=kept.digest.hex(), n=kept.n, r=kept.r, p=kept.p)


class HubConfig(Strict):
    hub_id: str = Field(pattern=HUB_ID_PATTERN)
    state_dir: Path
    # Where the daemon's local socket is: the state directory unless set. The units set
    # /run/dho-hub, which the patient screen's user reaches through the socket group only.
    socket_dir: Path | None = None
    language: Literal["nb", "nn", "en"] = "nb"
    clock: ClockSettings = ClockSettings()
    mqtt: MqttSettings = MqttSettings()
    centre: CentreKeys
    sync: SyncSettings = SyncSettings()
    bluetooth: BluetoothSettings = BluetoothSettings()
    technician_pin: TechnicianPin | None = None

    @property
    def db_path(self) -> Path:
        return self.state_dir / "hub.sqlite"

    @property
    def socket_path(self) -> Path:
        return (self.socket_dir or self.state_dir) / "hub.sock"

    @property
    def signing_key_path(self) -> Path:
        return self.state_dir / "keys" / "hub-signing.pem"

    @property
    def encryption_key_path(self) -> Path:
        """The hub's own encryption key: care plans and messages are sealed to it."""
        return self.state_dir / "keys" / "hub-encryption.json"

    @property
    def mqtt_ca_path(self) -> Path:
        """The centre CA's certificate: the broker's certificate must be issued by it."""
        return self.state_dir / "keys" / "mqtt-ca.crt"

    @property
    def mqtt_cert_path(self) -> Path:
        return self.state_dir / "keys" / "mqtt-client.crt"

    @property
    def mqtt_key_path(self) -> Path:
        return self.state_dir / "keys" / "mqtt-client.key"


def load_config(path: Path) -> HubConfig:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"there is no hub config {path}: this hub is not provisioned yet "
            "(hub provision --bundle ..., docs/operations.md step 3), or give --config"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read hub config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"hub config {path} is not valid TOML: {exc}") from exc
    try:
        config = HubConfig.model_validate(data)
        config.centre.check()
    except ValidationError as exc:
        raise ConfigError(f"hub config {path} is invalid:\n{explain(exc)}") from exc
    except ValueError as exc:
        raise ConfigError(f"hub config {path}: {exc}") from exc
    return config


def explain(exc: ValidationError) -> str:
    return "\n".join(
        f"  {'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
    )


def to_toml(data: dict[str, object]) -> str:
    """Write a config dict (scalars, lists of scalars and one level of tables) as TOML."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, object]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif value is not None:  # TOML has no null: an unset optional setting is left out
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables:
        lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None)
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
