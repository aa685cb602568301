"""Public keys as text (base64 of the raw 32 bytes), as config files, bundles and the centre's
records carry them; and the error for a key that cannot be used. Pure; key files are
hub/keys.py."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.errors import HubError


class KeyFileError(HubError, ValueError):
    """A key file or key text that cannot be used, with the path and what to do."""


def public_text(key: Ed25519PublicKey | X25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def _raw32(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise KeyFileError(f"{what} is not base64: {exc}") from exc
    if len(raw) != 32:
        raise KeyFileError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


def ed25519_public(text: str, what: str = "signing public key") -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw32(text, what))


def x25519_public(text: str, what: str = "encryption public key") -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(_raw32(text, what))
