"""Canonical JSON: sorted keys, no spaces, UTF-8. What is signed, sealed and kept as the bytes
received is always this encoding, so the same data gives the same bytes on the hub and the
centre."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
