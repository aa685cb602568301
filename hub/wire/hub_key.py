"""The hub's own encryption key: what the centre seals care plans and messages to.

Made by the centre at `centre enrol` in the centre's suite (hub/wire/suites.py), carried to the
hub in the enrolment bundle, and kept by the hub in `keys/hub-encryption.json` (0600). The
record is the centre keyring's format: the suite, the X25519 private key as PKCS#8 PEM and, for
the hybrid, the 64-byte ML-KEM seed in base64. Pure functions; no I/O.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from hub.wire.public_keys import KeyFileError
from hub.wire.suites import SUITES, CentreKeyPair, hybrid_pair, x25519_pair

HubKeyPair = CentreKeyPair  # the same shape: a public key with its suite, and the private key


def new_key_record(suite: str) -> tuple[dict[str, Any], HubKeyPair]:
    """A new key pair in `suite` as a key-file record (the hub's, and the centre keyring's)."""
    if suite not in SUITES:
        raise KeyFileError(f"unknown encryption suite {suite!r}; choose {', '.join(SUITES)}")
    classic = X25519PrivateKey.generate()
    record: dict[str, Any] = {
        "suite": suite,
        "x25519": classic.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
    }
    if suite == "x25519":
        pair = x25519_pair(classic)
    else:
        pq = mlkem.MLKEM768PrivateKey.generate()
        record["mlkem768_seed"] = base64.b64encode(pq.private_bytes_raw()).decode()
        pair = hybrid_pair(pq, classic)
    record["key_id"] = pair.public.key_id
    return record, pair


def new_hub_key(suite: str) -> tuple[str, HubKeyPair]:
    """A new key pair in `suite`, as the record text the hub keeps, and the pair."""
    record, pair = new_key_record(suite)
    return json.dumps(record, indent=2, sort_keys=True), pair


def load_hub_key(text: str, what: str = "hub encryption key") -> HubKeyPair:
    """The pair from its record text; KeyFileError saying what is wrong otherwise."""
    try:
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        classic = load_pem_private_key(str(record["x25519"]).encode(), password=None)
        if not isinstance(classic, X25519PrivateKey):
            raise ValueError("the x25519 part is not an X25519 key")
        if record["suite"] == "x25519":
            pair = x25519_pair(classic)
        elif record["suite"] == "mlkem768-x25519":
            seed = base64.b64decode(str(record["mlkem768_seed"]), validate=True)
            pair = hybrid_pair(mlkem.MLKEM768PrivateKey.from_seed_bytes(seed), classic)
        else:
            raise ValueError(f"unknown suite {record['suite']!r}")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise KeyFileError(f"{what} cannot be read: {exc}") from exc
    if record.get("key_id", pair.public.key_id) != pair.public.key_id:
        raise KeyFileError(f"{what} does not hold the key its key id says")
    return pair
