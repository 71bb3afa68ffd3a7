"""Tests for openacm.domain.x509facts: ACM's view of a certificate and its import rules.

Every certificate here is built for real with pyca/cryptography (keys are generated once per
session and cached) so the checks run against genuine signatures, encodings and PEM framing.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
    ObjectIdentifier,
)

from openacm.domain import x509facts as xf
from openacm.domain.errors import ValidationError
from openacm.domain.x509facts import (
    CertificateFacts,
    DistinguishedName,
    certificate_facts,
    check_reimport,
    key_algorithm_api_name,
    parse_import,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2026, 1, 1, tzinfo=UTC)

SupportedKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
Digest = hashes.SHA224 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512


# --- Key and certificate factories -------------------------------------------------------------


@functools.cache
def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, bits)


def ec_key_for(curve: ec.EllipticCurve, which: int = 0) -> ec.EllipticCurvePrivateKey:
    """A cached key on `curve`; `which` lets a test ask for a second, different one."""
    return _ec_key_cached(curve.name, which)


@functools.cache
def _ec_key_cached(curve_name: str, which: int) -> ec.EllipticCurvePrivateKey:
    del which  # only part of the cache key
    curves: dict[str, ec.EllipticCurve] = {
        "secp256r1": ec.SECP256R1(),
        "secp384r1": ec.SECP384R1(),
        "secp521r1": ec.SECP521R1(),
        "secp256k1": ec.SECP256K1(),
    }
    return ec.generate_private_key(curves[curve_name])


def name(*pairs: tuple[ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def cn_name(common_name: str) -> x509.Name:
    return name((NameOID.COMMON_NAME, common_name))


EXAMPLE_SUBJECT = name(
    (NameOID.COUNTRY_NAME, "US"),
    (NameOID.STATE_OR_PROVINCE_NAME, "WA"),
    (NameOID.LOCALITY_NAME, "Seattle"),
    (NameOID.ORGANIZATION_NAME, "ExampleCompany"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "sales"),
    (NameOID.COMMON_NAME, "www.example.com"),
)


@dataclass
class Spec:
    """What to put in a test certificate; defaults give a valid self-signed RSA 2048 leaf."""

    key: SupportedKey | ed25519.Ed25519PrivateKey = field(default_factory=rsa_key)
    subject: x509.Name = field(default_factory=lambda: cn_name("www.example.com"))
    issuer: x509.Name | None = None  # None: self-issued
    issuer_key: CertificateIssuerPrivateKeyTypes | None = None  # None: self-signed
    serial: int = 0x100A
    not_before: datetime = NOT_BEFORE
    not_after: datetime = NOT_AFTER
    sans: Sequence[x509.GeneralName] | None = (x509.DNSName("www.example.com"),)
    key_usage: x509.KeyUsage | None = None
    eku: Sequence[ObjectIdentifier] | None = None
    ca: bool = False
    digest: Digest | None = field(default_factory=hashes.SHA256)
    rsa_padding: padding.PSS | padding.PKCS1v15 | None = None
    extensions: Sequence[x509.ExtensionType] = ()


def build(spec: Spec) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(spec.subject)
        .issuer_name(spec.issuer if spec.issuer is not None else spec.subject)
        .public_key(spec.key.public_key())
        .serial_number(spec.serial)
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
    )
    if spec.sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(spec.sans), critical=False)
    if spec.key_usage is not None:
        builder = builder.add_extension(spec.key_usage, critical=True)
    if spec.eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(spec.eku), critical=False)
    if spec.ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    for extension in spec.extensions:
        builder = builder.add_extension(extension, critical=False)
    signer = spec.issuer_key if spec.issuer_key is not None else spec.key
    return builder.sign(signer, spec.digest, rsa_padding=spec.rsa_padding)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(
    key: SupportedKey | ed25519.Ed25519PrivateKey,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
    encryption: serialization.KeySerializationEncryption | None = None,
) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, fmt, encryption or serialization.NoEncryption()
    )


def key_usage(**flags: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{n: flags.get(n, False) for n in names})


TLS_KEY_USAGE = key_usage(digital_signature=True, key_encipherment=True)
TLS_EKU = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)


@dataclass(frozen=True)
class Pki:
    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: rsa.RSAPrivateKey


@functools.cache
def pki() -> Pki:
    """root -> intermediate -> leaf, all RSA, as a public CA would issue them."""
    root_key, int_key, leaf_key = rsa_key(3072), rsa_key(4096), rsa_key(2048)
    root_name = name((NameOID.ORGANIZATION_NAME, "Example Trust"), (NameOID.COMMON_NAME, "Root"))
    int_name = name((NameOID.ORGANIZATION_NAME, "Example Trust"), (NameOID.COMMON_NAME, "CA 1"))
    root = build(Spec(key=root_key, subject=root_name, sans=None, ca=True, serial=1))
    intermediate = build(
        Spec(
            key=int_key,
            subject=int_name,
            issuer=root_name,
            issuer_key=root_key,
            sans=None,
            ca=True,
            serial=2,
        )
    )
    leaf = build(
        Spec(
            key=leaf_key,
            issuer=int_name,
            issuer_key=int_key,
            key_usage=TLS_KEY_USAGE,
            eku=TLS_EKU,
            serial=3,
        )
    )
    return Pki(root, intermediate, leaf, leaf_key)


def import_ok(
    cert: x509.Certificate,
    key: SupportedKey,
    chain: Sequence[x509.Certificate] = (),
    **kwargs: object,
) -> xf.ImportMaterial:
    chain_bytes = b"".join(pem(c) for c in chain) or None
    return parse_import(pem(cert), key_pem(key), chain_bytes, now=NOW, **kwargs)  # type: ignore[arg-type]


def import_error(
    certificate: bytes, private_key: bytes, chain: bytes | None = None, now: datetime = NOW
) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_import(certificate, private_key, chain, now=now)
    return caught.value.message


# --- Hand-built DER for a v1 certificate (cryptography's builder only makes v3) ----------------


def _read_tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, end) of the DER element at `pos`."""
    tag, length = buf[pos], buf[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(buf[start : start + count], "big")
        start += count
    return tag, start, start + length


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def make_v1_certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    """Strip the [0] version field from a v3 TBSCertificate and re-sign it."""
    der = build(Spec(key=key, sans=None)).public_bytes(serialization.Encoding.DER)
    _, body, _ = _read_tlv(der, 0)
    _, tbs_start, tbs_end = _read_tlv(der, body)
    _, _, alg_end = _read_tlv(der, tbs_end)
    version_tag, _, version_end = _read_tlv(der, tbs_start)
    assert version_tag == 0xA0
    tbs = _tlv(0x30, der[version_end:tbs_end])
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    cert_der = _tlv(0x30, tbs + der[tbs_end:alg_end] + _tlv(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(cert_der)


_SHA256_WITH_RSA = bytes.fromhex("2a864886f70d01010b")
_SHA1_WITH_RSA = bytes.fromhex("2a864886f70d010105")


def make_sha1_certificate(
    key: rsa.RSAPrivateKey, spec: Spec | None = None, signer: rsa.RSAPrivateKey | None = None
) -> x509.Certificate:
    """cryptography no longer signs certificates with SHA-1; swap the OID and re-sign by hand."""
    signer = signer or key
    spec = spec or Spec(key=key)
    der = build(replace(spec, issuer_key=signer)).public_bytes(serialization.Encoding.DER)
    der = der.replace(_SHA256_WITH_RSA, _SHA1_WITH_RSA)  # TBS and outer AlgorithmIdentifier
    _, body, _ = _read_tlv(der, 0)
    _, _, tbs_end = _read_tlv(der, body)
    _, _, alg_end = _read_tlv(der, tbs_end)
    tbs = der[body:tbs_end]
    signature = signer.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    cert_der = _tlv(0x30, tbs + der[tbs_end:alg_end] + _tlv(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(cert_der)


# --- Facts -------------------------------------------------------------------------------------


def test_facts_of_a_typical_tls_certificate() -> None:
    cert = build(
        Spec(
            subject=EXAMPLE_SUBJECT,
            sans=(x509.DNSName("www.example.com"), x509.DNSName("example.com")),
            key_usage=TLS_KEY_USAGE,
            eku=TLS_EKU,
        )
    )
    facts = certificate_facts(cert)
    assert facts.subject == "C=US, ST=WA, L=Seattle, O=ExampleCompany, OU=sales, CN=www.example.com"
    assert facts.issuer == "ExampleCompany"
    assert facts.serial == "10:0a"
    assert facts.domain_name == "www.example.com"
    assert facts.subject_alternative_names == ("www.example.com", "example.com")
    assert facts.general_names == ({"DnsName": "www.example.com"}, {"DnsName": "example.com"})
    assert facts.key_algorithm == "RSA_2048"
    assert facts.signature_algorithm == "SHA256WITHRSA"
    assert facts.key_usages == ("DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT")
    assert facts.extended_key_usages == (
        ("TLS_WEB_SERVER_AUTHENTICATION", "1.3.6.1.5.5.7.3.1"),
        ("TLS_WEB_CLIENT_AUTHENTICATION", "1.3.6.1.5.5.7.3.2"),
    )
    assert facts.has_key_usage_extension and facts.has_extended_key_usage_extension
    assert facts.version == 3
    assert facts.not_before == NOT_BEFORE and facts.not_before.tzinfo is not None
    assert facts.not_after == NOT_AFTER and facts.not_after.tzinfo is not None
    assert facts.subject_dn == DistinguishedName(
        common_name="www.example.com",
        country="US",
        state="WA",
        locality="Seattle",
        organization="ExampleCompany",
        organizational_unit="sales",
    )
    assert facts.issuer_dn == facts.subject_dn
    assert facts.has_domain_name


def test_subject_keeps_encoding_order_and_escapes_specials() -> None:
    subject = name(
        (NameOID.COMMON_NAME, "a.example.com"),
        (NameOID.ORGANIZATION_NAME, "Example, Inc."),
        (NameOID.EMAIL_ADDRESS, "admin@example.com"),
        (NameOID.COUNTRY_NAME, "DE"),
    )
    facts = certificate_facts(build(Spec(subject=subject)))
    assert facts.subject == (
        "CN=a.example.com, O=Example\\, Inc., EMAILADDRESS=admin@example.com, C=DE"
    )


def test_multi_valued_rdn_is_joined_with_plus() -> None:
    subject = x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ops"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "host.example.com"),
                ]
            ),
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "US")]),
        ]
    )
    facts = certificate_facts(build(Spec(subject=subject)))
    assert facts.subject in ("OU=ops+CN=host.example.com, C=US", "CN=host.example.com+OU=ops, C=US")


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (0x100A, "10:0a"),
        (0x077171F46BE7BF6387E6AD3CB20FD05B, "07:71:71:f4:6b:e7:bf:63:87:e6:ad:3c:b2:0f:d0:5b"),
        # high bit set: DER adds a 0x00 sign byte, ACM does not show it
        (0xF216AD85D842D18A3F33FACCC850A89E, "f2:16:ad:85:d8:42:d1:8a:3f:33:fa:cc:c8:50:a8:9e"),
        (1, "01"),
        (0xFF, "ff"),
        (0x0100, "01:00"),
    ],
)
def test_serial_is_lowercase_colon_hex_of_minimal_bytes(serial: int, expected: str) -> None:
    assert certificate_facts(build(Spec(serial=serial))).serial == expected


