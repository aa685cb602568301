"""Provisioning a hub from the centre's enrolment bundle: identity, centre keys, broker."""

from __future__ import annotations

import errno
from pathlib import Path

from hub.config import ConfigError, HubConfig, load_config, to_toml
from hub.files import write_secret
from hub.wire.enrolment import BundleError, EnrolmentBundle, open_bundle


def provision(
    config_path: Path,
    bundle_path: Path,
    state_dir: Path,
    *,
    expected_centre: str | None = None,
    adapter: str = "hci0",
    language: str = "nb",
    clock_source: str = "kernel",
    socket_dir: Path | None = None,
) -> EnrolmentBundle:
    """Check the bundle, then install it: nothing is written from a bundle that does not verify.

    Key files are created 0600 and never overwritten (a hub being reused for a new patient is
    reset first, see docs/operations.md)."""
    try:
        raw = bundle_path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read enrolment bundle {bundle_path}: {exc}") from exc
    bundle = open_bundle(raw, expected_centre)
    config = HubConfig.model_validate(
        {
            "hub_id": bundle.hub_id,
            "state_dir": state_dir,
            "socket_dir": socket_dir,
            "language": language,
            "mqtt": {"host": bundle.broker_host, "port": bundle.broker_port},
            "centre": {
                "encryption_key": bundle.centre_encryption_key,
                "encryption_suite": bundle.centre_encryption_suite,
                "signing_key": bundle.centre_signing_key,
            },
            "bluetooth": {"adapter": adapter},
            "clock": {"source": clock_source},
        }
    )
    config.centre.check()
    for path in (
        config.signing_key_path,
        config.encryption_key_path,
        config.mqtt_ca_path,
        config.mqtt_cert_path,
        config.mqtt_key_path,
        config_path,
    ):
        if path.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(path))
    # Made here with their modes (docs/operations.md, the file table): the state folder only
    # the daemon enters; the config's folder readable by the daemon's and the screen's users.
    _folder(config_path.parent, 0o755)  # first: the state folder may lie inside it
    _folder(config.state_dir, 0o700)
    write_secret(config.mqtt_ca_path, bundle.mqtt_ca_pem.encode())
    write_secret(config.mqtt_cert_path, bundle.mqtt_cert_pem.encode())
    write_secret(config.mqtt_key_path, bundle.mqtt_key_pem.encode())
    write_secret(config.signing_key_path, bundle.hub_signing_key_pem.encode())
    write_secret(config.encryption_key_path, bundle.hub_encryption_key.encode())
    write_secret(config_path, to_toml(config.model_dump(mode="json")).encode(), mode=0o644)
    try:
        load_config(config_path)
    except ConfigError as exc:  # what we wrote must load
        raise BundleError(f"the written config does not load: {exc}") from exc
    return bundle


def _folder(path: Path, mode: int) -> None:
    """Make `path` with `mode` whatever the umask; one that exists is the operator's, kept."""
    if not path.exists():
        path.mkdir(parents=True, mode=mode)
        path.chmod(mode)
