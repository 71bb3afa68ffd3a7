"""Tests for openacm.domain.issuance (validity policy, serials, leaf profile) and
openacm.adapters.ca.hierarchy (the builtin root and issuing CAs).

Certificates are real: one hierarchy per module, leaves signed through `SoftwareSigner`, then
checked with the openssl CLI (`openssl verify`) and pkilint's CA/Browser Forum linters.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
    SignatureAlgorithmOID,
)

from openacm.adapters.ca.hierarchy import (
    BuiltinHierarchy,
    CaMaterial,
    ca_subject,
    create_builtin_hierarchy,
    intermediate_certificate_builder,
    root_certificate_builder,
)
from openacm.adapters.ca.signer import CaPublicKey, SoftwareSigner
from openacm.domain.issuance import (
    CABF_DOMAIN_VALIDATED_POLICY,
    CaUrls,
    leaf_builder,
    new_serial_number,
    public_validity_days,
    public_validity_window,
    renewal_start,
    validation_reuse_days,
)

NOW = datetime(2026, 11, 23, 17, 0, 0, tzinfo=UTC)
# pkilint flags reserved TLDs such as .test as internal names, so the URLs use example.com.
ROOT_URLS = CaUrls(
    crl_url="http://pki.example.com/root.crl",
    ocsp_url="http://pki.example.com/ocsp/root",
    ca_issuers_url="http://pki.example.com/root.cer",
)
LEAF_URLS = CaUrls(
    crl_url="http://pki.example.com/issuing.crl",
    ocsp_url="http://pki.example.com/ocsp",
    ca_issuers_url="http://pki.example.com/issuing.cer",
)
NAMES = ("example.com", "*.example.com", "www.example.org")
ExtensionT = TypeVar("ExtensionT", bound=x509.ExtensionType)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- Fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def hierarchy() -> BuiltinHierarchy:
    # No installation label given: the random one is part of what is tested.
    return create_builtin_hierarchy(now=NOW, organization="Example Corp", root_urls=ROOT_URLS)


def label_of(hierarchy: BuiltinHierarchy) -> str:
    common_name = hierarchy.root.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common_name[0].value).removeprefix("Example Corp Root CA ")


def issue_leaf(
    issuing_ca: CaMaterial,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    names: tuple[str, ...] = NAMES,
) -> x509.Certificate:
    not_before, not_after = public_validity_window(NOW)
    builder = leaf_builder(
        common_name=names[0],
        names=names,
        public_key=key.public_key(),
        issuer=issuing_ca.certificate,
        serial_number=new_serial_number(),
        not_before=not_before,
        not_after=not_after,
        urls=LEAF_URLS,
    )
    return SoftwareSigner(issuing_ca.private_key).sign_certificate(builder)


@dataclass(frozen=True)
class LeafCase:
    name: str
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    issuing_ca: CaMaterial
    certificate: x509.Certificate


@pytest.fixture(scope="module", params=["rsa2048", "p256", "p384"])
def leaf(request: pytest.FixtureRequest, hierarchy: BuiltinHierarchy) -> LeafCase:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if request.param == "rsa2048":
        key, issuing_ca = rsa.generate_private_key(65537, 2048), hierarchy.rsa_intermediate
    elif request.param == "p256":
        key, issuing_ca = ec.generate_private_key(ec.SECP256R1()), hierarchy.ecdsa_intermediate
    else:
        key, issuing_ca = ec.generate_private_key(ec.SECP384R1()), hierarchy.ecdsa_intermediate
    return LeafCase(request.param, key, issuing_ca, issue_leaf(issuing_ca, key))


def write_pem(path: Path, certificate: x509.Certificate) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def pkilint_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        if IN_CI:
            pytest.fail("pkilint is not installed")
        pytest.skip("pkilint is not installed")


Finding = tuple[str, str]  # (severity, code), as pkilint names them
REPORTED_SEVERITIES = ("FATAL", "ERROR", "WARNING")


def pkilint_cli_findings(script: str, *args: str | Path) -> list[Finding]:
    """WARNING-or-worse findings of one of pkilint's linters, run in-process through its
    console script's `main` (a separate process costs a second of start-up per call)."""
    main = pkilint_module(f"pkilint.bin.{script}").main
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        main(["lint", "-s", "WARNING", "-f", "JSON", *map(str, args)])
    return [
        (finding["severity"], finding["code"])
        for result in json.loads(output.getvalue())["results"]
        for finding in result["finding_descriptions"]
    ]


