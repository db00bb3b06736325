"""A development certificate authority and server certificate for `setpoint up --tls`.

`make_dev_tls(directory, hosts)` writes `ca.pem`, `ca.key`, `server.pem` and `server.key`
(keys owner-only) unless they exist, and returns their paths. The server certificate names
`localhost`, `127.0.0.1`, `::1` and `hosts` (for server and client use: the nodes of a
local cluster present it to each other on their routes); clients trust it by trusting `ca.pem`
(`nats.tls_ca`). For development only: production brings its own certificates
(`nats.tls_cert`, `nats.tls_key`, `nats.tls_ca`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from setpoint.ops.private import write_private

VALID_DAYS: Final = 825
LOCAL_NAMES: Final = ("localhost", "127.0.0.1", "::1")
USAGES: Final = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
"""The server certificate serves clients and, in a cluster, the routes both ways."""


@dataclass(frozen=True)
class DevTls:
    ca: Path
    cert: Path
    key: Path


def make_dev_tls(directory: Path, hosts: Iterable[str] = ()) -> DevTls:
    """The development CA and server certificate in `directory` (module docstring)."""
    found = DevTls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    present = found.ca.is_file() and found.cert.is_file() and found.key.is_file()
    if present and _serves_routes(found.cert):
        return found
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Setpoint development CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "setpoint nats-server")])
    cert = (
        _builder(name, ca_name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(USAGES), critical=False)
        .add_extension(x509.SubjectAlternativeName(_names((*LOCAL_NAMES, *hosts))), False)
        .sign(ca_key, hashes.SHA256())
    )
    write_private(directory / "ca.key", _pem_key(ca_key))
    write_private(found.key, _pem_key(key))
    write_private(found.ca, ca.public_bytes(serialization.Encoding.PEM).decode())
    write_private(found.cert, cert.public_bytes(serialization.Encoding.PEM).decode())
    return found


def _serves_routes(cert: Path) -> bool:
    """The certificate may also be presented as a client (the routes between the nodes of
    a cluster); one made before that was needed is made again, with a new CA."""
    found = x509.load_pem_x509_certificate(cert.read_bytes())
    try:
        usage = found.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return all(oid in usage for oid in USAGES)


def _builder(
    subject: x509.Name, issuer: x509.Name, public: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=not cert_sign,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
        crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
