"""Real keys and certificates for tests, built with pyca/cryptography."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_CURVES = {
    "EC_prime256v1": ec.SECP256R1,
    "EC_secp384r1": ec.SECP384R1,
    "EC_secp521r1": ec.SECP521R1,
}
_KEY_CACHE: dict[str, PrivateKey] = {}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def new_key(algorithm: str = "RSA_2048") -> PrivateKey:
    if algorithm.startswith("RSA_"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm[4:]))
    return ec.generate_private_key(_CURVES[algorithm]())


def shared_key(algorithm: str = "RSA_2048") -> PrivateKey:
    """One key per algorithm for the whole run: RSA generation is slow, and most tests only
    need *a* key of the right type."""
    if algorithm not in _KEY_CACHE:
        _KEY_CACHE[algorithm] = new_key(algorithm)
    return _KEY_CACHE[algorithm]


def name(common_name: str | None, organization: str | None = None) -> x509.Name:
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if common_name:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


@dataclass
class Issued:
    certificate: x509.Certificate
    key: PrivateKey
    chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)

    @property
    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def import_args(self, **extra: Any) -> dict[str, Any]:
        args: dict[str, Any] = {"Certificate": self.cert_pem, "PrivateKey": self.key_pem}
        if self.chain:
            args["CertificateChain"] = self.chain_pem
        args.update(extra)
        return args


def key_pem(key: PrivateKey, fmt: str = "pkcs8") -> bytes:
    formats = {
        "pkcs8": serialization.PrivateFormat.PKCS8,
        "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
    }
    return key.private_bytes(serialization.Encoding.PEM, formats[fmt], serialization.NoEncryption())


def issue(
    common_name: str | None = "www.example.com",
    *,
    sans: list[str] | None = None,
    ips: list[str] | None = None,
    key: PrivateKey | None = None,
    algorithm: str = "RSA_2048",
    issuer: Issued | None = None,
    is_ca: bool = False,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_usage: bool = True,
    extended_key_usage: list[x509.ObjectIdentifier] | None = None,
    organization: str | None = None,
) -> Issued:
    key = key or shared_key(algorithm)
    subject = name(common_name, organization)
    start = not_before or now() - dt.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(not_after or start + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    general: list[x509.GeneralName] = [x509.DNSName(n) for n in (sans or [])]
    general += [x509.IPAddress(ipaddress.ip_address(a)) for a in (ips or [])]
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    if key_usage:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not is_ca and isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if not is_ca:
        usages = extended_key_usage
        if usages is None:
            usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    signer = issuer.key if issuer else key
    certificate = builder.sign(signer, hashes.SHA256())
    chain = [issuer.certificate, *issuer.chain] if issuer else []
    return Issued(certificate, key, chain)


def ca_hierarchy() -> tuple[Issued, Issued]:
    """A root and an intermediate under it."""
    root = issue(
        "Test Root CA", is_ca=True, organization="openacm tests", key=shared_key("EC_secp384r1")
    )
    intermediate = issue(
        "Test Intermediate CA",
        is_ca=True,
        organization="openacm tests",
        issuer=root,
        key=shared_key("EC_prime256v1"),
    )
    return root, intermediate