def test_serial_text_edge_values() -> None:
    assert xf._serial_text(0) == "00"
    assert xf._serial_text(-1) == "ff"
    assert xf._serial_text(-128) == "80"
    assert xf._serial_text(-129) == "ff:7f"


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        (
            name(
                (NameOID.COMMON_NAME, "Amazon RSA 2048 M01"), (NameOID.ORGANIZATION_NAME, "Amazon")
            ),
            "Amazon",
        ),
        (name((NameOID.COUNTRY_NAME, "US"), (NameOID.COMMON_NAME, "Lonely CA")), "Lonely CA"),
        (name((NameOID.COUNTRY_NAME, "US"), (NameOID.LOCALITY_NAME, "Seattle")), "C=US, L=Seattle"),
    ],
)
def test_issuer_is_organization_else_common_name_else_dn(issuer: x509.Name, expected: str) -> None:
    cert = build(Spec(issuer=issuer, issuer_key=rsa_key()))
    assert certificate_facts(cert).issuer == expected


def test_domain_name_falls_back_to_first_dns_san() -> None:
    subject = name((NameOID.ORGANIZATION_NAME, "No CN Ltd"))
    sans = (x509.IPAddress(ipaddress.ip_address("192.0.2.7")), x509.DNSName("b.example.com"))
    facts = certificate_facts(build(Spec(subject=subject, sans=sans)))
    assert facts.domain_name == "b.example.com"
    assert facts.subject_alternative_names == ("192.0.2.7", "b.example.com")


