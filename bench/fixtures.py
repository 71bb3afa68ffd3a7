"""Benchmark fixture data: N distinct leaf certificates signed by one throw-away CA.

Key generation dominates the cost of making certificates, so every leaf shares ONE
RSA-2048 key pair; only the names and serials differ. The result is cached as JSON so
reruns skip the signing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bench.progress import Progress

CACHE_FORMAT = 1
DOMAIN = "bench.example.com"
_VALID_BEFORE = dt.timedelta(days=1)
_VALID_AFTER = dt.timedelta(days=300)
# Reuse a cache only while its certificates still have most of their life ahead.
_MAX_CACHE_AGE = dt.timedelta(days=30)


@dataclass(frozen=True)
class Fixtures:
    """PEM bytes ready for ImportCertificate."""

    private_key: bytes
    chain: bytes
    certificates: tuple[bytes, ...]


def leaf_name(index: int) -> str:
    return f"host-{index:05d}.{DOMAIN}"


def load_or_create(cache_dir: Path, count: int) -> Fixtures:
    """Returns `count` certificates, from the cache when it holds enough fresh ones."""
    path = cache_dir / "fixtures.json"
    cached = _read_cache(path)
    if cached is not None and len(cached.certificates) >= count:
        return Fixtures(cached.private_key, cached.chain, cached.certificates[:count])
    fixtures = _generate(count)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _write_cache(path, fixtures)
    return fixtures


def _read_cache(path: Path) -> Fixtures | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("format") != CACHE_FORMAT:
        return None
    created = dt.datetime.fromisoformat(data["created"])
    if _now() - created > _MAX_CACHE_AGE:
        return None
    return Fixtures(
        private_key=data["private_key"].encode(),
        chain=data["chain"].encode(),
        certificates=tuple(pem.encode() for pem in data["certificates"]),
    )


def _write_cache(path: Path, fixtures: Fixtures) -> None:
    data = {
        "format": CACHE_FORMAT,
        "created": _now().isoformat(),
        "private_key": fixtures.private_key.decode(),
        "chain": fixtures.chain.decode(),
        "certificates": [pem.decode() for pem in fixtures.certificates],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def _generate(count: int) -> Fixtures:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_cert = _ca_certificate(ca_key)
    with Progress("signing certificates", count) as progress:
        leaves = []
        for index in range(1, count + 1):
            leaves.append(_leaf_certificate(index, leaf_key, ca_key, ca_cert))
            progress.advance()
    return Fixtures(
        private_key=leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        chain=ca_cert.public_bytes(serialization.Encoding.PEM),
        certificates=tuple(leaves),
    )


def _ca_certificate(ca_key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openacm bench CA")])
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _VALID_BEFORE)
        .not_valid_after(now + _VALID_AFTER + _VALID_BEFORE)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )


def _leaf_certificate(
    index: int,
    leaf_key: rsa.RSAPrivateKey,
    ca_key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
) -> bytes:
    host = leaf_name(index)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _VALID_BEFORE)
        .not_valid_after(now + _VALID_AFTER)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(host), x509.DNSName(f"www.{host}")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
