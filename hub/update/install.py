"""The shell of `hub update`: reads a release from a file or a URL, installs it into a venv of
its own beside the running one, switches the `venv` link, restarts the hub and rolls back if it
does not come up healthy.

On a hub (all under --root DIR in tests):

    /opt/dho-hub/releases/<version>/   one venv per release, at most two kept
    /opt/dho-hub/venv -> releases/<v>  the release that runs (the units' and /usr/local/bin/hub's
                                       path); switched with one rename, so it is always whole
    /opt/dho-hub/previous -> releases/<v>   the release `hub update rollback` goes back to
    /opt/dho-hub/failed-versions       versions rolled back here: the timer does not retry them
    /opt/dho-hub/update-trial.json     written before a switch, removed once the hub is healthy:
                                       an update cut short (power lost) is checked at the next run
    /etc/dho-hub/release-key.pub       the operator's release key(s), pinned by install-hub.sh
    /etc/dho-hub/update.toml           optional: url, limits, restart and health commands

What a release must be, and what may replace what, is decided in hub/update/release.py.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.errors import HubError
from hub.files import sync_dir
from hub.update.release import (
    DEFAULT_MAX_RELEASE_BYTES,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_BYTES,
    SIGNATURE_NAME,
    Manifest,
    ReleaseError,
    Verdict,
    Version,
    parse_manifest,
    parse_public_keys,
    parse_version,
    rollback_target,
    to_remove,
    verdict,
    verify,
    version_text,
)

CHUNK = 1024 * 1024
# Headers and padding of a tar around its files: 512 bytes a member plus the end blocks and a
# record's rounding; 1 MiB is far more than a release of MAX_FILES wheels needs.
TAR_OVERHEAD = 1024 * 1024


class UpdateError(HubError):
    """An update that could not be done, and what to do."""


# --- where things are -------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    root: Path = Path("/")

    @property
    def base(self) -> Path:
        return self.root / "opt/dho-hub"

    @property
    def releases(self) -> Path:
        return self.base / "releases"

    @property
    def current(self) -> Path:
        return self.base / "venv"

    @property
    def previous(self) -> Path:
        return self.base / "previous"

    @property
    def failed(self) -> Path:
        return self.base / "failed-versions"

    @property
    def trial(self) -> Path:
        return self.base / "update-trial.json"

    @property
    def lock(self) -> Path:
        return self.base / ".update.lock"

    @property
    def settings(self) -> Path:
        return self.root / "etc/dho-hub/update.toml"

    @property
    def keys(self) -> Path:
        return self.root / "etc/dho-hub/release-key.pub"

    @property
    def hub_config(self) -> Path:
        return self.root / "etc/dho-hub/hub.toml"

    @property
    def testing(self) -> bool:
        return self.root != Path("/")


@dataclass(frozen=True)
class Settings:
    url: str | None = None
    max_release_bytes: int = DEFAULT_MAX_RELEASE_BYTES
    health_timeout_s: float = 120.0
    # Still healthy this long after the first healthy answer: a daemon that answers once and
    # then dies of its first reading is not kept.
    settle_s: float = 10.0
    restart_command: list[str] | None = None
    health_commands: list[list[str]] | None = None
    python: str = "python3"


_SETTING_KEYS = {
    "url",
    "max_release_mb",
    "health_timeout_s",
    "settle_s",
    "restart_command",
    "health_commands",
    "python",
}


def load_settings(layout: Layout) -> Settings:
    """update.toml, if there is one; every setting has a default."""
    path = layout.settings
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UpdateError(f"{path} cannot be read: {exc}") from None
    unknown = sorted(set(data) - _SETTING_KEYS)
    if unknown:
        raise UpdateError(f"{path}: unknown settings {unknown} (known: {sorted(_SETTING_KEYS)})")

    def number(key: str, default: float) -> float:
        value = data.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise UpdateError(f"{path}: {key} must be a number of 0 or more")
        return float(value)

    def command(value: object, key: str) -> list[str]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise UpdateError(f"{path}: {key} must be a command: a list of words")
        return [str(v) for v in value]

    url = data.get("url")
    if url is not None and not isinstance(url, str):
        raise UpdateError(f"{path}: url must be a text")
    restart = data.get("restart_command")
    health = data.get("health_commands")
    if health is not None and not isinstance(health, list):
        raise UpdateError(f"{path}: health_commands must be a list of commands")
    python = data.get("python", "python3")
    if not isinstance(python, str):
        raise UpdateError(f"{path}: python must be a text")
    return Settings(
        url=url,
        max_release_bytes=int(number("max_release_mb", DEFAULT_MAX_RELEASE_BYTES / 2**20) * 2**20),
        health_timeout_s=number("health_timeout_s", 120.0),
        settle_s=number("settle_s", 10.0),
        restart_command=None if restart is None else command(restart, "restart_command"),
        health_commands=None
        if health is None
        else [command(c, "each of health_commands") for c in health],
        python=python,
    )


def load_keys(layout: Layout) -> list[Ed25519PublicKey]:
    try:
        text = layout.keys.read_text()
    except FileNotFoundError:
        raise UpdateError(
            f"no release key is pinned on this hub ({layout.keys}): without it no release can "
            "be trusted. `sh provisioning/install-hub.sh --release-key FILE` pins the "
            "operator's key (docs/operations.md, 'Updating hubs')"
        ) from None
    keys = parse_public_keys(text)
    if not keys:
        raise UpdateError(f"{layout.keys} holds no key")
    return keys


# --- reading a release --------------------------------------------------------------------------


class CappedReader:
    """A stream that refuses to give more than `limit` bytes: a release served without end, or
    a tar member larger than its manifest says, stops here and not when the disk is full."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._left = limit
        self._limit = limit

    def read(self, size: int = -1) -> bytes:
        want = self._left + 1 if size < 0 else min(size, self._left + 1)
        data = self._stream.read(want)
        self._left -= len(data)
        if self._left < 0:
            raise ReleaseError(
                f"the release is larger than this hub takes ({self._limit} bytes; "
                "max_release_mb in update.toml): refused"
            )
        return data