def test_ip_only_certificate_has_no_domain_name_but_lists_the_ips() -> None:
    sans = (
        x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
    )
    facts = certificate_facts(
        build(Spec(subject=name((NameOID.ORGANIZATION_NAME, "X")), sans=sans))
    )
    assert facts.domain_name is None
    assert facts.subject_alternative_names == ("192.0.2.1", "2001:db8::1")
    assert facts.general_names == ({"IpAddress": "192.0.2.1"}, {"IpAddress": "2001:db8::1"})
    assert facts.has_domain_name


def test_common_name_is_listed_when_there_is_no_san_extension() -> None:
    facts = certificate_facts(build(Spec(subject=cn_name("legacy.example.com"), sans=None)))
    assert facts.domain_name == "legacy.example.com"
    assert facts.subject_alternative_names == ("legacy.example.com",)
    assert facts.general_names == ()


def test_cn_not_repeated_in_names_when_san_extension_lists_others() -> None:
    sans = (x509.DNSName("other.example.com"),)
    facts = certificate_facts(build(Spec(subject=cn_name("cn.example.com"), sans=sans)))
    assert facts.domain_name == "cn.example.com"
    assert facts.subject_alternative_names == ("other.example.com",)


def test_certificate_without_any_name() -> None:
    subject = name((NameOID.ORGANIZATION_NAME, "Nameless"))
    facts = certificate_facts(build(Spec(subject=subject, sans=None)))
    assert facts.domain_name is None
    assert facts.subject_alternative_names == ()
    assert not facts.has_domain_name


def test_general_names_cover_every_union_member() -> None:
    upn = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
    sans = (
        x509.DNSName("a.example.com"),
        x509.IPAddress(ipaddress.ip_address("198.51.100.4")),
        x509.RFC822Name("ops@example.com"),
        x509.UniformResourceIdentifier("https://example.com/x"),
        x509.DirectoryName(name((NameOID.COUNTRY_NAME, "US"), (NameOID.COMMON_NAME, "dir"))),
        x509.RegisteredID(ObjectIdentifier("1.2.3.4")),
        x509.OtherName(upn, b"\x0c\x10user@example.com"),
        x509.OtherName(ObjectIdentifier("1.2.3.5"), b"\x30\x03\x02\x01\x05"),
    )
    facts = certificate_facts(build(Spec(sans=sans)))
    assert facts.general_names == (
        {"DnsName": "a.example.com"},
        {"IpAddress": "198.51.100.4"},
        {"Rfc822Name": "ops@example.com"},
        {"UniformResourceIdentifier": "https://example.com/x"},
        {"DirectoryName": {"CommonName": "dir", "Country": "US"}},
        {"RegisteredId": "1.2.3.4"},
        {"OtherName": {"ObjectIdentifier": "1.3.6.1.4.1.311.20.2.3", "Value": "user@example.com"}},
        {"OtherName": {"ObjectIdentifier": "1.2.3.5", "Value": "3003020105"}},
    )
    # only DNS names and IP addresses count as the certificate's names
    assert facts.subject_alternative_names == ("a.example.com", "198.51.100.4")


