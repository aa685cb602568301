"""Shutting a stolen hub out (issue 11, finding 5). `centre revoke`, and `centre enrol` of an id
enrolled before, put the certificate on the centre CA's revocation list; the real Mosquitto that
`centre broker-config` configured refuses it, drops the connection it had once restarted, and
the centre refuses the hub's batches. The id comes back only under a new certificate."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from centre.admin import enrol_hub, init_centre, load_ca
from centre.config import CentreConfig
from centre.ingest import Ingest
from centre.revocation import (
    RESTART_BROKER,
    REVOKED_HUBS,
    RevocationError,
    centre_crl_path,
    read_revoked_hubs,
    revoke_hub,
)
from centre.store import CentreStore
from hub.files import write_secret
from hub.mqtt import client_context, mqtt_client
from hub.wire.pki import Identity, serial_text
from hub.wire.public_keys import public_text
from hub.wire.topics import batch_topic, downlink_topic
from testbed.home import SimulatedHome
from testbed.processes import wait_until
from tests.conftest import centre_cli
from tests.test_broker_acl import NOT_AUTHORISED, never_connects, puback, received, suback
from tests.test_centre_ingest import TOPIC, envelope
from tests.test_envelope import CENTRE, HUB_KEY

# --- the centre's record and its CRL (no broker) ---

B1, B2 = "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"


@pytest.fixture
def centre(tmp_path: Path) -> CentreConfig:
    return init_centre(
        tmp_path / "centre.toml", tmp_path / "state", "127.0.0.1", 8884, "127.0.0.1", 8883
    )


def bundle_identity(raw: bytes) -> Identity:
    inner = json.loads(raw)["bundle"]
    return Identity(inner["mqtt_cert_pem"].encode(), inner["mqtt_key_pem"].encode())


def revoked_serials(config: CentreConfig, path: Path | None = None) -> set[str]:
    """The serials on the CRL, after checking it is the centre CA's and still current."""
    crl = x509.load_pem_x509_crl((path or centre_crl_path(config)).read_bytes())
    ca = load_ca(config).cert
    assert crl.issuer == ca.subject
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    assert crl.next_update_utc is not None and crl.next_update_utc.year >= 2030
    return {f"{entry.serial_number:X}" for entry in crl}


def test_a_new_centre_has_an_empty_crl_signed_by_its_ca(centre: CentreConfig) -> None:
    assert revoked_serials(centre) == set()
    assert centre_crl_path(centre).stat().st_mode & 0o777 == 0o644  # public: the broker reads it


def test_enrolling_an_id_again_revokes_its_previous_certificate(centre: CentreConfig) -> None:
    first = serial_text(bundle_identity(enrol_hub(centre, "hub-0001")).cert)
    other = serial_text(bundle_identity(enrol_hub(centre, "hub-0002")).cert)
    assert revoked_serials(centre) == set()
    second = serial_text(bundle_identity(enrol_hub(centre, "hub-0001")).cert)
    assert second != first
    assert revoked_serials(centre) == {first}  # the copy a thief holds: on the list
    assert CentreStore(centre.db_path).hub_certificate("hub-0001") == second
    assert CentreStore(centre.db_path).hub_certificate("hub-0002") == other


def test_a_revoked_id_comes_back_only_under_a_new_certificate(centre: CentreConfig) -> None:
    first = serial_text(bundle_identity(enrol_hub(centre, "hub-0001")).cert)
    done = revoke_hub(centre, load_ca(centre), "hub-0001")
    assert (done.serial, done.crl_paths) == (first, (centre_crl_path(centre),))
    store = CentreStore(centre.db_path)
    assert store.is_revoked("hub-0001")
    assert store.hub_signing_key("hub-0001") is None
    assert revoked_serials(centre) == {first}
    # Revoking twice changes nothing.
    assert revoke_hub(centre, load_ca(centre), "hub-0001").serial == first
    assert revoked_serials(centre) == {first}
    second = serial_text(bundle_identity(enrol_hub(centre, "hub-0001")).cert)
    assert not store.is_revoked("hub-0001")
    assert store.hub_signing_key("hub-0001") is not None
    assert revoked_serials(centre) == {first}
    assert second not in revoked_serials(centre)


