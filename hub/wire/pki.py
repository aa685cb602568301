"""Certificates for MQTT over TLS, issued by the centre's CA: one client certificate per hub.

The certificate's common name is the identity the broker uses as the MQTT user name (and so
the client id), which is what confines a hub to its own topics. Keys are ECDSA P-256: every
TLS stack on a Raspberry Pi and in Mosquitto handles them, at TLS 1.2 as well as 1.3.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.errors import HubError

CA_YEARS = 20
LEAF_YEARS = 10  # a hub lives about five years in the field; reissue on reuse
# The broker refuses every client once its CRL is past its next update (OpenSSL's CRL check), and
# the CRL is a local file the centre rewrites on each change: it is valid as long as a leaf.
CRL_YEARS = LEAF_YEARS


class CertificateError(HubError, ValueError):
    """A certificate or key that does not fit, with what to do about it."""


@dataclass(frozen=True)
class Identity:
    """A PEM certificate and its PEM private key."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def common_name(self) -> str:
        return common_name(self.cert)


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def new_ca(name: str, now: datetime | None = None) -> Identity:
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Identity(cert.public_bytes(Encoding.PEM), _pem_key(key))


def issue(
    ca: Identity,
    cn: str,
    *,
    server_names: tuple[str, ...] = (),
    now: datetime | None = None,
) -> Identity:
    """A new key and a certificate for it: a client certificate, or a server certificate when
    `server_names` (host names or IP addresses the broker is reached by) are given."""
    now = now or datetime.now(UTC)
    ca_key = load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertificateError("the centre CA key is not an ECDSA key")
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * LEAF_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if server_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in server_names]), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return Identity(cert.public_bytes(Encoding.PEM), _pem_key(key))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def check_identity(identity: Identity, ca_cert_pem: bytes, expected_cn: str) -> None:
    """Raise CertificateError unless the certificate is issued by the CA, names `expected_cn`,
    and belongs to the private key."""
    try:
        cert = identity.cert
        ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
        key = load_pem_private_key(identity.key_pem, password=None)
    except ValueError as exc:
        raise CertificateError(f"certificate or key cannot be read: {exc}") from exc
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise CertificateError("the client certificate is not issued by the centre's CA") from exc
    if common_name(cert) != expected_cn:
        raise CertificateError(
            f"the client certificate names {common_name(cert)!r}, not this hub {expected_cn!r}"
        )
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CertificateError("the client key does not belong to the client certificate")


def serial_text(cert: x509.Certificate) -> str:
    """A certificate's serial as upper-case hex, as `openssl x509 -serial` prints it."""
    return f"{cert.serial_number:X}"


@dataclass(frozen=True)
class Revoked:
    """A certificate on the revocation list: its serial (hex) and when it was revoked."""

    serial: str
    revoked_at: datetime


def revocation_list(ca: Identity, revoked: Iterable[Revoked], now: datetime | None = None) -> bytes:
    """The CA's certificate revocation list (PEM), signed by the CA, naming `revoked`; an empty
    list is a valid CRL too (the broker needs one to check against)."""
    now = now or datetime.now(UTC)
    ca_key = load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertificateError("the centre CA key is not an ECDSA key")
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + timedelta(days=365 * CRL_YEARS))
        # Increases with every list written, so a newer list is recognisable.
        .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(entry.serial, 16))
            .revocation_date(entry.revoked_at)
            .build()
        )
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(Encoding.PEM)
