"""Setting up a centre, its broker, and enrolling hubs."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from centre.config import CentreConfig, load_centre_config
from centre.errors import CentreError
from centre.keyring import create_key, current_key
from centre.revocation import (
    REVOKED_HUBS,
    copy_to_broker,
    revocation_lock,
    write_crl,
    write_crl_locked,
)
from centre.store import CentreStore
from hub.config import to_toml
from hub.core.reading import now_utc
from hub.files import write_secret
from hub.keys import load_signing_key, write_private_key
from hub.wire.enrolment import EnrolmentBundle, fingerprint, seal_bundle
from hub.wire.hub_key import new_hub_key
from hub.wire.pki import Identity, issue, new_ca, serial_text
from hub.wire.public_keys import public_text
from hub.wire.topics import HUB_ID_PATTERN, ack_topic, batch_topic, downlink_topic, status_topic


class EnrolmentError(CentreError, ValueError):
    """A hub cannot be enrolled as asked; says what to fix."""


class EnrolledAlready(EnrolmentError):
    """The hub id is enrolled already and enrolling it again was not asked for."""

    def __init__(self, hub_id: str, revoked: bool = False) -> None:
        what = (
            "is revoked: enrolling it again gives it new keys and lets it in again"
            if revoked
            else "is enrolled already: enrolling it again gives it new keys and revokes its old "
            "certificate, which cuts off the hub that has them now"
        )
        super().__init__(
            f"hub {hub_id} {what}, so it must be asked for (the box on the enrol page; "
            "`centre enrol --replace`)"
        )
        self.hub_id = hub_id


def init_centre(
    config_path: Path,
    state_dir: Path,
    mqtt_host: str,
    mqtt_port: int,
    hub_broker_host: str,
    hub_broker_port: int,
    suite: str = "x25519",
    database: str | None = None,
) -> CentreConfig:
    """Write the centre's keys, its CA and the ingest workers' client certificate, and make
    the centre's tables (in `database`, a URL; unset: SQLite in the state folder). A config
    file already there is refused, not replaced: it may hold settings written by hand."""
    if config_path.exists():
        raise EnrolmentError(
            f"{config_path} exists already: `centre init` writes a new one and would lose what "
            "it holds. Move it aside, run `centre init`, then copy your settings into the new one"
        )
    config = CentreConfig.model_validate(
        {
            "state_dir": state_dir,
            "database": database,
            "mqtt": {"host": mqtt_host, "port": mqtt_port},
            "hub_broker": {"host": hub_broker_host, "port": hub_broker_port},
        }
    )
    # Checked before anything is written: a key written before the refusal (a new encryption
    # key made current, say) would change the centre that is there.
    keys = (config.signing_key_path, config.keyring_dir, config.ca_key_path, config.ingest_key_path)
    for path in keys:
        if path.exists():
            raise EnrolmentError(
                f"{path} exists already; centre keys are never overwritten (a centre is set up "
                f"in {config.state_dir}: `centre init` is for a new one)"
            )
    config.state_dir.mkdir(parents=True, exist_ok=True)
    store = CentreStore(config.database_url, migrate=True)  # the tables; SQLite: in the state
    if hubs := store.enrolled_hubs():
        raise EnrolmentError(
            f"the centre's database already holds {len(hubs)} enrolled hub(s) ({hubs[0]}, ...): "
            "`centre init` makes a new centre, whose keys would lock them out. Give it a new "
            "database, or put this centre's config and keys back"
        )
    create_key(config.keyring_dir, suite)
    write_private_key(config.signing_key_path, Ed25519PrivateKey.generate())
    ca = new_ca(f"DHO centre CA ({config.centre_id})")
    write_secret(config.ca_key_path, ca.key_pem)
    write_secret(config.ca_cert_path, ca.cert_pem, mode=0o644)
    ingest = issue(ca, config.ingest_name)
    write_secret(config.ingest_key_path, ingest.key_pem)
    write_secret(config.ingest_cert_path, ingest.cert_pem, mode=0o644)
    write_secret(config.web_secret_path, secrets.token_urlsafe(48).encode())
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(to_toml(config.model_dump(mode="json", exclude_none=True)))
    for folder in (config.state_dir, config.state_dir / "keys"):
        folder.chmod(0o700)  # keys and health data: the centre's user alone
    write_crl(config, ca)  # empty: the broker needs one to check hubs' certificates against
    return load_centre_config(config_path)


def load_ca(config: CentreConfig) -> Identity:
    try:
        return Identity(config.ca_cert_path.read_bytes(), config.ca_key_path.read_bytes())
    except OSError as exc:
        raise EnrolmentError(f"cannot read the centre CA: {exc}") from exc


def public_keys(config: CentreConfig) -> dict[str, str]:
    """What a hub needs to know of this centre, and the fingerprint technicians compare."""
    enc = current_key(config.keyring_dir).public
    sig = public_text(load_signing_key(config.signing_key_path).public_key())
    return {
        "encryption_key": enc.text,
        "encryption_suite": enc.suite,
        "encryption_key_id": enc.key_id,
        "signing_key": sig,
        "fingerprint": fingerprint(sig),
    }


def enrol_hub(config: CentreConfig, hub_id: str, *, again: bool = True) -> bytes:
    """Make the hub's identity (signing key, TLS client certificate), record its public signing
    key, and return the signed bundle that `hub provision --bundle` installs. `again` False: a
    hub id enrolled already is refused (EnrolledAlready), decided inside the revocation lock so
    that of two enrolments of one new id at once only one gets a bundle."""
    if not re.fullmatch(HUB_ID_PATTERN, hub_id):
        raise EnrolmentError(
            f"hub id {hub_id!r} is not valid: lower-case letters, digits and '-', 3-63 "
            "characters, starting with a letter or digit"
        )
    centre_signing = load_signing_key(config.signing_key_path)
    keys = public_keys(config)
    hub_key = Ed25519PrivateKey.generate()
    # The hub's encryption key follows the centre's suite choice (post-quantum if it is).
    seal_record, seal_pair = new_hub_key(keys["encryption_suite"])
    mqtt = issue(load_ca(config), hub_id)
    bundle = EnrolmentBundle(
        hub_id=hub_id,
        issued_at=now_utc(),
        broker_host=config.hub_broker.host,
        broker_port=config.hub_broker.port,
        centre_encryption_key=keys["encryption_key"],
        centre_encryption_suite=keys["encryption_suite"],
        centre_signing_key=keys["signing_key"],
        hub_signing_key_pem=hub_key.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        ).decode(),
        hub_encryption_key=seal_record,
        mqtt_ca_pem=config.ca_cert_path.read_text(),
        mqtt_cert_pem=mqtt.cert_pem.decode(),
        mqtt_key_pem=mqtt.key_pem.decode(),
    )
    sealed = seal_bundle(bundle, centre_signing)
    store = CentreStore(config.database_url)
    # One critical section with every other enrolment and revocation on this host: "new or
    # again", "revoked before" and the lists written all see one state of the database.
    with revocation_lock(config):
        known = store.batch_signing_key(hub_id)  # None: never enrolled; else (key, revoked)
        if known is not None and not again:
            raise EnrolledAlready(hub_id, revoked=known[1])
        store.enrol(hub_id, public_text(hub_key.public_key()))
        store.set_hub_encryption_key(hub_id, seal_pair.public.suite, seal_pair.public.text)
        # Revocation: this certificate is the hub's now; the one it replaces goes on the CRL,
        # and a hub revoked before comes off the broker's list (also one enrolled before
        # serials were recorded, which has no serial to replace).
        replaced = store.record_certificate(hub_id, serial_text(mqtt.cert))
        if replaced or (known is not None and known[1]):
            write_crl_locked(config, load_ca(config))
    return sealed


@dataclass(frozen=True)
class BrokerFiles:
    conf: Path
    hub_acl: Path
    centre_acl: Path


HUB_ACL = f"""\
# Written by `centre broker-config`. Each hub, known by its certificate's name (%u), may
# publish batches and its presence, and read its acks and downlink: its own topics only.
# What it may subscribe to is checked by the plugin (HUB_SUBSCRIPTIONS): Mosquitto's ACL file
# does not check subscriptions.
pattern write {batch_topic("%u")}
pattern write {status_topic("%u")}
pattern read {ack_topic("%u")}
pattern read {downlink_topic("%u", "#")}
"""

HUB_SUBSCRIPTIONS = (ack_topic("%u"), downlink_topic("%u", "+"), downlink_topic("%u", "#"))
"""The only topic filters a hub may subscribe to, exactly (%u: its certificate's name): no
`$share/...`, no wildcard above its own topics, no other hub's."""

PLUGIN_SOURCE = Path(__file__).with_name("dho_subscribe_acl.c")
PLUGIN_NEEDS = "the Debian packages gcc, mosquitto-dev and libmosquitto-dev"


def build_subscribe_plugin(out_dir: Path) -> Path:
    """Compile the broker plugin that checks subscriptions (centre/dho_subscribe_acl.c)."""
    target = out_dir / "dho_subscribe_acl.so"
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise EnrolmentError(
            f"no C compiler to build the broker's subscription check: install {PLUGIN_NEEDS}"
        )
    new = target.with_name(f".{target.name}.new")
    result = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(new), str(PLUGIN_SOURCE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise EnrolmentError(
            f"cannot build the broker's subscription check (install "
            f"{PLUGIN_NEEDS}): {result.stderr.strip()[:800]}"
        )
    os.chmod(new, 0o644)
    os.replace(new, target)
    return target


def centre_acl(config: CentreConfig) -> str:
    return (
        "# Written by `centre broker-config`: the centre's ingest workers.\n"
        f"user {config.ingest_name}\n"
        f"topic read {batch_topic('+')}\n"
        f"topic read {status_topic('+')}\n"
        f"topic write {ack_topic('+')}\n"
        f"topic write {downlink_topic('+', '#')}\n"
    )


def broker_config(
    config: CentreConfig,
    out_dir: Path,
    *,
    hub_bind: str = "0.0.0.0",
    centre_bind: str = "127.0.0.1",
    persistence_dir: Path | None = None,
    run_as: str | None = None,
) -> BrokerFiles:
    """Write a Mosquitto configuration with two TLS listeners and their ACLs.

    Hubs: client certificate required, its name is the user name and replaces the client id
    (so one hub cannot take over another's session), confined by pattern ACLs and, for what
    it subscribes to, by a plugin built here (HUB_SUBSCRIPTIONS). The centre's workers: their
    own listener, so that several may connect under one certificate name. Both listeners check
    the centre CA's revocation list (centre/revocation.py), and the hubs' listener the list of
    hubs revoked now, through the plugin, which shuts a revoked hub out without a reload.
    """
    if config.hub_broker.port == config.mqtt.port:
        raise EnrolmentError(
            f"hub_broker.port and mqtt.port are both {config.mqtt.port}: hubs and the centre's "
            "workers need listeners of their own"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    broker = issue(
        load_ca(config),
        f"broker.{config.centre_id}",
        server_names=tuple(dict.fromkeys((config.hub_broker.host, config.mqtt.host, "localhost"))),
    )
    ca = out_dir / "ca.crt"
    cert, key = out_dir / "broker.crt", out_dir / "broker.key"
    for path in (ca, cert, key):
        path.unlink(missing_ok=True)
    write_secret(ca, config.ca_cert_path.read_bytes(), mode=0o644)
    write_secret(cert, broker.cert_pem, mode=0o644)
    write_secret(key, broker.key_pem)
    files = BrokerFiles(out_dir / "mosquitto.conf", out_dir / "acl-hubs", out_dir / "acl-centre")
    files.hub_acl.write_text(HUB_ACL)
    files.centre_acl.write_text(centre_acl(config))
    crl = _broker_crl(config, out_dir)
    plugin = build_subscribe_plugin(out_dir)
    tls = (
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\nrequire_certificate true\n"
        f"crlfile {crl}\n"
        "use_identity_as_username true\ntls_version tlsv1.2\nallow_anonymous false\n"
    )
    persistence = (
        f"persistence true\npersistence_location {persistence_dir}/\nautosave_interval 60\n"
        if persistence_dir
        else "persistence false\n"
    )
    files.conf.write_text(
        "# Written by `centre broker-config`; see docs/security.md.\n"
        + (f"user {run_as}\n" if run_as else "")
        + "per_listener_settings true\n"
        + persistence
        # Nagle off on every client socket: an urgent reading and its ack are small packets.
        + "set_tcp_nodelay true\n"
        + "max_queued_messages 10000\nmax_queued_bytes 268435456\n"
        "message_size_limit 16777216\n"
        "persistent_client_expiration 14d\n"
        "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
        f"\n# Hubs\nlistener {config.hub_broker.port} {hub_bind}\n{tls}"
        f"use_username_as_clientid true\nacl_file {files.hub_acl}\n"
        f"plugin {plugin}\nplugin_opt_subscribe {' '.join(HUB_SUBSCRIPTIONS)}\n"
        f"plugin_opt_revoked_users {crl.with_name(REVOKED_HUBS)}\n"
        f"\n# The centre's ingest workers\nlistener {config.mqtt.port} {centre_bind}\n{tls}"
        f"acl_file {files.centre_acl}\n"
        f"plugin {plugin}\nplugin_opt_trusted_user {config.ingest_name}\n"
    )
    return files


def _broker_crl(config: CentreConfig, out_dir: Path) -> Path:
    """The broker's copy of the CRL, in a directory the centre's user may replace it in (so
    that `centre revoke` and `centre enrol` update it); written now, so it always exists."""
    crl = out_dir / "crl" / "ca.crl"
    crl.parent.mkdir(mode=0o755, exist_ok=True)
    if os.geteuid() == 0:  # run as root: hand the directory to the user that owns the centre
        owner = config.state_dir.stat()
        os.chown(crl.parent, owner.st_uid, owner.st_gid)
    copy_to_broker(config, load_ca(config), crl)
    return crl