def test_revoking_a_hub_that_was_never_enrolled_says_so(centre: CentreConfig) -> None:
    with pytest.raises(RevocationError, match="hub-0009 is not enrolled at this centre"):
        revoke_hub(centre, load_ca(centre), "hub-0009")
    assert revoked_serials(centre) == set()


def test_centre_revoke_tells_the_operator_what_to_do(centre: CentreConfig, tmp_path: Path) -> None:
    config = tmp_path / "centre.toml"
    enrolled = centre_cli(config, "enrol", "hub-0001", "--out", str(tmp_path / "b1"))
    assert "revoked_certificate" not in json.loads(enrolled.stdout)
    refused = centre_cli(config, "enrol", "hub-0001", "--out", str(tmp_path / "b2"))
    assert refused.returncode == 2 and "--replace" in refused.stderr  # a hub in use: asked
    assert not (tmp_path / "b2").exists()
    again = json.loads(
        centre_cli(config, "enrol", "hub-0001", "--out", str(tmp_path / "b2"), "--replace").stdout
    )
    assert again["revoked_certificate"] == serial_text(
        bundle_identity((tmp_path / "b1").read_bytes()).cert
    )
    assert RESTART_BROKER in again["then"]
    result = centre_cli(config, "revoke", "hub-0001")
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    assert said["hub_id"] == "hub-0001"
    assert said["crl"] == [str(centre_crl_path(centre))]
    assert RESTART_BROKER in said["then"]
    unknown = centre_cli(config, "revoke", "hub-0404")
    assert unknown.returncode == 2
    assert "hub-0404 is not enrolled at this centre" in unknown.stderr


def test_the_centre_refuses_a_revoked_hubs_batches_and_says_why(tmp_path: Path) -> None:
    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    store.record_certificate("hub-0001", "0A")
    ingest = Ingest(store, {CENTRE.public.key_id: CENTRE}, Ed25519PrivateKey.generate())
    store.revoke("hub-0001")
    assert ingest.handle(TOPIC, envelope(B1)) is None
    (rejection,) = store.rejections()
    assert "hub-0001 is revoked at this centre" in rejection["reason"]
    assert store.readings() == []
    # Enrolled again (new key in real life; the same here), it is heard again.
    store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    store.record_certificate("hub-0001", "0B")
    assert ingest.handle(TOPIC, envelope(B2)) is not None
    assert len(store.readings()) == 2


# --- against the real broker ---


def connect_as(home: SimulatedHome, identity: Identity, client_id: str) -> mqtt.Client:
    """An MQTT client that presents `identity` (a hub's certificate and key)."""
    folder = home.workdir / "clients" / f"{client_id}-{os.urandom(4).hex()}"
    write_secret(folder / "client.crt", identity.cert_pem)
    write_secret(folder / "client.key", identity.key_pem)
    return mqtt_client(
        client_id,
        client_context(home.centre.ca_cert_path, folder / "client.crt", folder / "client.key"),
    )


def connects(client: mqtt.Client, port: int, timeout: float = 10) -> bool:
    """Whether the broker accepts the client (CONNACK success); it stays connected if so."""
    done: queue.Queue[bool] = queue.Queue()
    client.on_connect = lambda _c, _u, _f, reason, _p: done.put(not reason.is_failure)
    try:
        client.connect("127.0.0.1", port)
    except OSError:  # ssl.SSLError too: refused during the handshake
        return False
    client.loop_start()
    try:
        return done.get(timeout=timeout)
    except queue.Empty:
        client.loop_stop()
        return False