def test_distinguished_name_to_api_uses_model_members_and_omits_empty() -> None:
    subject = name(
        (NameOID.DOMAIN_COMPONENT, "com"),
        (NameOID.DOMAIN_COMPONENT, "example"),
        (NameOID.COUNTRY_NAME, "US"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "first"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "second"),
        (NameOID.EMAIL_ADDRESS, "a@example.com"),
        (NameOID.DN_QUALIFIER, "q"),
        (NameOID.GENERATION_QUALIFIER, "III"),
        (NameOID.GIVEN_NAME, "Ada"),
        (NameOID.INITIALS, "AL"),
        (NameOID.PSEUDONYM, "countess"),
        (NameOID.SERIAL_NUMBER, "42"),
        (NameOID.SURNAME, "Lovelace"),
        (NameOID.TITLE, "Dr"),
        (NameOID.COMMON_NAME, "ada.example.com"),
    )
    dn = certificate_facts(build(Spec(subject=subject))).subject_dn
    assert dn.to_api() == {
        "CommonName": "ada.example.com",
        "DomainComponents": ["com", "example"],
        "Country": "US",
        "CustomAttributes": [
            {"ObjectIdentifier": "2.5.4.11", "Value": "second"},
            {"ObjectIdentifier": "1.2.840.113549.1.9.1", "Value": "a@example.com"},
        ],
        "DistinguishedNameQualifier": "q",
        "GenerationQualifier": "III",
        "GivenName": "Ada",
        "Initials": "AL",
        "OrganizationalUnit": "first",
        "Pseudonym": "countess",
        "SerialNumber": "42",
        "Surname": "Lovelace",
        "Title": "Dr",
    }
    assert list(dn.to_api()) == [
        "CommonName",
        "DomainComponents",
        "Country",
        "CustomAttributes",
        "DistinguishedNameQualifier",
        "GenerationQualifier",
        "GivenName",
        "Initials",
        "OrganizationalUnit",
        "Pseudonym",
        "SerialNumber",
        "Surname",
        "Title",
    ]
    assert DistinguishedName().to_api() == {}


@pytest.mark.parametrize(
    ("key_factory", "expected"),
    [
        (lambda: rsa_key(1024), "RSA_1024"),
        (lambda: rsa_key(2048), "RSA_2048"),
        (lambda: rsa_key(3072), "RSA_3072"),
        (lambda: rsa_key(4096), "RSA_4096"),
        (lambda: ec_key_for(ec.SECP256R1()), "EC_prime256v1"),
        (lambda: ec_key_for(ec.SECP384R1()), "EC_secp384r1"),
        (lambda: ec_key_for(ec.SECP521R1()), "EC_secp521r1"),
    ],
)
def test_key_algorithm_names(key_factory: object, expected: str) -> None:
    key = key_factory()  # type: ignore[operator]
    assert key_algorithm_api_name(key.public_key()) == expected
    assert certificate_facts(build(Spec(key=key))).key_algorithm == expected


def test_unsupported_key_algorithms() -> None:
    refused: list[CertificatePublicKeyTypes] = [
        rsa_key(1536).public_key(),
        ec_key_for(ec.SECP256K1()).public_key(),
        ed25519.Ed25519PrivateKey.generate().public_key(),
    ]
    messages = []
    for public_key in refused:
        with pytest.raises(ValidationError) as caught:
            key_algorithm_api_name(public_key)
        messages.append(caught.value.message)
    assert messages == [
        "The private key length is not supported for key algorithm.",
        "The private key is not supported.",
        "The private key is not supported.",
    ]


@pytest.mark.parametrize(
    ("key_factory", "digest", "expected"),
    [
        (rsa_key, hashes.SHA256(), "SHA256WITHRSA"),
        (rsa_key, hashes.SHA384(), "SHA384WITHRSA"),
        (rsa_key, hashes.SHA512(), "SHA512WITHRSA"),
        (lambda: ec_key_for(ec.SECP256R1()), hashes.SHA256(), "SHA256WITHECDSA"),
        (lambda: ec_key_for(ec.SECP384R1()), hashes.SHA384(), "SHA384WITHECDSA"),
        (lambda: ec_key_for(ec.SECP521R1()), hashes.SHA512(), "SHA512WITHECDSA"),
    ],
)
def test_signature_algorithm_names(key_factory: object, digest: Digest, expected: str) -> None:
    cert = build(Spec(key=key_factory(), digest=digest))  # type: ignore[operator]
    assert certificate_facts(cert).signature_algorithm == expected


def test_sha1_signature_name() -> None:
    cert = make_sha1_certificate(rsa_key())
    assert xf._directly_issued(cert, cert)  # the hand re-signing produced a genuine signature
    assert certificate_facts(cert).signature_algorithm == "SHA1WITHRSA"


def test_rsa_pss_signature_name() -> None:
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    cert = build(Spec(rsa_padding=pss))
    assert certificate_facts(cert).signature_algorithm == "SHA256WITHRSAANDMGF1"


def test_certificate_signed_by_an_ed25519_ca() -> None:
    # A supported leaf key may still be signed by a CA key ACM would not import.
    ca_key = ed25519.Ed25519PrivateKey.generate()
    cert = build(Spec(issuer=cn_name("Ed CA"), issuer_key=ca_key, digest=None))
    assert certificate_facts(cert).signature_algorithm == "ED25519"


def test_key_usages_in_model_order() -> None:
    usage = key_usage(
        decipher_only=True,
        encipher_only=True,
        crl_sign=True,
        key_cert_sign=True,
        key_agreement=True,
        data_encipherment=True,
        key_encipherment=True,
        content_commitment=True,
        digital_signature=True,
    )
    facts = certificate_facts(build(Spec(key_usage=usage)))
    assert facts.key_usages == (
        "DIGITAL_SIGNATURE",
        "NON_REPUDIATION",
        "KEY_ENCIPHERMENT",
        "DATA_ENCIPHERMENT",
        "KEY_AGREEMENT",
        "CERTIFICATE_SIGNING",
        "CRL_SIGNING",
        "ENCIPHER_ONLY",
        "DECIPHER_ONLY",
    )


