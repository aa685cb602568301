"""The MQTT session every connection of the hub and the centre uses: MQTT v5 over TLS with
client certificates. Shared by both sides (the centre imports it), as are the topics
(hub/wire/topics.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import paho.mqtt.client as mqtt

from hub.keys import KeyFileError


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


def mqtt_client(client_id: str, context: ssl.SSLContext) -> mqtt.Client:
    """An MQTT v5 client over TLS (under 3.1.1 a refused publish would look like a success)."""
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set_context(context)
    return client
