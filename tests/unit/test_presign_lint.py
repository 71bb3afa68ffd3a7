"""Lint before sign: pkilint's CA/B Forum linter reads the to-be-signed leaf, and a leaf that
breaks a Baseline Requirement is refused before the CA key signs anything."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from openacm.adapters.ca.lint import (
    LintFinding,
    LintRefusal,
    check_leaf_before_signing,
    lint_dv_subscriber,
    lint_leaf_before_signing,
    throwaway_signed,
)
from openacm.adapters.ca.signer import CaPublicKey, signature_hash_for
from tests.support import pki

DOMAIN = "www.example.com"
DV_POLICY = x509.ObjectIdentifier("2.23.140.1.2.1")
ISSUER_ALGORITHMS = ("RSA_2048", "EC_prime256v1", "EC_secp384r1")


def issuer_public_key(algorithm: str = "EC_secp384r1") -> CaPublicKey:
    return pki.shared_key(algorithm).public_key()


def dv_leaf(
    *,
    days: int = 198,
    common_name: str = DOMAIN,
    dns_names: tuple[str, ...] = (DOMAIN,),
    issuer_algorithm: str = "EC_secp384r1",
) -> x509.CertificateBuilder:
    """A DV subscriber certificate as the Baseline Requirements want it."""
    issuer_key = issuer_public_key(issuer_algorithm)
    leaf_key = pki.shared_key("EC_prime256v1").public_key()
    not_before = pki.now()
    return (
        x509.CertificateBuilder()
        .subject_name(pki.name(common_name))
        .issuer_name(pki.name("openacm Test Issuing CA", organization="openacm tests"))
        .public_key(leaf_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        # pkilint counts both ends inclusively: this is exactly `days` days.
        .not_valid_after(not_before + dt.timedelta(days=days, seconds=-1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
        .add_extension(_digital_signature_only(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key), critical=False)
        .add_extension(_crl_distribution_point("http://crl.example.com/ca.crl"), critical=False)
        .add_extension(
            _authority_information_access(
                "http://ocsp.example.com", "http://ca.example.com/ca.der"
            ),
            critical=False,
        )
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(DV_POLICY, None)]), critical=False
        )
    )


def _digital_signature_only() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _crl_distribution_point(url: str) -> x509.CRLDistributionPoints:
    point = x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
    return x509.CRLDistributionPoints([point])


def _authority_information_access(
    ocsp_url: str, ca_issuers_url: str
) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
            ),
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(ca_issuers_url),
            ),
        ]
    )


def blocking_codes(findings: list[LintFinding]) -> set[str]:
    return {f.code for f in findings if f.blocks_signing}


@pytest.mark.parametrize("issuer_algorithm", ISSUER_ALGORITHMS)
def test_good_dv_leaf_has_no_error(issuer_algorithm: str) -> None:
    builder = dv_leaf(issuer_algorithm=issuer_algorithm)
    findings = lint_leaf_before_signing(builder, issuer_public_key(issuer_algorithm))
    assert blocking_codes(findings) == set()
    check_leaf_before_signing(builder, issuer_public_key(issuer_algorithm))


def test_good_dv_leaf_warnings_are_reported_not_refused() -> None:
    """The caller sees every severity; the BRs' SHOULD NOTs are warnings, not refusals."""
    findings = lint_leaf_before_signing(dv_leaf(), issuer_public_key())
    warnings = {f.code for f in findings if f.severity == "WARNING"}
    assert "cabf.serverauth.dv.common_name_attribute_present" in warnings
    assert "cabf.serverauth.subscriber.subject_key_identifier_extension_present" in warnings


# dv_leaf() arguments that break one requirement each, and the finding that says so.
BAD_LEAVES: dict[str, tuple[dict[str, Any], str]] = {
    "validity over 200 days": (
        {"days": 500},
        "cabf.serverauth.certificate_validity_period_exceeds_200_days",
    ),
    "common name not among the SANs": (
        {"common_name": "other.example.com"},
        "cabf.serverauth.subscriber_common_name_unknown_source",
    ),
    "internal name in the SANs": (
        {"dns_names": (DOMAIN, "printer.local")},
        "cabf.internal_domain_name",
    ),
    "non-LDH label in the SANs": (
        {"dns_names": (DOMAIN, "bad_label.example.com")},
        "cabf.serverauth.invalid_dnsname_syntax",
    ),
}


@pytest.mark.parametrize("case", BAD_LEAVES)
def test_bad_leaf_is_refused(case: str) -> None:
    arguments, expected_code = BAD_LEAVES[case]
    builder = dv_leaf(**arguments)
    assert expected_code in blocking_codes(lint_leaf_before_signing(builder, issuer_public_key()))
    with pytest.raises(LintRefusal) as refused:
        check_leaf_before_signing(builder, issuer_public_key())
    assert expected_code in {f.code for f in refused.value.findings}
    assert all(f.blocks_signing for f in refused.value.findings)
    assert expected_code in str(refused.value)


def test_finding_says_where_and_why() -> None:
    (finding,) = [
        f
        for f in lint_leaf_before_signing(dv_leaf(days=500), issuer_public_key())
        if f.code == "cabf.serverauth.certificate_validity_period_exceeds_200_days"
    ]
    assert finding.severity == "ERROR"
    assert finding.node_path.startswith("certificate.tbsCertificate.validity")
    assert "500 days" in finding.message


@pytest.mark.parametrize("issuer_algorithm", ["RSA_4096", "EC_secp384r1"])
def test_throwaway_signed_tbs_is_what_the_issuer_signs(issuer_algorithm: str) -> None:
    """Why the throwaway key cannot skew the lint: the linted to-be-signed bytes are exactly
    those the issuer's own key signs (a 2048-bit throwaway stands in for a 4096-bit issuer)."""
    issuer_key = pki.shared_key(issuer_algorithm)
    builder = dv_leaf()
    real = builder.sign(issuer_key, signature_hash_for(issuer_key.public_key()))
    planned = throwaway_signed(builder, issuer_key.public_key())
    assert planned.tbs_certificate_bytes == real.tbs_certificate_bytes
    assert planned.signature_algorithm_oid == real.signature_algorithm_oid


def test_lint_from_many_threads_agrees() -> None:
    """One pkilint validator tree serves every thread."""
    too_long = "cabf.serverauth.certificate_validity_period_exceeds_200_days"
    builders = [dv_leaf(days=500) if i % 2 else dv_leaf() for i in range(16)]

    def blocking_for(builder: x509.CertificateBuilder) -> set[str]:
        return blocking_codes(lint_leaf_before_signing(builder, issuer_public_key()))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(blocking_for, builders))
    for index, codes in enumerate(results):
        assert codes == ({too_long} if index % 2 else set())


def test_linting_a_planned_certificate_is_linting_its_builder() -> None:
    builder = dv_leaf(days=500)
    planned = throwaway_signed(builder, issuer_public_key())
    assert lint_dv_subscriber(planned) == lint_leaf_before_signing(builder, issuer_public_key())