def test_extended_key_usages_known_any_and_custom_in_certificate_order() -> None:
    eku = (
        ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
        ExtendedKeyUsageOID.CODE_SIGNING,
        ObjectIdentifier("1.2.3.4.5"),
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.TIME_STAMPING,
        ExtendedKeyUsageOID.OCSP_SIGNING,
        ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
        ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    )
    facts = certificate_facts(build(Spec(eku=eku)))
    assert facts.extended_key_usages == (
        ("IPSEC_USER", "1.3.6.1.5.5.7.3.7"),
        ("CODE_SIGNING", "1.3.6.1.5.5.7.3.3"),
        ("CUSTOM", "1.2.3.4.5"),
        ("ANY", "2.5.29.37.0"),
        ("EMAIL_PROTECTION", "1.3.6.1.5.5.7.3.4"),
        ("TIME_STAMPING", "1.3.6.1.5.5.7.3.8"),
        ("OCSP_SIGNING", "1.3.6.1.5.5.7.3.9"),
        ("IPSEC_END_SYSTEM", "1.3.6.1.5.5.7.3.5"),
        ("IPSEC_TUNNEL", "1.3.6.1.5.5.7.3.6"),
    )


def test_absent_usage_extensions() -> None:
    facts = certificate_facts(build(Spec()))
    assert facts.key_usages == () and not facts.has_key_usage_extension
    assert facts.extended_key_usages == () and not facts.has_extended_key_usage_extension


# --- parse_import: accepted material -----------------------------------------------------------


def test_import_self_signed_rsa_pkcs1_key() -> None:
    key = rsa_key()
    cert = build(Spec(key=key, subject=EXAMPLE_SUBJECT))
    material = parse_import(
        pem(cert), key_pem(key, serialization.PrivateFormat.TraditionalOpenSSL), None, now=NOW
    )
    assert material.certificate == cert
    assert material.certificate_pem == pem(cert).decode()
    assert material.certificate_pem.endswith("-----END CERTIFICATE-----\n")
    assert material.chain == () and material.chain_pem is None
    assert material.private_key_pkcs8_der == key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert material.facts == certificate_facts(cert)


def test_import_pkcs8_key() -> None:
    key = rsa_key()
    material = import_ok(build(Spec(key=key)), key)
    assert serialization.load_der_private_key(material.private_key_pkcs8_der, None).public_key()


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_import_ec_sec1_key(curve: ec.EllipticCurve) -> None:
    key = ec_key_for(curve)
    cert = build(Spec(key=key))
    sec1 = key_pem(key, serialization.PrivateFormat.TraditionalOpenSSL)
    assert sec1.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    material = parse_import(pem(cert), sec1, None, now=NOW)
    assert material.facts.key_algorithm.startswith("EC_")


def test_import_ec_key_preceded_by_ec_parameters_block() -> None:
    key = ec_key_for(ec.SECP256R1())
    # what `openssl ecparam -name prime256v1 -genkey` writes: ECParameters namedCurve OID
    params = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    sec1 = key_pem(key, serialization.PrivateFormat.TraditionalOpenSSL)
    material = parse_import(pem(build(Spec(key=key))), params + sec1, None, now=NOW)
    assert material.facts.key_algorithm == "EC_prime256v1"


def test_import_normalises_pem_framing() -> None:
    key = rsa_key()
    cert = build(Spec(key=key))
    messy = b"Bag Attributes\n    friendlyName: x\n" + pem(cert).replace(b"\n", b"\r\n") + b"\n\n"
    messy_key = b"\xef\xbb\xbfsubject=CN=x\n" + key_pem(key).replace(b"\n", b"\r\n")
    material = parse_import(messy, messy_key, None, now=NOW)
    assert material.certificate_pem == pem(cert).decode()


def test_import_with_chain_intermediate_and_root() -> None:
    p = pki()
    material = import_ok(p.leaf, p.leaf_key, (p.intermediate, p.root))
    assert material.chain == (p.intermediate, p.root)
    assert material.chain_pem == (pem(p.intermediate) + pem(p.root)).decode()
    assert material.facts.issuer == "Example Trust"


def test_import_with_chain_without_root() -> None:
    p = pki()
    assert import_ok(p.leaf, p.leaf_key, (p.intermediate,)).chain == (p.intermediate,)


def test_empty_chain_is_no_chain() -> None:
    p = pki()
    material = parse_import(pem(p.leaf), key_pem(p.leaf_key), b"  \n", now=NOW)
    assert material.chain == () and material.chain_pem is None


def test_import_ip_only_and_nameless_certificates() -> None:
    key = rsa_key()
    ip_cert = build(
        Spec(
            key=key,
            subject=name((NameOID.ORGANIZATION_NAME, "Devices")),
            sans=(x509.IPAddress(ipaddress.ip_address("10.0.0.1")),),
        )
    )
    assert import_ok(ip_cert, key).facts.subject_alternative_names == ("10.0.0.1",)
    nameless = build(Spec(key=key, subject=name((NameOID.ORGANIZATION_NAME, "X")), sans=None))
    assert import_ok(nameless, key).facts.domain_name is None


def test_validity_bounds_are_inclusive() -> None:
    key = rsa_key()
    cert = build(Spec(key=key))
    assert import_ok(cert, key) is not None
    parse_import(pem(cert), key_pem(key), None, now=NOT_BEFORE)
    parse_import(pem(cert), key_pem(key), None, now=NOT_AFTER)


def test_naive_now_is_taken_as_utc() -> None:
    key = rsa_key()
    parse_import(pem(build(Spec(key=key))), key_pem(key), None, now=NOW.replace(tzinfo=None))


# --- parse_import: refused certificates --------------------------------------------------------


def test_der_certificate_is_refused() -> None:
    key = rsa_key()
    der = build(Spec(key=key)).public_bytes(serialization.Encoding.DER)
    assert import_error(der, key_pem(key)) == xf.CERTIFICATE_NOT_PEM


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"hello world",
        b"-----BEGIN CERTIFICATE-----\nnot base64!!\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nMIIB\n",  # cut short
    ],
)
def test_garbage_certificate_is_refused(garbage: bytes) -> None:
    assert import_error(garbage, key_pem(rsa_key())) == xf.CERTIFICATE_NOT_PEM


