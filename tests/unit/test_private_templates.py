"""Tests for openacm.domain.pca_templates: the catalogue of AWS Private CA template ARNs."""

from __future__ import annotations

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from openacm.domain.errors import InvalidArnError
from openacm.domain.pca_templates import (
    CA_KEY_USAGE,
    TEMPLATES,
    template_arn,
    template_for_arn,
)

# The templates the AWS Private CA user guide lists ("Template definitions").
_END_ENTITY_BASES = (
    "EndEntityCertificate",
    "EndEntityClientAuthCertificate",
    "EndEntityServerAuthCertificate",
    "CodeSigningCertificate",
    "OCSPSigningCertificate",
)
_VARIETIES = ("", "_CSRPassthrough", "_APIPassthrough", "_APICSRPassthrough")
_BLANK_VARIETIES = ("_APIPassthrough", "_CSRPassthrough", "_APICSRPassthrough")
DOCUMENTED = {
    *(f"{base}{variety}/V1" for base in _END_ENTITY_BASES for variety in _VARIETIES),
    *(f"SubordinateCACertificate_PathLen{n}{v}/V1" for n in range(4) for v in _VARIETIES),
    "RootCACertificate/V1",
    "RootCACertificate_APIPassthrough/V1",
    *(
        f"BlankEndEntityCertificate{c}{v}/V1"
        for c in ("", "_CriticalBasicConstraints")
        for v in _BLANK_VARIETIES
    ),
    *(
        f"BlankSubordinateCACertificate_PathLen{n}{v}/V1"
        for n in range(4)
        for v in _BLANK_VARIETIES
    ),
    *(
        f"BlankRootCACertificate{p}_APIPassthrough/V1"
        for p in ("", "_PathLen0", "_PathLen1", "_PathLen2", "_PathLen3")
    ),
}


def test_catalogue_is_exactly_the_documented_templates() -> None:
    assert set(TEMPLATES) == DOCUMENTED


def test_no_template_arn_means_end_entity_certificate() -> None:
    assert template_for_arn(None).name == "EndEntityCertificate/V1"


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_arn_in_any_partition(partition: str) -> None:
    arn = f"arn:{partition}:acm-pca:::template/CodeSigningCertificate_APIPassthrough/V1"
    template = template_for_arn(arn)
    assert template.name == "CodeSigningCertificate_APIPassthrough/V1"
    assert template.api_passthrough and not template.csr_passthrough


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:acm-pca:::template/EndEntityCertificate/V2",
        "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen4/V1",
        "arn:aws:acm-pca:us-east-1:123456789012:template/EndEntityCertificate/V1",
        "EndEntityCertificate/V1",
    ],
)
def test_unknown_or_malformed_arn_is_refused(arn: str) -> None:
    with pytest.raises(InvalidArnError) as raised:
        template_for_arn(arn)
    assert raised.value.code == "InvalidArnException"
    assert arn in raised.value.message


def test_varieties_set_the_passthrough_flags() -> None:
    for name, template in TEMPLATES.items():
        assert template.api_passthrough == ("_APIPassthrough" in name or "_APICSR" in name)
        assert template.csr_passthrough == ("CSRPassthrough" in name), name
        assert template_for_arn(template_arn(name)) is template


def test_end_entity_definitions() -> None:
    server_client = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    signature_encipherment = {"digital_signature", "key_encipherment"}
    # name: (key usage, extended key usage, EKU critical), as the user guide's tables say
    expected = {
        "EndEntityCertificate/V1": (signature_encipherment, server_client, False),
        "EndEntityClientAuthCertificate/V1": (
            signature_encipherment,
            [ExtendedKeyUsageOID.CLIENT_AUTH],
            False,
        ),
        "EndEntityServerAuthCertificate/V1": (
            signature_encipherment,
            [ExtendedKeyUsageOID.SERVER_AUTH],
            False,
        ),
        "CodeSigningCertificate/V1": (
            {"digital_signature"},
            [ExtendedKeyUsageOID.CODE_SIGNING],
            True,
        ),
        "OCSPSigningCertificate/V1": (
            {"digital_signature"},
            [ExtendedKeyUsageOID.OCSP_SIGNING],
            True,
        ),
    }
    for name, (key_usage, eku, eku_critical) in expected.items():
        for variety in _VARIETIES:
            template = TEMPLATES[name.replace("/V1", f"{variety}/V1")]
            assert template.kind == "end_entity" and not template.basic_constraints_critical
            assert template.key_usage == key_usage
            assert list(template.extended_key_usage or []) == eku
            assert template.extended_key_usage_critical is eku_critical


def test_key_encipherment_only_for_rsa_keys() -> None:
    template = TEMPLATES["EndEntityCertificate/V1"]
    assert template.key_usage_for(subject_key_is_rsa=True) == {
        "digital_signature",
        "key_encipherment",
    }
    assert template.key_usage_for(subject_key_is_rsa=False) == {"digital_signature"}


@pytest.mark.parametrize("n", range(4))
def test_subordinate_definitions(n: int) -> None:
    template = TEMPLATES[f"SubordinateCACertificate_PathLen{n}/V1"]
    assert template.kind == "subordinate_ca" and template.path_length == n
    assert template.basic_constraints_critical
    assert template.key_usage == CA_KEY_USAGE
    assert template.extended_key_usage == ()


def test_root_definition() -> None:
    template = TEMPLATES["RootCACertificate/V1"]
    assert template.self_signed and template.path_length is None
    assert template.key_usage == CA_KEY_USAGE
    # RootCACertificate_APIPassthrough: "Authority key identifier: [Passthrough from API]".
    assert ExtensionOID.AUTHORITY_KEY_IDENTIFIER not in template.template_owned
    sub = TEMPLATES["SubordinateCACertificate_PathLen0/V1"]
    assert ExtensionOID.AUTHORITY_KEY_IDENTIFIER in sub.template_owned


def test_revocation_pointers_are_not_template_owned() -> None:
    # "[Passthrough from CA configuration or CSR]": the CSR may give them when the CA does not.
    for template in TEMPLATES.values():
        assert ExtensionOID.CRL_DISTRIBUTION_POINTS not in template.template_owned
        assert ExtensionOID.AUTHORITY_INFORMATION_ACCESS not in template.template_owned


def test_blank_templates_leave_key_usages_open() -> None:
    blank = TEMPLATES["BlankEndEntityCertificate_APIPassthrough/V1"]
    assert blank.key_usage is None and blank.extended_key_usage is None
    assert ExtensionOID.KEY_USAGE not in blank.template_owned
    assert ExtensionOID.BASIC_CONSTRAINTS in blank.template_owned
    critical = TEMPLATES["BlankEndEntityCertificate_CriticalBasicConstraints_APIPassthrough/V1"]
    assert critical.basic_constraints_critical and not blank.basic_constraints_critical
    assert TEMPLATES["BlankRootCACertificate_PathLen2_APIPassthrough/V1"].path_length == 2
    assert TEMPLATES["BlankRootCACertificate_APIPassthrough/V1"].path_length is None


def test_non_blank_templates_own_key_usage_and_eku() -> None:
    for name, template in TEMPLATES.items():
        if not name.startswith("Blank"):
            assert {ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE} <= (
                template.template_owned
            )
