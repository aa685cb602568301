"""Enrolment bundles: everything a hub needs to become itself, signed by the centre.

`centre enrol` writes one; a technician carries it to the hub (it holds the hub's private keys:
a secret, written 0600) and `hub provision --bundle` installs it after `open_bundle` has checked
it. Pure functions over bytes and keys; no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from hub.core.canonical import canonical_json
from hub.errors import HubError
from hub.wire import strict
from hub.wire.hub_key import load_hub_key
from hub.wire.pki import CertificateError, Identity, check_identity
from hub.wire.public_keys import KeyFileError, ed25519_public, public_text

# 2: the hub's encryption key (care plans and messages are sealed to it, issue 11).
BUNDLE_VERSION = 2
BUNDLE_CONTEXT = b"no.dho.centre/v1/enrolment-bundle\x00"


class BundleError(HubError, ValueError):
    """An enrolment bundle that must not be installed, and why."""


@dataclass(frozen=True)
class EnrolmentBundle:
    hub_id: str
    issued_at: str
    broker_host: str
    broker_port: int
    centre_encryption_key: str  # base64 of the raw public key (hub/wire/suites.py)
    centre_encryption_suite: str
    centre_signing_key: str  # base64 raw Ed25519 public key
    hub_signing_key_pem: str  # PKCS#8 PEM, the hub's own Ed25519 key
    hub_encryption_key: str  # the hub's own encryption key record (hub/wire/hub_key.py)
    mqtt_ca_pem: str
    mqtt_cert_pem: str
    mqtt_key_pem: str

    @property
    def mqtt_identity(self) -> Identity:
        return Identity(self.mqtt_cert_pem.encode(), self.mqtt_key_pem.encode())


def fingerprint(signing_key: str) -> str:
    """What a technician compares: the centre signing key's SHA-256, first 16 hex digits."""
    return hashlib.sha256(base64.b64decode(signing_key)).hexdigest()[:16]


def seal_bundle(bundle: EnrolmentBundle, centre_signing_key: Ed25519PrivateKey) -> bytes:
    if public_text(centre_signing_key.public_key()) != bundle.centre_signing_key:
        raise BundleError("the bundle names another centre signing key than the one signing it")
    body = canonical_json({"v": BUNDLE_VERSION, **asdict(bundle)})
    signature = centre_signing_key.sign(BUNDLE_CONTEXT + body)
    return (
        canonical_json(
            {"bundle": json.loads(body), "signature": base64.b64encode(signature).decode()}
        )
        + b"\n"
    )


def open_bundle(raw: bytes, expected_centre: str | None = None) -> EnrolmentBundle:
    """Check a bundle and return it. `expected_centre` is the centre key fingerprint the
    technician was given; without it, only the bundle's own consistency is checked."""
    bundle, body, signature = _parse(raw)
    if expected_centre is not None and fingerprint(bundle.centre_signing_key) != expected_centre:
        raise BundleError(
            f"the bundle is from centre key {fingerprint(bundle.centre_signing_key)}, not "
            f"{expected_centre}: it was made by another centre, or forged"
        )
    try:
        ed25519_public(bundle.centre_signing_key, "centre signing key").verify(
            signature, BUNDLE_CONTEXT + body
        )
    except (InvalidSignature, KeyFileError) as exc:
        raise BundleError("the bundle's signature does not verify: it was altered") from exc
    _check_keys(bundle)
    return bundle


def _parse(raw: bytes) -> tuple[EnrolmentBundle, bytes, bytes]:
    try:
        outer = strict.load(raw, "the bundle")  # a WireError is a ValueError, as json's
        inner: dict[str, Any] = dict(outer["bundle"])
        signature = base64.b64decode(outer["signature"], validate=True)
        version = inner.pop("v")
        if version == 1:
            raise BundleError(
                "the bundle was made by an older centre and holds no hub "
                "encryption key: update the centre, then `centre enrol` the hub "
                "again and provision it from the new bundle"
            )
        if version != BUNDLE_VERSION:
            raise BundleError(
                f"bundle version {version!r} is not understood by this hub "
                f"software (it reads {BUNDLE_VERSION})"
            )
        bundle = EnrolmentBundle(**inner)
    except BundleError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"not an enrolment bundle: {exc}") from exc
    return bundle, canonical_json({"v": version, **inner}), signature


def _check_keys(bundle: EnrolmentBundle) -> None:
    try:
        key = load_pem_private_key(bundle.hub_signing_key_pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise BundleError("the hub signing key in the bundle is not an Ed25519 key")
        load_hub_key(bundle.hub_encryption_key, "the hub encryption key in the bundle")
        check_identity(bundle.mqtt_identity, bundle.mqtt_ca_pem.encode(), bundle.hub_id)
    except (ValueError, CertificateError) as exc:
        if isinstance(exc, BundleError):
            raise
        raise BundleError(f"the bundle's keys do not fit: {exc}") from exc