def test_certificate_field_with_two_certificates_is_refused() -> None:
    p = pki()
    message = import_error(pem(p.leaf) + pem(p.intermediate), key_pem(p.leaf_key))
    assert message == (
        "The certificate field contains more than one certificate. "
        "You can specify only one certificate in this field."
    )


def test_key_in_certificate_field_is_refused() -> None:
    key = rsa_key()
    assert import_error(pem(build(Spec(key=key))) + key_pem(key), key_pem(key)) == (
        xf.CERTIFICATE_NOT_PEM
    )


def test_v1_certificate_is_refused() -> None:
    key = rsa_key()
    cert = make_v1_certificate(key)
    assert cert.version == x509.Version.v1
    assert certificate_facts(cert).version == 1
    assert import_error(pem(cert), key_pem(key)) == xf.CERTIFICATE_NOT_V3


def test_empty_issuer_is_refused() -> None:
    key = rsa_key()
    cert = build(Spec(key=key, issuer=x509.Name([]), issuer_key=key))
    assert import_error(pem(cert), key_pem(key)) == xf.ISSUER_EMPTY


def test_unsupported_certificate_keys_are_refused() -> None:
    rsa_1536 = rsa_key(1536)
    message = import_error(pem(build(Spec(key=rsa_1536))), key_pem(rsa_1536))
    assert message == "The private key length is not supported for key algorithm."
    k1 = ec_key_for(ec.SECP256K1())
    assert import_error(pem(build(Spec(key=k1))), key_pem(k1)) == xf.PRIVATE_KEY_UNSUPPORTED
    ed = ed25519.Ed25519PrivateKey.generate()
    cert = build(Spec(key=ed, digest=None))
    assert import_error(pem(cert), key_pem(ed)) == xf.PRIVATE_KEY_UNSUPPORTED


def test_long_ocsp_url_is_refused_and_1000_is_fine() -> None:
    key = rsa_key()

    def with_ocsp(url: str) -> x509.Certificate:
        aia = x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url)
                )
            ]
        )
        return build(Spec(key=key, extensions=(aia,)))

    base = "http://ocsp.example.com/"
    assert import_ok(with_ocsp(base + "a" * (1000 - len(base))), key)
    message = import_error(pem(with_ocsp(base + "a" * (1001 - len(base)))), key_pem(key))
    assert message == xf.OCSP_URL_TOO_LONG


def test_expired_certificate_is_refused() -> None:
    key = rsa_key()
    cert = build(Spec(key=key, not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(1)))
    message = import_error(pem(cert), key_pem(key))
    assert message.startswith("The certificate has expired.")
    assert _iso_day(NOW - timedelta(days=1)) in message


def test_not_yet_valid_certificate_is_refused() -> None:
    key = rsa_key()
    cert = build(Spec(key=key, not_before=NOW + timedelta(1), not_after=NOW + timedelta(days=90)))
    message = import_error(pem(cert), key_pem(key))
    assert message.startswith("The certificate is not valid yet.")
    assert _iso_day(NOW + timedelta(days=1)) in message


def _iso_day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- parse_import: refused keys ----------------------------------------------------------------


def test_der_key_is_refused() -> None:
    key = rsa_key()
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert import_error(pem(build(Spec(key=key))), der) == xf.PRIVATE_KEY_UNSUPPORTED


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not a key",
        b"-----BEGIN PRIVATE KEY-----\naGVsbG8=\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN PUBLIC KEY-----\naGVsbG8=\n-----END PUBLIC KEY-----\n",
    ],
)
def test_garbage_key_is_refused(garbage: bytes) -> None:
    assert import_error(pem(build(Spec())), garbage) == xf.PRIVATE_KEY_UNSUPPORTED


def test_encrypted_pkcs8_key_is_refused() -> None:
    key = rsa_key()
    encrypted = key_pem(
        key, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    message = import_error(pem(build(Spec(key=key))), encrypted)
    assert message == "Your private key should not be encrypted."


def test_traditional_encrypted_pem_key_is_refused() -> None:
    key = rsa_key()
    encrypted = key_pem(
        key,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"pw"),
    )
    assert b"Proc-Type: 4,ENCRYPTED" in encrypted
    assert import_error(pem(build(Spec(key=key))), encrypted) == xf.PRIVATE_KEY_ENCRYPTED


def test_encrypted_pkcs8_body_under_plain_label_is_refused() -> None:
    key = rsa_key()
    encrypted = key_pem(
        key, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    ).replace(b"ENCRYPTED PRIVATE KEY", b"PRIVATE KEY")
    assert import_error(pem(build(Spec(key=key))), encrypted) == xf.PRIVATE_KEY_ENCRYPTED


def test_oversized_key_blob_is_refused() -> None:
    key = rsa_key()
    cert = pem(build(Spec(key=key)))
    padded = key_pem(key) + b"\n" * (5121 - len(key_pem(key)))
    assert len(padded) == 5121
    message = import_error(cert, padded)
    assert message == "The private key must be no larger than 5120 bytes."
    assert parse_import(cert, padded[:5120], None, now=NOW)
    with pytest.raises(ValidationError) as caught:
        parse_import(cert, key_pem(key), None, now=NOW, max_private_key_bytes=100)
    assert caught.value.message == "The private key must be no larger than 100 bytes."


def test_two_keys_are_refused() -> None:
    key = rsa_key()
    two = key_pem(key) + key_pem(rsa_key(1024))
    assert import_error(pem(build(Spec(key=key))), two) == xf.PRIVATE_KEY_MULTIPLE