@functools.cache
def cabf_serverauth_validator(certificate_type: Any) -> Any:
    serverauth = pkilint_module("pkilint.cabf.serverauth")
    pkix_certificate = pkilint_module("pkilint.pkix.certificate")
    return pkix_certificate.create_pkix_certificate_validator_container(
        serverauth.create_decoding_validators(), serverauth.create_validators(certificate_type)
    )


def cabf_serverauth_findings(certificate: x509.Certificate) -> tuple[str, list[Finding]]:
    """(the detected certificate type, WARNING-or-worse findings) from pkilint's CA/B TLS
    linter: what `lint_cabf_serverauth_cert lint -d` reports. Validators are built once per
    type, building them being most of the linter's cost."""
    loader = pkilint_module("pkilint.loader")
    serverauth = pkilint_module("pkilint.cabf.serverauth")
    finding_filter = pkilint_module("pkilint.finding_filter")
    document = loader.RFC5280CertificateDocumentLoader().load_der_document(
        certificate.public_bytes(serialization.Encoding.DER), "certificate"
    )
    linted_as = serverauth.determine_certificate_type(document)
    results = cabf_serverauth_validator(linted_as).validate(document.root)
    results, _excluded = finding_filter.filter_results(
        serverauth.create_serverauth_finding_filters(linted_as), results
    )
    findings = [
        (description.finding.severity.name, description.finding.code)
        for result in results
        for description in result.finding_descriptions
        if description.finding.severity.name in REPORTED_SEVERITIES
    ]
    return linted_as.to_option_str, findings


def errors_of(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f[0] in ("ERROR", "FATAL")]


def extension_value(
    certificate: x509.Certificate, kind: type[ExtensionT], *, critical: bool
) -> ExtensionT:
    extension = certificate.extensions.get_extension_for_class(kind)
    assert extension.critical is critical, kind.__name__
    return extension.value


# --- Validity policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issued_on", "days"),
    [
        (utc(2025, 1, 1), 396),
        (utc(2026, 3, 14, 23, 59, 59), 396),
        (utc(2026, 3, 15), 198),
        (utc(2027, 3, 14, 23, 59, 59), 198),
        (utc(2027, 3, 15), 98),
        (utc(2029, 3, 14, 23, 59, 59), 98),
        (utc(2029, 3, 15), 45),
        (utc(2040, 1, 1), 45),
    ],
)
def test_public_validity_follows_sc081_less_two_days(issued_on: datetime, days: int) -> None:
    assert public_validity_days(issued_on) == days


def test_configured_maximum_only_lowers_validity() -> None:
    assert public_validity_days(NOW, 90) == 90
    assert public_validity_days(NOW, 198) == 198
    assert public_validity_days(NOW, 500) == 198


def test_configured_maximum_must_be_positive() -> None:
    with pytest.raises(ValueError):
        public_validity_days(NOW, 0)


@pytest.mark.parametrize(
    ("on", "days"),
    [
        (utc(2026, 3, 14, 23, 59, 59), 398),
        (utc(2026, 3, 15), 200),
        (utc(2027, 3, 14, 23, 59, 59), 200),
        (utc(2027, 3, 15), 100),
        (utc(2029, 3, 14, 23, 59, 59), 100),
        (utc(2029, 3, 15), 10),
    ],
)
def test_validation_reuse_follows_sc081(on: datetime, days: int) -> None:
    assert validation_reuse_days(on) == days


def test_validity_window_spans_exactly_the_allowed_days_counting_both_ends() -> None:
    now = datetime(2026, 11, 23, 17, 5, 30, 123456, tzinfo=UTC)
    not_before, not_after = public_validity_window(now)
    assert not_before <= now
    assert now - not_before <= timedelta(hours=1, seconds=1)
    assert not_before.microsecond == 0
    assert not_after - not_before + timedelta(seconds=1) == timedelta(days=198)


def test_validity_window_honours_configured_maximum() -> None:
    not_before, not_after = public_validity_window(NOW, 30)
    assert not_after - not_before + timedelta(seconds=1) == timedelta(days=30)


@pytest.mark.parametrize(
    ("lifetime_days", "renews_days_before_expiry"),
    [
        (395, 395 / 3),  # a third left comes before the 60-day point
        (198, 66),
        (180, 60),  # equal
        (98, 60),  # 60 days before expiry comes before a third left
        (45, 30),  # 60 days would precede issuance: never before a third has passed
    ],
)
def test_renewal_start(lifetime_days: int, renews_days_before_expiry: float) -> None:
    not_before = NOW
    not_after = NOW + timedelta(days=lifetime_days)
    expected = not_after - timedelta(days=renews_days_before_expiry)
    assert abs(renewal_start(not_before, not_after) - expected) < timedelta(seconds=1)


