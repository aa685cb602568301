"""The MQTT session every connection of the hub and the centre uses: MQTT v5 over TLS with
client certificates. Shared by both sides (the centre imports it), as are the topics
(hub/wire/topics.py)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.wire.public_keys import KeyFileError
from hub.wire.topics import SESSION_EXPIRY_S


class TlsSetupError(KeyFileError):
    """The certificate files for the broker connection cannot be used."""


def client_context(ca_path: Path, cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """TLS 1.2 or newer, the broker verified against the centre's CA (host name included), and
    this side's client certificate: the broker knows a hub by its certificate alone."""
    try:
        context = ssl.create_default_context(cafile=str(ca_path))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(cert_path), str(key_path))
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(
            f"cannot set up TLS with {ca_path}, {cert_path} and {key_path}: {exc}. "
            "Provision again from the enrolment bundle"
        ) from exc
    return context


# A private method of paho 2's client: fail at import, not silently, if a paho release drops it
# (tests/test_tcp_nodelay.py reads the option on the real sockets too).
if not callable(getattr(mqtt.Client, "_create_socket_connection", None)):
    raise ImportError(
        "paho-mqtt has no Client._create_socket_connection: TCP_NODELAY needs a new hook"
    )


class _NoDelayClient(mqtt.Client):
    """paho's client with Nagle's algorithm off on every socket it opens (reconnects too).

    An urgent reading is one small publish, and its ack one small packet: with Nagle on, each
    waits for the peer's delayed ACK (about 40 ms on Linux). Set here, on the TCP socket before
    the TLS handshake, rather than in on_socket_open, which the caller's event loop may need."""

    def _create_socket_connection(self) -> socket.socket:
        sock = super()._create_socket_connection()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


# paho's Properties.__init__ has no annotations; its signature, typed once here.
_new_properties: Callable[[int], Properties] = Properties


def session_properties() -> Properties:
    """CONNECT properties of every hub and centre session: the broker keeps the session (and
    what is queued for it) for SESSION_EXPIRY_S after a disconnect."""
    props = _new_properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    return props


def mqtt_client(client_id: str, context: ssl.SSLContext) -> mqtt.Client:
    """An MQTT v5 client over TLS (under 3.1.1 a refused publish would look like a success),
    without Nagle's delay."""
    from paho.mqtt.enums import CallbackAPIVersion

    client = _NoDelayClient(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set_context(context)
    return client
