"""provisioning/install-centre.sh, run for real into a temporary root (`--root`), checked file by
file as tests/test_installer.py checks the hub's: the units and Mosquitto's drop-in it puts
there, the user systemd-sysusers made, the enabled units (and that `systemd-analyze verify`
accepts them), that they and the broker wait for their configuration without failing, the
venv's `centre`, the state and config directories, that a second run changes no file, that an
existing centre's centre.toml and keys are kept, and the refusals.

No network: with --root no Debian packages are installed and no PostgreSQL role is made, and pip
gets a wheel of this checkout with PIP_NO_INDEX and PIP_NO_DEPS (the centre's dependencies are
this test venv's, on PYTHONPATH when `centre --help` runs). What only a real centre shows is in
docs/operations.md, "Install the software"."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.wheels import build_wheel

ROOT = Path(__file__).parents[1]
INSTALLER = ROOT / "provisioning" / "install-centre.sh"
SYSTEMD = ROOT / "systemd"
UNITS = ("dho-centre.service", "dho-centre-web.service")
DROP_IN = "mosquitto.service.d/dho.conf"
VENV = Path("opt/dho-hub/venv")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0
    or shutil.which("systemd-sysusers") is None
    or shutil.which("systemctl") is None,
    reason="needs root (to give files to the centre's user) and systemd's tools (Debian package "
    "systemd)",
)


def run(*args: str | Path, user: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_NO_DEPS": "1", "PIP_NO_CACHE_DIR": "1"}
    prefix = (
        [] if user is None else ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    )
    return subprocess.run(
        [*prefix, "sh", str(INSTALLER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@dataclass(frozen=True)
class Installed:
    root: Path
    wheel: Path
    first: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    work = Path(tempfile.mkdtemp(prefix="dho-centre-install-", dir="/tmp"))
    root = work / "root"
    root.mkdir()
    wheel = build_wheel(work, centre=True)
    first = run("--root", root, "--wheel", wheel)
    assert first.returncode == 0, first.stdout + first.stderr
    yield Installed(root, wheel, first)
    shutil.rmtree(work, ignore_errors=True)


def table(root: Path, name: str) -> dict[str, list[str]]:
    lines = (root / "etc" / name).read_text().splitlines()
    return {line.split(":")[0]: line.split(":") for line in lines}


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under root with its type, mode, owner, times and bytes (or link target)."""
    state: dict[str, tuple[object, ...]] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        if path.is_symlink():
            content: object = os.readlink(path)
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            content = None
        state[str(path.relative_to(root))] = (
            info.st_mode,
            info.st_uid,
            info.st_gid,
            info.st_mtime_ns,
            content,
        )
    return state


def test_the_units_drop_in_and_sysusers_file_are_copied_and_the_units_enabled(
    installed: Installed,
) -> None:
    root = installed.root
    for unit in (*UNITS, DROP_IN):
        copy = root / "etc/systemd/system" / unit
        assert copy.read_bytes() == (SYSTEMD / unit).read_bytes()
        assert copy.stat().st_mode & 0o777 == 0o644
    for unit in UNITS:
        wanted = root / "etc/systemd/system/multi-user.target.wants" / unit
        assert os.readlink(wanted) == f"/etc/systemd/system/{unit}"
    sysusers = root / "etc/sysusers.d/dho-centre.conf"
    assert sysusers.read_bytes() == (SYSTEMD / "dho-centre.sysusers.conf").read_bytes()
    # Only the centre's units: the hub's have no place on a centre.
    units = [p.name for p in (root / "etc/systemd/system").iterdir() if p.name.startswith("dho")]
    assert sorted(units) == sorted(UNITS)
    assert not (root / "etc/sysusers.d/dho-hub.conf").exists()
    assert "--root: no Debian packages installed (on a centre: python3 python3-venv mosquitto" in (
        installed.first.stdout
    )


def test_the_user_and_the_directories_have_the_owners_and_modes_the_units_expect(
    installed: Installed,
) -> None:
    root = installed.root
    passwd, group = table(root, "passwd"), table(root, "group")
    uid, gid = int(passwd["dho-centre"][2]), int(group["dho-centre"][2])
    assert passwd["dho-centre"][5] == "/var/lib/dho-centre"
    state = (root / "var/lib/dho-centre").stat()
    assert (state.st_uid, state.st_gid, state.st_mode & 0o7777) == (uid, gid, 0o700)
    config = (root / "etc/dho-centre").stat()
    assert (config.st_uid, config.st_gid, config.st_mode & 0o7777) == (0, 0, 0o755)
    # centre.toml, keys and the broker's configuration are `centre init`'s and `centre
    # broker-config`'s to write, never the installer's.
    assert list((root / "etc/dho-centre").iterdir()) == []
    assert list((root / "var/lib/dho-centre").iterdir()) == []
    assert not (root / "etc/mosquitto").exists()


