"""hub/update/release.py, the pure core of `hub update`, held to tables: versions, the
manifest's every rule (path traversal, sizes, the wheel it installs), the signature (altered
bytes, another key, a signature of another length), which version may replace which, and what
is kept. The file and process shell is tests/test_update.py."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.update.release import (
    MAX_MANIFEST_BYTES,
    Manifest,
    ReleaseError,
    ReleaseFile,
    Verdict,
    manifest_bytes,
    parse_manifest,
    parse_public_keys,
    parse_version,
    rollback_target,
    sign,
    to_remove,
    verdict,
    verify,
    version_text,
)

SHA = "ab" * 32


@pytest.mark.parametrize(
    ("text", "version"),
    [("0.1.0", (0, 1, 0)), ("1.10.0", (1, 10, 0)), ("2", (2,)), ("1.2.3.4", (1, 2, 3, 4))],
)
def test_a_version_is_numbers_and_dots(text: str, version: tuple[int, ...]) -> None:
    assert parse_version(text) == version
    assert version_text(version) == text


@pytest.mark.parametrize(
    "text",
    ["", "1.", ".1", "1..2", "01.2", "1.2.3.4.5", "1.2a", "../1", "1/2", "1.2 ", "1e3", 1, None],
)
def test_anything_else_is_not_a_version(text: object) -> None:
    with pytest.raises(ReleaseError, match="not a release version"):
        parse_version(text)


def test_versions_compare_as_numbers_not_text() -> None:
    assert parse_version("1.10.0") > parse_version("1.9.9")
    assert parse_version("0.2") < parse_version("0.2.0")  # more parts: later


def manifest(**change: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "format": "dho-hub-release/1",
        "package": "dho-hub",
        "version": "0.2.0",
        "created": "2026-12-03T10:00:00+00:00",
        "install": "dho_hub-0.2.0-py3-none-any.whl",
        "files": [
            {"name": "dho_hub-0.2.0-py3-none-any.whl", "sha256": SHA, "size": 1000},
            {"name": "bleak-1.0.1-py3-none-any.whl", "sha256": SHA, "size": 2000},
        ],
    }
    value.update(change)
    return value


def file(**change: Any) -> dict[str, Any]:
    return {"name": "x-1.0-py3-none-any.whl", "sha256": SHA, "size": 10, **change}


def raw(value: object) -> bytes:
    return json.dumps(value).encode()


def test_a_good_manifest_reads_and_round_trips() -> None:
    parsed = parse_manifest(raw(manifest()))
    assert parsed.version == (0, 2, 0)
    assert parsed.install == "dho_hub-0.2.0-py3-none-any.whl"
    assert parsed.total_size == 3000
    assert parse_manifest(manifest_bytes(parsed)) == parsed


OWN = {"name": "dho_hub-0.2.0-py3-none-any.whl", "sha256": SHA, "size": 1000}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        # Path traversal and other names that are not one plain wheel file name.
        (manifest(files=[OWN, file(name="../../etc/cron.d/x.whl")]), "plain file name"),
        (manifest(files=[OWN, file(name="/etc/x.whl")]), "plain file name"),
        (manifest(files=[OWN, file(name="sub/x.whl")]), "plain file name"),
        (manifest(files=[OWN, file(name="..whl")]), "plain file name"),
        (manifest(files=[OWN, file(name=".hidden.whl")]), "plain file name"),
        (manifest(files=[OWN, file(name="x.tar.gz")]), "plain file name"),
        (manifest(files=[OWN, file(name="x\x00.whl")]), "plain file name"),
        (manifest(files=[OWN, file(name="a" * 300 + ".whl")]), "plain file name"),
        (manifest(files=[OWN, file(name=7)]), "plain file name"),
        (manifest(version="../../../tmp/x"), "not a release version"),
        (manifest(version="0.2.0/.."), "not a release version"),
        # Sizes: none, negative, a bool, more than the hub takes.
        (manifest(files=[OWN, file(size=0)]), "size of"),
        (manifest(files=[OWN, file(size=-1)]), "size of"),
        (manifest(files=[OWN, file(size=True)]), "size of"),
        (manifest(files=[OWN, file(size=300 * 2**20)]), "more than this hub takes"),
        (manifest(files=[OWN, file(sha256="AB" * 32)]), "sha256"),
        (manifest(files=[OWN, file(sha256="ab")]), "sha256"),
        (manifest(files=[OWN, OWN]), "twice"),
        (manifest(files=[]), "list of 1 to"),
        (manifest(files=[OWN] + [file(name=f"x{i}.whl") for i in range(200)]), "list of 1 to"),
        (manifest(files=[OWN, {**file(), "mode": 0o4755}]), "unknown"),
        # What it installs must be its own, listed wheel of the manifest's version.
        (manifest(install="bleak-1.0.1-py3-none-any.whl"), "is not dho-hub 0.2.0"),
        (manifest(install="dho_hub-0.3.0-py3-none-any.whl"), "not one of its files"),
        (manifest(version="0.3.0"), "is not dho-hub 0.3.0"),
        (manifest(format="dho-hub-release/2"), "format"),
        (manifest(package="other"), "not 'dho-hub'"),
        (manifest(created=""), "created"),
        ({**manifest(), "run": "rm -rf /"}, "unknown"),
        ({k: v for k, v in manifest().items() if k != "install"}, "lacks"),
        ([], "not a JSON object"),
    ],
)
def test_a_manifest_that_breaks_a_rule_is_refused(value: object, says: str) -> None:
    with pytest.raises(ReleaseError, match=says):
        parse_manifest(raw(value))


def test_a_release_over_the_hubs_cap_is_refused_by_its_manifest() -> None:
    """Before a byte of its files is read: the manifest declares them."""
    with pytest.raises(ReleaseError, match="add up to 3000 bytes, more than this hub takes"):
        parse_manifest(raw(manifest()), max_total=2999)
    with pytest.raises(ReleaseError, match="more than"):
        parse_manifest(b" " * (MAX_MANIFEST_BYTES + 1))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b'{"format": 1, "format": 2}', "given twice"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 100 + b"]" * 100, "nested deeper"),
        (b"{", "not JSON"),
    ],
)
def test_malformed_json_is_refused_in_words(text: bytes, says: str) -> None:
    with pytest.raises(ReleaseError, match=says):
        parse_manifest(text)


def keypair() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, base64.b64encode(public).decode()


def test_the_signature_verifies_with_the_pinned_key_only() -> None:
    key, public = keypair()
    other, other_public = keypair()
    text = raw(manifest())
    signature = sign(text, key)
    verify(text, signature, parse_public_keys(public))
    # Two pinned keys (the operator changing keys): either verifies.
    verify(text, signature, parse_public_keys(f"# old and new\n{other_public}\n\n{public}\n"))
    cases = [
        (text + b" ", signature, public),  # one byte more
        (text.replace(b"0.2.0", b"0.2.1", 1), signature, public),  # a field changed
        (text, sign(text, other), public),  # another key
        (text, signature, other_public),  # another pinned key
        (text, bytes(64), public),
        (text, other.sign(text), other_public),  # signed without the release context
    ]
    for data, sig, pinned in cases:
        with pytest.raises(ReleaseError, match="does not verify with the release key"):
            verify(data, sig, parse_public_keys(pinned))
    with pytest.raises(ReleaseError, match="63 bytes, not 64"):
        verify(text, signature[:63], parse_public_keys(public))
    with pytest.raises(ReleaseError, match="no release key is pinned"):
        verify(text, signature, [])


@pytest.mark.parametrize("line", ["not base64!", "AAAA", base64.b64encode(bytes(33)).decode()])
def test_a_key_file_line_that_is_not_a_key_is_refused(line: str) -> None:
    with pytest.raises(ReleaseError, match="line 2 of the release key file"):
        parse_public_keys(f"# comment\n{line}\n")


V1, V2, V3 = (0, 1, 0), (0, 2, 0), (0, 3, 0)


@pytest.mark.parametrize(
    ("candidate", "current", "failed", "allow_downgrade", "by_hand", "expected"),
    [
        (V2, V1, [], False, False, Verdict.INSTALL),
        (V2, V2, [], False, False, Verdict.UP_TO_DATE),
        (V2, V2, [], True, True, Verdict.UP_TO_DATE),
        (V1, V2, [], True, True, Verdict.INSTALL),  # going back on purpose
        (V3, V2, [V3], False, False, Verdict.SKIP_FAILED),  # the timer does not retry it
        (V3, V2, [V3], False, True, Verdict.INSTALL),  # a technician may
        (V2, None, [], False, False, Verdict.INSTALL),
    ],
)
def test_which_version_may_replace_which(
    candidate: tuple[int, ...],
    current: tuple[int, ...] | None,
    failed: list[tuple[int, ...]],
    allow_downgrade: bool,
    by_hand: bool,
    expected: Verdict,
) -> None:
    assert (
        verdict(candidate, current, failed, allow_downgrade=allow_downgrade, by_hand=by_hand)
        is expected
    )


@pytest.mark.parametrize("by_hand", [False, True])
def test_a_downgrade_is_refused_unless_asked_for(by_hand: bool) -> None:
    with pytest.raises(ReleaseError, match=r"0\.1\.0, older than the 0\.2\.0 this hub runs"):
        verdict(V1, V2, [], allow_downgrade=False, by_hand=by_hand)


def test_only_the_current_and_the_previous_release_are_kept() -> None:
    entries = ["0.1.0", "0.2.0", "0.3.0", ".staging-abc", "junk"]
    assert to_remove(entries, [V3, V2]) == [".staging-abc", "0.1.0", "junk"]
    assert to_remove(entries, [V3]) == [".staging-abc", "0.1.0", "0.2.0", "junk"]


def test_rollback_goes_to_the_previous_release_or_says_there_is_none() -> None:
    assert rollback_target(V2, V1) == V1
    with pytest.raises(ReleaseError, match="no previous release is kept"):
        rollback_target(V2, None)
    with pytest.raises(ReleaseError, match="is the current one"):
        rollback_target(V2, V2)


def test_manifest_lookup_by_name() -> None:
    m = Manifest((0, 2, 0), "now", "dho_hub-0.2.0-x.whl", (ReleaseFile("a.whl", SHA, 1),))
    assert m.file("a.whl") == ReleaseFile("a.whl", SHA, 1)
    assert m.file("b.whl") is None