def test_ed25519_key_is_refused() -> None:
    # The certificate is fine; the key field holds a key ACM does not take.
    message = import_error(pem(build(Spec())), key_pem(ed25519.Ed25519PrivateKey.generate()))
    assert message == xf.PRIVATE_KEY_UNSUPPORTED


@pytest.mark.parametrize(
    ("cert_key", "other_key"),
    [
        (lambda: rsa_key(2048), lambda: rsa_key(3072)),
        (lambda: rsa_key(2048), lambda: ec_key_for(ec.SECP256R1())),
        (lambda: ec_key_for(ec.SECP256R1()), lambda: ec_key_for(ec.SECP256R1(), 1)),
    ],
)
def test_mismatched_key_is_refused(cert_key: object, other_key: object) -> None:
    cert = build(Spec(key=cert_key()))  # type: ignore[operator]
    message = import_error(pem(cert), key_pem(other_key()))  # type: ignore[operator]
    assert message == "The private key does not match the public key in the certificate."


# --- parse_import: refused chains --------------------------------------------------------------


def _chain(*certs: x509.Certificate) -> bytes:
    return b"".join(pem(c) for c in certs)


def test_chain_containing_the_leaf_is_refused() -> None:
    p = pki()
    message = import_error(pem(p.leaf), key_pem(p.leaf_key), _chain(p.leaf, p.intermediate))
    assert message == xf.CHAIN_CONTAINS_LEAF
    message = import_error(pem(p.leaf), key_pem(p.leaf_key), _chain(p.intermediate, p.leaf))
    assert message == xf.CHAIN_CONTAINS_LEAF


def test_reversed_chain_is_refused() -> None:
    p = pki()
    message = import_error(pem(p.leaf), key_pem(p.leaf_key), _chain(p.root, p.intermediate))
    assert message == "Could not validate the certificate with the certificate chain."


def test_chain_missing_the_intermediate_is_refused() -> None:
    p = pki()
    message = import_error(pem(p.leaf), key_pem(p.leaf_key), _chain(p.root))
    assert message == xf.CHAIN_NOT_ISSUER


def test_chain_link_out_of_order_reports_its_index() -> None:
    p = pki()
    stranger = build(Spec(key=rsa_key(1024), subject=cn_name("Stranger CA"), sans=None, ca=True))
    message = import_error(
        pem(p.leaf), key_pem(p.leaf_key), _chain(p.intermediate, p.root, stranger)
    )
    assert message == (
        "Unable to validate certificate chain. The certificate chain must start with the "
        "immediate signing certificate, followed by any intermediaries in order. The index "
        "within the chain of the invalid certificate is: 2"
    )
    message = import_error(pem(p.leaf), key_pem(p.leaf_key), _chain(p.intermediate, stranger))
    assert message.endswith("The index within the chain of the invalid certificate is: 1")


def test_chain_issuer_name_match_is_not_enough() -> None:
    # Same subject name as the real intermediate, different key: the signature must verify.
    p = pki()
    impostor = build(
        Spec(key=rsa_key(1024), subject=p.intermediate.subject, sans=None, ca=True, serial=9)
    )
    message = import_error(pem(p.leaf), key_pem(p.leaf_key), _chain(impostor))
    assert message == xf.CHAIN_NOT_ISSUER


def test_chain_link_signed_with_sha1_is_accepted_and_still_verified() -> None:
    # cryptography refuses to verify SHA-1 certificate signatures; ACM takes them.
    p = pki()
    int_key = rsa_key(4096)
    leaf_spec = Spec(key=p.leaf_key, issuer=p.intermediate.subject, serial=11)
    leaf = make_sha1_certificate(p.leaf_key, leaf_spec, signer=int_key)
    material = import_ok(leaf, p.leaf_key, (p.intermediate, p.root))
    assert material.facts.signature_algorithm == "SHA1WITHRSA"
    forged = make_sha1_certificate(p.leaf_key, leaf_spec, signer=rsa_key(1024))
    message = import_error(pem(forged), key_pem(p.leaf_key), _chain(p.intermediate))
    assert message == xf.CHAIN_NOT_ISSUER


@pytest.mark.parametrize(
    "chain",
    [
        b"garbage",
        b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        b"-----BEGIN PRIVATE KEY-----\naGVsbG8=\n-----END PRIVATE KEY-----\n",
    ],
)
def test_garbage_chain_is_refused(chain: bytes) -> None:
    p = pki()
    assert import_error(pem(p.leaf), key_pem(p.leaf_key), chain) == xf.CHAIN_NOT_PEM


def test_der_chain_is_refused() -> None:
    p = pki()
    der = p.intermediate.public_bytes(serialization.Encoding.DER)
    assert import_error(pem(p.leaf), key_pem(p.leaf_key), der) == xf.CHAIN_NOT_PEM


# --- check_reimport ----------------------------------------------------------------------------


def facts_for(spec: Spec) -> CertificateFacts:
    return certificate_facts(build(spec))


def reimport_error(original: CertificateFacts, replacement: CertificateFacts) -> str:
    with pytest.raises(ValidationError) as caught:
        check_reimport(original, replacement)
    return caught.value.message


def test_reimport_of_same_shape_is_allowed() -> None:
    original = facts_for(Spec(key_usage=TLS_KEY_USAGE, eku=TLS_EKU))
    renewed = facts_for(Spec(key=rsa_key(2048), key_usage=TLS_KEY_USAGE, eku=TLS_EKU, serial=7))
    check_reimport(original, renewed)


