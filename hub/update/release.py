"""What a hub release is, and what a hub may do with one: the pure core of `hub update`.

A release is one file (a tar, read as a stream and never extracted): first `manifest.json`,
then `manifest.sig`, the operator's Ed25519 signature over it, then the wheels it lists (the
hub's own and every dependency, so that a hub installs with `pip --no-index` and nothing
unsigned reaches it from PyPI). The manifest names each file with its size and SHA-256, so one
signature over a few hundred bytes covers every byte, and a hub reads the manifest, checks it
and its version, and stops there when it has nothing to install.

Everything here is a function of its arguments: no files, no processes, no network (a layer
contract in pyproject.toml keeps it so). tests/test_update_release.py holds it to tables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.errors import HubError
from hub.wire.public_keys import KeyFileError, ed25519_public
from hub.wire.strict import WireError, load

FORMAT = "dho-hub-release/1"
PACKAGE = "dho-hub"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
# Signed with this prefix, so that no other message the operator's key might ever sign (or a
# later format) can be passed off as a release manifest.
SIGNING_CONTEXT = b"dho-hub-release/1\n"
SIGNATURE_BYTES = 64
MAX_MANIFEST_BYTES = 64 * 1024
MAX_FILES = 200
DEFAULT_MAX_RELEASE_BYTES = 256 * 1024 * 1024

Version = tuple[int, ...]

# Plain numbers only: a version is also a directory name under /opt/dho-hub/releases, so it
# must not be able to say "..", "/" or anything a shell or pip reads otherwise; and "1.10" must
# compare above "1.9", which tuples of integers do. No leading zeros: one spelling per version.
_VERSION = re.compile(r"(0|[1-9][0-9]{0,5})(\.(0|[1-9][0-9]{0,5})){0,3}")
# A file name in the release: one path component, no leading dot, a wheel.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}\.whl")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ReleaseError(HubError, ValueError):
    """A release this hub must not install, and why, in words the operator can act on."""


def parse_version(text: object, what: str = "version") -> Version:
    if not isinstance(text, str) or _VERSION.fullmatch(text) is None:
        raise ReleaseError(
            f"{what} {str(text)[:40]!r} is not a release version: numbers and dots only, "
            "such as 0.2.0 (at most four parts)"
        )
    return tuple(int(part) for part in text.split("."))


def version_text(version: Version) -> str:
    return ".".join(str(part) for part in version)


def wheel_prefix(version: Version) -> str:
    """How the hub's own wheel for `version` is named (PEP 427: the project name with _)."""
    return f"dho_hub-{version_text(version)}-"


@dataclass(frozen=True)
class ReleaseFile:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    version: Version
    created: str
    install: str  # the hub's own wheel, one of `files`
    files: tuple[ReleaseFile, ...]

    @property
    def total_size(self) -> int:
        return sum(file.size for file in self.files)

    def file(self, name: str) -> ReleaseFile | None:
        return next((file for file in self.files if file.name == name), None)


_MANIFEST_KEYS = {"format", "package", "version", "created", "install", "files"}
_FILE_KEYS = {"name", "sha256", "size"}


