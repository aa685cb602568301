"""The reference centre's configuration file (TOML)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator

from hub.config import ConfigError, MqttSettings, Strict, explain

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _https_or_loopback(url: str, what: str) -> str:
    """An address the centre trusts must be https; plain http only on this machine (tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        if not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"{what} {url!r} must be a plain address like https://host/path")
        return url.rstrip("/")
    raise ValueError(f"{what} {url!r} must start with https:// (http only for 127.0.0.1)")


class OidcSettings(Strict):
    """`[web.oidc]`: signing in through an OpenID Connect provider (HelseID) instead of the
    password and code. Users still exist at the centre: `centre add-user --oidc-subject`."""

    # The provider's issuer; its discovery document is at <issuer>/.well-known/openid-configuration.
    issuer: str = Field(max_length=500)
    client_id: str = Field(min_length=1, max_length=200)
    # HelseID: private_key_jwt (a signed assertion with the client's key, key_file). Other
    # providers may take a shared secret (client_secret, read from secret_file).
    client_auth: Literal["private_key_jwt", "client_secret"] = "private_key_jwt"
    key_file: Path | None = None
    secret_file: Path | None = None
    scopes: tuple[str, ...] = ("openid", "profile")
    # The claim of the ID token that names the person: HelseID's `helseid://claims/identity/pid`
    # (her national identity number) or `sub`.
    subject_claim: str = Field(default="sub", min_length=1, max_length=200)
    # Claims the ID token must hold with exactly these values, e.g. HelseID's security level:
    # {"helseid://claims/identity/security_level" = "4"} (a sign-in strong enough for health data).
    required_claims: dict[str, str] = Field(default_factory=dict, max_length=20)
    # The provider's name on the sign-in button.
    provider_name: str = Field(default="HelseID", min_length=1, max_length=60)
    # False: the password and code no longer open the web; only the provider does.
    password_login: bool = True
    timeout_s: float = Field(default=10.0, gt=0, le=60)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        return _https_or_loopback(value, "issuer")

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("scopes must include 'openid' (without it there is no ID token)")
        if any(not s or any(c.isspace() or c in '"\\' for c in s) for s in value):
            raise ValueError("a scope is one word without spaces or quotes")
        return value

    @model_validator(mode="after")
    def _credential(self) -> Self:
        if self.client_auth == "private_key_jwt" and self.key_file is None:
            raise ValueError("client_auth = 'private_key_jwt' needs key_file (the client's key)")
        if self.client_auth == "client_secret" and self.secret_file is None:
            raise ValueError("client_auth = 'client_secret' needs secret_file")
        return self


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
    # The address browsers reach the centre at (https://oppfolging.example.kommune.no): the OIDC
    # provider sends them back to <public_url>/login/oidc/callback/.
    public_url: str | None = Field(default=None, max_length=500)
    oidc: OidcSettings | None = None

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return None if value is None else _https_or_loopback(value, "public_url")

    @model_validator(mode="after")
    def _oidc_needs_address(self) -> Self:
        if self.oidc is not None and self.public_url is None:
            raise ValueError("[web.oidc] needs [web] public_url (where the provider sends back)")
        return self


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
        """The key the web signs sessions and CSRF tokens with (`centre init` makes it, and
        `centre migrate` if it is missing)."""
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
