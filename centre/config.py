"""The reference centre's configuration file (TOML)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import Field, ValidationError

from hub.config import ConfigError, MqttSettings, Strict, explain


class WebSettings(Strict):
    """`centre web`: where it listens and the names it answers to."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # The host names browsers use for the centre (Django's ALLOWED_HOSTS).
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
    # Behind a TLS proxy: cookies only over HTTPS, and HSTS.
    https: bool = False
    # The proxy's address: its X-Forwarded-For/-Proto/-Host are believed from there only, so
    # login throttling sees each browser's own address (not the proxy's) and https is known.
    trusted_proxy: str | None = Field(default=None, max_length=100)
    session_idle_s: int = Field(default=30 * 60, ge=60, le=24 * 3600)


class CentreConfig(Strict):
    centre_id: str = Field(default="centre", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    state_dir: Path
    # The broker's listener for the centre's own workers (keep it on the centre's network).
    mqtt: MqttSettings = MqttSettings(port=8884)
    # The broker's listener for hubs, as the hubs reach it: written into enrolment bundles.
    hub_broker: MqttSettings = MqttSettings()
    # MQTT v5 shared subscription group, so several ingest workers can share the load.
    share_group: str = "ingest"
    # The centre's database (issue 13): a URL, `postgresql://user@host:5432/name` for a shared
    # centre (psycopg 3). Unset: SQLite in the state folder, the embedded default.
    database: str | None = Field(default=None, max_length=2000)
    web: WebSettings = WebSettings()

    @property
    def db_path(self) -> Path:
        """The embedded SQLite database (used when `database` is unset)."""
        return self.state_dir / "centre.sqlite"

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.db_path}"

    @property
    def web_secret_path(self) -> Path:
        """The key the web signs sessions and CSRF tokens with (`centre init` makes it)."""
        return self.state_dir / "keys" / "web-secret"

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
