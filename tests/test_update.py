"""`hub update`, run for real on a hub installed by provisioning/install-hub.sh into a temporary
root (`--root`, as tests/test_installer.py): the operator's key and release made with `hub update
keygen` and `hub update make`, a release installed into a venv of its own beside the running
one, the `venv` link switched, a downgrade refused, a rollback by hand and back, a release that
does not start rolled back by itself (and not retried by the timer), one fetched from a URL
(a local http.server), an update cut short by a power cut finished at the next run, and hostile
files: a bad signature, another key, a truncated file, a member the manifest does not list
(path traversal), a symlink, a file larger than its manifest says, and releases over the size cap.

No systemctl, no network: in --root mode nothing is restarted unless update.toml says how (here a
command that notes each restart), and the health check is the new release's `hub --help` (a
release whose `hub` cannot start fails it). pip installs the wheels with PIP_NO_DEPS, the
dependencies coming from this test venv on PYTHONPATH (as tests/test_installer.py). What only a
real hub shows (systemctl, the daemon's socket as the health check, the timer) is listed in
docs/operations.md, "Updating hubs"."""

from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.wheels import build_wheel

CHECKOUT = Path(__file__).parents[1]
INSTALLER = CHECKOUT / "provisioning" / "install-hub.sh"
BASE = Path("opt/dho-hub")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("systemd-sysusers") is None,
    reason="needs root and systemd-sysusers (install-hub.sh makes the hub it updates)",
)

ENV = {
    **os.environ,
    "PIP_NO_INDEX": "1",
    "PIP_NO_DEPS": "1",
    "PIP_NO_CACHE_DIR": "1",
    # The health check runs the release's `hub`; its dependencies are this venv's.
    "PYTHONPATH": sysconfig.get_paths()["purelib"],
    "PYTHONDONTWRITEBYTECODE": "1",
}


def hub(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """This checkout's `hub`, as the updater of the hub in a temporary root."""
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        cwd=CHECKOUT,
    )


@dataclass(frozen=True)
class Operator:
    work: Path
    key: Path  # release-signing.pem
    public: Path  # release-key.pub
    wheels: dict[str, Path]

    def release(self, version: str, extra: tuple[Path, ...] = (), name: str = "") -> Path:
        out = self.work / (name or f"dho-hub-{version}.release")
        if not out.exists():
            made = hub(
                "update", "make", "--key", self.key, "--out", out, self.wheels[version], *extra
            )
            assert made.returncode == 0, made.stderr
        return out


@pytest.fixture(scope="module")
def operator() -> Iterator[Operator]:
    work = Path(tempfile.mkdtemp(prefix="dho-up-", dir="/tmp"))
    made = hub("update", "keygen", "--out", work / "keys")
    assert made.returncode == 0, made.stderr
    assert (work / "keys/release-signing.pem").stat().st_mode & 0o777 == 0o600
    wheels = {version: build_wheel(work, version) for version in ("0.1.0", "0.2.0", "0.4.0")}
    broken = work / "broken"
    broken.mkdir()
    wheels["0.3.0"] = build_wheel(broken, "0.3.0", broken=True)
    yield Operator(work, work / "keys/release-signing.pem", work / "keys/release-key.pub", wheels)
    shutil.rmtree(work, ignore_errors=True)


