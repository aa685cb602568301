"""Where the hub daemon's memory floor goes: each library `hub run` needs, imported in a fresh
python (RSS and USS, MiB, from smaps_rollup), alone and then one after the other in the order
the daemon's imports would load them; last the daemon's own modules.

    .venv/bin/python bench/import_floor.py

"Alone" is what a library costs on a bare python (the parts it shares with the others counted
again for each); "in turn" is what it adds to everything before it (the sum is the floor).
pydantic is imported, then one model is built: pydantic loads most of itself only then.
"""

from __future__ import annotations

import json
import subprocess
import sys

# In the order the daemon's imports load them; each step also names why the hub needs it.
STEPS = [
    ("ssl", "import ssl", "TLS to the broker"),
    ("asyncio", "import asyncio", "the daemon's loop"),
    ("sqlite3", "import sqlite3", "the store"),
    (
        "pydantic + a first model",
        "import pydantic\nclass _M(pydantic.BaseModel):\n    x: int",
        "config, socket contract, care plans",
    ),
    (
        "cryptography",
        "import cryptography.hazmat.primitives.asymmetric.ed25519, "
        "cryptography.hazmat.primitives.ciphers.aead, cryptography.hazmat.primitives.hpke",
        "signing, sealing (one Rust module holds it all)",
    ),
    ("sqlite_utils", "import sqlite_utils", "the store (with click, pluggy, dateutil)"),
    ("paho", "import paho.mqtt.client", "MQTT"),
    ("dbus_fast", "import dbus_fast", "BlueZ over D-Bus"),
    ("bleak", "import bleak", "BLE"),
    ("hub's own modules", "import hub.cli, hub.daemon", "models, codecs, store, sync"),
]

MEASURE = """
import os, sys
def mem():
    kib = {}
    for line in open(f"/proc/{os.getpid()}/smaps_rollup").read().splitlines()[1:]:
        name, _, rest = line.partition(":")
        kib[name] = int(rest.split()[0])
    return kib["Rss"] / 1024, (kib["Private_Clean"] + kib["Private_Dirty"]) / 1024
out = [mem()]
for code in json.loads(sys.argv[1]):
    exec(code, {})
    out.append(mem())
print(json.dumps(out))
"""


def run(codes: list[str]) -> list[tuple[float, float]]:
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + MEASURE, json.dumps(codes)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [(m[0], m[1]) for m in json.loads(out.stdout)]


def main() -> None:
    in_turn = run([code for _, code, _ in STEPS])
    print(f"{'':28} {'alone':>15} {'in turn':>15}   MiB (RSS / USS)")
    print(f"{'python':28} {in_turn[0][0]:7.1f} {in_turn[0][1]:7.1f}")
    for i, (name, code, why) in enumerate(STEPS, start=1):
        bare, alone = run([code])
        added = (in_turn[i][0] - in_turn[i - 1][0], in_turn[i][1] - in_turn[i - 1][1])
        print(
            f"{name:28} {alone[0] - bare[0]:+7.1f} {alone[1] - bare[1]:+7.1f}"
            f" {added[0]:+7.1f} {added[1]:+7.1f}   {why}"
        )
    print(f"{'floor':28} {'':15} {in_turn[-1][0]:7.1f} {in_turn[-1][1]:7.1f}   (target RSS 45)")


if __name__ == "__main__":
    main()
