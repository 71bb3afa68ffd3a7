"""ImportCertificate, DescribeCertificate, GetCertificate and DeleteCertificate, end to end.

Every expectation is derived from the certificate the test built (serial, subject, validity,
key, usages, names), never read back from the server first, so a wrong field fails the test.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.conftest import Tenant
from tests.support import pki
from tests.support.server import OpenAcmServer

SERVER_AUTH = {"Name": "TLS_WEB_SERVER_AUTHENTICATION", "OID": "1.3.6.1.5.5.7.3.1"}
CLIENT_AUTH = {"Name": "TLS_WEB_CLIENT_AUTHENTICATION", "OID": "1.3.6.1.5.5.7.3.2"}
CT_ENABLED = {"CertificateTransparencyLoggingPreference": "ENABLED"}
# Response spelling of each key algorithm (requests and filters use the model's enum).
RESPONSE_KEY_ALGORITHM = {
    "RSA_1024": "RSA-1024",
    "RSA_2048": "RSA-2048",
    "RSA_3072": "RSA-3072",
    "RSA_4096": "RSA-4096",
    "EC_prime256v1": "EC-prime256v1",
    "EC_secp384r1": "EC-secp384r1",
    "EC_secp521r1": "EC-secp521r1",
}


def expected_detail(
    arn: str,
    issued: pki.Issued,
    *,
    domain: str | None,
    names: list[str],
    subject: str,
    issuer: str,
    key_algorithm: str,
    signature: str,
    key_usages: list[str],
    extended_key_usages: list[dict[str, str]],
) -> dict[str, Any]:
    """DescribeCertificate's Certificate for an imported certificate, without its two
    server-side times (CreatedAt, ImportedAt), which `describe` checks separately."""
    detail: dict[str, Any] = {
        "CertificateArn": arn,
        "Serial": pki.acm_serial(issued.certificate),
        "Subject": subject,
        "Issuer": issuer,
        "Status": "ISSUED",
        "NotBefore": issued.certificate.not_valid_before_utc,
        "NotAfter": issued.certificate.not_valid_after_utc,
        "KeyAlgorithm": key_algorithm,
        "SignatureAlgorithm": signature,
        "InUseBy": [],
        "Type": "IMPORTED",
        "KeyUsages": [{"Name": usage} for usage in key_usages],
        "ExtendedKeyUsages": extended_key_usages,
        "RenewalEligibility": "INELIGIBLE",
        "Options": CT_ENABLED,
        "CertificateKeyPairOrigin": "CUSTOMER_PROVIDED",
    }
    if domain is not None:
        detail["DomainName"] = domain
    if names:
        detail["SubjectAlternativeNames"] = names
        detail["DomainValidationOptions"] = [{"DomainName": n} for n in names]
    return detail


def describe(acm: Any, arn: str) -> tuple[dict[str, Any], dt.datetime, dt.datetime]:
    """The Certificate of DescribeCertificate, split into (rest, CreatedAt, ImportedAt)."""
    response = acm.describe_certificate(CertificateArn=arn)
    assert set(response) == {"Certificate", "ResponseMetadata"}
    detail = dict(response["Certificate"])
    return detail, detail.pop("CreatedAt"), detail.pop("ImportedAt")


def assert_recent(moment: dt.datetime, before: float, after: float) -> None:
    """A server time taken during a call made between `before` and `after` (same host)."""
    assert before - 1 <= moment.timestamp() <= after + 1, (moment, before, after)


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    error: dict[str, Any] = raised.value.response["Error"]
    return error


# -- first import, every field ------------------------------------------------------------------


def test_import_with_chain_describe_get_and_list_show_every_field(tenant: Tenant) -> None:
    root, intermediate = pki.ca_hierarchy()
    leaf = pki.issue(
        "www.example.com",
        sans=["www.example.com", "example.com", "*.example.com"],
        issuer=intermediate,
        organization="Example Corp",
    )
    assert leaf.chain == [intermediate.certificate, root.certificate]
    before = time.time()
    response = tenant.acm.import_certificate(**leaf.import_args())
    after = time.time()
    assert set(response) == {"CertificateArn", "ResponseMetadata"}
    arn = response["CertificateArn"]
    prefix = f"arn:aws:acm:us-east-1:{tenant.account_id}:certificate/"
    assert arn.startswith(prefix)
    certificate_id = arn[len(prefix) :]
    assert len(certificate_id) == 36 and certificate_id.count("-") == 4

    names = ["www.example.com", "example.com", "*.example.com"]
    detail, created, imported = describe(tenant.acm, arn)
    assert detail == expected_detail(
        arn,
        leaf,
        domain="www.example.com",
        names=names,
        subject="O=Example Corp, CN=www.example.com",
        issuer="openacm tests",  # the issuing CA's organisation
        key_algorithm="RSA-2048",
        signature="SHA256WITHECDSA",  # signed by the P-256 intermediate
        key_usages=["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"],
        extended_key_usages=[SERVER_AUTH, CLIENT_AUTH],
    )
    assert_recent(created, before, after)
    assert imported == created  # a first import: requested and imported at once

    got = tenant.acm.get_certificate(CertificateArn=arn)
    assert set(got) == {"Certificate", "CertificateChain", "ResponseMetadata"}
    assert got["Certificate"] == leaf.cert_pem.decode()
    assert got["CertificateChain"] == intermediate.cert_pem.decode() + root.cert_pem.decode()

    listed = tenant.acm.list_certificates()
    assert set(listed) == {"CertificateSummaryList", "ResponseMetadata"}
    assert listed["CertificateSummaryList"] == [
        {
            "CertificateArn": arn,
            "DomainName": "www.example.com",
            "SubjectAlternativeNameSummaries": names,
            "HasAdditionalSubjectAlternativeNames": False,
            "Status": "ISSUED",
            "Type": "IMPORTED",
            "KeyAlgorithm": "RSA-2048",
            "KeyUsages": ["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"],
            "ExtendedKeyUsages": ["TLS_WEB_SERVER_AUTHENTICATION", "TLS_WEB_CLIENT_AUTHENTICATION"],
            "InUse": False,
            "Exported": False,
            "RenewalEligibility": "INELIGIBLE",
            "NotBefore": leaf.certificate.not_valid_before_utc,
            "NotAfter": leaf.certificate.not_valid_after_utc,
            "CreatedAt": created,
            "ImportedAt": imported,
            "CertificateKeyPairOrigin": "CUSTOMER_PROVIDED",
        }
    ]
    assert tenant.acm.list_tags_for_certificate(CertificateArn=arn).get("Tags", []) == []


def test_chain_of_the_intermediate_alone_is_returned_as_given(tenant: Tenant) -> None:
    _root, intermediate = pki.ca_hierarchy()
    leaf = pki.issue("api.example.com", sans=["api.example.com"], issuer=intermediate)
    arn = tenant.acm.import_certificate(
        Certificate=leaf.cert_pem,
        PrivateKey=leaf.key_pem,
        CertificateChain=intermediate.cert_pem,
    )["CertificateArn"]
    got = tenant.acm.get_certificate(CertificateArn=arn)
    assert got["Certificate"] == leaf.cert_pem.decode()
    assert got["CertificateChain"] == intermediate.cert_pem.decode()
    detail, _, _ = describe(tenant.acm, arn)
    assert detail["Issuer"] == "openacm tests"  # the intermediate's organisation
    assert detail["Subject"] == "CN=api.example.com"


def test_self_signed_certificate_has_no_chain(tenant: Tenant) -> None:
    cert = pki.issue("self.example.com", sans=["self.example.com"])
    arn = tenant.acm.import_certificate(**cert.import_args())["CertificateArn"]
    got = tenant.acm.get_certificate(CertificateArn=arn)
    assert set(got) == {"Certificate", "ResponseMetadata"}
    assert got["Certificate"] == cert.cert_pem.decode()
    detail, _, _ = describe(tenant.acm, arn)
    assert detail == expected_detail(
        arn,
        cert,
        domain="self.example.com",
        names=["self.example.com"],
        subject="CN=self.example.com",
        issuer="self.example.com",  # no organisation: the issuer's common name
        key_algorithm="RSA-2048",
        signature="SHA256WITHRSA",
        key_usages=["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"],
        extended_key_usages=[SERVER_AUTH, CLIENT_AUTH],
    )


# -- key algorithms and private-key encodings ---------------------------------------------------


def _key_encodings(algorithm: str, key: pki.PrivateKey) -> dict[str, bytes]:
    pkcs8 = pki.key_pem(key, "pkcs8")
    traditional = pki.key_pem(key, "traditional")
    if algorithm.startswith("RSA_"):
        assert traditional.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
        return {"pkcs8": pkcs8, "pkcs1": traditional}
    assert traditional.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert isinstance(key, pki.ec.EllipticCurvePrivateKey)
    return {
        "pkcs8": pkcs8,
        "sec1": traditional,
        "sec1 after EC PARAMETERS": pki.ec_parameters_pem(key) + traditional,
    }


@pytest.fixture(scope="module")
def module_tenant(server: OpenAcmServer) -> Tenant:
    """One account for the parametrized cases below, which look only at their own ARNs."""
    account_id, key = server.new_account()
    return Tenant(server, account_id, key, server.client(key=key))


@pytest.mark.parametrize("algorithm", list(RESPONSE_KEY_ALGORITHM))
def test_every_key_algorithm_and_key_encoding_imports(
    module_tenant: Tenant, algorithm: str
) -> None:
    tenant = module_tenant
    cert = pki.issue(f"{algorithm.lower().replace('_', '-')}.example.com", algorithm=algorithm)
    rsa = algorithm.startswith("RSA_")
    arns = {}
    for encoding, key_pem in _key_encodings(algorithm, cert.key).items():
        arns[encoding] = tenant.acm.import_certificate(
            Certificate=cert.cert_pem, PrivateKey=key_pem
        )["CertificateArn"]
    assert len(set(arns.values())) == len(arns)  # the same certificate, imported each time anew
    domain = cert.certificate.subject.rfc4514_string()[3:]
    for arn in arns.values():
        detail, _, _ = describe(tenant.acm, arn)
        assert detail == expected_detail(
            arn,
            cert,
            domain=domain,
            names=[domain],  # no SAN extension: the common name is the certificate's name
            subject=f"CN={domain}",
            issuer=domain,
            key_algorithm=RESPONSE_KEY_ALGORITHM[algorithm],
            signature="SHA256WITHRSA" if rsa else "SHA256WITHECDSA",
            key_usages=["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"] if rsa else ["DIGITAL_SIGNATURE"],
            extended_key_usages=[SERVER_AUTH, CLIENT_AUTH],
        )
        assert tenant.acm.get_certificate(CertificateArn=arn)["Certificate"] == (
            cert.cert_pem.decode()
        )
    mine = set(arns.values())
    # ListCertificates shows them only when asked for their key type (inventory §1.3)...
    listed = tenant.acm.list_certificates()["CertificateSummaryList"]
    default_listed = algorithm in ("RSA_1024", "RSA_2048")
    assert {s["CertificateArn"] for s in listed} & mine == (mine if default_listed else set())
    listed = tenant.acm.list_certificates(Includes={"keyTypes": [algorithm]})
    summaries = [s for s in listed["CertificateSummaryList"] if s["CertificateArn"] in mine]
    assert len(summaries) == len(mine)
    assert {s["KeyAlgorithm"] for s in summaries} == {RESPONSE_KEY_ALGORITHM[algorithm]}
    # ...and SearchCertificates speaks the model's enum spelling.
    found = tenant.acm.search_certificates(
        FilterStatement={"Filter": {"X509AttributeFilter": {"KeyAlgorithm": algorithm}}}
    )["Results"]
    assert {r["CertificateArn"] for r in found} == mine  # other cases used other algorithms
    assert {r["X509Attributes"]["KeyAlgorithm"] for r in found} == {algorithm}


# -- names: IP addresses, no name at all ---------------------------------------------------------


def test_ip_address_subject_alternative_names(tenant: Tenant) -> None:
    cert = pki.issue("api.example.com", sans=["api.example.com"], ips=["192.0.2.10", "2001:db8::1"])
    arn = tenant.acm.import_certificate(**cert.import_args())["CertificateArn"]
    names = ["api.example.com", "192.0.2.10", "2001:db8::1"]
    detail, _, _ = describe(tenant.acm, arn)
    assert detail == expected_detail(
        arn,
        cert,
        domain="api.example.com",
        names=names,
        subject="CN=api.example.com",
        issuer="api.example.com",
        key_algorithm="RSA-2048",
        signature="SHA256WITHRSA",
        key_usages=["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"],
        extended_key_usages=[SERVER_AUTH, CLIENT_AUTH],
    )
    (result,) = tenant.acm.search_certificates()["Results"]
    assert result["X509Attributes"]["SubjectAlternativeNames"] == [
        {"DnsName": "api.example.com"},
        {"IpAddress": "192.0.2.10"},
        {"IpAddress": "2001:db8::1"},
    ]

    only_ips = pki.issue(None, ips=["198.51.100.7"], organization="IP Only Ltd")
    arn = tenant.acm.import_certificate(**only_ips.import_args())["CertificateArn"]
    detail, _, _ = describe(tenant.acm, arn)
    assert detail == expected_detail(
        arn,
        only_ips,
        domain=None,  # an IP address is a name of the certificate, not its domain
        names=["198.51.100.7"],
        subject="O=IP Only Ltd",
        issuer="IP Only Ltd",
        key_algorithm="RSA-2048",
        signature="SHA256WITHRSA",
        key_usages=["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"],
        extended_key_usages=[SERVER_AUTH, CLIENT_AUTH],
    )


def test_domainless_certificate(tenant: Tenant) -> None:
    cert = pki.issue(None, organization="Nameless Org", extended_key_usage=[])
    arn = tenant.acm.import_certificate(**cert.import_args())["CertificateArn"]
    detail, _, _ = describe(tenant.acm, arn)
    assert detail == expected_detail(
        arn,
        cert,
        domain=None,
        names=[],
        subject="O=Nameless Org",
        issuer="Nameless Org",
        key_algorithm="RSA-2048",
        signature="SHA256WITHRSA",
        key_usages=["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"],
        extended_key_usages=[],
    )
    # Hidden from the default listing (no domain), shown once a key type is asked for.
    assert tenant.acm.list_certificates()["CertificateSummaryList"] == []
    (summary,) = tenant.acm.list_certificates(Includes={"keyTypes": ["RSA_2048"]})[
        "CertificateSummaryList"
    ]
    assert "DomainName" not in summary
    assert "SubjectAlternativeNameSummaries" not in summary
    assert summary["ExtendedKeyUsages"] == ["NONE"]
    assert summary["CertificateArn"] == arn


# -- re-import ----------------------------------------------------------------------------------


def test_reimport_keeps_arn_created_at_and_tags_and_shows_the_new_certificate(
    tenant: Tenant,
) -> None:
    _root, intermediate = pki.ca_hierarchy()
    first = pki.issue_with_key_usages(
        "reimport.example.com",
        ["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"],
        sans=["reimport.example.com"],
        organization="First Org",
    )
    arn = tenant.acm.import_certificate(
        **first.import_args(Tags=[{"Key": "team", "Value": "platform"}, {"Key": "keep"}])
    )["CertificateArn"]
    _, created, first_imported = describe(tenant.acm, arn)
    time.sleep(0.05)  # ImportedAt must visibly move

    # Same key type, a name added, a key-usage value added, another subject.
    second = pki.issue_with_key_usages(
        "reimport.example.com",
        ["DIGITAL_SIGNATURE", "NON_REPUDIATION", "KEY_ENCIPHERMENT"],
        sans=["reimport.example.com", "www.reimport.example.com"],
        organization="Second Org",
    )
    assert second.certificate.serial_number != first.certificate.serial_number
    before = time.time()
    response = tenant.acm.import_certificate(**second.import_args(CertificateArn=arn))
    after = time.time()
    assert response["CertificateArn"] == arn

    detail, created_again, imported = describe(tenant.acm, arn)
    names = ["reimport.example.com", "www.reimport.example.com"]
    assert detail == expected_detail(
        arn,
        second,
        domain="reimport.example.com",
        names=names,
        subject="O=Second Org, CN=reimport.example.com",
        issuer="Second Org",
        key_algorithm="RSA-2048",
        signature="SHA256WITHRSA",
        key_usages=["DIGITAL_SIGNATURE", "NON_REPUDIATION", "KEY_ENCIPHERMENT"],
        extended_key_usages=[SERVER_AUTH, CLIENT_AUTH],
    )
    assert detail["Serial"] != pki.acm_serial(first.certificate)
    assert created_again == created
    assert imported > first_imported
    assert_recent(imported, before, after)
    assert tenant.acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [
        {"Key": "team", "Value": "platform"},
        {"Key": "keep"},
    ]
    got = tenant.acm.get_certificate(CertificateArn=arn)
    assert set(got) == {"Certificate", "ResponseMetadata"}
    assert got["Certificate"] == second.cert_pem.decode()
    # Still one certificate, now with the new names.
    (summary,) = tenant.acm.list_certificates()["CertificateSummaryList"]
    assert summary["CertificateArn"] == arn
    assert summary["SubjectAlternativeNameSummaries"] == names
    assert summary["KeyUsages"] == ["DIGITAL_SIGNATURE", "NON_REPUDIATION", "KEY_ENCIPHERMENT"]
    assert summary["CreatedAt"] == created and summary["ImportedAt"] == imported

    # A replacement that drops a key-usage value is refused, and changes nothing.
    third = pki.issue(
        "reimport.example.com",
        sans=["reimport.example.com", "www.reimport.example.com", "api.reimport.example.com"],
        issuer=intermediate,
        key_usage=True,
    )
    # (pki.issue's RSA leaf has DIGITAL_SIGNATURE + KEY_ENCIPHERMENT only.)
    error = error_of(lambda: tenant.acm.import_certificate(**third.import_args(CertificateArn=arn)))
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "New certificate is missing one or more Key Usages supported by the currently "
        "imported certificate"
    )
    assert describe(tenant.acm, arn)[0]["Serial"] == pki.acm_serial(second.certificate)
    fourth = pki.issue_with_key_usages(
        "reimport.example.com",
        ["DIGITAL_SIGNATURE", "NON_REPUDIATION", "KEY_ENCIPHERMENT", "DATA_ENCIPHERMENT"],
        sans=["api.reimport.example.com"],  # names may be removed as long as one remains
    )
    tenant.acm.import_certificate(**fourth.import_args(CertificateArn=arn))
    detail, created_third, _ = describe(tenant.acm, arn)
    assert created_third == created
    assert detail["SubjectAlternativeNames"] == ["api.reimport.example.com"]
    assert detail["DomainName"] == "reimport.example.com"
    assert detail["Serial"] == pki.acm_serial(fourth.certificate)


def test_reimport_refusals(tenant: Tenant) -> None:
    original = pki.issue("strict.example.com", sans=["strict.example.com"])
    arn = tenant.acm.import_certificate(**original.import_args())["CertificateArn"]

    other_key = pki.issue("strict.example.com", sans=["strict.example.com"], algorithm="RSA_1024")
    error = error_of(
        lambda: tenant.acm.import_certificate(**other_key.import_args(CertificateArn=arn))
    )
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "New certificate has a key of RSA_1024 which is different from RSA_2048 in the "
        "current certificate."
    )

    fewer_ekus = pki.issue(
        "strict.example.com",
        sans=["strict.example.com"],
        extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    error = error_of(
        lambda: tenant.acm.import_certificate(**fewer_ekus.import_args(CertificateArn=arn))
    )
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "New certificate is missing one or more Extended Key Usages supported by the currently "
        "imported certificate"
    )

    nameless = pki.issue(None, organization="Nameless")
    error = error_of(
        lambda: tenant.acm.import_certificate(**nameless.import_args(CertificateArn=arn))
    )
    assert error["Code"] == "ValidationException"

    missing = arn[:-12] + "000000000000"
    error = error_of(
        lambda: tenant.acm.import_certificate(**original.import_args(CertificateArn=missing))
    )
    assert error["Code"] == "ResourceNotFoundException"
    assert missing in error["Message"]

    # Nothing changed through any of that.
    detail, _, _ = describe(tenant.acm, arn)
    assert detail["Serial"] == pki.acm_serial(original.certificate)
    assert tenant.acm.get_certificate(CertificateArn=arn)["Certificate"] == (
        original.cert_pem.decode()
    )


# -- delete and the errors of a missing or malformed ARN -----------------------------------------


def test_delete_then_every_read_is_not_found(tenant: Tenant) -> None:
    cert = pki.issue("gone.example.com", sans=["gone.example.com"])
    arn = tenant.acm.import_certificate(**cert.import_args(Tags=[{"Key": "k", "Value": "v"}]))[
        "CertificateArn"
    ]
    response = tenant.acm.delete_certificate(CertificateArn=arn)
    assert set(response) == {"ResponseMetadata"}
    for call in (
        tenant.acm.describe_certificate,
        tenant.acm.get_certificate,
        tenant.acm.delete_certificate,
        tenant.acm.list_tags_for_certificate,
    ):
        error = error_of(lambda call=call: call(CertificateArn=arn))
        assert error["Code"] == "ResourceNotFoundException", call
        assert arn in error["Message"]
    assert tenant.acm.list_certificates()["CertificateSummaryList"] == []
    assert tenant.acm.search_certificates()["Results"] == []


def test_malformed_arns(sqlite_tenant: Tenant) -> None:
    tenant = sqlite_tenant
    # Outside the model's pattern: refused before the service sees it.
    error = error_of(
        lambda: tenant.acm.describe_certificate(CertificateArn="this-is-not-an-arn-at-all")
    )
    assert error["Code"] == "ValidationException"
    # Inside the pattern, but not a certificate ARN.
    wrong = f"arn:aws:acm:us-east-1:{tenant.account_id}:nothing"
    error = error_of(lambda: tenant.acm.describe_certificate(CertificateArn=wrong))
    assert error["Code"] == "InvalidArnException"
    assert wrong in error["Message"]


# -- the aws CLI --------------------------------------------------------------------------------


def _write(directory: Path, name: str, data: bytes) -> str:
    path = directory / name
    path.write_bytes(data)
    return f"fileb://{path}"


def test_aws_cli_round_trip(sqlite_tenant: Tenant, tmp_path: Path) -> None:
    tenant = sqlite_tenant
    root, intermediate = pki.ca_hierarchy()
    leaf = pki.issue(
        "cli.example.com",
        sans=["cli.example.com", "www.cli.example.com"],
        issuer=intermediate,
        organization="CLI Org",
    )
    certificate = _write(tmp_path, "cert.pem", leaf.cert_pem)
    key = _write(tmp_path, "key.pem", pki.key_pem(leaf.key, "traditional"))
    chain = _write(tmp_path, "chain.pem", leaf.chain_pem)

    before = time.time()
    imported = tenant.aws_json(
        "acm",
        "import-certificate",
        "--certificate",
        certificate,
        "--private-key",
        key,
        "--certificate-chain",
        chain,
        "--tags",
        "Key=env,Value=prod",
        "Key=flag",
    )
    after = time.time()
    assert set(imported) == {"CertificateArn"}
    arn = imported["CertificateArn"]
    assert arn.startswith(f"arn:aws:acm:us-east-1:{tenant.account_id}:certificate/")

    described = tenant.aws_json("acm", "describe-certificate", "--certificate-arn", arn)
    assert set(described) == {"Certificate"}
    detail = described["Certificate"]
    created, imported_at = detail.pop("CreatedAt"), detail.pop("ImportedAt")
    assert isinstance(created, float) and before - 1 <= created <= after + 1
    assert imported_at == created
    names = ["cli.example.com", "www.cli.example.com"]
    assert detail == {
        "CertificateArn": arn,
        "DomainName": "cli.example.com",
        "SubjectAlternativeNames": names,
        "DomainValidationOptions": [{"DomainName": n} for n in names],
        "Serial": pki.acm_serial(leaf.certificate),
        "Subject": "O=CLI Org, CN=cli.example.com",
        "Issuer": "openacm tests",
        "Status": "ISSUED",
        # The CLI prints timestamps as the epoch seconds on the wire.
        "NotBefore": leaf.certificate.not_valid_before_utc.timestamp(),
        "NotAfter": leaf.certificate.not_valid_after_utc.timestamp(),
        "KeyAlgorithm": "RSA-2048",
        "SignatureAlgorithm": "SHA256WITHECDSA",
        "InUseBy": [],
        "Type": "IMPORTED",
        "KeyUsages": [{"Name": "DIGITAL_SIGNATURE"}, {"Name": "KEY_ENCIPHERMENT"}],
        "ExtendedKeyUsages": [SERVER_AUTH, CLIENT_AUTH],
        "RenewalEligibility": "INELIGIBLE",
        "Options": CT_ENABLED,
        "CertificateKeyPairOrigin": "CUSTOMER_PROVIDED",
    }

    got = tenant.aws_json("acm", "get-certificate", "--certificate-arn", arn)
    assert got == {
        "Certificate": leaf.cert_pem.decode(),
        "CertificateChain": intermediate.cert_pem.decode() + root.cert_pem.decode(),
    }

    listed = tenant.aws_json("acm", "list-certificates")
    assert listed == {
        "CertificateSummaryList": [
            {
                "CertificateArn": arn,
                "DomainName": "cli.example.com",
                "SubjectAlternativeNameSummaries": names,
                "HasAdditionalSubjectAlternativeNames": False,
                "Status": "ISSUED",
                "Type": "IMPORTED",
                "KeyAlgorithm": "RSA-2048",
                "KeyUsages": ["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"],
                "ExtendedKeyUsages": [
                    "TLS_WEB_SERVER_AUTHENTICATION",
                    "TLS_WEB_CLIENT_AUTHENTICATION",
                ],
                "InUse": False,
                "Exported": False,
                "RenewalEligibility": "INELIGIBLE",
                "NotBefore": leaf.certificate.not_valid_before_utc.timestamp(),
                "NotAfter": leaf.certificate.not_valid_after_utc.timestamp(),
                "CreatedAt": created,
                "ImportedAt": created,
                "CertificateKeyPairOrigin": "CUSTOMER_PROVIDED",
            }
        ]
    }

    # Tags: the import's, then added (one overwritten), then removed.
    tags = tenant.aws_json("acm", "list-tags-for-certificate", "--certificate-arn", arn)
    assert tags == {"Tags": [{"Key": "env", "Value": "prod"}, {"Key": "flag"}]}
    out = tenant.aws(
        "acm",
        "add-tags-to-certificate",
        "--certificate-arn",
        arn,
        "--tags",
        "Key=env,Value=staging",
        "Key=owner,Value=alice",
    )
    assert out.stdout.strip() == ""
    tags = tenant.aws_json("acm", "list-tags-for-certificate", "--certificate-arn", arn)
    assert tags == {
        "Tags": [
            {"Key": "env", "Value": "staging"},
            {"Key": "flag"},
            {"Key": "owner", "Value": "alice"},
        ]
    }
    tenant.aws(
        "acm",
        "remove-tags-from-certificate",
        "--certificate-arn",
        arn,
        "--tags",
        "Key=env,Value=prod",  # value does not match: kept
        "Key=flag",
        "Key=owner,Value=alice",
    )
    tags = tenant.aws_json("acm", "list-tags-for-certificate", "--certificate-arn", arn)
    assert tags == {"Tags": [{"Key": "env", "Value": "staging"}]}

    # Account configuration.
    assert tenant.aws_json("acm", "get-account-configuration") == {
        "ExpiryEvents": {"DaysBeforeExpiry": 45}
    }
    out = tenant.aws(
        "acm",
        "put-account-configuration",
        "--expiry-events",
        "DaysBeforeExpiry=30",
        "--idempotency-token",
        "cliToken1",
    )
    assert out.stdout.strip() == ""
    assert tenant.aws_json("acm", "get-account-configuration") == {
        "ExpiryEvents": {"DaysBeforeExpiry": 30}
    }

    # Re-import through the CLI keeps the ARN.
    again = pki.issue(
        "cli.example.com",
        sans=["cli.example.com", "www.cli.example.com", "api.cli.example.com"],
        issuer=intermediate,
        organization="CLI Org",
    )
    reimported = tenant.aws_json(
        "acm",
        "import-certificate",
        "--certificate-arn",
        arn,
        "--certificate",
        _write(tmp_path, "cert2.pem", again.cert_pem),
        "--private-key",
        _write(tmp_path, "key2.pem", again.key_pem),
        "--certificate-chain",
        _write(tmp_path, "chain2.pem", intermediate.cert_pem),
    )
    assert reimported == {"CertificateArn": arn}
    described = tenant.aws_json("acm", "describe-certificate", "--certificate-arn", arn)
    assert described["Certificate"]["Serial"] == pki.acm_serial(again.certificate)
    assert described["Certificate"]["CreatedAt"] == created
    assert described["Certificate"]["ImportedAt"] > created
    got = tenant.aws_json("acm", "get-certificate", "--certificate-arn", arn)
    assert got == {
        "Certificate": again.cert_pem.decode(),
        "CertificateChain": intermediate.cert_pem.decode(),  # the new chain replaced the old
    }

    # Delete, then the certificate is gone for the CLI too.
    out = tenant.aws("acm", "delete-certificate", "--certificate-arn", arn)
    assert out.stdout.strip() == ""
    assert tenant.aws_json("acm", "list-certificates") == {"CertificateSummaryList": []}
    failed = tenant.aws("acm", "describe-certificate", "--certificate-arn", arn, check=False)
    assert failed.returncode != 0
    assert "(ResourceNotFoundException)" in failed.stderr
    assert arn in failed.stderr


def test_aws_cli_search_and_resource_tags(sqlite_tenant: Tenant, tmp_path: Path) -> None:
    """The calls the round trip above leaves out, through the aws CLI with only an endpoint
    URL and keys: search-certificates and the generic *-resource tag commands."""
    tenant = sqlite_tenant
    issued = pki.issue("cli-search.example.com", sans=["cli-search.example.com"])
    (tmp_path / "cert.pem").write_bytes(issued.cert_pem)
    (tmp_path / "key.pem").write_bytes(issued.key_pem)
    arn = tenant.aws_json(
        "acm",
        "import-certificate",
        "--certificate",
        f"fileb://{tmp_path / 'cert.pem'}",
        "--private-key",
        f"fileb://{tmp_path / 'key.pem'}",
    )["CertificateArn"]

    statement = {
        "Filter": {
            "X509AttributeFilter": {
                "SubjectAlternativeName": {
                    "DnsName": {"Value": "cli-search.example.com", "ComparisonOperator": "EQUALS"}
                }
            }
        }
    }
    found = tenant.aws_json(
        "acm", "search-certificates", "--filter-statement", json.dumps(statement)
    )
    assert [r["CertificateArn"] for r in found["Results"]] == [arn]
    result = found["Results"][0]
    assert result["X509Attributes"]["Subject"] == {"CommonName": "cli-search.example.com"}
    assert result["X509Attributes"]["SerialNumber"] == pki.acm_serial(issued.certificate)
    assert result["CertificateMetadata"]["AcmCertificateMetadata"]["Type"] == "IMPORTED"

    tenant.aws(
        "acm", "tag-resource", "--resource-arn", arn, "--tags", "Key=team,Value=pki", "Key=bare"
    )
    listed = tenant.aws_json("acm", "list-tags-for-resource", "--resource-arn", arn)
    assert listed == {"Tags": [{"Key": "team", "Value": "pki"}, {"Key": "bare"}]}
    tenant.aws("acm", "untag-resource", "--resource-arn", arn, "--tag-keys", "bare")
    listed = tenant.aws_json("acm", "list-tags-for-resource", "--resource-arn", arn)
    assert listed == {"Tags": [{"Key": "team", "Value": "pki"}]}
    same = tenant.aws_json("acm", "list-tags-for-certificate", "--certificate-arn", arn)
    assert same == listed
