"""provisioning/install-hub.sh, run for real into a temporary root (`--root`): the files it
puts there one by one, the users systemd-sysusers made, the enabled units (and that
`systemd-analyze verify` accepts them where they were installed), the venv's `hub`, the state
and config directories, that a second run changes no file, that it keeps an existing hub's
hub.toml and keys, and that it refuses a system that is not Debian or a user who is not root.

No network: with --root the installer installs no Debian packages, and pip gets a wheel built
here from the checkout with PIP_NO_INDEX and PIP_NO_DEPS (the dependencies are this test
venv's, on PYTHONPATH when `hub --help` runs). What only a real Raspberry Pi shows (apt-get, the
kiosk, a boot with the units) is in docs/operations.md, "Install the software"."""

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
INSTALLER = ROOT / "provisioning" / "install-hub.sh"
SYSTEMD = ROOT / "systemd"
SERVICES = ("dho-hub.service", "dho-hub-ui.service")
UNITS = (*SERVICES, "dho-hub-update.service", "dho-hub-update.timer")
VENV = Path("opt/dho-hub/venv")
RELEASE = Path("opt/dho-hub/releases/0.1.0")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0
    or shutil.which("systemd-sysusers") is None
    or shutil.which("systemctl") is None,
    reason="needs root (to give files to the hub's users) and systemd's tools (Debian package "
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
    work = Path(tempfile.mkdtemp(prefix="dho-install-", dir="/tmp"))
    root = work / "root"
    root.mkdir()
    wheel = build_wheel(work)
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


def test_the_units_and_sysusers_file_are_copied_and_the_units_enabled(
    installed: Installed,
) -> None:
    root = installed.root
    for unit in UNITS:
        copy = root / "etc/systemd/system" / unit
        assert copy.read_bytes() == (SYSTEMD / unit).read_bytes()
        assert copy.stat().st_mode & 0o777 == 0o644
    for unit in SERVICES:
        wanted = root / "etc/systemd/system/multi-user.target.wants" / unit
        assert os.readlink(wanted) == f"/etc/systemd/system/{unit}"
    timer = root / "etc/systemd/system/timers.target.wants/dho-hub-update.timer"
    assert os.readlink(timer) == "/etc/systemd/system/dho-hub-update.timer"
    # The update service runs from its timer only.
    assert not list(root.glob("etc/systemd/system/*.wants/dho-hub-update.service"))
    sysusers = root / "etc/sysusers.d/dho-hub.conf"
    assert sysusers.read_bytes() == (SYSTEMD / "dho-hub.sysusers.conf").read_bytes()
    # Only the hub's units: the centre's have no place on a hub.
    installed_units = [
        p.name for p in (root / "etc/systemd/system").iterdir() if p.name.startswith("dho-")
    ]
    assert sorted(installed_units) == sorted(UNITS)
    assert not list((root / "etc/systemd/system").glob("*centre*"))


def test_the_users_and_the_directories_have_the_owners_and_modes_the_units_expect(
    installed: Installed,
) -> None:
    root = installed.root
    passwd, group = table(root, "passwd"), table(root, "group")
    sock_gid = int(group["dho-hub-sock"][2])
    assert int(passwd["dho-hub"][3]) == sock_gid
    assert group["dho-hub-sock"][3] == "dho-hub-ui"
    state = (root / "var/lib/dho-hub").stat()
    assert (state.st_uid, state.st_gid, state.st_mode & 0o7777) == (
        int(passwd["dho-hub"][2]),
        sock_gid,
        0o700,
    )
    config = (root / "etc/dho-hub").stat()
    assert (config.st_uid, config.st_gid, config.st_mode & 0o7777) == (0, 0, 0o755)
    # hub.toml and keys are `hub provision`'s to write, never the installer's.
    assert list((root / "etc/dho-hub").iterdir()) == []
    assert list((root / "var/lib/dho-hub").iterdir()) == []
    assert "--root: kiosk not installed; on the hub itself: sh provisioning/kiosk/install.sh" in (
        installed.first.stdout
    )