def refused_after_reload(home: SimulatedHome, identity: Identity, client_id: str) -> None:
    """Wait until the broker, reloading after SIGHUP, refuses `identity`."""

    def refused() -> bool:
        client = connect_as(home, identity, client_id)
        if connects(client, home.broker.port, timeout=2):
            stop(client)
            return False
        return True

    wait_until(refused, 30, f"the broker to refuse {client_id}'s revoked certificate", 0.5)


def enrolled_identity(home: SimulatedHome, hub_id: str) -> Identity:
    return bundle_identity(enrol_hub(home.centre, hub_id))


def restart_broker(home: SimulatedHome) -> None:
    """What the operator does after a revocation (RESTART_BROKER)."""
    home.broker.stop()
    home.broker.start()


def stop(*clients: mqtt.Client) -> None:
    for client in clients:
        client.loop_stop()
        client.disconnect()


def test_a_stolen_certificate_is_shut_out_when_its_hub_is_enrolled_again(
    home: SimulatedHome,
) -> None:
    stolen = enrolled_identity(home, "hub-aaaa")
    thief = connect_as(home, stolen, "hub-aaaa")
    assert connects(thief, home.broker.port)
    dropped = threading.Event()
    thief.on_disconnect = lambda *_: dropped.set()
    thief_gets = received(thief, downlink_topic("hub-aaaa", "+"))
    neighbour = home.mqtt_client("hub-bbbb")
    neighbour_dropped = threading.Event()
    neighbour.on_disconnect = lambda *_: neighbour_dropped.set()
    neighbour.loop_start()
    # The technician enrols the hub again: its new certificate, the stolen one on the CRL.
    renewed = enrolled_identity(home, "hub-aaaa")
    broker_crl = home.workdir / "broker" / "crl" / "ca.crl"
    assert serial_text(stolen.cert) in revoked_serials(home.centre, broker_crl)
    restart_broker(home)
    assert dropped.wait(10), "the stolen certificate's connection survived the restart"
    never_connects(connect_as(home, stolen, "hub-aaaa"), home.broker.port)
    real = connect_as(home, renewed, "hub-aaaa")
    assert connects(real, home.broker.port)
    real_gets = received(real, downlink_topic("hub-aaaa", "+"))
    # Other hubs are not shut out (they reconnect after the restart, as hubs do).
    other = home.mqtt_client("hub-bbbb")
    try:
        assert puback(other, batch_topic("hub-bbbb")) < 128
        centre = home.mqtt_client(home.centre.ingest_name, centre_side=True)
        assert puback(centre, downlink_topic("hub-aaaa", "message")) < 128
        assert real_gets.get(timeout=10) == downlink_topic("hub-aaaa", "message")
        with pytest.raises(queue.Empty):
            thief_gets.get(timeout=1.0)
        stop(centre)
    finally:
        stop(real, other, neighbour, thief)


def test_centre_revoke_shuts_the_hub_out_at_the_broker(home: SimulatedHome) -> None:
    identity = bundle_identity(home.bundle.read_bytes())
    first = connect_as(home, identity, home.hub_id)
    assert connects(first, home.broker.port)
    stop(first)
    result = home.centre_cli("revoke", home.hub_id)
    assert result.returncode == 0, result.stderr
    assert str(home.workdir / "broker" / "crl" / "ca.crl") in json.loads(result.stdout)["crl"]
    # A reload (SIGHUP) is enough for new connections; the restart also drops open ones.
    assert home.broker.process is not None
    os.kill(home.broker.process.pid, signal.SIGHUP)
    refused_after_reload(home, identity, home.hub_id)
    other = home.mqtt_client("hub-bbbb")
    assert puback(other, batch_topic("hub-bbbb")) < 128
    stop(other)
    # Enrolled again, the hub id is back, under its new certificate only.
    renewed = bundle_identity(enrol_hub(home.centre, home.hub_id))
    os.kill(home.broker.process.pid, signal.SIGHUP)

    def renewed_connects() -> bool:
        back = connect_as(home, renewed, home.hub_id)
        try:
            return connects(back, home.broker.port, timeout=2)
        finally:
            stop(back)

    wait_until(
        renewed_connects,
        30,
        "the renewed certificate to connect",
    )
    never_connects(connect_as(home, identity, home.hub_id), home.broker.port)