# --- Serial numbers ---------------------------------------------------------------------------


def test_serial_numbers_are_positive_sixteen_byte_integers() -> None:
    serials = [new_serial_number() for _ in range(2000)]
    assert len(set(serials)) == len(serials)
    for serial in serials:
        # bit 127 clear (positive, no leading zero octet), bit 126 set (never shorter, never 0).
        assert 2**126 <= serial < 2**127
    # The other 126 bits vary: every one of them is seen both set and clear.
    varying = [serial & (2**126 - 1) for serial in serials]
    assert all(any(v >> bit & 1 for v in varying) for bit in range(126))
    assert all(any(not v >> bit & 1 for v in varying) for bit in range(126))


def test_serial_number_encodes_in_sixteen_der_octets(hierarchy: BuiltinHierarchy) -> None:
    leaf = issue_leaf(hierarchy.rsa_intermediate, rsa.generate_private_key(65537, 2048))
    tbs = leaf.tbs_certificate_bytes
    serial_bytes = leaf.serial_number.to_bytes(16, "big")
    assert b"\x02\x10" + serial_bytes in tbs  # INTEGER, length 16, value


# --- Hierarchy --------------------------------------------------------------------------------


def test_root_profile(hierarchy: BuiltinHierarchy) -> None:
    root = hierarchy.root.certificate
    key = root.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 4096
    assert root.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    assert root.subject == root.issuer
    assert root.subject == ca_subject(f"Example Corp Root CA {label_of(hierarchy)}", "Example Corp")
    assert root.not_valid_after_utc - root.not_valid_before_utc + timedelta(seconds=1) == (
        timedelta(days=9131)
    )
    constraints = extension_value(root, x509.BasicConstraints, critical=True)
    assert constraints.ca and constraints.path_length is None
    usage = extension_value(root, x509.KeyUsage, critical=True)
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    ski = extension_value(root, x509.SubjectKeyIdentifier, critical=False)
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key)
    aki = extension_value(root, x509.AuthorityKeyIdentifier, critical=False)
    assert aki.key_identifier == ski.digest
    with pytest.raises(x509.ExtensionNotFound):
        root.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    root.verify_directly_issued_by(root)


@pytest.mark.parametrize("family", ["rsa", "ecdsa"])
def test_intermediate_profile(hierarchy: BuiltinHierarchy, family: str) -> None:
    material = hierarchy.rsa_intermediate if family == "rsa" else hierarchy.ecdsa_intermediate
    intermediate = material.certificate
    root = hierarchy.root.certificate
    key = intermediate.public_key()
    if family == "rsa":
        assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 3072
        expected_name = f"Example Corp RSA Issuing CA {label_of(hierarchy)}"
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
        expected_name = f"Example Corp ECDSA Issuing CA {label_of(hierarchy)}"
    assert intermediate.subject == ca_subject(expected_name, "Example Corp")
    intermediate.verify_directly_issued_by(root)
    assert intermediate.not_valid_after_utc <= root.not_valid_after_utc
    lifetime = intermediate.not_valid_after_utc - intermediate.not_valid_before_utc
    assert timedelta(days=8 * 365) <= lifetime <= timedelta(days=3653)
    constraints = extension_value(intermediate, x509.BasicConstraints, critical=True)
    assert constraints.ca and constraints.path_length == 0
    usage = extension_value(intermediate, x509.KeyUsage, critical=True)
    assert usage.key_cert_sign and usage.crl_sign and usage.digital_signature
    eku = extension_value(intermediate, x509.ExtendedKeyUsage, critical=False)
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    aki = extension_value(intermediate, x509.AuthorityKeyIdentifier, critical=False)
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest and aki.authority_cert_issuer is None
    policies = extension_value(intermediate, x509.CertificatePolicies, critical=False)
    assert [p.policy_identifier for p in policies] == [CABF_DOMAIN_VALIDATED_POLICY]
    crl_dp = extension_value(intermediate, x509.CRLDistributionPoints, critical=False)
    assert crl_dp[0].full_name == [x509.UniformResourceIdentifier(ROOT_URLS.crl_url)]
    aia = extension_value(intermediate, x509.AuthorityInformationAccess, critical=False)
    assert [(d.access_method, d.access_location.value) for d in aia] == [
        (AuthorityInformationAccessOID.CA_ISSUERS, ROOT_URLS.ca_issuers_url)
    ]