def _member_bytes(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    source = archive.extractfile(member)
    assert source is not None  # a regular file, checked by the caller
    data = source.read(member.size + 1)
    if len(data) != member.size:
        raise ReleaseError(f"{member.name} is cut short: the file is damaged or incomplete")
    return data


def _expect(member: tarfile.TarInfo | None, name: str, max_size: int) -> tarfile.TarInfo:
    if member is None:
        raise ReleaseError(f"the file ends before its {name}: not a release, or cut short")
    if member.name != name or not member.isreg():
        raise ReleaseError(
            f"the release starts with {member.name[:60]!r}, not {name}: not a release file"
        )
    if member.size > max_size:
        raise ReleaseError(f"the release's {name} is {member.size} bytes, more than {max_size}")
    return member


def read_release(
    stream: IO[bytes],
    staging: Path,
    keys: list[Ed25519PublicKey],
    max_bytes: int,
    wanted: Callable[[Manifest], bool],
) -> Manifest:
    """Reads a release from `stream`: verifies the manifest's signature, asks `wanted` whether
    to go on (it stops there, after a few KB, when the hub has nothing to install), then
    writes each file the manifest lists into `staging`, checking its size and SHA-256 as it
    goes. Nothing the release says is used before its signature verified; nothing is extracted
    by the archive's own names or types."""
    capped = CappedReader(stream, max_bytes + TAR_OVERHEAD)
    try:
        with tarfile.open(fileobj=capped, mode="r|") as archive:  # type: ignore[call-overload]
            members = iter(archive)
            manifest_member = _expect(next(members, None), MANIFEST_NAME, MAX_MANIFEST_BYTES)
            raw = _member_bytes(archive, manifest_member)
            signature_member = _expect(next(members, None), SIGNATURE_NAME, SIGNATURE_BYTES)
            signature = _member_bytes(archive, signature_member)
            verify(raw, signature, keys)
            manifest = parse_manifest(raw, max_bytes)
            if not wanted(manifest):
                return manifest
            seen: set[str] = set()
            for member in members:
                _store(archive, member, manifest, staging, seen)
    except (tarfile.TarError, EOFError) as exc:
        raise ReleaseError(
            f"the release file is damaged or cut short ({exc}): download it again"
        ) from None
    missing = sorted({file.name for file in manifest.files} - seen)
    if missing:
        raise ReleaseError(f"the release lacks {missing[:3]}: the file is cut short or damaged")
    return manifest


def _store(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    manifest: Manifest,
    staging: Path,
    seen: set[str],
) -> None:
    listed = manifest.file(member.name)
    if listed is None or member.name in seen or not member.isreg():
        raise ReleaseError(
            f"the release holds {member.name[:60]!r}, which its manifest does not list "
            "(once, as a file): refused"
        )
    if member.size != listed.size:
        raise ReleaseError(
            f"{member.name} is {member.size} bytes, not the {listed.size} the manifest says"
        )
    seen.add(member.name)
    source = archive.extractfile(member)
    assert source is not None
    digest = hashlib.sha256()
    # The name passed the manifest's rule (one plain component); O_EXCL|O_NOFOLLOW anyway.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    with os.fdopen(os.open(staging / listed.name, flags, 0o644), "wb") as out:
        left = listed.size
        while left > 0:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                raise ReleaseError(f"{member.name} is cut short: the file is damaged")
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    if digest.hexdigest() != listed.sha256:
        raise ReleaseError(
            f"{member.name} does not match the SHA-256 its signed manifest gives: altered "
            "after signing, or damaged. Nothing was installed"
        )


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def transport_refusal(url: str) -> str | None:
    """Why a release may not be fetched from `url` (None: it may): https, or plain http to
    this machine only. Pure; asked of the URL given and of every redirect it leads to."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname)):
        return None
    return "a release is fetched over https (plain http only from this machine)"


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a URL the same rule allows: urllib's own handler would follow
    a 302 from the https URL given to plain http on another host (issue 15 review)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        refusal = transport_refusal(newurl)
        if refusal is not None:
            raise UpdateError(
                f"{req.full_url} redirects to {newurl[:200]}: {refusal}; refused. Give the "
                "release's final https address"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@contextlib.contextmanager
def open_source(source: str, max_bytes: int) -> Iterator[IO[bytes]]:
    """A release file on disk, or a URL: https, or plain http to this machine (a test server,
    or a USB stick served locally), the same for every redirect on the way. The signature, not
    the transport, is what is trusted."""
    parts = urllib.parse.urlsplit(source)
    if parts.scheme in ("http", "https"):
        refusal = transport_refusal(source)
        if refusal is not None:
            raise UpdateError(f"{source}: {refusal}")
        try:
            response = urllib.request.build_opener(_CheckedRedirects()).open(source, timeout=60)
        except OSError as exc:
            raise UpdateError(f"the release at {source} cannot be fetched: {exc}") from None
        with response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes + TAR_OVERHEAD:
                raise ReleaseError(
                    f"the release at {source} is {length} bytes, more than this hub takes "
                    f"({max_bytes}; max_release_mb in update.toml): refused"
                )
            yield response
        return
    try:
        handle = open(source, "rb")  # noqa: SIM115 (closed below, after the yield)
    except OSError as exc:
        raise UpdateError(f"the release {source} cannot be read: {exc.strerror}") from None
    with handle:
        yield handle


# --- the releases on this hub -----------------------------------------------------------------


def _linked_version(link: Path) -> Version | None:
    try:
        target = os.readlink(link)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # a directory, not a link
            raise UpdateError(
                f"{link} is a directory, not a link to a release: this hub was installed "
                "before updates came. Run provisioning/install-hub.sh of this version once "
                "(it moves the software into /opt/dho-hub/releases)"
            ) from None
        raise
    name = Path(target).name
    try:
        return parse_version(name, f"the release {link} points at")
    except ReleaseError as exc:
        raise UpdateError(str(exc)) from None


def current_version(layout: Layout) -> Version | None:
    return _linked_version(layout.current)


def previous_version(layout: Layout) -> Version | None:
    return _linked_version(layout.previous)


def failed_versions(layout: Layout) -> list[Version]:
    try:
        lines = layout.failed.read_text().split()
    except FileNotFoundError:
        return []
    versions = []
    for line in lines:
        with contextlib.suppress(ReleaseError):
            versions.append(parse_version(line))
    return versions


def _point(link: Path, version: Version | None) -> None:
    """`link` -> releases/<version> (None: no link), by one rename: never half-switched."""
    if version is None:
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        return
    temporary = link.with_name(f".{link.name}.new")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    os.symlink(f"releases/{version_text(version)}", temporary)
    os.replace(temporary, link)
    sync_dir(link.parent)


@contextlib.contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    try:
        layout.base.mkdir(parents=True, exist_ok=True)
        handle = open(layout.lock, "a")  # noqa: SIM115 (closed by the with below)
    except PermissionError:
        raise UpdateError(
            f"hub update writes {layout.base} and restarts the hub's services: run it as root "
            "(sudo hub update ...)"
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpdateError(
                "another `hub update` is running on this hub (the timer, or a technician): "
                "wait for it to finish"
            ) from None
        yield


# --- restart and health ---------------------------------------------------------------------


Say = Callable[[str], None]


def _restart_command(layout: Layout, settings: Settings) -> list[str] | None:
    if settings.restart_command is not None:
        return settings.restart_command
    if layout.testing:
        return None  # --root: no systemctl on a directory
    return ["systemctl", "restart", "dho-hub.service", "dho-hub-ui.service"]


HealthCheck = Callable[[float], str | None]  # given a timeout: None if healthy, else why not


def _command_check(command: list[str]) -> HealthCheck:
    def check(timeout: float) -> str | None:
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=max(timeout, 1.0),
                cwd="/",
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{command[0]}: {exc}"
        if result.returncode == 0:
            return None
        said = (result.stderr or result.stdout).strip().splitlines()
        return f"{' '.join(command)} exited {result.returncode}" + (
            f": {said[-1][:200]}" if said else ""
        )

    return check


def _socket_check(socket_path: Path) -> HealthCheck:
    """The daemon answers a status request on its socket. Asked by the updater's own code, the
    release that ran before: a new release does not judge itself. Any well-formed answer will
    do (not the contract's every field), so that a release may add to the contract."""

    def check(timeout: float) -> str | None:
        from hub.ipc import DaemonUnavailable, request_blocking

        try:
            answer = request_blocking(socket_path, "status", timeout=min(max(timeout, 1.0), 10))
        except DaemonUnavailable as exc:
            return str(exc)
        return None if answer.get("ok") is True else f"the daemon answered {str(answer)[:200]}"

    return check


def _socket_path(hub_config: Path) -> Path:
    """Where hub.toml puts the daemon's socket (socket_dir, else state_dir), read plainly: the
    updater must not depend on the release's config schema."""
    try:
        data = tomllib.loads(hub_config.read_text())
        where = data.get("socket_dir") or data["state_dir"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise UpdateError(
            f"{hub_config} does not say where the daemon's socket is: {exc}"
        ) from None
    return Path(str(where)) / "hub.sock"


def _health_checks(layout: Layout, settings: Settings) -> list[HealthCheck]:
    if settings.health_commands is not None:
        return [_command_check(command) for command in settings.health_commands]
    hub = str(layout.current / "bin/hub")
    if layout.testing or not layout.hub_config.exists():
        # Not provisioned (or a --root): no daemon can run yet, but the software must.
        return [_command_check([hub, "--help"])]
    # systemd's view first (cheaper), then the daemon itself: it started, opened its store and
    # keys, and serves its socket.
    return [
        _command_check(["systemctl", "is-active", "--quiet", "dho-hub.service"]),
        _socket_check(_socket_path(layout.hub_config)),
    ]


def _healthy_once(checks: list[HealthCheck], timeout: float) -> str | None:
    """None if every check passes, else what the first failing one said."""
    for check in checks:
        problem = check(timeout)
        if problem is not None:
            return problem
    return None


def restart_and_check(layout: Layout, settings: Settings, say: Say) -> str | None:
    """Restarts the hub on what `venv` now points at and waits for it to be healthy: None if
    it is, else why not."""
    restart = _restart_command(layout, settings)
    if restart is None:
        say("--root: nothing restarted")
    else:
        result = subprocess.run(restart, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return f"{' '.join(restart)} failed: {(result.stderr or result.stdout).strip()[:300]}"
    checks = _health_checks(layout, settings)
    deadline = time.monotonic() + settings.health_timeout_s
    problem: str | None = "not checked"
    while True:
        problem = _healthy_once(checks, deadline - time.monotonic())
        if problem is None:
            break
        if time.monotonic() >= deadline:
            return f"not healthy within {settings.health_timeout_s:g} s: {problem}"
        time.sleep(1.0)
    if settings.settle_s > 0:
        time.sleep(settings.settle_s)
        problem = _healthy_once(checks, settings.health_timeout_s)
        if problem is not None:
            return f"healthy, then not {settings.settle_s:g} s later: {problem}"
    return None


# --- install, switch, roll back -----------------------------------------------------------------


def _pip_install(settings: Settings, target: Path, staging: Path, wheel: str) -> None:
    """A new venv at its final path (a venv's scripts name their interpreter by its full path,
    so it cannot be made elsewhere and moved), with the release's wheels and nothing else."""
    steps = [
        [settings.python, "-m", "venv", str(target)],
        [
            str(target / "bin/python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--find-links",
            str(staging),
            str(staging / wheel),
        ],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, cwd="/", check=False)
        if result.returncode != 0:
            said = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise UpdateError(
                f"installing the release failed ({' '.join(step[:4])} ...): "
                + " / ".join(said)
                + ". The hub still runs the release it ran"
            )


def _write_trial(layout: Layout, old: Version | None, new: Version) -> None:
    text = json.dumps({"from": None if old is None else version_text(old), "to": version_text(new)})
    temporary = layout.trial.with_suffix(".new")
    temporary.write_text(text)
    os.replace(temporary, layout.trial)
    sync_dir(layout.base)


def _mark_failed(layout: Layout, version: Version) -> None:
    failed = failed_versions(layout)
    if version not in failed:
        with open(layout.failed, "a") as handle:
            handle.write(version_text(version) + "\n")


def _prune(layout: Layout, say: Say) -> None:
    keep = [v for v in (current_version(layout), previous_version(layout)) if v is not None]
    for name in to_remove(os.listdir(layout.releases), keep):
        shutil.rmtree(layout.releases / name, ignore_errors=True)
        say(f"removed {layout.releases / name}")


@dataclass(frozen=True)
class Outcome:
    status: int  # 0 installed or nothing to do; 1 rolled back
    message: str


def _switch(
    layout: Layout, settings: Settings, old: Version | None, new: Version, say: Say
) -> str | None:
    """Runs `new` (old becomes `previous`), restarted and checked; None if healthy. On a
    problem, runs `old` again and returns the problem (the caller decides what `new` was)."""
    kept = previous_version(layout)
    _write_trial(layout, old, new)
    _point(layout.previous, old)
    _point(layout.current, new)
    say(f"switched to {version_text(new)}; restarting and checking it")
    problem = restart_and_check(layout, settings, say)
    if problem is not None and old is not None:
        say(f"{version_text(new)} is not healthy: {problem}")
        _point(layout.current, old)
        _point(layout.previous, kept)
        again = restart_and_check(layout, settings, say)
        if again is not None:
            layout.trial.unlink(missing_ok=True)
            raise UpdateError(
                f"{version_text(new)} did not come up ({problem}); rolled back to "
                f"{version_text(old)}, but it does not come up either: {again}. "
                "Look at `journalctl -u dho-hub` and `hub doctor`"
            )
    layout.trial.unlink(missing_ok=True)
    return problem


def finish_interrupted(layout: Layout, settings: Settings, say: Say) -> None:
    """An update whose check never ended (the hub lost power, the updater was killed): check
    the release that runs now, and go back if it is not healthy."""
    try:
        trial = json.loads(layout.trial.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        trial = {}
    old = trial.get("from") if isinstance(trial, dict) else None
    new = trial.get("to") if isinstance(trial, dict) else None
    say(f"an update to {new} was interrupted before its check: checking it now")
    problem = restart_and_check(layout, settings, say)
    if problem is None:
        layout.trial.unlink(missing_ok=True)
        say(f"{new} is healthy: kept")
        return
    if not isinstance(old, str) or not (layout.releases / old).is_dir():
        layout.trial.unlink(missing_ok=True)
        raise UpdateError(f"{new} is not healthy ({problem}) and no earlier release is kept")
    old_version = parse_version(old)
    say(f"{new} is not healthy: {problem}; back to {old}")
    _point(layout.current, old_version)
    _point(layout.previous, None)
    if isinstance(new, str):
        with contextlib.suppress(ReleaseError):
            _mark_failed(layout, parse_version(new))
    layout.trial.unlink(missing_ok=True)
    again = restart_and_check(layout, settings, say)
    if again is not None:
        raise UpdateError(f"rolled back to {old}, but it does not come up either: {again}")


def install(
    layout: Layout,
    source: str,
    *,
    allow_downgrade: bool = False,
    by_hand: bool = True,
    say: Say = print,
) -> Outcome:
    settings = load_settings(layout)
    keys = load_keys(layout)
    with _locked(layout):
        finish_interrupted(layout, settings, say)
        current = current_version(layout)
        if current is None:
            raise UpdateError(
                f"no release runs on this hub ({layout.current} is missing): install it with "
                "provisioning/install-hub.sh first"
            )
        failed = failed_versions(layout)
        layout.releases.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=layout.releases))
        decided: list[Verdict] = []

        def wanted(manifest: Manifest) -> bool:
            decided.append(
                verdict(
                    manifest.version,
                    current,
                    failed,
                    allow_downgrade=allow_downgrade,
                    by_hand=by_hand,
                )
            )
            return decided[-1] is Verdict.INSTALL

        try:
            with open_source(source, settings.max_release_bytes) as stream:
                manifest = read_release(stream, staging, keys, settings.max_release_bytes, wanted)
            new = manifest.version
            if decided[-1] is Verdict.UP_TO_DATE:
                return Outcome(0, f"up to date: this hub runs {version_text(new)}")
            if decided[-1] is Verdict.SKIP_FAILED:
                return Outcome(
                    0,
                    f"{version_text(new)} failed its check on this hub before and was rolled "
                    "back: not tried again by itself (install it by hand to try again)",
                )
            started = time.monotonic()
            target = layout.releases / version_text(new)
            if target.exists():
                shutil.rmtree(target)  # an interrupted install, or a release kept before
            say(f"installing {version_text(new)} into {target}")
            try:
                _pip_install(settings, target, staging, manifest.install)
            except UpdateError:
                shutil.rmtree(target, ignore_errors=True)
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        installed_s = time.monotonic() - started
        try:
            problem = _switch(layout, settings, current, new, say)
        except UpdateError:
            # Back on the old release, which does not come up either: the new one goes anyway.
            _mark_failed(layout, new)
            shutil.rmtree(target, ignore_errors=True)
            raise
        if problem is not None:
            _mark_failed(layout, new)
            if previous_version(layout) == new:  # reinstalled over the kept one, and failed
                _point(layout.previous, None)
            shutil.rmtree(target, ignore_errors=True)
            _prune(layout, say)
            return Outcome(
                1,
                f"rolled back: {version_text(new)} did not come up healthy ({problem}); this "
                f"hub runs {version_text(current)} again",
            )
        _prune(layout, say)
        return Outcome(
            0,
            f"updated from {version_text(current)} to "
            f"{version_text(new)} (installed in {installed_s:.1f} s, healthy "
            f"{time.monotonic() - started - installed_s:.1f} s after the switch)",
        )


def rollback(layout: Layout, say: Say = print) -> Outcome:
    settings = load_settings(layout)
    with _locked(layout):
        current = current_version(layout)
        target = rollback_target(current, previous_version(layout))
        if not (layout.releases / version_text(target) / "bin/python").exists():
            raise UpdateError(f"the previous release {version_text(target)} is not complete")
        problem = _switch(layout, settings, current, target, say)
        if problem is not None:
            # Went back to what ran: both stay, the previous one as it was.
            return Outcome(
                1,
                f"{version_text(target)} did not come up healthy ({problem}); this hub runs "
                f"{version_text(current) if current else '?'} again",
            )
        return Outcome(
            0,
            f"rolled back from {version_text(current) if current else '?'} to "
            f"{version_text(target)} (`hub update rollback` again returns to "
            f"{version_text(current) if current else '?'})",
        )


def describe(layout: Layout) -> list[str]:
    current, previous = current_version(layout), previous_version(layout)
    lines = [
        f"current:  {version_text(current) if current else '-'}",
        f"previous: {version_text(previous) if previous else '- (nothing to roll back to)'}",
    ]
    failed = failed_versions(layout)
    if failed:
        lines.append("rolled back here: " + ", ".join(version_text(v) for v in failed))
    if layout.trial.exists():
        lines.append("an update was interrupted before its check: the next `hub update` checks it")
    settings = load_settings(layout)
    lines.append(f"fetches from: {settings.url or '- (no url in update.toml)'}")
    return lines


def hashed(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_release(out: Path, manifest_raw: bytes, signature: bytes, wheels: list[Path]) -> None:
    """The release file: manifest, signature, then the wheels, in that order (a hub reads the
    first two and may stop)."""

    def add(archive: tarfile.TarFile, name: str, data: BinaryIO | None, size: int) -> None:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o644
        info.mtime = int(time.time())
        archive.addfile(info, data)

    import io

    temporary = out.with_name(f".{out.name}.new")
    with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as archive:
        add(archive, MANIFEST_NAME, io.BytesIO(manifest_raw), len(manifest_raw))
        add(archive, SIGNATURE_NAME, io.BytesIO(signature), len(signature))
        for wheel in wheels:
            with open(wheel, "rb") as handle:
                add(archive, wheel.name, handle, wheel.stat().st_size)
    os.replace(temporary, out)
