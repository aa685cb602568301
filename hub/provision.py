"""Provisioning a hub: its own signing identity plus the centre's public keys and broker."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.config import HubConfig, load_config, to_toml
from hub.keys import public_text, write_private_key


def init_hub(
    config_path: Path,
    hub_id: str,
    state_dir: Path,
    centre_encryption_key: str,
    centre_signing_key: str,
    mqtt_host: str = "localhost",
    mqtt_port: int = 1883,
    adapter: str = "hci0",
    language: str = "nb",
    clock_source: str = "kernel",
) -> str:
    """Write the hub config and a new signing key; return the public key to enrol at the centre."""
    config = HubConfig.model_validate({
        "hub_id": hub_id, "state_dir": state_dir, "language": language,
        "mqtt": {"host": mqtt_host, "port": mqtt_port},
        "centre": {"encryption_key": centre_encryption_key, "signing_key": centre_signing_key},
        "bluetooth": {"adapter": adapter},
        "clock": {"source": clock_source},
    })
    config.centre.check()
    key = Ed25519PrivateKey.generate()
    write_private_key(config.signing_key_path, key)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(to_toml(config.model_dump(mode="json")))
    load_config(config_path)  # what we wrote must load
    return public_text(key.public_key())
