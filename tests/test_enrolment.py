"""Enrolment: `centre enrol` issues a hub's identity (signing key, encryption key in the centre's
suite, TLS certificate) as a signed bundle, `hub provision` installs it owner-only, and a bundle
that does not verify installs nothing."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.wire.enrolment import BundleError, EnrolmentBundle, fingerprint, open_bundle, seal_bundle
from hub.wire.hub_key import load_hub_key, new_hub_key
from hub.wire.pki import issue, new_ca
from hub.wire.public_keys import public_text


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"{tool}.cli", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def centre(tmp_path: Path) -> Path:
    config = tmp_path / "centre.toml"
    result = run(
        "centre",
        "--config",
        str(config),
        "init",
        "--state-dir",
        str(tmp_path / "centre"),
        "--hub-broker-host",
        "mqtt.example.org",
    )
    assert result.returncode == 0, result.stderr
    return config


def enrol(centre: Path, hub_id: str, out: Path) -> dict[str, str]:
    result = run("centre", "--config", str(centre), "enrol", hub_id, "--out", str(out))
    assert result.returncode == 0, result.stderr
    printed: dict[str, str] = json.loads(result.stdout)
    return printed


def provision(tmp_path: Path, bundle: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        "hub",
        "--config",
        str(tmp_path / "hub" / "hub.toml"),
        "provision",
        "--bundle",
        str(bundle),
        "--state-dir",
        str(tmp_path / "hub" / "state"),
        *extra,
    )


def test_enrolling_an_enrolled_hub_again_must_be_asked_for(tmp_path: Path, centre: Path) -> None:
    """A second `centre enrol` of an id in use would revoke the certificate of the hub at the
    patient's home: refused without --replace, and nothing changes; with it, a new bundle."""
    first = tmp_path / "first.bundle"
    enrol(centre, "hub-0042", first)
    second = tmp_path / "second.bundle"
    refused = run("centre", "--config", str(centre), "enrol", "hub-0042", "--out", str(second))
    assert refused.returncode == 2, refused.stderr
    assert "is enrolled already" in refused.stderr and "--replace" in refused.stderr
    assert "Traceback" not in refused.stderr and not second.exists()
    listed = run("centre", "--config", str(centre), "readings")  # the centre still answers
    assert listed.returncode == 0, listed.stderr
    again = run(
        "centre", "--config", str(centre), "enrol", "hub-0042", "--out", str(second), "--replace"
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["revoked_certificate"]
    assert second.read_bytes() != first.read_bytes()
    # Revoked: asked for too, and said as it is (no hub of it left to cut off).
    assert run("centre", "--config", str(centre), "revoke", "hub-0042").returncode == 0
    third = run("centre", "--config", str(centre), "enrol", "hub-0042", "--out", str(first) + "3")
    assert third.returncode == 2 and "hub hub-0042 is revoked: enrolling it again" in third.stderr


@pytest.mark.parametrize("where", ["under-a-file", "existing"])
def test_a_bundle_that_cannot_be_written_enrols_nothing(
    tmp_path: Path, centre: Path, where: str
) -> None:
    """The bundle's file is made before the hub is recorded: a wrong --out leaves the id free,
    so enrolling it to a good path is a first enrolment, not a replacement."""
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    out = blocker / "hub-0006.bundle" if where == "under-a-file" else blocker
    failed = run("centre", "--config", str(centre), "enrol", "hub-0006", "--out", str(out))
    assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr
    assert blocker.read_text() == "not a folder"
    printed = enrol(centre, "hub-0006", tmp_path / "good.bundle")
    assert "revoked_certificate" not in printed  # the first enrolment after all


def test_provision_makes_its_folders_with_the_documented_modes(
    tmp_path: Path, centre: Path
) -> None:
    """The config's folder readable by the daemon's and the screen's users, the state folder by
    the daemon alone (docs/operations.md, the file table), even under a tight umask."""
    printed = enrol(centre, "hub-0042", tmp_path / "bundle.json")
    old = os.umask(0o077)  # the child inherits it
    try:
        result = provision(
            tmp_path, tmp_path / "bundle.json", "--centre-key", printed["centre_fingerprint"]
        )
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "hub").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "hub" / "hub.toml").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "hub" / "state").stat().st_mode & 0o777 == 0o700