def parse_manifest(raw: bytes, max_total: int = DEFAULT_MAX_RELEASE_BYTES) -> Manifest:
    """The manifest in `raw`, or ReleaseError saying what is wrong with it. Call it only on
    bytes whose signature verified: it is strict anyway, as if they had not."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ReleaseError(f"the manifest is {len(raw)} bytes, more than {MAX_MANIFEST_BYTES}")
    try:
        value = load(raw, "the manifest")
    except WireError as exc:
        raise ReleaseError(str(exc)) from None
    fields = _fields(value, _MANIFEST_KEYS, "the manifest")
    if fields["format"] != FORMAT:
        raise ReleaseError(f"the manifest's format is {fields['format']!r}, not {FORMAT!r}")
    if fields["package"] != PACKAGE:
        raise ReleaseError(f"the release is of {fields['package']!r}, not {PACKAGE!r}")
    version = parse_version(fields["version"], "the manifest's version")
    created = fields["created"]
    if not isinstance(created, str) or not 0 < len(created) <= 40:
        raise ReleaseError("the manifest's 'created' is not a short text")
    listed = fields["files"]
    if not isinstance(listed, list) or not 0 < len(listed) <= MAX_FILES:
        raise ReleaseError(f"the manifest's 'files' is not a list of 1 to {MAX_FILES} files")
    files = tuple(_release_file(entry, max_total) for entry in listed)
    names = [file.name for file in files]
    if len(set(names)) != len(names):
        raise ReleaseError("the manifest names a file twice")
    total = sum(file.size for file in files)
    if total > max_total:
        raise ReleaseError(
            f"the release's files add up to {total} bytes, more than this hub takes "
            f"({max_total}; max_release_mb in update.toml)"
        )
    install = fields["install"]
    if not isinstance(install, str) or install not in names:
        raise ReleaseError("the manifest's 'install' is not one of its files")
    if not install.startswith(wheel_prefix(version)):
        raise ReleaseError(
            f"the wheel to install, {install!r}, is not dho-hub {version_text(version)} "
            f"(its name must start {wheel_prefix(version)!r})"
        )
    return Manifest(version=version, created=created, install=install, files=files)


def _fields(value: object, keys: set[str], what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ReleaseError(f"{what} is not a JSON object")
    if set(value) != keys:
        missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
        raise ReleaseError(f"{what} lacks {missing} or has unknown {extra}")
    return value


def _release_file(entry: object, max_total: int) -> ReleaseFile:
    fields = _fields(entry, _FILE_KEYS, "a file in the manifest")
    name, digest, size = fields["name"], fields["sha256"], fields["size"]
    if not isinstance(name, str) or _FILE_NAME.fullmatch(name) is None:
        # Also what keeps "../../etc/x.whl" or "/etc/x.whl" out: one component, no dot first.
        raise ReleaseError(
            f"the manifest names a file {str(name)[:60]!r}: only a wheel's plain file name "
            "(letters, digits, _ . + -; no directory) is allowed"
        )
    if not isinstance(digest, str) or _SHA256.fullmatch(digest) is None:
        raise ReleaseError(f"the manifest's sha256 of {name} is not 64 lower-case hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ReleaseError(f"the manifest's size of {name} is not a number of bytes above 0")
    if size > max_total:
        raise ReleaseError(
            f"{name} is {size} bytes, more than this hub takes ({max_total}; max_release_mb "
            "in update.toml)"
        )
    return ReleaseFile(name=name, sha256=digest, size=size)


def manifest_bytes(manifest: Manifest) -> bytes:
    """The manifest as the operator signs it (the hub verifies the bytes it got, not these)."""
    return json.dumps(
        {
            "format": FORMAT,
            "package": PACKAGE,
            "version": version_text(manifest.version),
            "created": manifest.created,
            "install": manifest.install,
            "files": [
                {"name": file.name, "sha256": file.sha256, "size": file.size}
                for file in manifest.files
            ],
        },
        indent=1,
    ).encode()


def sign(raw_manifest: bytes, key: Ed25519PrivateKey) -> bytes:
    return key.sign(SIGNING_CONTEXT + raw_manifest)


def verify(raw_manifest: bytes, signature: bytes, keys: Sequence[Ed25519PublicKey]) -> None:
    """Returns if one of the pinned release keys signed these exact bytes; ReleaseError if
    none did."""
    if not keys:
        raise ReleaseError("no release key is pinned on this hub: no release can be trusted")
    if len(signature) != SIGNATURE_BYTES:
        raise ReleaseError(
            f"the release's signature is {len(signature)} bytes, not {SIGNATURE_BYTES}: "
            "the file is damaged or not a release"
        )
    for key in keys:
        try:
            key.verify(signature, SIGNING_CONTEXT + raw_manifest)
            return
        except InvalidSignature:
            continue
    raise ReleaseError(
        "the release's signature does not verify with the release key pinned on this hub: "
        "it was altered after signing, or signed with another key. Nothing was installed"
    )


def parse_public_keys(text: str) -> list[Ed25519PublicKey]:
    """The release keys in release-key.pub: one base64 key (raw 32 bytes) a line; `#` lines
    and blank lines are comments. More than one key lets the operator change keys."""
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.append(ed25519_public(line, f"line {number} of the release key file"))
        except KeyFileError as exc:
            raise ReleaseError(
                f"line {number} of the release key file is not a key (base64)"
            ) from exc
    return keys


# --- which version may replace which ------------------------------------------------------


class Verdict(Enum):
    INSTALL = "install"
    UP_TO_DATE = "up to date"
    SKIP_FAILED = "failed here before"


def verdict(
    candidate: Version,
    current: Version | None,
    failed: Iterable[Version],
    *,
    allow_downgrade: bool,
    by_hand: bool,
) -> Verdict:
    """What to do with a release of `candidate` on a hub running `current` (None: a hub whose
    software predates releases). A downgrade is an error, not a verdict: an old release is
    still validly signed, so whoever can serve files to a hub could bring back a fixed flaw."""
    if current is not None and candidate == current:
        return Verdict.UP_TO_DATE
    if current is not None and candidate < current and not allow_downgrade:
        raise ReleaseError(
            f"the release is {version_text(candidate)}, older than the {version_text(current)} "
            "this hub runs: refused. To go back on purpose: `hub update rollback` (the previous "
            "release kept here), or `hub update install FILE --allow-downgrade`"
        )
    if candidate in set(failed) and not by_hand:
        # The timer would otherwise install, fail and roll back the same release every day.
        return Verdict.SKIP_FAILED
    return Verdict.INSTALL


def to_remove(entries: Iterable[str], keep: Iterable[Version]) -> list[str]:
    """The entries of the releases directory to delete: everything but the releases kept (the
    current and the previous one), leftovers of an interrupted update included."""
    kept = {version_text(version) for version in keep}
    return sorted(entry for entry in entries if entry not in kept)


def rollback_target(current: Version | None, previous: Version | None) -> Version:
    if previous is None:
        raise ReleaseError(
            "no previous release is kept on this hub: nothing to roll back to. Install a "
            "release by hand: `hub update install FILE --allow-downgrade`"
        )
    if previous == current:
        raise ReleaseError("the previous release is the current one: nothing to roll back to")
    return previous