def test_a_broker_copy_that_cannot_be_written_says_what_to_do(
    centre: CentreConfig, tmp_path: Path
) -> None:
    from centre.revocation import add_broker_crl

    enrol_hub(centre, "hub-0001")
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    add_broker_crl(centre, blocked / "ca.crl")
    with pytest.raises(RevocationError, match="cannot write the revocation list"):
        revoke_hub(centre, load_ca(centre), "hub-0001")
    assert CentreStore(centre.db_path).is_revoked("hub-0001")  # the centre refuses it anyway


def test_revoking_a_hub_enrolled_before_serials_were_recorded(
    centre: CentreConfig, tmp_path: Path
) -> None:
    # An older centre enrolled it: a signing key, no certificate serial.
    CentreStore(centre.db_path).enrol("hub-0001", public_text(HUB_KEY.public_key()))
    result = centre_cli(tmp_path / "centre.toml", "revoke", "hub-0001")
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    assert said["revoked_certificate"] is None
    assert "cannot be listed" in said["then"]
    assert CentreStore(centre.db_path).hub_signing_key("hub-0001") is None
    assert revoked_serials(centre) == set()


async def test_a_revoked_hub_daemon_cannot_reach_the_broker_again(home: SimulatedHome) -> None:
    from tests.conftest import eventually

    home.start_centre()
    home.start_hub()
    await eventually(lambda: home.hub_status()["broker_connected"], what="the hub to connect")
    assert home.centre_cli("revoke", home.hub_id).returncode == 0
    connected = f"u'{home.hub_id}'"
    sessions = home.broker_log().count(connected)
    restart_broker(home)
    # The daemon keeps trying, as it does after any outage; every attempt fails its handshake.
    refused = "certificate verify failed"
    await eventually(
        lambda: home.broker_log().count(refused) >= 2,
        what="the broker to refuse the hub's attempts",
    )
    status = home.hub_status()
    assert not status["broker_connected"]
    assert "cannot connect to" in status["broker_problem"]  # `hub status` says why
    assert home.broker_log().count(connected) == sessions  # no connection since the restart
    other = home.mqtt_client("hub-bbbb")
    assert puback(other, batch_topic("hub-bbbb")) < 128
    stop(other)


def test_broker_config_gives_the_broker_the_centres_list_and_every_later_one(
    centre: CentreConfig, tmp_path: Path
) -> None:
    from centre.admin import broker_config

    first = serial_text(bundle_identity(enrol_hub(centre, "hub-0001")).cert)
    revoke_hub(centre, load_ca(centre), "hub-0001")
    files = broker_config(centre, tmp_path / "broker")
    broker_copy = tmp_path / "broker" / "crl" / "ca.crl"
    assert files.conf.read_text().count(f"crlfile {broker_copy}\n") == 2  # both listeners
    assert broker_copy.read_bytes() == centre_crl_path(centre).read_bytes()
    assert revoked_serials(centre, broker_copy) == {first}
    other = serial_text(bundle_identity(enrol_hub(centre, "hub-0002")).cert)
    enrol_hub(centre, "hub-0002")
    assert revoked_serials(centre, broker_copy) == {first, other}


