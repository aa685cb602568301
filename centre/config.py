"""The reference centre's configuration file (TOML)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import Field, ValidationError

from hub.config import ConfigError, MqttSettings, Strict, explain


class CentreConfig(Strict):
    centre_id: str = Field(default="centre", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    state_dir: Path
    # The broker's listener for the centre's own workers (keep it on the centre's network).
    mqtt: MqttSettings = MqttSettings(port=8884)
    # The broker's listener for hubs, as the hubs reach it: written into enrolment bundles.
    hub_broker: MqttSettings = MqttSettings()
    # MQTT v5 shared subscription group, so several ingest workers can share the load.
    share_group: str = "ingest"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "centre.sqlite"

    @property
    def keyring_dir(self) -> Path:
        """The centre's encryption keys (centre/keyring.py)."""
        return self.state_dir / "keys" / "encryption"

    @property
    def signing_key_path(self) -> Path:
        return self.state_dir / "keys" / "centre-signing.pem"

    @property
    def ca_cert_path(self) -> Path:
        return self.state_dir / "keys" / "ca.crt"

    @property
    def ca_key_path(self) -> Path:
        return self.state_dir / "keys" / "ca.key"

    @property
    def ingest_name(self) -> str:
        """The ingest workers' certificate name. The dot keeps it out of the hub-id pattern,
        so no hub can ever be enrolled under it."""
        return f"ingest.{self.centre_id}"

    @property
    def ingest_cert_path(self) -> Path:
        return self.state_dir / "keys" / "ingest.crt"

    @property
    def ingest_key_path(self) -> Path:
        return self.state_dir / "keys" / "ingest.key"


def load_centre_config(path: Path) -> CentreConfig:
    try:
        return CentreConfig.model_validate(tomllib.loads(path.read_text()))
    except OSError as exc:
        raise ConfigError(f"cannot read centre config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"centre config {path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"centre config {path} is invalid:\n{explain(exc)}") from exc
