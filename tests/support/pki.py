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
    key_usage_names: list[str] | None = None,
    extended_key_usage: list[x509.ObjectIdentifier] | None = None,
    organization: str | None = None,
) -> Issued:
    """A certificate signed by `issuer` (self-signed without one). KeyUsage: the usual flags
    for a CA or leaf, or exactly `key_usage_names` (ACM names) when given; none when
    `key_usage` is false. EKU (leaves only): server+client by default, none for []."""
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
    if key_usage and key_usage_names is not None:
        flags = {flag: False for flag in KEY_USAGE_FLAGS.values()}
        flags.update({KEY_USAGE_FLAGS[u]: True for u in key_usage_names})
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    elif key_usage:
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


# -- helpers added for the import/list/search/tag integration tests ---------------------------

# ACM's KeyUsage names (model enum, model order) and the cryptography KeyUsage flag for each.
KEY_USAGE_FLAGS = {
    "DIGITAL_SIGNATURE": "digital_signature",
    "NON_REPUDIATION": "content_commitment",
    "KEY_ENCIPHERMENT": "key_encipherment",
    "DATA_ENCIPHERMENT": "data_encipherment",
    "KEY_AGREEMENT": "key_agreement",
    "CERTIFICATE_SIGNING": "key_cert_sign",
    "CRL_SIGNING": "crl_sign",
    "ENCIPHER_ONLY": "encipher_only",
    "DECIPHER_ONLY": "decipher_only",
}


def issue_with_key_usages(
    common_name: str | None,
    usages: list[str] | None,
    *,
    sans: list[str] | None = None,
    key: PrivateKey | None = None,
    algorithm: str = "RSA_2048",
    extended_key_usage: list[x509.ObjectIdentifier] | None = None,
    organization: str | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A self-signed leaf whose KeyUsage extension holds exactly `usages` (ACM names);
    None leaves the extension out. EKU as in `issue` (None: server+client; []: none)."""
    return issue(
        common_name,
        sans=sans,
        key=key,
        algorithm=algorithm,
        not_before=not_before,
        not_after=not_after,
        key_usage=usages is not None,
        key_usage_names=usages,
        extended_key_usage=extended_key_usage,
        organization=organization,
    )


_CURVE_OIDS = {
    "secp256r1": "1.2.840.10045.3.1.7",
    "secp384r1": "1.3.132.0.34",
    "secp521r1": "1.3.132.0.35",
}


def _der_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return bytes([0x06, len(body)]) + bytes(body)


def ec_parameters_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The `-----BEGIN EC PARAMETERS-----` block `openssl ecparam -genkey` puts before the key."""
    import base64

    der = _der_oid(_CURVE_OIDS[key.curve.name])
    body = base64.b64encode(der).decode()
    return f"-----BEGIN EC PARAMETERS-----\n{body}\n-----END EC PARAMETERS-----\n".encode()


def acm_serial(certificate: x509.Certificate) -> str:
    """The serial as ACM shows it: lowercase hex bytes joined by colons ("10:0a")."""
    value = certificate.serial_number
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return ":".join(f"{byte:02x}" for byte in raw)
