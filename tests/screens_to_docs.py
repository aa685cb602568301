"""Copy the patient screen's 50x15 snapshots to docs/screens/ after a deliberate change of the
screens (`.venv/bin/python -m tests.screens_to_docs`); tests/test_docs_screens.py keeps them equal.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = ROOT / "tests" / "__snapshots__" / "test_snapshots"
DOCS = ROOT / "docs" / "screens"
KIOSK = re.compile(r"^test_(?:screen\[(?P<screen>.+)-kiosk\]|(?P<test>[a-z_]+)\[kiosk\])\.svg$")


def kiosk_pictures() -> dict[str, Path]:
    """docs/screens/<name>.svg -> the snapshot it is a copy of."""
    found = {}
    for snapshot in sorted(SNAPSHOTS.glob("*.svg")):
        match = KIOSK.match(snapshot.name)
        if match is not None:
            name = match["screen"] or match["test"].replace("_", "-")
            found[f"{name}.svg"] = snapshot
    return found


def main() -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    pictures = kiosk_pictures()
    for old in DOCS.glob("*.svg"):
        if old.name not in pictures:
            old.unlink()
    for name, snapshot in pictures.items():
        shutil.copyfile(snapshot, DOCS / name)
    print(f"{len(pictures)} pictures in {DOCS}")


if __name__ == "__main__":
    main()