def test_revoking_shuts_a_connected_hub_out_without_a_reload(home: SimulatedHome) -> None:
    """What the technician's page and `centre revoke` do, with no broker reload: the broker's
    plugin reads the list of revoked hubs beside the CRL and refuses everything the hub asks,
    and delivers nothing to it, connected or connecting again; another hub goes on; enrolled
    again, the hub is back under its new certificate."""
    identity = bundle_identity(home.bundle.read_bytes())
    hub = connect_as(home, identity, home.hub_id)
    assert connects(hub, home.broker.port)
    down = received(hub, downlink_topic(home.hub_id, "+"))
    assert puback(hub, batch_topic(home.hub_id)) < 128
    reloads = home.broker_log().count("Reloading config")
    revoke_hub(home.centre, load_ca(home.centre), home.hub_id)
    listed = home.workdir / "broker" / "crl" / "revoked-hubs"
    assert read_revoked_hubs(listed) == [home.hub_id]
    wait_until(
        lambda: not hub.is_connected() or puback(hub, batch_topic(home.hub_id)) == NOT_AUTHORISED,
        10,
        "the broker to refuse the revoked hub's batches",
        0.3,
    )
    centre = home.mqtt_client(home.centre.ingest_name, centre_side=True)
    assert puback(centre, downlink_topic(home.hub_id, "message")) < 128
    with pytest.raises(queue.Empty):
        down.get(timeout=1.0)
    stop(hub)
    # A new connection may complete its handshake until the broker reloads the CRL, but it is
    # refused what it asks just the same.
    again = connect_as(home, identity, home.hub_id)
    if connects(again, home.broker.port, timeout=5):
        assert puback(again, batch_topic(home.hub_id)) == NOT_AUTHORISED
        assert suback(again, downlink_topic(home.hub_id, "+")) == NOT_AUTHORISED
    stop(again)
    assert home.broker_log().count("Reloading config") == reloads  # no reload was needed
    assert f"dho: refused revoked hub {home.hub_id}" in home.broker_log()
    other = home.mqtt_client("hub-bbbb")
    assert puback(other, batch_topic("hub-bbbb")) < 128
    stop(other)
    renewed = bundle_identity(enrol_hub(home.centre, home.hub_id))
    assert read_revoked_hubs(listed) == []

    def renewed_publishes() -> bool:
        back = connect_as(home, renewed, home.hub_id)
        try:
            return connects(back, home.broker.port, timeout=2) and (
                puback(back, batch_topic(home.hub_id)) < 128
            )
        finally:
            stop(back)

    wait_until(renewed_publishes, 30, "the hub enrolled again to publish", 0.5)
    stop(centre)


# --- one state of the database on both lists (issue 15 review) ---


def listed_hubs(config: CentreConfig) -> list[str]:
    return read_revoked_hubs(centre_crl_path(config).with_name(REVOKED_HUBS))