def test_installation_label_defaults_to_random_hex(hierarchy: BuiltinHierarchy) -> None:
    label = label_of(hierarchy)
    assert len(label) == 8 and int(label, 16) >= 0
    subject = hierarchy.root.certificate.subject
    assert [(a.oid, a.value) for a in subject] == [
        (NameOID.COUNTRY_NAME, "XX"),
        (NameOID.ORGANIZATION_NAME, "Example Corp"),
        (NameOID.COMMON_NAME, f"Example Corp Root CA {label}"),
    ]


def test_intermediate_never_outlives_its_issuer(hierarchy: BuiltinHierarchy) -> None:
    root = hierarchy.root.certificate
    late = root.not_valid_after_utc - timedelta(days=365)
    builder = intermediate_certificate_builder(
        ec.generate_private_key(ec.SECP384R1()).public_key(),
        ca_subject("late", "openacm"),
        root,
        late,
        None,
    )
    late_intermediate = SoftwareSigner(hierarchy.root.private_key).sign_certificate(builder)
    assert late_intermediate.not_valid_after_utc == root.not_valid_after_utc


class RecordingSigner:
    """A `CaSigner` as a token-held key looks to the builders: they never see the private key."""

    def __init__(self, signer: SoftwareSigner) -> None:
        self._signer = signer
        self.signed: list[x509.Certificate] = []

    @property
    def public_key(self) -> CaPublicKey:
        return self._signer.public_key

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        certificate = self._signer.sign_certificate(builder)
        self.signed.append(certificate)
        return certificate


def test_builders_work_from_public_keys_alone(hierarchy: BuiltinHierarchy) -> None:
    root_signer = RecordingSigner(SoftwareSigner(hierarchy.root.private_key))
    subject = ca_subject("token Root CA", "token")
    root = root_signer.sign_certificate(
        root_certificate_builder(root_signer.public_key, subject, NOW)
    )
    intermediate_key = ec.generate_private_key(ec.SECP384R1())
    intermediate = root_signer.sign_certificate(
        intermediate_certificate_builder(
            intermediate_key.public_key(), ca_subject("token CA", "token"), root, NOW, ROOT_URLS
        )
    )
    intermediate.verify_directly_issued_by(root)
    assert root_signer.signed == [root, intermediate]


def test_ca_certificates_pass_cabf_linter(hierarchy: BuiltinHierarchy, tmp_path: Path) -> None:
    assert cabf_serverauth_findings(hierarchy.root.certificate) == ("ROOT-CA", [])
    root = write_pem(tmp_path / "root.pem", hierarchy.root.certificate)
    for material in (hierarchy.rsa_intermediate, hierarchy.ecdsa_intermediate):
        linted = cabf_serverauth_findings(material.certificate)
        assert linted == ("INTERNAL-UNCONSTRAINED-TLS-CA", [])
        path = write_pem(tmp_path / "intermediate.pem", material.certificate)
        assert pkilint_cli_findings("lint_pkix_signer_signee_cert_chain", root, path) == []


# --- Leaves -----------------------------------------------------------------------------------

# Warnings pkilint gives for ACM's profile, kept on purpose: ACM's leaves have a CN (BR: NOT
# RECOMMENDED), an SKI (BR: NOT RECOMMENDED) and, for RSA, keyEncipherment besides
# digitalSignature (BR: MAY, pkilint warns about having both).
ACCEPTED_LEAF_WARNINGS = {
    ("WARNING", "cabf.serverauth.dv.common_name_attribute_present"),
    ("WARNING", "cabf.serverauth.subscriber.subject_key_identifier_extension_present"),
    ("WARNING", "cabf.serverauth.subscriber_rsa_digitalsignature_and_keyencipherment_present"),
}


def test_leaf_passes_cabf_linter(leaf: LeafCase, tmp_path: Path) -> None:
    detected_as, findings = cabf_serverauth_findings(leaf.certificate)
    assert detected_as == "DV-FINAL-CERTIFICATE"
    assert errors_of(findings) == []
    assert set(findings) <= ACCEPTED_LEAF_WARNINGS
    issuer = write_pem(tmp_path / "issuer.pem", leaf.issuing_ca.certificate)
    path = write_pem(tmp_path / "leaf.pem", leaf.certificate)
    assert pkilint_cli_findings("lint_pkix_signer_signee_cert_chain", issuer, path) == []