def test_the_venvs_hub_command_runs_from_the_venv(installed: Installed) -> None:
    """The software is a release of its own, /opt/dho-hub/releases/0.1.0, and the path the
    units and /usr/local/bin/hub name, /opt/dho-hub/venv, a relative link to it (what `hub
    update` switches; tests/test_update.py)."""
    root = installed.root
    assert os.readlink(root / "usr/local/bin/hub") == f"/{VENV}/bin/hub"
    assert os.readlink(root / VENV) == "releases/0.1.0"
    assert (root / RELEASE / "bin/python").exists()
    assert (root / RELEASE / ".dho-hub-source").read_text().strip() == hashlib.sha256(
        installed.wheel.read_bytes()
    ).hexdigest()
    hub = root / VENV / "bin/hub"
    deps = sysconfig.get_paths()["purelib"]  # this test venv's: bleak, pydantic, textual, ...
    env = {**os.environ, "PYTHONPATH": deps, "PYTHONDONTWRITEBYTECODE": "1"}
    # From /, so that `python -c` does not find this checkout's hub/ in its working directory.
    result = subprocess.run(
        [str(hub), "--help"], capture_output=True, text=True, timeout=120, env=env, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: hub ")
    where = subprocess.run(
        [str(root / VENV / "bin/python"), "-c", "import hub; print(hub.__file__)"],
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
    assert again.stdout.rstrip().endswith("Nothing to change: this hub was already installed.")


def test_the_installed_units_verify_where_they_were_installed(
    installed: Installed, tmp_path: Path
) -> None:
    """`systemd-analyze verify --root`: every directive known, every unit they name found, and
    each ExecStart's program present in the root (the venv's hub; cage stands in for the kiosk
    package that --root does not install). The root needs systemd's own units for that."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    root = tmp_path / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    cage = root / "usr/bin/cage"
    cage.parent.mkdir(parents=True, exist_ok=True)
    cage.write_text("#!/bin/sh\n")
    cage.chmod(0o755)
    for unit in UNITS:
        result = subprocess.run(
            [tool, "verify", "--man=no", f"--root={root}", unit],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
    # The check has teeth: without the venv's hub the daemon's unit fails.
    (root / VENV / "bin/hub").unlink()
    failed = subprocess.run(
        [tool, "verify", "--man=no", f"--root={root}", "dho-hub.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode != 0 and "/opt/dho-hub/venv/bin/hub" in failed.stderr


def test_an_existing_hubs_config_and_keys_are_kept_and_its_state_mode_put_right(
    installed: Installed, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    config = root / "etc/dho-hub/hub.toml"
    config.write_text('hub_id = "hub-0001"\n')
    keys = root / "var/lib/dho-hub/keys"
    keys.mkdir()
    key = keys / "hub-signing.pem"
    key.write_text("PRIVATE\n")
    key.chmod(0o600)
    (root / "var/lib/dho-hub").chmod(0o755)  # someone opened it
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
    assert (root / "var/lib/dho-hub").stat().st_mode & 0o7777 == 0o700
    assert f"kept: {config} (never overwritten)" in result.stdout
    assert f"kept: {keys} (never touched)" in result.stdout
    assert "Installed." in result.stdout  # something did change: the state directory's mode


def test_it_refuses_a_system_without_apt_get(tmp_path: Path) -> None:
    """Not Debian (or Debian without apt-get): a PATH with the few tools the check itself uses."""
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
    assert "for Raspberry Pi OS or Debian" in result.stderr
    assert "--root DIR" in result.stderr
    assert "changed:" not in result.stdout


def test_it_refuses_a_user_who_is_not_root() -> None:
    result = run(user=65534)
    assert result.returncode == 1
    assert result.stderr.startswith("Run this as root (sudo sh provisioning/install-hub.sh)")
    assert result.stdout == ""


def test_it_refuses_a_root_that_does_not_exist(tmp_path: Path) -> None:
    result = run("--root", tmp_path / "nowhere")
    assert result.returncode == 1
    assert "no such directory" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def condition(root: Path, unit: str) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze condition` on the unit installed in root, its paths seen in root: the
    root's /etc bound over /etc in a mount namespace of its own (the host's stays as it is)."""
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


def test_the_hub_units_wait_for_the_config_without_failing(
    installed: Installed, tmp_path: Path
) -> None:
    """Installed and enabled before `hub provision`, the daemon and the screen are skipped
    ("Conditions failed": inactive, not failed, no restart every 5 s) until hub.toml exists;
    then they start. The update service likewise waits for update.toml and the release key."""
    if shutil.which("unshare") is None or shutil.which("systemd-analyze") is None:
        pytest.skip("needs unshare (util-linux) and systemd-analyze (systemd)")
    root = tmp_path / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    for unit in SERVICES:
        text = (root / "etc/systemd/system" / unit).read_text()
        # The condition names the file the unit's command reads.
        assert "ConditionPathExists=/etc/dho-hub/hub.toml" in text
        assert "--config /etc/dho-hub/hub.toml" in text
    tty0 = Path("/dev/tty0").exists()  # the screen's other condition: a console to show on
    for unit in (*SERVICES, "dho-hub-update.service"):
        before = condition(root, unit)
        assert before.returncode != 0, before.stdout + before.stderr
        assert "ConditionPathExists=/etc/" in before.stderr
        assert "failed" in before.stderr
    (root / "etc/dho-hub/hub.toml").write_text('hub_id = "hub-0001"\n')
    after = condition(root, "dho-hub.service")
    assert after.returncode == 0, after.stderr
    assert "ConditionPathExists=/etc/dho-hub/hub.toml succeeded" in after.stderr
    screen = condition(root, "dho-hub-ui.service")
    assert "ConditionPathExists=/etc/dho-hub/hub.toml succeeded" in screen.stderr
    assert (screen.returncode == 0) == tty0, screen.stderr
    (root / "etc/dho-hub/update.toml").write_text('url = "https://centre.example/r"\n')
    (root / "etc/dho-hub/release-key.pub").write_text("A" * 43 + "=\n")
    update = condition(root, "dho-hub-update.service")
    assert update.returncode == 0, update.stderr


def test_a_release_key_is_pinned_and_a_venv_from_before_releases_replaced(
    installed: Installed, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    # A hub installed before releases: /opt/dho-hub/venv a directory.
    (root / VENV).unlink()
    (root / VENV / "bin").mkdir(parents=True)
    (root / VENV / "bin/hub").write_text("#!/bin/sh\n")
    key = tmp_path / "release-key.pub"
    key.write_text("# DHO hub release key\n" + "B" * 43 + "=\n")
    result = run("--root", root, "--wheel", installed.wheel, "--release-key", key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.readlink(root / VENV) == "releases/0.1.0"
    pinned = root / "etc/dho-hub/release-key.pub"
    assert pinned.read_bytes() == key.read_bytes()
    assert pinned.stat().st_mode & 0o777 == 0o644
    assert "no release key pinned" not in result.stdout
    assert "no release key pinned" in installed.first.stdout
    for text in ("not a key\n", "B" * 43 + "=\nnot a key\n"):  # hub update would refuse both
        key.write_text(text)
        refused = run("--root", root, "--wheel", installed.wheel, "--release-key", key)
        assert refused.returncode == 1
        assert "not a release key" in refused.stderr


def test_a_newer_release_hub_update_installed_is_kept(installed: Installed, tmp_path: Path) -> None:
    """Run again on a hub that `hub update` brought to 0.2.0, the installer of 0.1.0 keeps it
    running (installing its own would take the hub back to an older release)."""
    root = tmp_path / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    newer = root / "opt/dho-hub/releases/0.2.0"
    shutil.copytree(root / RELEASE, newer, symlinks=True)
    (root / VENV).unlink()
    (root / VENV).symlink_to("releases/0.2.0")
    result = run("--root", root, "--wheel", installed.wheel)
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.readlink(root / VENV) == "releases/0.2.0"
    assert not (root / "opt/dho-hub/previous").exists()
    assert (
        "kept: /opt/dho-hub/venv -> releases/0.2.0 (newer than this installer's software"
        in result.stdout
    )
    assert "installed the software" not in result.stdout
    # An older one running (a rollback, say) is not kept: the installer's is newer.
    (root / VENV).unlink()
    (root / VENV).symlink_to("releases/0.0.9")
    (root / "opt/dho-hub/releases/0.0.9/bin").mkdir(parents=True)
    (root / "opt/dho-hub/releases/0.0.9/bin/python").symlink_to("/usr/bin/python3")
    older = run("--root", root, "--wheel", installed.wheel)
    assert older.returncode == 0, older.stdout + older.stderr
    assert os.readlink(root / VENV) == "releases/0.1.0"
    assert os.readlink(root / "opt/dho-hub/previous") == "releases/0.0.9"
