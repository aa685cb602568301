"""The reference centre's configuration file (TOML)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from hub.config import ConfigError, MqttSettings, Strict, explain


class CentreConfig(Strict):
    centre_id: str = "centre"
    state_dir: Path
    mqtt: MqttSettings = MqttSettings()
    # MQTT v5 shared subscription group, so several ingest workers can share the load.
    share_group: str = "ingest"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "centre.sqlite"

    @property
    def encryption_key_path(self) -> Path:
        return self.state_dir / "keys" / "centre-encryption.pem"

    @property
    def signing_key_path(self) -> Path:
        return self.state_dir / "keys" / "centre-signing.pem"


def load_centre_config(path: Path) -> CentreConfig:
    try:
        return CentreConfig.model_validate(tomllib.loads(path.read_text()))
    except OSError as exc:
        raise ConfigError(f"cannot read centre config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"centre config {path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"centre config {path} is invalid:\n{explain(exc)}") from exc