def test_leaf_verifies_with_openssl(
    leaf: LeafCase, hierarchy: BuiltinHierarchy, tmp_path: Path
) -> None:
    root = write_pem(tmp_path / "root.pem", hierarchy.root.certificate)
    intermediate = write_pem(tmp_path / "intermediate.pem", leaf.issuing_ca.certificate)
    path = write_pem(tmp_path / "leaf.pem", leaf.certificate)
    attime = str(int((NOW + timedelta(days=1)).timestamp()))
    for purpose in ("sslserver", "sslclient"):
        result = openssl(
            "verify",
            "-attime",
            attime,
            "-purpose",
            purpose,
            "-x509_strict",
            "-CAfile",
            root,
            "-untrusted",
            intermediate,
            path,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip().endswith("OK")
    for name in ("example.com", "foo.example.com", "www.example.org"):
        result = openssl(
            "verify", "-attime", attime, "-verify_hostname", name,
            "-CAfile", root, "-untrusted", intermediate, path,
        )  # fmt: skip
        assert result.returncode == 0, name + result.stdout + result.stderr


def test_leaf_profile(leaf: LeafCase) -> None:
    certificate = leaf.certificate
    issuer = leaf.issuing_ca.certificate
    assert certificate.version is x509.Version.v3
    assert certificate.subject == x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAMES[0])])
    assert certificate.issuer == issuer.subject
    san = extension_value(certificate, x509.SubjectAlternativeName, critical=False)
    assert san.get_values_for_type(x509.DNSName) == list(NAMES)
    constraints = extension_value(certificate, x509.BasicConstraints, critical=True)
    assert not constraints.ca
    usage = extension_value(certificate, x509.KeyUsage, critical=True)
    assert usage.digital_signature
    assert usage.key_encipherment is (leaf.name == "rsa2048")
    assert not (usage.key_cert_sign or usage.crl_sign or usage.key_agreement)
    eku = extension_value(certificate, x509.ExtendedKeyUsage, critical=False)
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = extension_value(certificate, x509.AuthorityKeyIdentifier, critical=False)
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == issuer_ski.digest
    assert aki.authority_cert_issuer is None and aki.authority_cert_serial_number is None
    ski = extension_value(certificate, x509.SubjectKeyIdentifier, critical=False)
    assert ski == x509.SubjectKeyIdentifier.from_public_key(leaf.key.public_key())
    crl_dp = extension_value(certificate, x509.CRLDistributionPoints, critical=False)
    assert len(crl_dp) == 1
    assert crl_dp[0].full_name == [x509.UniformResourceIdentifier(LEAF_URLS.crl_url)]
    assert crl_dp[0].reasons is None and crl_dp[0].crl_issuer is None
    aia = extension_value(certificate, x509.AuthorityInformationAccess, critical=False)
    assert [(d.access_method, d.access_location.value) for d in aia] == [
        (AuthorityInformationAccessOID.OCSP, LEAF_URLS.ocsp_url),
        (AuthorityInformationAccessOID.CA_ISSUERS, LEAF_URLS.ca_issuers_url),
    ]
    policies = extension_value(certificate, x509.CertificatePolicies, critical=False)
    assert [(p.policy_identifier, p.policy_qualifiers) for p in policies] == [
        (CABF_DOMAIN_VALIDATED_POLICY, None)
    ]
    assert len(certificate.extensions) == 9
    certificate.verify_directly_issued_by(issuer)


def test_leaf_signature_hash_follows_issuing_key(leaf: LeafCase) -> None:
    # SHA-256 from the RSA issuing CA, SHA-384 from the P-384 one (BR 7.1.3.2).
    algorithm = leaf.certificate.signature_hash_algorithm
    if isinstance(leaf.issuing_ca.certificate.public_key(), rsa.RSAPublicKey):
        assert leaf.certificate.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    else:
        assert leaf.certificate.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA384
        assert isinstance(algorithm, hashes.SHA384)


@pytest.mark.parametrize(
    "issued_at",
    [
        utc(2026, 3, 15, 0, 30),  # the backdated notBefore still falls in the 398-day era
        utc(2027, 3, 15, 0, 30),
        utc(2029, 3, 15, 0, 30),
        utc(2030, 6, 1),
    ],
)
def test_validity_window_satisfies_linter_across_the_schedule(
    hierarchy: BuiltinHierarchy, issued_at: datetime
) -> None:
    not_before, not_after = public_validity_window(issued_at)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = leaf_builder(
        common_name=NAMES[0],
        names=NAMES,
        public_key=key.public_key(),
        issuer=hierarchy.ecdsa_intermediate.certificate,
        serial_number=new_serial_number(),
        not_before=not_before,
        not_after=not_after,
        urls=LEAF_URLS,
    )
    certificate = SoftwareSigner(hierarchy.ecdsa_intermediate.private_key).sign_certificate(builder)
    _detected_as, findings = cabf_serverauth_findings(certificate)
    # No error, and not even the "exceeds N-1 days" warnings that precede each limit.
    assert set(findings) <= ACCEPTED_LEAF_WARNINGS