@pytest.mark.parametrize(
    ("original_key", "new_key", "message"),
    [
        (
            lambda: ec_key_for(ec.SECP384R1()),
            lambda: ec_key_for(ec.SECP256R1()),
            "New certificate has a key of EC_prime256v1 which is different from EC_secp384r1 "
            "in the current certificate.",
        ),
        (
            lambda: rsa_key(2048),
            lambda: rsa_key(4096),
            "New certificate has a key of RSA_4096 which is different from RSA_2048 "
            "in the current certificate.",
        ),
        (
            lambda: rsa_key(2048),
            lambda: ec_key_for(ec.SECP256R1()),
            "New certificate has a key of EC_prime256v1 which is different from RSA_2048 "
            "in the current certificate.",
        ),
    ],
)
def test_reimport_key_algorithm_must_not_change(
    original_key: object, new_key: object, message: str
) -> None:
    original = facts_for(Spec(key=original_key()))  # type: ignore[operator]
    replacement = facts_for(Spec(key=new_key()))  # type: ignore[operator]
    assert reimport_error(original, replacement) == message


def test_reimport_may_add_key_usages_but_not_drop_them() -> None:
    original = facts_for(Spec(key_usage=TLS_KEY_USAGE))
    more = key_usage(digital_signature=True, key_encipherment=True, content_commitment=True)
    check_reimport(original, facts_for(Spec(key_usage=more)))
    fewer = key_usage(digital_signature=True)
    assert reimport_error(original, facts_for(Spec(key_usage=fewer))) == (
        "New certificate is missing one or more Key Usages supported by the currently "
        "imported certificate"
    )
    assert reimport_error(original, facts_for(Spec())) == xf.REIMPORT_KEY_USAGES_MISSING


def test_reimport_may_not_add_key_usage_extension() -> None:
    original = facts_for(Spec())
    replacement = facts_for(Spec(key_usage=TLS_KEY_USAGE))
    assert reimport_error(original, replacement) == xf.REIMPORT_KEY_USAGES_ADDED


def test_reimport_may_add_extended_key_usages_but_not_drop_them() -> None:
    original = facts_for(Spec(eku=(ExtendedKeyUsageOID.SERVER_AUTH,)))
    check_reimport(original, facts_for(Spec(eku=TLS_EKU)))
    custom = (ExtendedKeyUsageOID.SERVER_AUTH, ObjectIdentifier("1.2.3.4"))
    check_reimport(original, facts_for(Spec(eku=custom)))
    client_only = (ExtendedKeyUsageOID.CLIENT_AUTH,)
    assert reimport_error(original, facts_for(Spec(eku=client_only))) == (
        "New certificate is missing one or more Extended Key Usages supported by the "
        "currently imported certificate"
    )
    assert reimport_error(original, facts_for(Spec())) == xf.REIMPORT_EXTENDED_KEY_USAGES_MISSING


def test_reimport_custom_extended_key_usages_compare_by_oid() -> None:
    original = facts_for(Spec(eku=(ObjectIdentifier("1.2.3.4"),)))
    other_custom = facts_for(Spec(eku=(ObjectIdentifier("1.2.3.5"),)))
    assert reimport_error(original, other_custom) == xf.REIMPORT_EXTENDED_KEY_USAGES_MISSING


def test_reimport_may_not_add_extended_key_usage_extension() -> None:
    original = facts_for(Spec())
    replacement = facts_for(Spec(eku=TLS_EKU))
    assert reimport_error(original, replacement) == xf.REIMPORT_EXTENDED_KEY_USAGES_ADDED


def test_reimport_may_change_names_but_not_remove_all() -> None:
    original = facts_for(Spec())
    renamed = facts_for(
        Spec(subject=cn_name("new.example.com"), sans=(x509.DNSName("new.example.com"),))
    )
    check_reimport(original, renamed)
    ip_only = facts_for(
        Spec(
            subject=name((NameOID.ORGANIZATION_NAME, "X")),
            sans=(x509.IPAddress(ipaddress.ip_address("192.0.2.9")),),
        )
    )
    check_reimport(original, ip_only)
    nameless = facts_for(Spec(subject=name((NameOID.ORGANIZATION_NAME, "X")), sans=None))
    assert reimport_error(original, nameless) == xf.REIMPORT_NO_DOMAIN
    # a certificate that never had a name may be replaced by another nameless one
    check_reimport(nameless, nameless)


def test_reimport_checks_facts_not_certificates() -> None:
    # check_reimport works on stored facts alone (the original's X.509 need not be parsed again)
    original = facts_for(Spec(key_usage=TLS_KEY_USAGE))
    tampered = replace(original, key_usages=("DIGITAL_SIGNATURE",))
    assert reimport_error(original, tampered) == xf.REIMPORT_KEY_USAGES_MISSING


@pytest.mark.parametrize("corrupt", ["d", "dmp1", "dmq1", "iqmp"])
def test_rsa_key_with_inconsistent_numbers_is_refused(corrupt: str) -> None:
    """The modulus matches the certificate but a private value is wrong: OpenSSL would repair
    some of these silently when signing, so the import must catch them itself."""
    key = rsa_key(2048)
    numbers = key.private_numbers()
    values = {
        "p": numbers.p,
        "q": numbers.q,
        "d": numbers.d,
        "dmp1": numbers.dmp1,
        "dmq1": numbers.dmq1,
        "iqmp": numbers.iqmp,
    }
    values[corrupt] += 2
    broken = rsa.RSAPrivateNumbers(**values, public_numbers=numbers.public_numbers).private_key(
        unsafe_skip_rsa_key_validation=True
    )
    cert = pem(build(Spec(key=key)))
    assert import_error(cert, key_pem(broken)) == xf.PRIVATE_KEY_UNSUPPORTED
    assert parse_import(cert, key_pem(key), None, now=NOW).facts.key_algorithm == "RSA_2048"