def test_enrol_then_provision_installs_identity_owner_only(tmp_path: Path, centre: Path) -> None:
    printed = enrol(centre, "hub-0042", tmp_path / "bundle.json")
    assert (tmp_path / "bundle.json").stat().st_mode & 0o777 == 0o600
    result = provision(
        tmp_path, tmp_path / "bundle.json", "--centre-key", printed["centre_fingerprint"]
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["broker"] == "mqtt.example.org:8883"
    keys = tmp_path / "hub" / "state" / "keys"
    for name in (
        "hub-signing.pem",
        "hub-encryption.json",
        "mqtt-ca.crt",
        "mqtt-client.crt",
        "mqtt-client.key",
    ):
        assert (keys / name).stat().st_mode & 0o777 == 0o600, name
    toml = (tmp_path / "hub" / "hub.toml").read_text()
    assert 'hub_id = "hub-0042"' in toml and "PRIVATE" not in toml
    # The centre recorded the hub's signing key: the one in the bundle.
    from centre.config import load_centre_config
    from centre.store import CentreStore
    from hub.keys import load_signing_key

    hub_key = load_signing_key(keys / "hub-signing.pem")
    store = CentreStore(load_centre_config(centre).db_path)
    assert store.hub_signing_key("hub-0042") == public_text(hub_key.public_key())
    # And its encryption key (care plans and messages are sealed to it), in the centre's suite.
    sealing = load_hub_key((keys / "hub-encryption.json").read_text())
    assert store.hub_encryption_key("hub-0042") == ("x25519", sealing.public.text)
    # Provisioning again never overwrites the identity.
    again = provision(tmp_path, tmp_path / "bundle.json")
    assert again.returncode == 2 and "never overwritten" in again.stderr


def test_altered_bundle_is_refused_and_nothing_is_written(tmp_path: Path, centre: Path) -> None:
    enrol(centre, "hub-0042", tmp_path / "bundle.json")
    outer = json.loads((tmp_path / "bundle.json").read_text())
    outer["bundle"]["broker_host"] = "evil.example.org"  # send the hub's data elsewhere
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(outer))
    result = provision(tmp_path, altered)
    assert result.returncode == 2
    assert "signature does not verify" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "hub").exists()


def test_bundle_from_another_centre_is_refused_when_the_fingerprint_is_given(
    tmp_path: Path, centre: Path
) -> None:
    enrol(centre, "hub-0042", tmp_path / "bundle.json")
    result = provision(tmp_path, tmp_path / "bundle.json", "--centre-key", "0123456789abcdef")
    assert result.returncode == 2 and "not 0123456789abcdef" in result.stderr
    assert not (tmp_path / "hub").exists()


def test_garbage_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text("{not json")
    result = provision(tmp_path, tmp_path / "b.json")
    assert result.returncode == 2 and "not an enrolment bundle" in result.stderr


def _bundle(
    hub_id: str,
    signer: Ed25519PrivateKey,
    cert_cn: str | None = None,
    other_ca: bool = False,
    encryption_key: str | None = None,
) -> EnrolmentBundle:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    ca = new_ca("test CA")
    leaf = issue(new_ca("someone else's CA") if other_ca else ca, cert_cn or hub_id)
    hub_key = Ed25519PrivateKey.generate()
    return EnrolmentBundle(
        hub_id=hub_id,
        issued_at="2026-11-22T10:00:00.000+00:00",
        broker_host="localhost",
        broker_port=8883,
        centre_encryption_key=base64.b64encode(bytes(32)).decode(),
        centre_encryption_suite="x25519",
        centre_signing_key=public_text(signer.public_key()),
        hub_signing_key_pem=hub_key.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        ).decode(),
        hub_encryption_key=encryption_key or new_hub_key("x25519")[0],
        mqtt_ca_pem=ca.cert_pem.decode(),
        mqtt_cert_pem=leaf.cert_pem.decode(),
        mqtt_key_pem=leaf.key_pem.decode(),
    )