def new_hub(operator: Operator, where: Path) -> Path:
    """A hub at 0.1.0, installed by install-hub.sh with the operator's key pinned; its
    update.toml notes each restart in ROOT/restarts and gives a release 5 s to be healthy."""
    root = where / "root"
    root.mkdir(parents=True)
    installed = subprocess.run(
        [
            "sh",
            str(INSTALLER),
            "--root",
            str(root),
            "--wheel",
            str(operator.wheels["0.1.0"]),
            "--release-key",
            str(operator.public),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    settings(root)
    return root


def settings(root: Path, **more: object) -> None:
    lines = [
        f'restart_command = ["sh", "-c", "readlink {root}/{BASE}/venv >> {root}/restarts"]',
        "health_timeout_s = 5",
        "settle_s = 0",
        *(f"{key} = {json.dumps(value)}" for key, value in more.items()),
    ]
    (root / "etc/dho-hub/update.toml").write_text("\n".join(lines) + "\n")


def running(root: Path) -> str:
    return os.readlink(root / BASE / "venv")


def releases(root: Path) -> list[str]:
    return sorted(p.name for p in (root / BASE / "releases").iterdir())


def hub_version(root: Path) -> str:
    """What the `hub` the units start imports, as that venv's Python reports it."""
    result = subprocess.run(
        [
            str(root / BASE / "venv/bin/python"),
            "-c",
            "import importlib.metadata as m; print(m.version('dho-hub'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in ENV.items() if k != "PYTHONPATH"},  # only the venv's metadata
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def base_hub(operator: Operator) -> Iterator[Path]:
    """One hub at 0.1.0 for the refusals, which must leave it exactly as it is."""
    work = Path(tempfile.mkdtemp(prefix="dho-uh-", dir="/tmp"))
    yield new_hub(operator, work)
    shutil.rmtree(work, ignore_errors=True)


def test_update_rollback_and_a_release_that_fails_to_start(
    operator: Operator, tmp_path: Path
) -> None:
    root = new_hub(operator, Path(tempfile.mkdtemp(prefix="dho-us-", dir="/tmp")))
    try:
        assert running(root) == "releases/0.1.0"

        # A newer release: installed beside the running one, switched to, restarted, checked.
        started = time.monotonic()
        done = hub("update", "--root", root, "install", operator.release("0.2.0"))
        update_s = time.monotonic() - started
        assert done.returncode == 0, done.stdout + done.stderr
        assert "updated from 0.1.0 to 0.2.0" in done.stdout
        assert running(root) == "releases/0.2.0"
        assert os.readlink(root / BASE / "previous") == "releases/0.1.0"
        assert hub_version(root) == "0.2.0"
        assert (root / "restarts").read_text().split() == ["releases/0.2.0"]
        assert releases(root) == ["0.1.0", "0.2.0"]
        assert not (root / BASE / "update-trial.json").exists()

        # The same again: nothing to do, nothing restarted.
        again = hub("update", "--root", root, "install", operator.release("0.2.0"))
        assert again.returncode == 0 and "up to date: this hub runs 0.2.0" in again.stdout
        assert (root / "restarts").read_text().split() == ["releases/0.2.0"]

        # A downgrade is refused, and changes nothing.
        older = hub("update", "--root", root, "install", operator.release("0.1.0"))
        assert older.returncode == 2
        assert "0.1.0, older than the 0.2.0 this hub runs: refused" in older.stderr
        assert running(root) == "releases/0.2.0"

        # Rollback by hand, and rollback again returns.
        started = time.monotonic()
        back = hub("update", "--root", root, "rollback")
        rollback_s = time.monotonic() - started
        assert back.returncode == 0, back.stdout + back.stderr
        assert "rolled back from 0.2.0 to 0.1.0" in back.stdout
        assert running(root) == "releases/0.1.0"
        assert hub_version(root) == "0.1.0"
        forth = hub("update", "--root", root, "rollback")
        assert forth.returncode == 0 and running(root) == "releases/0.2.0"

        # A release whose hub cannot start: switched to, found unhealthy, switched back.
        started = time.monotonic()
        bad = hub("update", "--root", root, "install", operator.release("0.3.0"))
        failed_s = time.monotonic() - started
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "rolled back: 0.3.0 did not come up healthy" in bad.stdout
        assert "this release is broken" in bad.stdout
        assert "this hub runs 0.2.0 again" in bad.stdout
        assert running(root) == "releases/0.2.0"
        assert hub_version(root) == "0.2.0"
        assert (root / "restarts").read_text().split()[-2:] == [
            "releases/0.3.0",
            "releases/0.2.0",
        ]
        assert "0.3.0" not in releases(root)
        assert (root / BASE / "failed-versions").read_text().split() == ["0.3.0"]
        listed = hub("update", "--root", root, "list")
        assert "current:  0.2.0" in listed.stdout
        assert "rolled back here: 0.3.0" in listed.stdout

        # The timer's check does not try it again; a technician may.
        with serving(operator.work) as url:
            settings(root, url=f"{url}/dho-hub-0.3.0.release")
            skipped = hub("update", "--root", root, "check")
            assert skipped.returncode == 0, skipped.stderr
            assert "0.3.0 failed its check on this hub before" in skipped.stdout
            assert running(root) == "releases/0.2.0"

            # A newer one from the URL: installed; only it and the one before are kept.
            operator.release("0.4.0")
            settings(root, url=f"{url}/dho-hub-0.4.0.release")
            fetched = hub("update", "--root", root, "check")
            assert fetched.returncode == 0, fetched.stdout + fetched.stderr
            assert "updated from 0.2.0 to 0.4.0" in fetched.stdout
        assert running(root) == "releases/0.4.0"
        assert releases(root) == ["0.2.0", "0.4.0"]
        assert os.readlink(root / BASE / "previous") == "releases/0.2.0"
        assert f"removed {root / BASE / 'releases/0.1.0'}" in fetched.stdout
        print(
            f"\nupdate 0.1.0 -> 0.2.0: {update_s:.1f} s; rollback by hand: {rollback_s:.1f} s; "
            f"a release that fails to start, installed and rolled back: {failed_s:.1f} s "
            "(wall clock, health_timeout_s = 5)"
        )
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


def test_an_update_cut_short_is_checked_and_rolled_back_at_the_next_run(
    operator: Operator,
) -> None:
    """The power went between the switch and the end of the check: the trial file is still
    there. The next `hub update` checks the release that runs first, and goes back."""
    root = new_hub(operator, Path(tempfile.mkdtemp(prefix="dho-ui-", dir="/tmp")))
    try:
        done = hub("update", "--root", root, "install", operator.release("0.2.0"))
        assert done.returncode == 0, done.stdout + done.stderr
        (root / BASE / "update-trial.json").write_text('{"from": "0.1.0", "to": "0.2.0"}')
        # Healthy only on 0.1.0: as if 0.2.0 had crashed the daemon after the power came back.
        venv = root / BASE / "venv"
        settings(
            root,
            health_commands=[["sh", "-c", f'test "$(readlink {venv})" = releases/0.1.0']],
        )
        next_run = hub("update", "--root", root, "install", operator.release("0.2.0"))
        assert "an update to 0.2.0 was interrupted before its check" in next_run.stdout
        assert "0.2.0 is not healthy" in next_run.stdout
        assert running(root) == "releases/0.1.0"
        assert not (root / BASE / "update-trial.json").exists()
        assert (root / BASE / "failed-versions").read_text().split() == ["0.2.0"]
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up on purpose (a release refused by its size)


@dataclass
class Served:
    url: str


class serving:
    """A directory served over plain http on 127.0.0.1 (a release URL without the network)."""

    def __init__(self, directory: Path) -> None:
        self.server = QuietServer(
            ("127.0.0.1", 0),
            lambda *a: Handler(*a, directory=str(directory)),
        )

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- hostile releases: each is refused in words and leaves the hub exactly as it was -----------


def tree(root: Path) -> dict[str, object]:
    base = root / BASE
    return {
        str(p.relative_to(root)): os.readlink(p) if p.is_symlink() else p.stat().st_size
        for p in sorted(base.rglob("*"))
        if "__pycache__" not in p.parts and p.name != ".update.lock"
    }


def members(release: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(release) as archive:
        return [
            (m, archive.extractfile(m).read())  # type: ignore[union-attr]
            for m in archive.getmembers()
        ]


def tar(out: Path, entries: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out


def refused(root: Path, source: str | Path, says: str) -> None:
    before = tree(root)
    result = hub("update", "--root", root, "install", source)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert tree(root) == before
    assert not list((root / BASE / "releases").glob(".staging-*"))


def test_a_release_altered_after_signing_is_refused(
    operator: Operator, base_hub: Path, tmp_path: Path
) -> None:
    good = members(operator.release("0.2.0"))
    raw = good[0][1]
    # One byte of the manifest changed: the signature no longer verifies.
    changed = raw.replace(b'"created": "2', b'"created": "3', 1)
    assert changed != raw
    info = tarfile.TarInfo("manifest.json")
    info.size = len(changed)
    altered = tar(tmp_path / "altered.release", [(info, changed), good[1], *good[2:]])
    refused(base_hub, altered, "does not verify with the release key pinned on this hub")
    # A wheel changed, the manifest not: its hash does not match.
    wheel_info, wheel = good[2]
    flipped = bytes([wheel[0] ^ 1]) + wheel[1:]
    swapped = tar(tmp_path / "swapped.release", [good[0], good[1], (wheel_info, flipped)])
    refused(base_hub, swapped, "does not match the SHA-256 its signed manifest gives")


def test_a_release_signed_with_another_key_is_refused(
    operator: Operator, base_hub: Path, tmp_path: Path
) -> None:
    keys = hub("update", "keygen", "--out", tmp_path / "other")
    assert keys.returncode == 0
    out = tmp_path / "other.release"
    made = hub(
        "update",
        "make",
        "--key",
        tmp_path / "other/release-signing.pem",
        "--out",
        out,
        operator.wheels["0.2.0"],
    )
    assert made.returncode == 0, made.stderr
    refused(base_hub, out, "does not verify with the release key pinned on this hub")


def test_a_truncated_or_foreign_file_is_refused(
    operator: Operator, base_hub: Path, tmp_path: Path
) -> None:
    data = operator.release("0.2.0").read_bytes()
    # The last cut is past the tar's end padding (at most 10 KiB), into the last wheel.
    for cut in (100, 700, 2000, len(data) // 2, len(data) - 12 * 1024):
        short = tmp_path / f"short-{cut}.release"
        short.write_bytes(data[:cut])
        before = tree(base_hub)
        result = hub("update", "--root", base_hub, "install", short)
        assert result.returncode == 2, (cut, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert any(
            words in result.stderr
            for words in ("damaged or cut short", "cut short", "ends before its")
        ), (cut, result.stderr)
        assert tree(base_hub) == before
    empty = tmp_path / "empty.release"
    empty.write_bytes(b"")
    refused(base_hub, empty, "damaged or cut short (empty file)")
    wheel = operator.wheels["0.2.0"]  # a wheel, not a release
    refused(base_hub, wheel, "damaged or cut short")
    refused(base_hub, tmp_path / "nowhere.release", "cannot be read: No such file")


def test_a_member_the_manifest_does_not_list_is_refused_and_never_written(
    operator: Operator, base_hub: Path, tmp_path: Path
) -> None:
    """Path traversal: the signed manifest cannot name one (test_update_release.py), and a tar
    member beside it is refused by name before a byte of it is written anywhere."""
    good = members(operator.release("0.2.0"))
    for name in ("../../../../tmp/dho-escape.whl", "/tmp/dho-escape.whl", "extra.whl"):
        info = tarfile.TarInfo(name)
        info.size = 4
        out = tar(tmp_path / "extra.release", [*good[:2], (info, b"evil"), *good[2:]])
        refused(base_hub, out, "which its manifest does not list")
        assert not Path("/tmp/dho-escape.whl").exists()
    link = tarfile.TarInfo(good[2][0].name)
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    out = tar(tmp_path / "link.release", [*good[:2], (link, b"")])
    refused(base_hub, out, "which its manifest does not list (once, as a file)")
    twice = tar(tmp_path / "twice.release", [*good, good[2]])
    refused(base_hub, twice, "does not list (once, as a file)")
    # A member larger than the manifest says.
    info, wheel = good[2]
    bigger = tarfile.TarInfo(info.name)
    bigger.size = len(wheel) + 10
    out = tar(tmp_path / "bigger.release", [*good[:2], (bigger, wheel + bytes(10))])
    refused(base_hub, out, f"is {len(wheel) + 10} bytes, not the {len(wheel)} the manifest says")


def test_releases_over_the_size_cap_are_refused_before_they_are_read(
    operator: Operator, base_hub: Path, tmp_path: Path
) -> None:
    # 1 MiB cap; a release with a 2 MiB wheel: its signed manifest declares it, refused there.
    settings(base_hub, max_release_mb=1)
    try:
        big = tmp_path / "big-1.0-py3-none-any.whl"
        big.write_bytes(os.urandom(2 * 2**20))
        out = operator.release("0.2.0", extra=(big,), name="big.release")
        refused(base_hub, out, "more than this hub takes (1048576")
        # A tar whose first header is a 5 MiB pax record (tarfile reads such a record whole):
        # cut off at the cap, not read into memory.
        pax = tarfile.TarInfo("manifest.json")
        pax.size = 1
        pax.pax_headers = {"comment": "x" * (5 * 2**20)}
        huge = tar(tmp_path / "huge.release", [(pax, b"{")])
        refused(base_hub, huge, "larger than this hub takes")
        # Served with a Content-Length over the cap: refused before the body is read.
        with serving(tmp_path) as url:
            refused(base_hub, f"{url}/huge.release", "more than this hub takes")
    finally:
        settings(base_hub)


def test_plain_http_is_refused_but_from_this_machine(base_hub: Path) -> None:
    refused(base_hub, "http://centre.example/dho-hub.release", "fetched over https")
    refused(base_hub, "http://127.0.0.1:9/dho-hub.release", "cannot be fetched")


class Redirecting(Handler):
    """Answers /elsewhere/<name> with a 302 to plain http on another host, /here/<name> with a
    302 to <name> on this same server, and serves files otherwise."""

    def do_GET(self) -> None:
        kind, _, name = self.path.lstrip("/").partition("/")
        if kind in ("elsewhere", "here"):
            host = "centre.example" if kind == "elsewhere" else self.headers["Host"]
            self.send_response(302)
            self.send_header("Location", f"http://{host}/{name}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


def test_a_redirect_must_keep_to_the_same_rule(
    operator: Operator, base_hub: Path, tmp_path: Path
) -> None:
    """urllib follows redirects: a 302 from an allowed URL to plain http on another host was
    fetched, in clear text, as root (issue 15 review). Each hop now obeys the rule; refused
    before any connection to that host (centre.example resolves nowhere)."""
    from hub.update.install import UpdateError, open_source, transport_refusal

    assert transport_refusal("https://centre.example/r") is None
    assert transport_refusal("http://[::1]:8/r") is None
    for bad in ("http://centre.example/r", "ftp://centre.example/r", "file:///etc/shadow"):
        assert transport_refusal(bad) is not None, bad
    shutil.copy(operator.release("0.2.0"), tmp_path / "dho-hub.release")
    server = QuietServer(("127.0.0.1", 0), lambda *a: Redirecting(*a, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with (
            pytest.raises(UpdateError, match=r"redirects to http://centre\.example/"),
            open_source(f"{url}/elsewhere/dho-hub.release", 1 << 20),
        ):
            pytest.fail("followed a redirect to plain http on another host")
        refused(base_hub, f"{url}/elsewhere/dho-hub.release", "fetched over https")
        # A redirect the rule allows is followed.
        with open_source(f"{url}/here/dho-hub.release", 1 << 20) as stream:
            assert stream.read() == (tmp_path / "dho-hub.release").read_bytes()
    finally:
        server.shutdown()
        server.server_close()


def test_nothing_is_trusted_without_a_pinned_key(operator: Operator, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/dho-hub").mkdir(parents=True)
    result = hub("update", "--root", root, "install", operator.release("0.2.0"))
    assert result.returncode == 2
    assert "no release key is pinned on this hub" in result.stderr
    assert "--release-key" in result.stderr


def test_the_default_health_check_on_a_provisioned_hub_asks_the_daemons_socket(
    short_tmp: Path,
) -> None:
    """On a real hub (not --root) with hub.toml: systemd's word, then a status request on the
    daemon's socket (socket_dir from hub.toml) asked by the updater's own code. Here the
    socket check alone, against a stand-in that answers well, badly, or not at all."""
    import socket as sockets

    from hub.update.install import Layout, Settings, _health_checks, _socket_check, _socket_path

    config = short_tmp / "etc/dho-hub/hub.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'hub_id = "h"\nstate_dir = "/nowhere"\nsocket_dir = "{short_tmp}"\n')
    path = _socket_path(config)
    assert path == short_tmp / "hub.sock"
    layout = Layout(Path("/"))
    checks = _health_checks(layout, Settings())
    assert len(checks) == 1  # / has no hub.toml here: the software's --help only

    def stand_in(answer: bytes) -> threading.Thread:
        server = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
        path.unlink(missing_ok=True)
        server.bind(str(path))
        server.listen(1)

        def serve() -> None:
            with server:
                conn, _ = server.accept()
                with conn:
                    conn.recv(4096)
                    conn.sendall(answer)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        return thread

    check = _socket_check(path)
    stand_in(b'{"ok": true, "hub_id": "h"}\n')
    assert check(5.0) is None
    stand_in(b'{"ok": false, "error": "busy"}\n')
    assert "the daemon answered" in (check(5.0) or "")
    stand_in(b"not json\n")
    assert "answered no JSON" in (check(5.0) or "")
    path.unlink()
    assert "not answering" in (check(1.0) or "")


def test_a_release_pip_cannot_install_leaves_the_hub_as_it_was(
    operator: Operator, base_hub: Path, tmp_path: Path
) -> None:
    """Signed and whole, but not a wheel pip takes: nothing switched, nothing restarted."""
    bad = tmp_path / "dho_hub-0.2.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip archive")
    made = hub("update", "make", "--key", operator.key, "--out", tmp_path / "bad.release", bad)
    assert made.returncode == 0, made.stderr
    refused(base_hub, tmp_path / "bad.release", "installing the release failed")
    assert not (base_hub / "restarts").exists()


def test_two_updates_never_run_at_once(operator: Operator, base_hub: Path) -> None:
    import fcntl

    with open(base_hub / BASE / ".update.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused(base_hub, operator.release("0.2.0"), "another `hub update` is running")


def test_when_the_old_release_does_not_come_up_either_it_says_so(
    operator: Operator, tmp_path: Path
) -> None:
    """Nothing is healthy (a broken adapter, say): the new release is rolled back all the same,
    and the technician is told that the old one fails too, with where to look."""
    root = new_hub(operator, Path(tempfile.mkdtemp(prefix="dho-un-", dir="/tmp")))
    try:
        settings(root, health_commands=[["false"]])
        result = hub("update", "--root", root, "install", operator.release("0.2.0"))
        assert result.returncode == 2, result.stdout + result.stderr
        assert "0.2.0 did not come up" in result.stderr
        assert "rolled back to 0.1.0, but it does not come up either" in result.stderr
        assert "journalctl -u dho-hub" in result.stderr
        assert running(root) == "releases/0.1.0"
        assert releases(root) == ["0.1.0"]
        assert (root / BASE / "failed-versions").read_text().split() == ["0.2.0"]
        assert not (root / BASE / "update-trial.json").exists()
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


def test_a_hub_healthy_once_and_not_after_settle_s_is_not_healthy(tmp_path: Path) -> None:
    """The check is repeated settle_s after the first healthy answer: a daemon that answers
    once and then dies of its first reading is rolled back. A restart that fails is a problem
    at once."""
    from hub.update.install import Layout, Settings, restart_and_check

    count = tmp_path / "count"
    # Healthy the first time only.
    once = ["sh", "-c", f"test ! -e {count} && touch {count}"]
    said: list[str] = []
    layout = Layout(tmp_path)
    settle = Settings(
        restart_command=["true"], health_commands=[once], health_timeout_s=3, settle_s=0.2
    )
    assert restart_and_check(layout, settle, said.append) == (
        f"healthy, then not 0.2 s later: {' '.join(once)} exited 1"
    )
    count.unlink()
    no_settle = Settings(
        restart_command=["true"], health_commands=[once], health_timeout_s=3, settle_s=0
    )
    assert restart_and_check(layout, no_settle, said.append) is None
    failing = Settings(
        restart_command=["sh", "-c", "echo unit not found >&2; exit 5"],
        health_commands=[["true"]],
        health_timeout_s=3,
        settle_s=0,
    )
    assert restart_and_check(layout, failing, said.append) == (
        "sh -c echo unit not found >&2; exit 5 failed: unit not found"
    )
