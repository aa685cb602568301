"""`hub update`: install a signed release, check the configured URL (the timer), roll back, list;
and, for the centre's operator, make the release key and sign a release. Only argparse here at
import: the `hub` command loads this module for its parser (tests/test_entry_imports.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    """`update` and its actions, on the `hub` command's subparsers."""
    p = sub.add_parser(
        "update",
        help="install a signed release without a visit, or roll back to the previous one "
        "(docs/operations.md, 'Updating hubs')",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=Path("/"),
        help="work on a hub installed into DIR (tests; nothing is restarted)",
    )
    actions = p.add_subparsers(required=True, metavar="ACTION")

    a = actions.add_parser("install", help="install a release from a file or an https URL")
    a.add_argument("source", metavar="FILE_OR_URL")
    a.add_argument(
        "--allow-downgrade",
        action="store_true",
        help="accept a release older than the one that runs (going back on purpose)",
    )
    a.set_defaults(func=_install)

    a = actions.add_parser(
        "check",
        help="fetch the release at update.toml's url and install it if it is newer "
        "(dho-hub-update.timer runs this)",
    )
    a.set_defaults(func=_check)

    a = actions.add_parser("rollback", help="run the previous release kept on this hub again")
    a.set_defaults(func=_rollback)

    a = actions.add_parser("list", help="the release that runs, the previous one, and more")
    a.set_defaults(func=_list)

    a = actions.add_parser(
        "keygen", help="(operator) make a release signing key and its public half"
    )
    a.add_argument("--out", type=Path, required=True, help="a directory of its own, offline")
    a.set_defaults(func=_keygen)

    a = actions.add_parser("make", help="(operator) make a signed release file from wheels")
    a.add_argument("--key", type=Path, required=True, help="release-signing.pem from keygen")
    a.add_argument("--out", type=Path, required=True, help="the release file to write")
    a.add_argument(
        "wheels",
        type=Path,
        nargs="+",
        help="the hub's wheel (dho_hub-VERSION-...whl) and every dependency's wheel for the "
        "hubs' platform: hubs install with pip --no-index",
    )
    a.set_defaults(func=_make)


def _layout(args: argparse.Namespace) -> Any:
    from hub.update.install import Layout

    return Layout(Path(args.root).resolve())


def _install(args: argparse.Namespace) -> int:
    from hub.update.install import install

    outcome = install(_layout(args), args.source, allow_downgrade=args.allow_downgrade)
    print(outcome.message)
    return outcome.status


def _check(args: argparse.Namespace) -> int:
    from hub.update.install import install, load_settings

    layout = _layout(args)
    url = load_settings(layout).url
    if url is None:
        print(f"no url in {layout.settings}: nothing to check (by hand: hub update install)")
        return 0
    outcome = install(layout, url, by_hand=False)
    print(outcome.message)
    return outcome.status


def _rollback(args: argparse.Namespace) -> int:
    from hub.update.install import rollback

    outcome = rollback(_layout(args))
    print(outcome.message)
    return outcome.status


def _list(args: argparse.Namespace) -> int:
    from hub.update.install import describe

    print("\n".join(describe(_layout(args))))
    return 0


def _keygen(args: argparse.Namespace) -> int:
    import base64
    import os

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    out: Path = args.out
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    # O_EXCL: a release key is never overwritten (hubs trust it until they are told otherwise).
    fd = os.open(out / "release-signing.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    (out / "release-key.pub").write_text(
        "# DHO hub release key: install-hub.sh --release-key pins it on each hub\n"
        + public.decode()
        + "\n"
    )
    print(f"wrote {out / 'release-signing.pem'} (keep it offline) and {out / 'release-key.pub'}")
    return 0


def _make(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from hub.update.install import UpdateError, hashed, write_release
    from hub.update.release import (
        Manifest,
        ReleaseFile,
        manifest_bytes,
        parse_manifest,
        parse_version,
        sign,
    )

    key = load_pem_private_key(args.key.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise UpdateError(f"{args.key} is not an Ed25519 private key (make one: hub update keygen)")
    wheels: list[Path] = args.wheels
    own = [w for w in wheels if w.name.startswith("dho_hub-")]
    if len(own) != 1:
        raise UpdateError("give exactly one dho_hub-VERSION-...whl among the wheels")
    version = parse_version(own[0].name.split("-")[1], f"the version in {own[0].name}")
    manifest = Manifest(
        version=version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        install=own[0].name,
        files=tuple(
            ReleaseFile(name=w.name, sha256=hashed(w), size=w.stat().st_size) for w in wheels
        ),
    )
    raw = manifest_bytes(manifest)
    parse_manifest(raw)  # what a hub will check, checked before anything is published
    write_release(args.out, raw, sign(raw, key), wheels)
    print(f"wrote {args.out}: dho-hub {own[0].name.split('-')[1]}, {len(wheels)} wheels")
    return 0
