"""Tests for openacm.adapters.ca.private_issuance: IssueCertificate's certificate builder.

Two real hierarchies (RSA-3072 and P-384 CA keys), each made with the builder itself: a root
from RootCACertificate/V1 over the CA's own CSR, a subordinate from
SubordinateCACertificate_PathLen0/V1. Every certificate built here is signed by a CA key, must
have no ERROR or FATAL finding from pkilint's RFC 5280 linter, and the end-entity and
subordinate ones must pass `openssl verify` against their chain.
"""

from __future__ import annotations

import base64
import ipaddress
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
    ObjectIdentifier,
)

from openacm.adapters.ca.private_issuance import (
    ASN1_SUBJECT_ATTRIBUTES,
    EXTENDED_KEY_USAGE_TYPES,
    PrivateCertificateRequest,
    RevocationUrls,
    build_private_certificate,
    ca_validity_limits,
    pkix_findings,
)
from openacm.adapters.ca.signer import CaPrivateKey, SoftwareSigner
from openacm.domain.errors import ApiError, InvalidArgsError, MalformedCSRError
from openacm.domain.issuance import new_serial_number
from openacm.domain.pca_templates import TEMPLATES, CertificateTemplate, template_arn
from openacm.domain.pca_validity import ValidityWindow

NOW = datetime.now(UTC).replace(microsecond=0)
CA_WINDOW = ValidityWindow(NOW - timedelta(hours=1), NOW + timedelta(days=3650))
SUB_WINDOW = ValidityWindow(NOW - timedelta(hours=1), NOW + timedelta(days=1825))
LEAF_WINDOW = ValidityWindow(NOW - timedelta(hours=1), NOW + timedelta(days=30))
URLS = RevocationUrls(crl_url="http://pki.example.com/crl/ca.crl", ocsp_url="http://ocsp.example")
NO_URLS = RevocationUrls()
MODEL = botocore.loaders.Loader().load_service_model("acm-pca", "service-2")

SubjectKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | mldsa.MLDSA65PrivateKey


# --- Hierarchy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ca:
    certificate: x509.Certificate
    key: CaPrivateKey

    def sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return SoftwareSigner(self.key).sign_certificate(builder)


@dataclass(frozen=True)
class Hierarchy:
    root: Ca
    subordinate: Ca  # PathLen0


def csr_pem(
    key: SubjectKey,
    subject: x509.Name | None = None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        subject if subject is not None else cn("leaf.example")
    )
    for value, critical in extensions:
        builder = builder.add_extension(value, critical=critical)
    algorithm = None if isinstance(key, mldsa.MLDSA65PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


def cn(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def build(
    template_name: str,
    csr: bytes,
    issuer: x509.Certificate | None,
    *,
    api: Mapping[str, Any] | None = None,
    window: ValidityWindow = LEAF_WINDOW,
    revocation: RevocationUrls = URLS,
) -> x509.CertificateBuilder:
    request = PrivateCertificateRequest(
        csr=csr, validity=window, template_arn=template_arn(template_name), api_passthrough=api
    )
    return build_private_certificate(
        request, issuer=issuer, serial_number=new_serial_number(), revocation=revocation
    )


def make_root(key: CaPrivateKey, template_name: str = "RootCACertificate/V1") -> Ca:
    builder = build(template_name, csr_pem(key, cn("Test Root")), None, window=CA_WINDOW)
    return Ca(SoftwareSigner(key).sign_certificate(builder), key)


def make_hierarchy(family: str) -> Hierarchy:
    root_key: CaPrivateKey
    sub_key: CaPrivateKey
    if family == "rsa":
        root_key, sub_key = (
            rsa.generate_private_key(65537, 3072),
            rsa.generate_private_key(65537, 3072),
        )
    else:
        root_key, sub_key = (
            ec.generate_private_key(ec.SECP384R1()),
            ec.generate_private_key(ec.SECP384R1()),
        )
    root = make_root(root_key)
    sub_csr = csr_pem(sub_key, cn("Test Issuing CA"))
    sub_builder = build(
        "SubordinateCACertificate_PathLen0/V1", sub_csr, root.certificate, window=SUB_WINDOW
    )
    return Hierarchy(root, Ca(root.sign(sub_builder), sub_key))


@pytest.fixture(scope="module", params=["rsa", "ec"])
def hierarchy(request: pytest.FixtureRequest) -> Hierarchy:
    return make_hierarchy(request.param)


@pytest.fixture(scope="module")
def rsa_leaf_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@pytest.fixture(scope="module")
def ec_leaf_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# --- Checks -----------------------------------------------------------------------------------


def assert_pkix_clean(certificate: x509.Certificate) -> None:
    blocking = [f for f in pkix_findings(certificate) if f.blocks_signing]
    assert not blocking, [str(f) for f in blocking]


def assert_openssl_verifies(
    tmp_path: Path, leaf: x509.Certificate, root: x509.Certificate, *intermediates: x509.Certificate
) -> None:
    def write(name: str, *certificates: x509.Certificate) -> Path:
        path = tmp_path / name
        path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates))
        return path

    command = ["openssl", "verify", "-x509_strict", "-CAfile", str(write("root.pem", root))]
    if intermediates:
        command += ["-untrusted", str(write("chain.pem", *intermediates))]
    command.append(str(write("leaf.pem", leaf)))
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.strip().endswith(": OK")


