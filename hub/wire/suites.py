"""The centre's encryption keys and the HPKE suites they are used with.

Two suites, chosen per centre key:

- `x25519`: DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, the default
  (ChaCha20 is fast on Raspberry Pi cores without AES instructions);
- `mlkem768-x25519`: the hybrid post-quantum KEM MLKEM768-X25519 with the same KDF and AEAD,
  for centres that want data recorded today to stay secret against a future quantum computer.

A public key travels as base64 of its raw bytes: 32 bytes for X25519, 1184 + 32 bytes (ML-KEM
public key, then X25519) for the hybrid. Its key id is the first 16 hex digits of SHA-256 over
those bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import (
    AEAD,
    KDF,
    KEM,
    MLKEM768X25519PrivateKey,
    MLKEM768X25519PublicKey,
    Suite,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.wire.public_keys import KeyFileError

SuiteName = Literal["x25519", "mlkem768-x25519"]
SUITES: dict[str, Suite] = {
    "x25519": Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305),
    "mlkem768-x25519": Suite(KEM.MLKEM768_X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305),
}
MLKEM768_PUBLIC = 1184
CentrePublicKey = X25519PublicKey | MLKEM768X25519PublicKey
CentrePrivateKey = X25519PrivateKey | MLKEM768X25519PrivateKey


def suite_for(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise KeyFileError(
            f"unknown encryption suite {name!r}; this software knows {', '.join(SUITES)}"
        ) from None


def key_id_of(raw_public: bytes) -> str:
    return hashlib.sha256(raw_public).hexdigest()[:16]


@dataclass(frozen=True)
class CentreKey:
    """A centre public encryption key as a hub holds it."""

    suite: str
    public_key: CentrePublicKey
    raw: bytes

    @property
    def key_id(self) -> str:
        return key_id_of(self.raw)

    @property
    def text(self) -> str:
        return base64.b64encode(self.raw).decode()


def centre_key(suite: str, text: str, what: str = "centre encryption key") -> CentreKey:
    """Parse a public key given as base64 text for `suite`."""
    suite_for(suite)
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise KeyFileError(f"{what} is not base64: {exc}") from exc
    expected = 32 if suite == "x25519" else MLKEM768_PUBLIC + 32
    if len(raw) != expected:
        raise KeyFileError(f"{what} must be {expected} bytes for suite {suite}, got {len(raw)}")
    try:
        if suite == "x25519":
            return CentreKey(suite, X25519PublicKey.from_public_bytes(raw), raw)
        pq = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM768_PUBLIC])
        classic = X25519PublicKey.from_public_bytes(raw[MLKEM768_PUBLIC:])
    except ValueError as exc:
        raise KeyFileError(f"{what} is not a valid {suite} key: {exc}") from exc
    return CentreKey(suite, MLKEM768X25519PublicKey(pq, classic), raw)


@dataclass(frozen=True)
class CentreKeyPair:
    """A centre private encryption key with its public half."""

    public: CentreKey
    private: CentrePrivateKey


def x25519_pair(private: X25519PrivateKey) -> CentreKeyPair:
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return CentreKeyPair(CentreKey("x25519", private.public_key(), raw), private)


def hybrid_pair(pq: mlkem.MLKEM768PrivateKey, classic: X25519PrivateKey) -> CentreKeyPair:
    raw = pq.public_key().public_bytes_raw() + classic.public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw
    )
    public = MLKEM768X25519PublicKey(pq.public_key(), classic.public_key())
    return CentreKeyPair(
        CentreKey("mlkem768-x25519", public, raw), MLKEM768X25519PrivateKey(pq, classic)
    )