def test_the_venvs_centre_command_runs_from_its_release(installed: Installed) -> None:
    root = installed.root
    assert os.readlink(root / "usr/local/bin/centre") == f"/{VENV}/bin/centre"
    assert os.readlink(root / VENV) == "releases/0.1.0"
    centre = root / VENV / "bin/centre"
    deps = sysconfig.get_paths()["purelib"]  # this test venv's: Django, psycopg, ...
    env = {**os.environ, "PYTHONPATH": deps, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [str(centre), "--help"], capture_output=True, text=True, timeout=120, env=env, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: centre ")
    where = subprocess.run(
        [str(root / VENV / "bin/python"), "-c", "import centre; print(centre.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd="/",
    )
    assert where.stdout.startswith(str(root / VENV)), where.stdout + where.stderr


def test_a_second_run_changes_no_file_and_says_so(installed: Installed) -> None:
    before = tree(installed.root)
    again = run("--root", installed.root, "--wheel", installed.wheel)
    assert again.returncode == 0, again.stdout + again.stderr
    assert tree(installed.root) == before
    assert "changed:" not in again.stdout
    assert again.stdout.rstrip().endswith("Nothing to change: this centre was already installed.")


def test_the_installed_units_verify_where_they_were_installed(
    installed: Installed, tmp_path: Path
) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    root = tmp_path / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for unit in UNITS:
        result = subprocess.run(
            [tool, "verify", "--man=no", f"--root={root}", unit],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
    (root / VENV / "bin/centre").unlink()
    failed = subprocess.run(
        [tool, "verify", "--man=no", f"--root={root}", "dho-centre.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode != 0 and "/opt/dho-hub/venv/bin/centre" in failed.stderr


def condition(root: Path, unit: str) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze condition` on the unit installed in root, its paths seen in root (the
    root's /etc bound over /etc in a mount namespace of its own)."""
    script = (
        f'mount --bind "{root}/etc" /etc && '
        f'exec systemd-analyze condition --root="{root}" --unit="$1"'
    )
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", unit],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_units_wait_for_their_configuration_without_failing(
    installed: Installed, tmp_path: Path
) -> None:
    """Enabled before `centre init`, the worker and the web are skipped ("Conditions failed":
    inactive, not failed, no restart every 5 s) until centre.toml exists; Debian's mosquitto,
    with the drop-in, until `centre broker-config` wrote its configuration."""
    if shutil.which("unshare") is None or shutil.which("systemd-analyze") is None:
        pytest.skip("needs unshare (util-linux) and systemd-analyze (systemd)")
    root = tmp_path / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    # Debian's mosquitto.service, as the package installs it (--root installs no package).
    debian = root / "usr/lib/systemd/system/mosquitto.service"
    debian.parent.mkdir(parents=True)
    debian.write_text("[Service]\nExecStart=/usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf\n")
    for unit in (*UNITS, "mosquitto.service"):
        before = condition(root, unit)
        assert before.returncode != 0, before.stdout + before.stderr
        assert "ConditionPathExists=/etc/" in before.stderr and "failed" in before.stderr
    (root / "etc/dho-centre/centre.toml").write_text('centre_id = "centre"\n')
    (root / "etc/mosquitto/dho").mkdir(parents=True)
    (root / "etc/mosquitto/dho/mosquitto.conf").write_text("listener 8883\n")
    for unit in (*UNITS, "mosquitto.service"):
        after = condition(root, unit)
        assert after.returncode == 0, after.stderr
        assert "succeeded" in after.stderr


def test_an_existing_centres_config_and_keys_are_kept(installed: Installed, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    config = root / "etc/dho-centre/centre.toml"
    config.write_text('centre_id = "centre"\n')
    keys = root / "var/lib/dho-centre/keys"
    keys.mkdir()
    key = keys / "centre-signing.pem"
    key.write_text("PRIVATE\n")
    key.chmod(0o600)
    (root / "var/lib/dho-centre").chmod(0o755)  # someone opened it
    kept = {path: (path.read_bytes(), path.stat()) for path in (config, key)}
    result = run("--root", root, "--wheel", installed.wheel)
    assert result.returncode == 0, result.stdout + result.stderr
    for path, (data, info) in kept.items():
        assert path.read_bytes() == data
        now = path.stat()
        assert (now.st_mode, now.st_uid, now.st_mtime_ns) == (
            info.st_mode,
            info.st_uid,
            info.st_mtime_ns,
        )
    assert (root / "var/lib/dho-centre").stat().st_mode & 0o7777 == 0o700
    assert f"kept: {config} (never overwritten)" in result.stdout
    assert f"kept: {keys} (never touched)" in result.stdout
    assert "Installed." in result.stdout


def test_postgresql_is_named_not_made_under_root(installed: Installed, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    result = run("--root", root, "--wheel", installed.wheel, "--postgresql")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "libmosquitto-dev systemd postgresql)" in result.stdout
    assert "--root: no PostgreSQL role or database made (on a centre: role dho-centre" in (
        result.stdout
    )
    assert "no PostgreSQL here" in installed.first.stdout


def test_it_refuses_a_system_without_apt_get(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "id", "cat"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    result = subprocess.run(
        ["/bin/sh", str(INSTALLER)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(bin_dir)},
    )
    assert result.returncode == 1
    assert "This installer is for Debian" in result.stderr
    assert "--root DIR" in result.stderr
    assert "changed:" not in result.stdout


def test_it_refuses_a_user_who_is_not_root() -> None:
    result = run(user=65534)
    assert result.returncode == 1
    assert result.stderr.startswith("Run this as root (sudo sh provisioning/install-centre.sh)")
    assert result.stdout == ""


def test_it_refuses_a_root_that_does_not_exist(tmp_path: Path) -> None:
    result = run("--root", tmp_path / "nowhere")
    assert result.returncode == 1
    assert "no such directory" in result.stderr
    assert not (tmp_path / "nowhere").exists()