def test_open_bundle_checks_certificate_name_issuer_and_signer() -> None:
    signer = Ed25519PrivateKey.generate()
    good = open_bundle(seal_bundle(_bundle("hub-0001", signer), signer))
    assert good.hub_id == "hub-0001"
    assert (
        open_bundle(
            seal_bundle(_bundle("hub-0001", signer), signer),
            fingerprint(public_text(signer.public_key())),
        ).hub_id
        == "hub-0001"
    )
    with pytest.raises(BundleError, match="names 'hub-0002', not this hub 'hub-0001'"):
        open_bundle(seal_bundle(_bundle("hub-0001", signer, cert_cn="hub-0002"), signer))
    with pytest.raises(BundleError, match="not issued by the centre's CA"):
        open_bundle(seal_bundle(_bundle("hub-0001", signer, other_ca=True), signer))
    # A forger re-signs with a key of their own: consistent, but not the pinned centre.
    forger = Ed25519PrivateKey.generate()
    with pytest.raises(BundleError, match="made by another centre, or forged"):
        open_bundle(
            seal_bundle(_bundle("hub-0001", forger), forger),
            fingerprint(public_text(signer.public_key())),
        )
    with pytest.raises(BundleError, match="names another centre signing key"):
        seal_bundle(_bundle("hub-0001", signer), forger)


def test_broker_config_writes_listeners_and_acls(tmp_path: Path, centre: Path) -> None:
    out = tmp_path / "mosquitto"
    result = run("centre", "--config", str(centre), "broker-config", "--out", str(out))
    assert result.returncode == 0, result.stderr
    conf = (out / "mosquitto.conf").read_text()
    assert "listener 8883 0.0.0.0" in conf and "listener 8884 127.0.0.1" in conf
    assert conf.count("require_certificate true") == 2
    assert "use_username_as_clientid true" in conf and "tls_version tlsv1.2" in conf
    assert "pattern write dho/v1/hub/%u/batch" in (out / "acl-hubs").read_text()
    assert "user ingest.centre" in (out / "acl-centre").read_text()
    assert (out / "broker.key").stat().st_mode & 0o777 == 0o600


def test_init_refuses_to_replace_a_config_written_by_hand(tmp_path: Path) -> None:
    config = tmp_path / "centre.toml"
    config.write_text('[web]\npublic_url = "https://oppfolging.example.kommune.no"\n')
    state = str(tmp_path / "centre")
    result = run(
        "centre", "--config", str(config), "init", "--state-dir", state, "--hub-broker-host", "m"
    )
    assert result.returncode == 2 and "exists already" in result.stderr, result.stderr
    assert "public_url" in config.read_text(), "the file is as it was"
    assert not (tmp_path / "centre").exists(), "nothing made"


def test_a_post_quantum_centre_gives_its_hubs_post_quantum_keys(tmp_path: Path) -> None:
    config = tmp_path / "centre.toml"
    result = run(
        "centre",
        "--config",
        str(config),
        "init",
        "--state-dir",
        str(tmp_path / "centre"),
        "--hub-broker-host",
        "mqtt.example.org",
        "--suite",
        "mlkem768-x25519",
    )
    assert result.returncode == 0, result.stderr
    enrol(config, "hub-0042", tmp_path / "bundle.json")
    assert provision(tmp_path, tmp_path / "bundle.json").returncode == 0
    sealing = load_hub_key((tmp_path / "hub/state/keys/hub-encryption.json").read_text())
    assert sealing.public.suite == "mlkem768-x25519"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("not json", "hub encryption key in the bundle cannot be read"),
        ('{"suite": "x25519"}', "hub encryption key in the bundle cannot be read"),
        ('{"suite": "rsa", "x25519": "x"}', "cannot be read"),
        ("[" * 5000 + "]" * 5000, "cannot be read"),
        ('{"suite": "x25519", "x25519": 7}', "cannot be read"),
    ],
)
def test_a_bundle_with_an_unusable_encryption_key_is_refused(key: str, expected: str) -> None:
    signer = Ed25519PrivateKey.generate()
    with pytest.raises(BundleError, match=expected):
        open_bundle(seal_bundle(_bundle("hub-0001", signer, encryption_key=key), signer))


def test_a_bundle_from_an_older_centre_says_to_enrol_again(tmp_path: Path) -> None:
    signer = Ed25519PrivateKey.generate()
    outer = json.loads(seal_bundle(_bundle("hub-0001", signer), signer))
    outer["bundle"]["v"] = 1
    del outer["bundle"]["hub_encryption_key"]
    (tmp_path / "old.json").write_text(json.dumps(outer))
    result = provision(tmp_path, tmp_path / "old.json")
    assert result.returncode == 2 and "holds no hub encryption key" in result.stderr
    assert "`centre enrol` the hub again" in result.stderr
    assert not (tmp_path / "hub").exists()