def extension(certificate: x509.Certificate, oid: ObjectIdentifier) -> x509.Extension[Any]:
    return certificate.extensions.get_extension_for_oid(oid)


def has(certificate: x509.Certificate, oid: ObjectIdentifier) -> bool:
    try:
        certificate.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return False
    return True


def key_usage_bits(certificate: x509.Certificate) -> set[str]:
    usage = extension(certificate, ExtensionOID.KEY_USAGE).value
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
    )
    return {name for name in names if getattr(usage, name)}


def refusal(error: type[ApiError], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(error) as raised:
        build(*args, **kwargs)
    return raised.value.message


# --- Every template ---------------------------------------------------------------------------


def _issue_with(
    template: CertificateTemplate, hierarchy: Hierarchy, leaf_key: SubjectKey
) -> tuple[x509.Certificate, Ca | None]:
    """The certificate `template` makes, and the CA that signed it (None: self-signed)."""
    if template.self_signed:
        key = hierarchy.root.key
        builder = build(template.name, csr_pem(key, cn("Root")), None, window=CA_WINDOW)
        return SoftwareSigner(key).sign_certificate(builder), None
    if template.is_ca:
        builder = build(template.name, csr_pem(leaf_key, cn("Sub")), hierarchy.root.certificate)
        return hierarchy.root.sign(builder), hierarchy.root
    subject_alt = x509.SubjectAlternativeName([x509.DNSName("leaf.example")])
    csr = csr_pem(leaf_key, extensions=[(subject_alt, False)])
    return hierarchy.subordinate.sign(
        build(template.name, csr, hierarchy.subordinate.certificate)
    ), (hierarchy.subordinate)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_builds_the_documented_certificate(
    name: str, hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    template = TEMPLATES[name]
    certificate, issuer = _issue_with(template, hierarchy, ec_leaf_key)
    assert_pkix_clean(certificate)

    constraints = extension(certificate, ExtensionOID.BASIC_CONSTRAINTS)
    assert constraints.value.ca is template.is_ca
    assert constraints.value.path_length == template.path_length
    assert constraints.critical is template.basic_constraints_critical

    expected_bits = template.key_usage_for(subject_key_is_rsa=False)
    if expected_bits is None:
        expected_bits = (
            {"digital_signature", "key_cert_sign", "crl_sign"} if template.is_ca else None
        )
    if expected_bits is None:
        assert not has(certificate, ExtensionOID.KEY_USAGE)
    else:
        assert key_usage_bits(certificate) == expected_bits
        assert extension(certificate, ExtensionOID.KEY_USAGE).critical

    if template.extended_key_usage:
        eku = extension(certificate, ExtensionOID.EXTENDED_KEY_USAGE)
        assert list(eku.value) == list(template.extended_key_usage)
        assert eku.critical is template.extended_key_usage_critical
    else:
        assert not has(certificate, ExtensionOID.EXTENDED_KEY_USAGE)

    if template.kind == "end_entity":  # the CSR's SAN, copied by every template
        assert san_dns(certificate) == ["leaf.example"]
    ski = extension(certificate, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())  # type: ignore[arg-type]
    if issuer is None:
        assert certificate.issuer == certificate.subject
        for absent in (
            ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
            ExtensionOID.CRL_DISTRIBUTION_POINTS,
            ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ):
            assert not has(certificate, absent)
        return
    aki = extension(certificate, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    issuer_ski = extension(issuer.certificate, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert aki.key_identifier == issuer_ski.digest
    points = extension(certificate, ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert points[0].full_name == [x509.UniformResourceIdentifier(URLS.crl_url or "")]
    access = extension(certificate, ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    assert [(a.access_method, a.access_location.value) for a in access] == [
        (AuthorityInformationAccessOID.OCSP, URLS.ocsp_url)
    ]


_VERIFIED_TEMPLATES = sorted(
    name for name, template in TEMPLATES.items() if not template.self_signed
)


@pytest.mark.parametrize("name", _VERIFIED_TEMPLATES)
def test_end_entity_and_subordinate_certificates_verify_with_openssl(
    name: str, hierarchy: Hierarchy, rsa_leaf_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    template = TEMPLATES[name]
    certificate, _issuer = _issue_with(template, hierarchy, rsa_leaf_key)
    assert_pkix_clean(certificate)
    if template.is_ca:
        assert_openssl_verifies(tmp_path, certificate, hierarchy.root.certificate)
    else:
        assert_openssl_verifies(
            tmp_path, certificate, hierarchy.root.certificate, hierarchy.subordinate.certificate
        )


def test_rsa_subject_keys_get_key_encipherment(
    hierarchy: Hierarchy, rsa_leaf_key: rsa.RSAPrivateKey
) -> None:
    certificate, _ = _issue_with(TEMPLATES["EndEntityCertificate/V1"], hierarchy, rsa_leaf_key)
    assert key_usage_bits(certificate) == {"digital_signature", "key_encipherment"}


def test_ml_dsa_subject_key(hierarchy: Hierarchy) -> None:
    key = mldsa.MLDSA65PrivateKey.generate()
    certificate, _ = _issue_with(TEMPLATES["EndEntityClientAuthCertificate/V1"], hierarchy, key)
    assert certificate.public_key() == key.public_key()
    assert_pkix_clean(certificate)
    # The system's OpenSSL 3.0 cannot decode ML-DSA keys; cryptography checks the link instead.
    certificate.verify_directly_issued_by(hierarchy.subordinate.certificate)


def test_no_revocation_urls_means_no_crl_dp_nor_aia(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    builder = build(
        "EndEntityCertificate/V1",
        csr_pem(ec_leaf_key),
        hierarchy.subordinate.certificate,
        revocation=NO_URLS,
    )
    certificate = hierarchy.subordinate.sign(builder)
    assert not has(certificate, ExtensionOID.CRL_DISTRIBUTION_POINTS)
    assert not has(certificate, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    assert_pkix_clean(certificate)


# --- Order of operations ----------------------------------------------------------------------

CSR_POLICY = x509.CertificatePolicies([x509.PolicyInformation(ObjectIdentifier("1.2.3.4"), None)])
CSR_SAN = x509.SubjectAlternativeName([x509.DNSName("from-csr.example")])
CSR_EKU = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION])
CSR_CA_TRUE = x509.BasicConstraints(ca=True, path_length=None)
API = {
    "Subject": {"CommonName": "from-api", "Organization": "API Org", "Country": "DE"},
    "Extensions": {
        "SubjectAlternativeNames": [{"DnsName": "from-api.example"}],
        "ExtendedKeyUsage": [{"ExtendedKeyUsageType": "CODE_SIGNING"}],
        "CertificatePolicies": [
            {
                "CertPolicyId": "1.3.6.1.4.1.99999.1",
                "PolicyQualifiers": [
                    {"PolicyQualifierId": "CPS", "Qualifier": {"CpsUri": "https://cps.example"}}
                ],
            }
        ],
    },
}


def rich_csr(key: SubjectKey) -> bytes:
    return csr_pem(
        key,
        cn("from-csr"),
        [(CSR_SAN, False), (CSR_POLICY, False), (CSR_EKU, False), (CSR_CA_TRUE, True)],
    )


def leaf(
    hierarchy: Hierarchy, template_name: str, csr: bytes, api: Mapping[str, Any] | None
) -> x509.Certificate:
    certificate = hierarchy.subordinate.sign(
        build(template_name, csr, hierarchy.subordinate.certificate, api=api)
    )
    assert_pkix_clean(certificate)
    return certificate


def san_dns(certificate: x509.Certificate) -> list[str]:
    names = extension(certificate, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    return list(names.get_values_for_type(x509.DNSName))


def policy_ids(certificate: x509.Certificate) -> list[str]:
    policies = extension(certificate, ExtensionOID.CERTIFICATE_POLICIES).value
    return [p.policy_identifier.dotted_string for p in policies]


def test_base_template_takes_subject_and_san_from_the_csr_and_ignores_the_api(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    certificate = leaf(hierarchy, "EndEntityClientAuthCertificate/V1", rich_csr(ec_leaf_key), API)
    assert certificate.subject == cn("from-csr")
    assert san_dns(certificate) == ["from-csr.example"]
    assert not has(certificate, ExtensionOID.CERTIFICATE_POLICIES)  # not a CSR passthrough
    assert list(extension(certificate, ExtensionOID.EXTENDED_KEY_USAGE).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert extension(certificate, ExtensionOID.BASIC_CONSTRAINTS).value.ca is False


def test_api_passthrough_wins_over_the_csr_but_not_over_the_template(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    # The user guide's first example: the template's EKU beats both the API's and the CSR's.
    certificate = leaf(
        hierarchy, "EndEntityClientAuthCertificate_APIPassthrough/V1", rich_csr(ec_leaf_key), API
    )
    # The model's member order, C, O, CN (RFC 4514 writes it the other way round).
    assert certificate.subject.rfc4514_string() == "CN=from-api,O=API Org,C=DE"
    assert san_dns(certificate) == ["from-api.example"]
    assert list(extension(certificate, ExtensionOID.EXTENDED_KEY_USAGE).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    policies = extension(certificate, ExtensionOID.CERTIFICATE_POLICIES).value
    assert policies[0].policy_identifier.dotted_string == "1.3.6.1.4.1.99999.1"
    assert policies[0].policy_qualifiers == ["https://cps.example"]


def test_api_csr_passthrough_takes_the_api_first_then_the_csr(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    # The user guide's second example: with both, the API's SAN beats the CSR's.
    api = {"Extensions": {"SubjectAlternativeNames": [{"DnsName": "from-api.example"}]}}
    certificate = leaf(
        hierarchy, "EndEntityClientAuthCertificate_APICSRPassthrough/V1", rich_csr(ec_leaf_key), api
    )
    assert certificate.subject == cn("from-csr")  # no Subject in the API: the CSR's
    assert san_dns(certificate) == ["from-api.example"]
    assert policy_ids(certificate) == ["1.2.3.4"]  # the API has none: the CSR's passes
    assert extension(certificate, ExtensionOID.BASIC_CONSTRAINTS).value.ca is False


def test_csr_passthrough_copies_csr_extensions_below_the_template(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    certificate = leaf(
        hierarchy, "EndEntityCertificate_CSRPassthrough/V1", rich_csr(ec_leaf_key), API
    )
    assert certificate.subject == cn("from-csr")  # the API is ignored without API passthrough
    assert san_dns(certificate) == ["from-csr.example"]
    assert policy_ids(certificate) == ["1.2.3.4"]
    assert list(extension(certificate, ExtensionOID.EXTENDED_KEY_USAGE).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    assert extension(certificate, ExtensionOID.BASIC_CONSTRAINTS).value.ca is False


def test_blank_template_takes_key_usage_and_eku_from_the_api(
    hierarchy: Hierarchy, rsa_leaf_key: rsa.RSAPrivateKey
) -> None:
    # The user guide's smart-card example.
    api = {
        "Extensions": {
            "KeyUsage": {"DigitalSignature": True, "NonRepudiation": True, "KeyEncipherment": True},
            "ExtendedKeyUsage": [
                {"ExtendedKeyUsageType": "CLIENT_AUTH"},
                {"ExtendedKeyUsageType": "SMART_CARD_LOGIN"},
            ],
        }
    }
    certificate = leaf(
        hierarchy, "BlankEndEntityCertificate_APIPassthrough/V1", csr_pem(rsa_leaf_key), api
    )
    assert key_usage_bits(certificate) == {
        "digital_signature",
        "content_commitment",
        "key_encipherment",
    }
    assert list(extension(certificate, ExtensionOID.EXTENDED_KEY_USAGE).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.SMARTCARD_LOGON,
    ]


def test_blank_api_csr_template_falls_back_to_the_csrs_key_usage(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    usage = x509.KeyUsage(True, False, False, False, True, False, False, False, False)
    csr = csr_pem(ec_leaf_key, extensions=[(usage, True)])
    certificate = leaf(hierarchy, "BlankEndEntityCertificate_APICSRPassthrough/V1", csr, {})
    assert key_usage_bits(certificate) == {"digital_signature", "key_agreement"}


STAMPING = "TIME_STAMPING"


def test_every_model_eku_type_is_mapped(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    assert set(EXTENDED_KEY_USAGE_TYPES) == set(MODEL["shapes"]["ExtendedKeyUsageType"]["enum"])
    api = {
        "Extensions": {
            "ExtendedKeyUsage": [
                *({"ExtendedKeyUsageType": t} for t in EXTENDED_KEY_USAGE_TYPES if t != STAMPING),
                {"ExtendedKeyUsageObjectIdentifier": "1.3.6.1.4.1.99999.7"},
            ]
        }
    }
    certificate = leaf(
        hierarchy, "BlankEndEntityCertificate_APIPassthrough/V1", csr_pem(ec_leaf_key), api
    )
    eku = extension(certificate, ExtensionOID.EXTENDED_KEY_USAGE).value
    assert list(eku) == [
        *(oid for t, oid in EXTENDED_KEY_USAGE_TYPES.items() if t != STAMPING),
        ObjectIdentifier("1.3.6.1.4.1.99999.7"),
    ]
    assert not extension(certificate, ExtensionOID.EXTENDED_KEY_USAGE).critical


def test_time_stamping_eku_is_critical(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    api = {"Extensions": {"ExtendedKeyUsage": [{"ExtendedKeyUsageType": STAMPING}]}}
    certificate = leaf(
        hierarchy, "BlankEndEntityCertificate_APIPassthrough/V1", csr_pem(ec_leaf_key), api
    )
    eku = extension(certificate, ExtensionOID.EXTENDED_KEY_USAGE)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


# --- Custom extensions ------------------------------------------------------------------------


def test_custom_extensions_carry_their_value_and_criticality(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    utf8_hello = bytes([0x0C, 0x05]) + b"hello"
    api = {
        "Extensions": {
            "CustomExtensions": [
                {
                    "ObjectIdentifier": "1.3.6.1.4.1.99999.2",
                    "Value": base64.b64encode(utf8_hello).decode(),
                    "Critical": False,
                },
                {
                    # nameConstraints given raw: permitted dNSName example.com (critical)
                    "ObjectIdentifier": "2.5.29.30",
                    "Value": base64.b64encode(
                        x509.NameConstraints([x509.DNSName("example.com")], None).public_bytes()
                    ).decode(),
                    "Critical": True,
                },
            ]
        }
    }
    issuer = hierarchy.root
    csr = csr_pem(ec_leaf_key, cn("Constrained CA"))
    certificate = issuer.sign(
        build(
            "SubordinateCACertificate_PathLen0_APIPassthrough/V1", csr, issuer.certificate, api=api
        )
    )
    assert_pkix_clean(certificate)
    custom = extension(certificate, ObjectIdentifier("1.3.6.1.4.1.99999.2"))
    assert custom.value.value == utf8_hello and not custom.critical
    constraints = extension(certificate, ExtensionOID.NAME_CONSTRAINTS)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [x509.DNSName("example.com")]


def test_custom_extension_cannot_replace_a_template_extension(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    ca_true = x509.BasicConstraints(ca=True, path_length=None).public_bytes()
    api = {
        "Extensions": {
            "CustomExtensions": [
                {"ObjectIdentifier": "2.5.29.19", "Value": base64.b64encode(ca_true).decode()}
            ]
        }
    }
    certificate = leaf(
        hierarchy, "EndEntityCertificate_APIPassthrough/V1", csr_pem(ec_leaf_key), api
    )
    assert extension(certificate, ExtensionOID.BASIC_CONSTRAINTS).value.ca is False


def test_custom_extension_duplicating_an_api_member_is_refused(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    api = {
        "Extensions": {
            "SubjectAlternativeNames": [{"DnsName": "a.example"}],
            "CustomExtensions": [{"ObjectIdentifier": "2.5.29.17", "Value": "MAA="}],
        }
    }
    message = refusal(
        InvalidArgsError,
        "EndEntityCertificate_APIPassthrough/V1",
        csr_pem(ec_leaf_key),
        hierarchy.subordinate.certificate,
        api=api,
    )
    assert "2.5.29.17" in message


def test_custom_extension_value_must_be_base64(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    api = {"Extensions": {"CustomExtensions": [{"ObjectIdentifier": "1.2.3", "Value": "not*b64"}]}}
    assert "base64" in refusal(
        InvalidArgsError,
        "EndEntityCertificate_APIPassthrough/V1",
        csr_pem(ec_leaf_key),
        hierarchy.subordinate.certificate,
        api=api,
    )


# --- Subjects ---------------------------------------------------------------------------------


def test_subject_attributes_follow_the_model() -> None:
    members = [m for m in MODEL["shapes"]["ASN1Subject"]["members"] if m != "CustomAttributes"]
    assert [member for member, _oid in ASN1_SUBJECT_ATTRIBUTES] == members


def test_every_standard_subject_attribute(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    subject = {
        "Country": "US",
        "Organization": "Example Corp",
        "OrganizationalUnit": "Engineering",
        "DistinguishedNameQualifier": "dnq1",
        "State": "Washington",
        "CommonName": "Jane Doe",
        "SerialNumber": "0042",
        "Locality": "Seattle",
        "Title": "Dr",
        "Surname": "Doe",
        "GivenName": "Jane",
        "Initials": "JD",
        "Pseudonym": "jd",
        "GenerationQualifier": "III",
    }
    certificate = leaf(
        hierarchy,
        "EndEntityCertificate_APIPassthrough/V1",
        csr_pem(ec_leaf_key),
        {"Subject": subject},
    )
    assert [(a.oid, a.value) for a in certificate.subject] == [
        (oid, subject[member]) for member, oid in ASN1_SUBJECT_ATTRIBUTES
    ]


def test_custom_attributes_make_the_subject_in_their_order(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    subject = {
        "CustomAttributes": [
            {"ObjectIdentifier": "0.9.2342.19200300.100.1.25", "Value": "com"},
            {"ObjectIdentifier": "0.9.2342.19200300.100.1.25", "Value": "example"},
            {"ObjectIdentifier": "2.5.4.3", "Value": "custom cn"},
        ]
    }
    certificate = leaf(
        hierarchy,
        "EndEntityCertificate_APIPassthrough/V1",
        csr_pem(ec_leaf_key),
        {"Subject": subject},
    )
    assert [(a.oid.dotted_string, a.value) for a in certificate.subject] == [
        ("0.9.2342.19200300.100.1.25", "com"),
        ("0.9.2342.19200300.100.1.25", "example"),
        ("2.5.4.3", "custom cn"),
    ]


def test_custom_attributes_with_standard_ones_are_refused(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    subject = {
        "CommonName": "x",
        "CustomAttributes": [{"ObjectIdentifier": "2.5.4.10", "Value": "o"}],
    }
    message = refusal(
        InvalidArgsError,
        "EndEntityCertificate_APIPassthrough/V1",
        csr_pem(ec_leaf_key),
        hierarchy.subordinate.certificate,
        api={"Subject": subject},
    )
    assert message == "Custom attributes cannot be used in combination with standard attributes."


def test_a_country_that_is_not_two_letters_is_refused(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    refusal(
        InvalidArgsError,
        "EndEntityCertificate_APIPassthrough/V1",
        csr_pem(ec_leaf_key),
        hierarchy.subordinate.certificate,
        api={"Subject": {"Country": "USA"}},
    )


def test_empty_subject_makes_the_san_critical(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    csr = csr_pem(ec_leaf_key, x509.Name([]), [(CSR_SAN, False)])
    certificate = leaf(hierarchy, "EndEntityCertificate/V1", csr, None)
    assert len(certificate.subject) == 0
    assert extension(certificate, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).critical


def test_neither_subject_nor_san_is_refused(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    message = refusal(
        MalformedCSRError,
        "EndEntityCertificate/V1",
        csr_pem(ec_leaf_key, x509.Name([])),
        hierarchy.subordinate.certificate,
    )
    assert "subject name or a subject alternative name" in message


# --- General names ----------------------------------------------------------------------------


def test_every_general_name_kind(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    upn = "1.3.6.1.4.1.311.20.2.3"
    names = [
        {"DnsName": "dns.example"},
        {"Rfc822Name": "user@example.com"},
        {"UniformResourceIdentifier": "https://uri.example/path"},
        {"IpAddress": "192.0.2.7"},
        {"IpAddress": "2001:db8::7"},
        {"RegisteredId": "1.3.6.1.4.1.99999.3"},
        {"DirectoryName": {"CommonName": "dir name", "Country": "FR"}},
        {"OtherName": {"TypeId": upn, "Value": "user@corp.example"}},
    ]
    api = {"Extensions": {"SubjectAlternativeNames": names}}
    certificate = leaf(
        hierarchy, "EndEntityCertificate_APIPassthrough/V1", csr_pem(ec_leaf_key), api
    )
    general_names = list(extension(certificate, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value)
    assert general_names[:6] == [
        x509.DNSName("dns.example"),
        x509.RFC822Name("user@example.com"),
        x509.UniformResourceIdentifier("https://uri.example/path"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::7")),
        x509.RegisteredID(ObjectIdentifier("1.3.6.1.4.1.99999.3")),
    ]
    directory = general_names[6]
    assert isinstance(directory, x509.DirectoryName)
    assert directory.value.rfc4514_string() == "CN=dir name,C=FR"
    other = general_names[7]
    assert isinstance(other, x509.OtherName)
    assert other.type_id.dotted_string == upn
    assert other.value == bytes([0x0C, len("user@corp.example")]) + b"user@corp.example"


@pytest.mark.parametrize(
    "name",
    [
        {"DnsName": "a.example", "IpAddress": "192.0.2.1"},
        {},
        {"IpAddress": "999.1.1.1"},
        {"EdiPartyName": {"PartyName": "edi"}},
        {"RegisteredId": "not.an.oid"},
    ],
)
def test_bad_general_names_are_refused(
    name: dict[str, Any], hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    refusal(
        InvalidArgsError,
        "EndEntityCertificate_APIPassthrough/V1",
        csr_pem(ec_leaf_key),
        hierarchy.subordinate.certificate,
        api={"Extensions": {"SubjectAlternativeNames": [name]}},
    )


# --- CSR checks -------------------------------------------------------------------------------


def _csr_refusal(csr: bytes, hierarchy: Hierarchy) -> str:
    return refusal(
        MalformedCSRError, "EndEntityCertificate/V1", csr, hierarchy.subordinate.certificate
    )


def test_garbage_csr_is_malformed(hierarchy: Hierarchy) -> None:
    assert "PEM" in _csr_refusal(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", hierarchy)
    assert "PEM" in _csr_refusal(b"\x00\x01not a csr", hierarchy)


def test_csr_with_a_broken_signature_is_malformed(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    request = x509.load_pem_x509_csr(csr_pem(ec_leaf_key))
    der = bytearray(request.public_bytes(serialization.Encoding.DER))
    # The signature is the last element; change the subject's CN instead so the DER stays valid.
    position = der.index(b"leaf.example")
    der[position] = ord("m")
    assert "signature" in _csr_refusal(bytes(der), hierarchy)


@pytest.mark.parametrize(
    "key_factory",
    [
        lambda: rsa.generate_private_key(65537, 1024),
        lambda: ec.generate_private_key(ec.SECP224R1()),
        lambda: ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["rsa-1024", "p-224", "ed25519"],
)
def test_unsupported_csr_keys_are_malformed(key_factory: Any, hierarchy: Hierarchy) -> None:
    key = key_factory()
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(cn("weak"))
        .sign(key, algorithm)
        .public_bytes(serialization.Encoding.PEM)
    )
    assert "not supported" in _csr_refusal(csr, hierarchy)


def test_der_csr_is_accepted(hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey) -> None:
    der = x509.load_pem_x509_csr(csr_pem(ec_leaf_key)).public_bytes(serialization.Encoding.DER)
    assert leaf(hierarchy, "EndEntityCertificate/V1", der, None).subject == cn("leaf.example")


# --- Issuer checks ----------------------------------------------------------------------------


def test_root_template_refuses_an_issuer(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    message = refusal(
        InvalidArgsError, "RootCACertificate/V1", csr_pem(ec_leaf_key), hierarchy.root.certificate
    )
    assert "own certificate signing request" in message


def test_other_templates_need_an_issuer(ec_leaf_key: ec.EllipticCurvePrivateKey) -> None:
    refusal(InvalidArgsError, "EndEntityCertificate/V1", csr_pem(ec_leaf_key), None)


@pytest.mark.parametrize("template_length", [0, 1])
def test_subordinate_path_length_must_stay_below_the_issuers(
    template_length: int, hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    message = refusal(
        InvalidArgsError,
        f"SubordinateCACertificate_PathLen{template_length}/V1",
        csr_pem(ec_leaf_key, cn("Too deep")),
        hierarchy.subordinate.certificate,  # pathLen 0
    )
    assert "path length" in message


def test_path_length_below_the_issuers_is_accepted(tmp_path: Path) -> None:
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = make_root(root_key, "BlankRootCACertificate_PathLen1_APIPassthrough/V1")
    assert extension(root.certificate, ExtensionOID.BASIC_CONSTRAINTS).value.path_length == 1
    sub_key = ec.generate_private_key(ec.SECP384R1())
    sub = Ca(
        root.sign(
            build(
                "SubordinateCACertificate_PathLen0/V1",
                csr_pem(sub_key, cn("Sub")),
                root.certificate,
                window=SUB_WINDOW,
            )
        ),
        sub_key,
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    end_entity = sub.sign(
        build("EndEntityServerAuthCertificate/V1", csr_pem(leaf_key), sub.certificate)
    )
    for certificate in (root.certificate, sub.certificate, end_entity):
        assert_pkix_clean(certificate)
    assert_openssl_verifies(tmp_path, end_entity, root.certificate, sub.certificate)


# --- Revocation pointers and root specifics ----------------------------------------------------

CSR_CDP = x509.CRLDistributionPoints(
    [
        x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier("http://csr.example/own.crl")],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
    ]
)


def crl_urls(certificate: x509.Certificate) -> list[str]:
    points = extension(certificate, ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    return [name.value for point in points for name in point.full_name]


@pytest.mark.parametrize(
    ("revocation", "expected"),
    [(URLS, URLS.crl_url), (NO_URLS, "http://csr.example/own.crl")],
    ids=["ca-configuration-wins", "csr-when-the-ca-publishes-none"],
)
def test_crl_distribution_point_from_the_ca_configuration_or_the_csr(
    revocation: RevocationUrls,
    expected: str,
    hierarchy: Hierarchy,
    ec_leaf_key: ec.EllipticCurvePrivateKey,
) -> None:
    csr = csr_pem(ec_leaf_key, extensions=[(CSR_CDP, False)])
    issuer = hierarchy.subordinate
    builder = build(
        "EndEntityCertificate_CSRPassthrough/V1", csr, issuer.certificate, revocation=revocation
    )
    certificate = issuer.sign(builder)
    assert_pkix_clean(certificate)
    assert crl_urls(certificate) == [expected]


def test_base_template_ignores_the_csrs_crl_distribution_point(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    csr = csr_pem(ec_leaf_key, extensions=[(CSR_CDP, False)])
    issuer = hierarchy.subordinate
    builder = build("EndEntityCertificate/V1", csr, issuer.certificate, revocation=NO_URLS)
    assert not has(issuer.sign(builder), ExtensionOID.CRL_DISTRIBUTION_POINTS)


def test_root_takes_the_csrs_san_and_no_revocation_pointers(hierarchy: Hierarchy) -> None:
    key = hierarchy.root.key
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier("https://pki.example")])
    csr = csr_pem(key, cn("Root with SAN"), [(san, False)])
    builder = build("RootCACertificate/V1", csr, None, window=CA_WINDOW, revocation=URLS)
    certificate = SoftwareSigner(key).sign_certificate(builder)
    assert_pkix_clean(certificate)
    assert extension(certificate, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value == san
    assert not has(certificate, ExtensionOID.CRL_DISTRIBUTION_POINTS)
    assert not has(certificate, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    certificate.verify_directly_issued_by(certificate)


def test_root_api_template_takes_an_authority_key_identifier_from_the_api(
    hierarchy: Hierarchy,
) -> None:
    key = hierarchy.root.key
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    api = {
        "Extensions": {
            "CustomExtensions": [
                {
                    "ObjectIdentifier": "2.5.29.35",
                    "Value": base64.b64encode(aki.public_bytes()).decode(),
                }
            ]
        }
    }
    csr = csr_pem(key, cn("Root"))
    builder = build("RootCACertificate_APIPassthrough/V1", csr, None, api=api, window=CA_WINDOW)
    certificate = SoftwareSigner(key).sign_certificate(builder)
    assert_pkix_clean(certificate)
    assert extension(certificate, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value == aki


def test_ca_validity_limits_are_the_issuers_window(hierarchy: Hierarchy) -> None:
    issuer = hierarchy.subordinate.certificate
    limits = ca_validity_limits(issuer, short_lived=True)
    assert limits.not_before == issuer.not_valid_before_utc
    assert limits.not_after == issuer.not_valid_after_utc
    assert limits.short_lived
    unbounded = ca_validity_limits(None, short_lived=False)
    assert unbounded.not_after.year == 9999 and not unbounded.short_lived


# --- The model's shapes are covered ------------------------------------------------------------


def test_every_extensions_member_of_the_model_is_handled() -> None:
    # Each has its own test above; this fails when the model grows a member.
    assert set(MODEL["shapes"]["Extensions"]["members"]) == {
        "CertificatePolicies",
        "ExtendedKeyUsage",
        "KeyUsage",
        "SubjectAlternativeNames",
        "CustomExtensions",
    }
    assert set(MODEL["shapes"]["GeneralName"]["members"]) == {
        "OtherName",
        "Rfc822Name",
        "DnsName",
        "DirectoryName",
        "EdiPartyName",
        "UniformResourceIdentifier",
        "IpAddress",
        "RegisteredId",
    }


@pytest.mark.parametrize(
    ("template_name", "members"),
    [
        # No single key can hold all nine bits cleanly (RFC 8813: no encipherment for EC keys;
        # no keyAgreement for RSA ones; keyCertSign only in CA certificates; encipherOnly and
        # decipherOnly exclude each other): three certificates.
        (
            "BlankSubordinateCACertificate_PathLen0_APIPassthrough/V1",
            [
                "DigitalSignature",
                "NonRepudiation",
                "KeyAgreement",
                "KeyCertSign",
                "CRLSign",
                "EncipherOnly",
            ],
        ),
        (
            "BlankSubordinateCACertificate_PathLen0_APIPassthrough/V1",
            ["KeyAgreement", "KeyCertSign", "DecipherOnly"],
        ),
        (
            "BlankEndEntityCertificate_APIPassthrough/V1",
            ["DigitalSignature", "KeyEncipherment", "DataEncipherment"],
        ),
    ],
)
def test_every_key_usage_member_of_the_model(
    template_name: str,
    members: list[str],
    hierarchy: Hierarchy,
    ec_leaf_key: ec.EllipticCurvePrivateKey,
    rsa_leaf_key: rsa.RSAPrivateKey,
) -> None:
    bits = {
        "DigitalSignature": "digital_signature",
        "NonRepudiation": "content_commitment",
        "KeyEncipherment": "key_encipherment",
        "DataEncipherment": "data_encipherment",
        "KeyAgreement": "key_agreement",
        "KeyCertSign": "key_cert_sign",
        "CRLSign": "crl_sign",
        "EncipherOnly": "encipher_only",
        "DecipherOnly": "decipher_only",
    }
    assert set(bits) == set(MODEL["shapes"]["KeyUsage"]["members"])
    key: SubjectKey = ec_leaf_key if "KeyAgreement" in members else rsa_leaf_key
    api = {"Extensions": {"KeyUsage": dict.fromkeys(members, True)}}
    issuer = hierarchy.root if "CACertificate" in template_name else hierarchy.subordinate
    certificate = issuer.sign(build(template_name, csr_pem(key), issuer.certificate, api=api))
    assert_pkix_clean(certificate)
    usage = extension(certificate, ExtensionOID.KEY_USAGE)
    assert usage.critical
    asserted = {name for name in bits.values() if _asserted(usage.value, name)}
    assert asserted == {bits[member] for member in members}


def _asserted(usage: x509.KeyUsage, name: str) -> bool:
    if name in ("encipher_only", "decipher_only") and not usage.key_agreement:
        return False  # cryptography refuses to read these without keyAgreement
    return bool(getattr(usage, name))


def test_encipher_only_without_key_agreement_is_refused(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    api = {"Extensions": {"KeyUsage": {"DigitalSignature": True, "EncipherOnly": True}}}
    assert "KeyAgreement" in refusal(
        InvalidArgsError,
        "BlankEndEntityCertificate_APIPassthrough/V1",
        csr_pem(ec_leaf_key),
        hierarchy.subordinate.certificate,
        api=api,
    )


def test_encipher_only_with_decipher_only_is_refused(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    usage = {"KeyAgreement": True, "EncipherOnly": True, "DecipherOnly": True}
    assert "both" in refusal(
        InvalidArgsError,
        "BlankEndEntityCertificate_APIPassthrough/V1",
        csr_pem(ec_leaf_key),
        hierarchy.subordinate.certificate,
        api={"Extensions": {"KeyUsage": usage}},
    )


def test_the_pkix_linter_does_report_errors(
    hierarchy: Hierarchy, ec_leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    # The lint every test above relies on must be able to fail: an end-entity certificate
    # asserting keyCertSign is an RFC 5280 error.
    builder = build(
        "EndEntityCertificate/V1", csr_pem(ec_leaf_key), hierarchy.subordinate.certificate
    )
    bad_usage = x509.KeyUsage(True, False, False, False, False, True, False, False, False)
    bad = (
        x509.CertificateBuilder()
        .subject_name(cn("bad"))
        .issuer_name(hierarchy.subordinate.certificate.subject)
        .public_key(ec_leaf_key.public_key())
        .serial_number(new_serial_number())
        .not_valid_before(LEAF_WINDOW.not_before)
        .not_valid_after(LEAF_WINDOW.not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(bad_usage, critical=True)
    )
    codes = {f.code for f in pkix_findings(hierarchy.subordinate.sign(bad)) if f.blocks_signing}
    assert "pkix.ee_certificate_keycertsign_keyusage_set" in codes
    assert not [f for f in pkix_findings(hierarchy.subordinate.sign(builder)) if f.blocks_signing]
