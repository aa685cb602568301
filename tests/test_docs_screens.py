"""The pictures of the patient screen in docs/screens/ are the 50x15 snapshots the tests take
(tests/test_snapshots.py), not drawings of what the screen once was; docs/patient-screen.md
shows each of them."""

from __future__ import annotations

from tests.screens_to_docs import DOCS, ROOT, kiosk_pictures


def test_every_kiosk_snapshot_is_in_the_docs_as_it_is() -> None:
    pictures = kiosk_pictures()
    assert len(pictures) >= 19, "every key screen at 50x15"
    stale = [n for n, s in pictures.items() if (DOCS / n).read_bytes() != s.read_bytes()]
    extra = sorted({p.name for p in DOCS.glob("*.svg")} - set(pictures))
    assert not stale and not extra, (
        f"docs/screens/ differs from the snapshots (stale {stale}, extra {extra}): "
        "run .venv/bin/python -m tests.screens_to_docs"
    )


def test_the_patient_screen_doc_shows_every_picture() -> None:
    doc = (ROOT / "docs" / "patient-screen.md").read_text("utf-8")
    missing = [n for n in kiosk_pictures() if f"screens/{n}" not in doc]
    assert not missing, f"docs/patient-screen.md does not show {missing}"


def test_every_test_a_doc_names_exists() -> None:
    """A promise in docs/ names the test that proves it: that test must be there."""
    import re

    named = re.compile(r"tests/(test_[a-z0-9_]+)\.py(?:::(test_[A-Za-z0-9_]+))?")
    missing = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for module, test in named.findall(doc.read_text("utf-8")):
            path = ROOT / "tests" / f"{module}.py"
            if not path.exists():
                missing.append(f"{doc.name}: tests/{module}.py")
            elif test and not re.search(rf"def {test}\b", path.read_text("utf-8")):
                missing.append(f"{doc.name}: tests/{module}.py::{test}")
    assert not missing, "docs name tests that do not exist:\n" + "\n".join(missing)
