"""What each entry point really loads, checked in a fresh interpreter.

The layer contracts in pyproject.toml (`lint-imports`) read import statements; this reads
`sys.modules` after the imports an entry point does, so an import hidden in a function, a
package `__init__` or a third-party library counts too. A screen that loads the store or bleak,
or a daemon that loads the provisioning code, fails here (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SHELLS = ("sqlite3", "sqlite_utils", "bleak", "dbus_fast", "paho", "textual")
PROVISIONING = (
    "hub.wire.pki",
    "hub.wire.enrolment",
    "hub.technician.provision",
    "cryptography.x509",
)

# entry point -> (what it imports, modules it must not load)
ENTRIES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "the functional core and the wire format": (
        [
            "hub.core.pipeline",
            "hub.core.live",
            "hub.core.answers",
            "hub.core.care_plan",
            "hub.questionnaire.engine",
            "hub.wire.batch",
            "hub.wire.documents",
            "hub.wire.topics",
        ],
        (*SHELLS, "hub.store", "hub.daemon", "hub.sync", "hub.devices.ble", "hub.ui", "centre"),
    ),
    "the `hub` command before it picks a subcommand": (
        ["hub.cli"],
        (*SHELLS, *PROVISIONING, "hub.store", "hub.daemon", "hub.ui", "hub.devices.ble"),
    ),
    "`hub ui`, the patient screen": (
        ["hub.cli", "hub.ui.app"],
        (
            *SHELLS[:-1],
            *PROVISIONING,
            "hub.store",
            "hub.daemon",
            "hub.sync",
            "hub.devices.ble",
            "hub.devices.decode",
            "centre",
            "testbed",
        ),
    ),
    "`hub run`, the daemon": (
        ["hub.cli", "hub.daemon"],
        ("textual", "hub.ui", *PROVISIONING, "centre", "testbed"),
    ),
    "`centre serve`, the ingest": (
        ["centre.cli", "centre.serve"],
        (
            "bleak",
            "dbus_fast",
            "textual",
            "hub.store",
            "hub.daemon",
            "hub.sync",
            "hub.devices.ble",
            "hub.ui",
            "testbed",
        ),
    ),
}


def loaded_after(imports: list[str]) -> set[str]:
    code = "import json, sys\n"
    code += "".join(f"import {name}\n" for name in imports)
    code += "print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("entry", ENTRIES)
def test_an_entry_point_loads_nothing_of_another_layer(entry: str) -> None:
    imports, forbidden = ENTRIES[entry]
    loaded = loaded_after(imports)
    assert set(imports) <= loaded  # the entry point itself was imported
    wrong = sorted(
        name
        for name in loaded
        if any(name == bad or name.startswith(bad + ".") for bad in forbidden)
    )
    assert wrong == [], f"{entry} loads {wrong}"


def test_the_check_sees_a_forbidden_module() -> None:
    """The check itself can fail: importing the store loads sqlite3."""
    assert "sqlite3" in loaded_after(["hub.store"])
