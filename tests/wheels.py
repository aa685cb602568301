"""A wheel of this checkout, as hatchling lays one out, for the tests that install the software
for real (tests/test_installer.py, tests/test_installer_centre.py, tests/test_update.py):
hatchling is not here without the network, and pip installs these with PIP_NO_INDEX and
PIP_NO_DEPS (the dependencies come from the test venv)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

CHECKOUT = Path(__file__).parents[1]

BROKEN_CLI = b"""\"\"\"A release whose hub cannot start.\"\"\"


def main() -> int:
    raise SystemExit("this release is broken")
"""

WHEEL_FILE = b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def build_wheel(
    out: Path, version: str = "0.1.0", *, centre: bool = False, broken: bool = False
) -> Path:
    """dho_hub-VERSION-py3-none-any.whl in `out`: the hub package, its METADATA, the `hub` entry
    point and RECORD. `centre`: the centre package and its `centre` entry point too, and the
    centre extra declared (its requirements are the test venv's). `broken`: its hub/cli.py exits
    at once, as a release that cannot start (tests/test_update.py rolls it back)."""
    name = f"dho_hub-{version}"
    files: dict[str, bytes] = {}
    for package in ("hub", "centre") if centre else ("hub",):
        for path in sorted((CHECKOUT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[path.relative_to(CHECKOUT).as_posix()] = path.read_bytes()
    if broken:
        files["hub/cli.py"] = BROKEN_CLI
    info = f"{name}.dist-info"
    extra = "Provides-Extra: centre\n" if centre else ""
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: dho-hub\nVersion: {version}\n{extra}".encode()
    )
    files[f"{info}/WHEEL"] = WHEEL_FILE
    scripts = "hub = hub.cli:main\n" + ("centre = centre.cli:main\n" if centre else "")
    files[f"{info}/entry_points.txt"] = f"[console_scripts]\n{scripts}".encode()
    files[f"{info}/RECORD"] = record(info, files)
    wheel = out / f"{name}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for file, data in files.items():
            archive.writestr(file, data)
    return wheel


def record(info: str, files: dict[str, bytes]) -> bytes:
    """The wheel's RECORD: each file's urlsafe base64 sha256 and size; RECORD itself unhashed."""
    lines = []
    for file, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{file},sha256={digest},{len(data)}")
    lines.append(f"{info}/RECORD,,")
    return ("\n".join(lines) + "\n").encode()
