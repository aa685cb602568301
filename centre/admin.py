"""Setting up a centre and enrolling hubs."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from centre.config import CentreConfig, load_centre_config
from centre.store import CentreStore
from hub.config import HUB_ID_PATTERN, to_toml
from hub.keys import (
    ed25519_public,
    load_encryption_key,
    load_signing_key,
    public_text,
    write_private_key,
)


class EnrolmentError(ValueError):
    """A hub cannot be enrolled as asked; says what to fix."""


def init_centre(config_path: Path, state_dir: Path, mqtt_host: str, mqtt_port: int) -> CentreConfig:
    config = CentreConfig.model_validate(
        {"state_dir": state_dir, "mqtt": {"host": mqtt_host, "port": mqtt_port}})
    write_private_key(config.encryption_key_path, X25519PrivateKey.generate())
    write_private_key(config.signing_key_path, Ed25519PrivateKey.generate())
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(to_toml(config.model_dump(mode="json")))
    return load_centre_config(config_path)


def public_keys(config: CentreConfig) -> dict[str, str]:
    """What a hub needs to know of this centre."""
    enc = load_encryption_key(config.encryption_key_path)
    sig = load_signing_key(config.signing_key_path)
    return {"encryption_key": public_text(enc.public_key()),
            "signing_key": public_text(sig.public_key())}


def enrol_hub(config: CentreConfig, hub_id: str, hub_signing_key: str) -> None:
    if not re.fullmatch(HUB_ID_PATTERN, hub_id):
        raise EnrolmentError(
            f"hub id {hub_id!r} is not valid: lower-case letters, digits and '-', 3-63 "
            "characters, starting with a letter or digit (as `hub init` requires)"
        )
    ed25519_public(hub_signing_key, f"signing key of {hub_id}")
    CentreStore(config.db_path).enrol(hub_id, hub_signing_key)
