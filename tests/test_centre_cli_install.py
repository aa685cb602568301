"""`centre` on an install without the centre's extra (a hub's `pip install dho-hub`): every
command says what to install, not a traceback (docs/operations.md, "Install the software")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Python as on a hub's install: the extra's packages cannot be imported.
WITHOUT_EXTRA = """
import sys
from importlib.abc import MetaPathFinder

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {missing!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from centre.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("missing", [{"django"}, {"psycopg", "dj_database_url"}])
@pytest.mark.parametrize("command", [["init"], ["readings"], ["web"]])
def test_a_centre_command_without_the_extra_says_what_to_install(
    tmp_path: Path, missing: set[str], command: list[str]
) -> None:
    config = tmp_path / "centre.toml"
    init = ["--state-dir", str(tmp_path / "state"), "--hub-broker-host", "127.0.0.1"]
    args = [*init, "--mqtt-host", "127.0.0.1"] if command == ["init"] else []
    python = [sys.executable, "-c", WITHOUT_EXTRA.format(missing=missing)]
    run = subprocess.run(
        [*python, "--config", str(config), *command, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "pip install 'dho-hub[centre]'" in run.stderr