def test_a_revocation_racing_an_enrolment_ends_on_both_lists(
    centre: CentreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An enrolment that read the revoked set before a revocation (another web request, or the
    command line) must not write its older lists last: the revocation waits for the lock, then
    reads and writes the latest state. Without the lock, hub-0001 is revoked in the database
    but on neither the broker's list nor the CRL."""
    import fcntl

    import centre.revocation as revocation

    serial = serial_text(bundle_identity(enrol_hub(centre, "hub-0001")).cert)
    enrol_hub(centre, "hub-0002")
    real_snapshot, real_flock = revocation._revoked, fcntl.flock
    revoker_waits_or_is_done = threading.Event()

    def flock(fd: int, operation: int) -> None:
        if threading.current_thread().name == "revoke":
            revoker_waits_or_is_done.set()  # at the lock, about to wait for the enrolment
        real_flock(fd, operation)

    def snapshot(config: CentreConfig):  # type: ignore[no-untyped-def]
        got = real_snapshot(config)
        if threading.current_thread().name == "enrol":  # read: now the revocation runs
            revoker.start()
            assert revoker_waits_or_is_done.wait(30)
        return got

    def revoke() -> None:
        try:
            revoke_hub(centre, load_ca(centre), "hub-0001")
        finally:
            revoker_waits_or_is_done.set()

    monkeypatch.setattr(revocation, "_revoked", snapshot)
    monkeypatch.setattr(fcntl, "flock", flock)
    revoker = threading.Thread(target=revoke, name="revoke")
    enrolment = threading.Thread(target=enrol_hub, args=(centre, "hub-0002"), name="enrol")
    enrolment.start()
    enrolment.join(60)
    revoker.join(60)
    assert CentreStore(centre.database_url).is_revoked("hub-0001")
    assert listed_hubs(centre) == ["hub-0001"]
    assert serial in revoked_serials(centre)


def _enrol_and_revoke(config_path: str, hubs: list[str]) -> None:
    """In a process of its own: enrol each hub, revoke it, enrol it again, revoke it."""
    from centre.config import load_centre_config

    config = load_centre_config(Path(config_path))
    for hub_id in hubs:
        for _ in range(2):
            enrol_hub(config, hub_id)
            revoke_hub(config, load_ca(config), hub_id)


def test_processes_enrolling_and_revoking_at_once_leave_the_databases_state_on_the_lists(
    centre: CentreConfig, tmp_path: Path
) -> None:
    """Real processes, each its own connection to the SQLite centre, write the lists at once;
    every temporary file is their own, and the last lists are the database's (every hub
    revoked)."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    batches = [[f"hub-{n}{i}00" for i in range(3)] for n in "ab"]
    workers = [
        spawn.Process(target=_enrol_and_revoke, args=(str(tmp_path / "centre.toml"), hubs))
        for hubs in batches
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(240)
        assert worker.exitcode == 0
    store = CentreStore(centre.database_url)
    every = sorted(h for hubs in batches for h in hubs)
    assert listed_hubs(centre) == store.revoked_hubs() == every
    assert len(revoked_serials(centre)) == 2 * 2 * 3
    assert not [p.name for p in centre_crl_path(centre).parent.iterdir() if p.name.endswith(".new")]


def test_each_write_has_a_temporary_file_of_its_own(
    centre: CentreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources: list[str] = []
    real_replace = os.replace

    def replace(src: str, dst: Path) -> None:
        if str(src).endswith(".new"):
            sources.append(str(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    enrol_hub(centre, "hub-0001")
    revoke_hub(centre, load_ca(centre), "hub-0001")
    revoke_hub(centre, load_ca(centre), "hub-0001")
    assert len(sources) == 4 and len(set(sources)) == 4


def test_enrolling_again_lifts_the_brokers_revocation_of_a_hub_enrolled_before_serials(
    centre: CentreConfig,
) -> None:
    """A hub enrolled by an older centre (no certificate serial), revoked, then enrolled again
    has no serial to replace; the broker's list must still lose it."""
    store = CentreStore(centre.database_url)
    store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    revoke_hub(centre, load_ca(centre), "hub-0001")
    assert listed_hubs(centre) == ["hub-0001"]
    enrol_hub(centre, "hub-0001")
    assert not store.is_revoked("hub-0001")
    assert listed_hubs(centre) == []


def test_the_list_of_revoked_hubs_changes_at_every_write(centre: CentreConfig) -> None:
    """Its first line is a new generation each time, so the broker's plugin sees every write
    (even the same names, with the inode and size of the file it read)."""
    enrol_hub(centre, "hub-0001")
    revoke_hub(centre, load_ca(centre), "hub-0001")
    listed = centre_crl_path(centre).with_name(REVOKED_HUBS)
    first = listed.read_text()
    revoke_hub(centre, load_ca(centre), "hub-0001")
    second = listed.read_text()
    assert first != second and first.startswith("# generation ")
    assert read_revoked_hubs(listed) == ["hub-0001"]


# --- the broker plugin's change check, on its own (centre/dho_subscribe_acl.c) ---

PLUGIN_HARNESS = r"""
#include "%s"
void mosquitto_log_printf(int level, const char *fmt, ...) { (void)level; (void)fmt; }
const char *mosquitto_client_id(const struct mosquitto *c) { (void)c; return ""; }
const char *mosquitto_client_username(const struct mosquitto *c) { (void)c; return ""; }
int mosquitto_kick_client_by_username(const char *u, bool w) { (void)u; (void)w; return 0; }
int mosquitto_callback_register(mosquitto_plugin_id_t *i, int e, MOSQ_FUNC_generic_callback f,
		const void *d, void *u) { (void)i; (void)e; (void)f; (void)d; (void)u; return 0; }
int mosquitto_callback_unregister(mosquitto_plugin_id_t *i, int e, MOSQ_FUNC_generic_callback f,
		const void *d) { (void)i; (void)e; (void)f; (void)d; return 0; }

/* Each line read from stdin: look at the file as the broker does, print the revoked names. */
int main(int argc, char **argv)
{
	struct mosquitto_opt opt = {"revoked_users", argv[1]};
	void *userdata;
	struct acl *acl;
	char ask[8];
	int i;

	if(argc != 2 || mosquitto_plugin_init(NULL, &userdata, &opt, 1)) return 1;
	acl = userdata;
	while(fgets(ask, sizeof(ask), stdin)){
		reload_revoked(acl);
		for(i = 0; i < acl->revoked_count; i++) printf("%%s ", acl->revoked[i]);
		printf("\n");
		fflush(stdout);
	}
	return 0;
}
"""


@pytest.fixture
def plugin_check(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The plugin's own C, run in a process of its own with the broker's calls stubbed."""
    import shutil

    from centre.admin import PLUGIN_NEEDS, PLUGIN_SOURCE

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip(f"no C compiler: install {PLUGIN_NEEDS}")
    source = tmp_path / "harness.c"
    source.write_text(PLUGIN_HARNESS % PLUGIN_SOURCE)
    built = subprocess.run(
        [compiler, "-O2", "-Wall", "-Werror", "-o", str(tmp_path / "harness"), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    listed = tmp_path / "crl" / REVOKED_HUBS
    listed.parent.mkdir()
    process = subprocess.Popen(
        [str(tmp_path / "harness"), str(listed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None

    def check() -> list[str]:
        process.stdin.write("?\n")  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
        return process.stdout.readline().split()  # type: ignore[union-attr]

    yield listed, check
    process.stdin.close()
    process.wait(10)


def test_the_plugin_sees_a_change_with_the_same_inode_size_and_seconds(plugin_check) -> None:  # type: ignore[no-untyped-def]
    """Two lists of the same size in one second, the second in the inode of the first, its
    modification time set back: whole-second times, inode and size cannot tell them apart (ext4
    hands a freed inode to the next file at once); the first line and the nanoseconds can."""
    import time

    listed, check = plugin_check
    assert check() == []  # no file yet: no hub revoked
    for _ in range(5):  # both writes must fall in one second of the clock
        time.sleep(1 - time.time() % 1)
        listed.write_text("hub-0001\n")
        assert check() == ["hub-0001"]
        seen = os.stat(listed)
        with listed.open("r+") as f:  # same inode, same size
            f.write("hub-0002\n")
        os.utime(listed, ns=(seen.st_atime_ns, seen.st_mtime_ns))
        now = os.stat(listed)
        if int(now.st_ctime) == int(seen.st_ctime):
            break
    else:
        pytest.fail("the machine never did two writes within one second")
    assert (now.st_ino, now.st_size, int(now.st_mtime)) == (
        seen.st_ino,
        seen.st_size,
        int(seen.st_mtime),
    )
    assert check() == ["hub-0002"]


def test_the_plugin_reads_every_list_the_centre_writes(centre: CentreConfig, plugin_check) -> None:  # type: ignore[no-untyped-def]
    """The centre's lists, written as fast as it can: hub-0001 revoked, enrolled again and
    hub-0002 revoked; the plugin skips the generation line and sees the last list."""
    from centre.revocation import add_broker_crl

    listed, check = plugin_check
    add_broker_crl(centre, listed.with_name("ca.crl"))
    enrol_hub(centre, "hub-0001")
    enrol_hub(centre, "hub-0002")
    for _ in range(10):
        revoke_hub(centre, load_ca(centre), "hub-0001")
        assert check() == ["hub-0001"]
        enrol_hub(centre, "hub-0001")
        revoke_hub(centre, load_ca(centre), "hub-0002")
        assert check() == ["hub-0002"]
        enrol_hub(centre, "hub-0002")
        assert check() == []
