"""ListCertificates and SearchCertificates: every filter, paging, sorting, result shapes.

Each listing test works in an account of its own, so the exact set of ARNs a filter returns
can be asserted; the SearchCertificates tests share one read-only account per backend
holding four certificates that differ in every attribute a filter can name.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.conftest import Tenant
from tests.support import pki
from tests.support.server import OpenAcmServer

DAY = dt.timedelta(days=1)
SERVER = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH
ALL_KEY_TYPES = [
    "RSA_1024",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_prime256v1",
    "EC_secp384r1",
    "EC_secp521r1",
]


def imported(acm: Any, issued: pki.Issued) -> str:
    arn: str = acm.import_certificate(**issued.import_args())["CertificateArn"]
    return arn


def listed(acm: Any, **params: Any) -> list[str]:
    """The ARNs of one ListCertificates page, in the order returned."""
    response = acm.list_certificates(**params)
    assert "NextToken" not in response
    return [s["CertificateArn"] for s in response["CertificateSummaryList"]]


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    error: dict[str, Any] = raised.value.response["Error"]
    return error


# == ListCertificates ===========================================================================


def test_default_listing_is_rsa_1024_and_2048_with_a_domain(tenant: Tenant) -> None:
    acm = tenant.acm
    arns = {
        algorithm: imported(acm, pki.issue(f"{algorithm.lower()}.example.com", algorithm=algorithm))
        for algorithm in ALL_KEY_TYPES
    }
    nameless = imported(acm, pki.issue(None, organization="No Name Inc"))

    assert set(listed(acm)) == {arns["RSA_1024"], arns["RSA_2048"]}
    # Asking for key types lifts both rules: the listed types, with or without a domain.
    assert set(listed(acm, Includes={"keyTypes": ["RSA_2048"]})) == {arns["RSA_2048"], nameless}
    assert set(listed(acm, Includes={"keyTypes": ["RSA_3072", "EC_secp384r1"]})) == {
        arns["RSA_3072"],
        arns["EC_secp384r1"],
    }
    everything = acm.list_certificates(Includes={"keyTypes": ALL_KEY_TYPES})
    summaries = {s["CertificateArn"]: s for s in everything["CertificateSummaryList"]}
    assert set(summaries) == {*arns.values(), nameless}
    for algorithm, arn in arns.items():
        summary = summaries[arn]
        assert summary["KeyAlgorithm"] == algorithm.replace("_", "-")
        assert summary["DomainName"] == f"{algorithm.lower()}.example.com"
        assert summary["KeyUsages"] == (
            ["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"]
            if algorithm.startswith("RSA")
            else ["DIGITAL_SIGNATURE"]
        )
    assert "DomainName" not in summaries[nameless]

    # Key pair origins: imported certificates are CUSTOMER_PROVIDED.
    assert set(listed(acm, CertificateKeyPairOrigins=["CUSTOMER_PROVIDED"])) == {
        arns["RSA_1024"],
        arns["RSA_2048"],
    }
    assert listed(acm, CertificateKeyPairOrigins=["AWS_MANAGED", "ACME"]) == []


def test_includes_key_usage_extended_key_usage_export_option_and_managed_by(
    tenant: Tenant,
) -> None:
    acm = tenant.acm
    custom_oid = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.1")

    def make(name: str, usages: list[str] | None, ekus: list[x509.ObjectIdentifier]) -> str:
        return imported(
            acm, pki.issue_with_key_usages(f"{name}.example.com", usages, extended_key_usage=ekus)
        )

    web = make("web", ["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"], [SERVER, CLIENT])
    server_only = make("server", ["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"], [SERVER])
    client_only = make("client", ["DIGITAL_SIGNATURE"], [CLIENT])
    code = make(
        "code", ["DIGITAL_SIGNATURE", "NON_REPUDIATION"], [ExtendedKeyUsageOID.CODE_SIGNING]
    )
    no_eku = make("noeku", ["KEY_ENCIPHERMENT"], [])
    no_ku = make("noku", None, [ExtendedKeyUsageOID.EMAIL_PROTECTION])
    custom = make("custom", ["DIGITAL_SIGNATURE"], [custom_oid])
    anything = make("any", ["DIGITAL_SIGNATURE"], [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])
    every = {web, server_only, client_only, code, no_eku, no_ku, custom, anything}
    assert set(listed(acm)) == every

    def eku(*names: str) -> set[str]:
        return set(listed(acm, Includes={"extendedKeyUsage": list(names)}))

    def ku(*names: str) -> set[str]:
        return set(listed(acm, Includes={"keyUsage": list(names)}))

    assert eku("TLS_WEB_SERVER_AUTHENTICATION") == {web, server_only}
    assert eku("TLS_WEB_CLIENT_AUTHENTICATION") == {web, client_only}
    assert eku("NONE") == {no_eku}
    assert eku("CODE_SIGNING", "NONE") == {code, no_eku}
    assert eku("EMAIL_PROTECTION") == {no_ku}
    assert eku("CUSTOM") == {custom}
    assert eku("ANY") == {anything}
    assert eku("IPSEC_USER") == set()

    assert ku("KEY_ENCIPHERMENT") == {web, server_only, no_eku}
    assert ku("NON_REPUDIATION") == {code}
    assert ku("NON_REPUDIATION", "KEY_ENCIPHERMENT") == {code, web, server_only, no_eku}
    assert ku("DIGITAL_SIGNATURE") == {web, server_only, client_only, code, custom, anything}
    assert ku("CRL_SIGNING") == set()

    # Different filters must all hold.
    both = listed(
        acm,
        Includes={
            "keyUsage": ["DIGITAL_SIGNATURE"],
            "extendedKeyUsage": ["TLS_WEB_CLIENT_AUTHENTICATION"],
        },
    )
    assert set(both) == {web, client_only}

    # What the summaries say about the same certificates.
    summaries = {s["CertificateArn"]: s for s in acm.list_certificates()["CertificateSummaryList"]}
    assert summaries[no_eku]["ExtendedKeyUsages"] == ["NONE"]
    assert summaries[no_eku]["KeyUsages"] == ["KEY_ENCIPHERMENT"]
    assert summaries[no_ku]["KeyUsages"] == []
    assert summaries[no_ku]["ExtendedKeyUsages"] == ["EMAIL_PROTECTION"]
    assert summaries[custom]["ExtendedKeyUsages"] == ["CUSTOM"]
    assert summaries[anything]["ExtendedKeyUsages"] == ["ANY"]
    assert summaries[code]["KeyUsages"] == ["DIGITAL_SIGNATURE", "NON_REPUDIATION"]
    assert summaries[code]["ExtendedKeyUsages"] == ["CODE_SIGNING"]

    # Imported certificates have no export option and are managed by no service.
    assert listed(acm, Includes={"exportOption": "ENABLED"}) == []
    assert listed(acm, Includes={"exportOption": "DISABLED"}) == []
    assert listed(acm, Includes={"managedBy": "CLOUDFRONT"}) == []
    for summary in summaries.values():
        assert "ExportOption" not in summary
        assert "ManagedBy" not in summary


def test_certificate_statuses_issued_and_expired(tenant: Tenant) -> None:
    acm = tenant.acm
    lasting = imported(acm, pki.issue("lasting.example.com", sans=["lasting.example.com"]))
    start = pki.now()
    short = pki.issue(
        "short.example.com",
        sans=["short.example.com"],
        not_before=start - DAY,
        not_after=start + dt.timedelta(seconds=4),
    )
    fleeting = imported(acm, short)
    assert set(listed(acm, CertificateStatuses=["ISSUED"])) == {lasting, fleeting}
    assert listed(acm, CertificateStatuses=["EXPIRED"]) == []

    # Wait until the short one is past its NotAfter (an expired certificate cannot be imported,
    # so this is the only way to hold one).
    expires = short.certificate.not_valid_after_utc.timestamp()
    time.sleep(max(0.0, expires - time.time()) + 1.1)

    assert acm.describe_certificate(CertificateArn=fleeting)["Certificate"]["Status"] == "EXPIRED"
    assert acm.describe_certificate(CertificateArn=lasting)["Certificate"]["Status"] == "ISSUED"
    statuses = {
        s["CertificateArn"]: s["Status"] for s in acm.list_certificates()["CertificateSummaryList"]
    }
    assert statuses == {lasting: "ISSUED", fleeting: "EXPIRED"}
    assert listed(acm, CertificateStatuses=["ISSUED"]) == [lasting]
    assert listed(acm, CertificateStatuses=["EXPIRED"]) == [fleeting]
    assert set(listed(acm, CertificateStatuses=["ISSUED", "EXPIRED"])) == {lasting, fleeting}
    assert listed(acm, CertificateStatuses=["PENDING_VALIDATION", "REVOKED", "FAILED"]) == []

    def by_status(status: str) -> list[str]:
        results = acm.search_certificates(
            FilterStatement={"Filter": {"AcmCertificateMetadataFilter": {"Status": status}}}
        )["Results"]
        return [r["CertificateArn"] for r in results]

    assert by_status("EXPIRED") == [fleeting]
    assert by_status("ISSUED") == [lasting]
    (found,) = acm.search_certificates(FilterStatement={"Filter": {"CertificateArn": fleeting}})[
        "Results"
    ]
    assert found["CertificateMetadata"]["AcmCertificateMetadata"]["Status"] == "EXPIRED"

    # An expired certificate cannot be imported again, not even over its own ARN.
    error = error_of(lambda: acm.import_certificate(**short.import_args(CertificateArn=fleeting)))
    assert error["Code"] == "ValidationException"
    assert "expired" in error["Message"]


def test_paging_and_sorting_25_certificates(tenant: Tenant) -> None:
    acm = tenant.acm
    arns = [imported(acm, pki.issue(f"c{i:02}.example.com")) for i in range(25)]
    ascending = {"SortBy": "CREATED_AT", "SortOrder": "ASCENDING"}
    descending = {"SortBy": "CREATED_AT", "SortOrder": "DESCENDING"}

    # By hand: 10, 10, 5; a NextToken until the last page.
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"MaxItems": 10, **ascending}
        if token:
            params["NextToken"] = token
        response = acm.list_certificates(**params)
        pages.append([s["CertificateArn"] for s in response["CertificateSummaryList"]])
        token = response.get("NextToken")
        if token is None:
            break
        assert isinstance(token, str) and token
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [arn for page in pages for arn in page] == arns

    # boto3's paginator, both orders.
    paginator = acm.get_paginator("list_certificates")
    page_sizes = []
    seen = []
    for page in paginator.paginate(PaginationConfig={"PageSize": 7}, **ascending):
        page_sizes.append(len(page["CertificateSummaryList"]))
        seen += [s["CertificateArn"] for s in page["CertificateSummaryList"]]
    assert page_sizes == [7, 7, 7, 4]
    assert seen == arns
    result = paginator.paginate(PaginationConfig={"PageSize": 6}, **descending).build_full_result()
    assert [s["CertificateArn"] for s in result["CertificateSummaryList"]] == arns[::-1]
    # Without SortBy: every certificate exactly once.
    result = paginator.paginate(PaginationConfig={"PageSize": 4}).build_full_result()
    unsorted = [s["CertificateArn"] for s in result["CertificateSummaryList"]]
    assert sorted(unsorted) == sorted(arns)

    # A page exactly as large as the rest has no NextToken.
    response = acm.list_certificates(MaxItems=25)
    assert len(response["CertificateSummaryList"]) == 25 and "NextToken" not in response
    first = acm.list_certificates(MaxItems=24, **descending)
    last = acm.list_certificates(MaxItems=24, NextToken=first["NextToken"], **descending)
    assert [s["CertificateArn"] for s in last["CertificateSummaryList"]] == [arns[0]]
    assert "NextToken" not in last

    # The aws CLI pages through the server's tokens on its own.
    out = tenant.aws_json(
        "acm",
        "list-certificates",
        "--page-size",
        "6",
        "--sort-by",
        "CREATED_AT",
        "--sort-order",
        "DESCENDING",
    )
    assert [s["CertificateArn"] for s in out["CertificateSummaryList"]] == arns[::-1]

    # SearchCertificates pages the same set.
    search_pages = acm.get_paginator("search_certificates").paginate(
        SortBy="CREATED_AT", SortOrder="DESCENDING", PaginationConfig={"PageSize": 10}
    )
    sizes, found = [], []
    for page in search_pages:
        sizes.append(len(page["Results"]))
        found += [r["CertificateArn"] for r in page["Results"]]
    assert sizes == [10, 10, 5]
    assert found == arns[::-1]
    response = acm.search_certificates(MaxResults=25, SortBy="CREATED_AT", SortOrder="ASCENDING")
    assert [r["CertificateArn"] for r in response["Results"]] == arns
    assert "NextToken" not in response


def test_next_tokens_belong_to_their_query(tenant: Tenant) -> None:
    acm = tenant.acm
    for i in range(3):
        imported(acm, pki.issue(f"t{i}.example.com"))
    token = acm.list_certificates(MaxItems=1)["NextToken"]
    # The same query continues, even with another page size...
    rest = acm.list_certificates(MaxItems=5, NextToken=token)["CertificateSummaryList"]
    assert len(rest) == 2
    # ...but a token is refused with other filters, another order, or when it is garbage.
    for other in (
        {"CertificateStatuses": ["ISSUED"]},
        {"Includes": {"keyTypes": ["RSA_2048"]}},
        {"CertificateKeyPairOrigins": ["CUSTOMER_PROVIDED"]},
        {"SortBy": "CREATED_AT", "SortOrder": "DESCENDING"},
    ):
        error = error_of(lambda other=other: acm.list_certificates(NextToken=token, **other))
        assert error["Code"] == "InvalidArgsException", other
    for garbage in ("garbage", "eyJwIjpbMV0sInEiOiJ4In0=", token[:-4]):
        error = error_of(lambda garbage=garbage: acm.list_certificates(NextToken=garbage))
        assert error["Code"] == "InvalidArgsException", garbage

    search_token = acm.search_certificates(MaxResults=1)["NextToken"]
    more = acm.search_certificates(MaxResults=2, NextToken=search_token)["Results"]
    assert len(more) == 2
    error = error_of(
        lambda: acm.search_certificates(
            NextToken=search_token,
            FilterStatement={"Filter": {"X509AttributeFilter": {"KeyAlgorithm": "RSA_2048"}}},
        )
    )
    assert error["Code"] == "ValidationException"
    error = error_of(lambda: acm.search_certificates(NextToken=search_token, SortBy="NOT_AFTER"))
    assert error["Code"] == "ValidationException"
    error = error_of(lambda: acm.search_certificates(NextToken="garbage"))
    assert error["Code"] == "ValidationException"
    # A list token is no search token.
    error = error_of(lambda: acm.search_certificates(NextToken=token))
    assert error["Code"] == "ValidationException"


# == SearchCertificates ========================================================================


@dataclass
class SearchSet:
    """Four certificates that differ in every attribute a search filter can name."""

    acm: Any
    now: dt.datetime
    certs: dict[str, pki.Issued]
    arns: dict[str, str]

    def names(self, arns: list[str]) -> list[str]:
        by_arn = {arn: name for name, arn in self.arns.items()}
        return [by_arn[arn] for arn in arns]

    def search(self, statement: dict[str, Any] | None = None, **params: Any) -> list[str]:
        """The names of the certificates one search returns, in order."""
        if statement is not None:
            params["FilterStatement"] = statement
        response = self.acm.search_certificates(**params)
        assert "NextToken" not in response
        return self.names([r["CertificateArn"] for r in response["Results"]])


@pytest.fixture(scope="module")
def search_set(server: OpenAcmServer) -> SearchSet:
    account_id, key = server.new_account()
    acm = Tenant(server, account_id, key, server.client(key=key)).acm
    now = pki.now()
    _root, intermediate = pki.ca_hierarchy()
    certs = {
        # RSA, CA-signed, two DNS names, server+client EKU.
        "alpha": pki.issue(
            "alpha.example.com",
            sans=["alpha.example.com", "www.alpha.example.com"],
            issuer=intermediate,
            organization="Alpha Org",
            not_before=now - DAY,
            not_after=now + 200 * DAY,
        ),
        # EC P-256, self-signed, server EKU only.
        "beta": pki.issue(
            "beta.example.org",
            sans=["beta.example.org", "shared.example.net"],
            algorithm="EC_prime256v1",
            extended_key_usage=[SERVER],
            not_before=now - 10 * DAY,
            not_after=now + 30 * DAY,
        ),
        # RSA, no SAN extension, no key usage, no extended key usage.
        "gamma": pki.issue_with_key_usages(
            "gamma.internal",
            None,
            extended_key_usage=[],
            not_before=now - 100 * DAY,
            not_after=now + 400 * DAY,
        ),
        # EC P-384 without a common name, code signing.
        "delta": pki.issue(
            None,
            sans=["delta.example.net", "shared.example.net"],
            algorithm="EC_secp384r1",
            organization="Delta Org",
            extended_key_usage=[ExtendedKeyUsageOID.CODE_SIGNING],
            not_before=now - 2 * DAY,
            not_after=now + 90 * DAY,
        ),
    }
    arns = {}
    for name, issued in certs.items():
        arns[name] = imported(acm, issued)
        time.sleep(0.01)  # distinct CreatedAt, in this order
    return SearchSet(acm, now, certs, arns)


def x509_filter(**member: Any) -> dict[str, Any]:
    return {"Filter": {"X509AttributeFilter": member}}


def metadata_filter(**member: Any) -> dict[str, Any]:
    return {"Filter": {"AcmCertificateMetadataFilter": member}}


def common_name(operator: str, value: str) -> dict[str, Any]:
    return x509_filter(Subject={"CommonName": {"Value": value, "ComparisonOperator": operator}})


def dns_name(operator: str, value: str) -> dict[str, Any]:
    return x509_filter(
        SubjectAlternativeName={"DnsName": {"Value": value, "ComparisonOperator": operator}}
    )


def test_search_without_a_filter_returns_every_key_type(search_set: SearchSet) -> None:
    ordered = {"SortBy": "CREATED_AT", "SortOrder": "ASCENDING"}
    assert search_set.search(**ordered) == ["alpha", "beta", "gamma", "delta"]
    assert sorted(search_set.search()) == ["alpha", "beta", "delta", "gamma"]


def test_search_by_arn_subject_and_names(search_set: SearchSet) -> None:
    s = search_set
    ordered = {"SortBy": "CREATED_AT", "SortOrder": "ASCENDING"}
    assert s.search({"Filter": {"CertificateArn": s.arns["beta"]}}) == ["beta"]
    missing = s.arns["beta"][:-12] + "000000000000"
    assert s.search({"Filter": {"CertificateArn": missing}}) == []

    assert s.search(common_name("EQUALS", "alpha.example.com")) == ["alpha"]
    assert s.search(common_name("EQUALS", "alpha")) == []
    assert s.search(common_name("CONTAINS", "example"), **ordered) == ["alpha", "beta"]
    assert s.search(common_name("CONTAINS", "a.int")) == ["gamma"]
    assert s.search(common_name("CONTAINS", "Delta")) == []  # an O, not a CN
    # Matching is case-sensitive, and the same on every backend.
    assert s.search(common_name("CONTAINS", "ALPHA")) == []
    assert s.search(common_name("EQUALS", "Alpha.Example.Com")) == []
    # LIKE wildcards are plain characters.
    assert s.search(common_name("CONTAINS", "%")) == []
    assert s.search(common_name("CONTAINS", "_")) == []

    assert s.search(dns_name("EQUALS", "www.alpha.example.com")) == ["alpha"]
    assert s.search(dns_name("EQUALS", "shared.example.net"), **ordered) == ["beta", "delta"]
    assert s.search(dns_name("EQUALS", "example.net")) == []  # a suffix, not the name
    assert s.search(dns_name("CONTAINS", "example.net"), **ordered) == ["beta", "delta"]
    assert s.search(dns_name("CONTAINS", ".example."), **ordered) == ["alpha", "beta", "delta"]
    assert s.search(dns_name("CONTAINS", "SHARED")) == []


def test_search_by_usages_algorithm_and_serial(search_set: SearchSet) -> None:
    s = search_set
    ordered = {"SortBy": "CREATED_AT", "SortOrder": "ASCENDING"}
    assert s.search(x509_filter(ExtendedKeyUsage="TLS_WEB_SERVER_AUTHENTICATION"), **ordered) == [
        "alpha",
        "beta",
    ]
    assert s.search(x509_filter(ExtendedKeyUsage="TLS_WEB_CLIENT_AUTHENTICATION")) == ["alpha"]
    assert s.search(x509_filter(ExtendedKeyUsage="CODE_SIGNING")) == ["delta"]
    assert s.search(x509_filter(ExtendedKeyUsage="NONE")) == ["gamma"]
    assert s.search(x509_filter(ExtendedKeyUsage="OCSP_SIGNING")) == []

    assert s.search(x509_filter(KeyUsage="KEY_ENCIPHERMENT")) == ["alpha"]
    assert s.search(x509_filter(KeyUsage="DIGITAL_SIGNATURE"), **ordered) == [
        "alpha",
        "beta",
        "delta",
    ]
    assert s.search(x509_filter(KeyUsage="CERTIFICATE_SIGNING")) == []

    assert s.search(x509_filter(KeyAlgorithm="RSA_2048"), **ordered) == ["alpha", "gamma"]
    assert s.search(x509_filter(KeyAlgorithm="EC_prime256v1")) == ["beta"]
    assert s.search(x509_filter(KeyAlgorithm="EC_secp384r1")) == ["delta"]
    assert s.search(x509_filter(KeyAlgorithm="RSA_4096")) == []

    for name, issued in s.certs.items():
        serial = pki.acm_serial(issued.certificate)
        assert s.search(x509_filter(SerialNumber=serial)) == [name]
    assert s.search(x509_filter(SerialNumber="00:11:22")) == []


def test_search_by_validity_ranges(search_set: SearchSet) -> None:
    s = search_set
    now = s.now
    ordered = {"SortBy": "CREATED_AT", "SortOrder": "ASCENDING"}

    def not_after(**span: dt.datetime) -> list[str]:
        return s.search(x509_filter(NotAfter=span), **ordered)

    def not_before(**span: dt.datetime) -> list[str]:
        return s.search(x509_filter(NotBefore=span), **ordered)

    # NotAfter: beta +30d, delta +90d, alpha +200d, gamma +400d.
    assert not_after(Start=now + 60 * DAY, End=now + 250 * DAY) == ["alpha", "delta"]
    assert not_after(Start=now + 300 * DAY) == ["gamma"]
    assert not_after(End=now + 31 * DAY) == ["beta"]
    # Both ends are inclusive.
    assert not_after(Start=now + 30 * DAY, End=now + 90 * DAY) == ["beta", "delta"]
    assert not_after(Start=now + 30 * DAY + dt.timedelta(seconds=1), End=now + 90 * DAY) == [
        "delta"
    ]
    assert not_after(Start=now + 500 * DAY) == []
    # NotBefore: gamma -100d, beta -10d, delta -2d, alpha -1d.
    assert not_before(Start=now - 5 * DAY) == ["alpha", "delta"]
    assert not_before(End=now - 5 * DAY) == ["beta", "gamma"]
    assert not_before(Start=now - 10 * DAY, End=now - 2 * DAY) == ["beta", "delta"]


def test_search_by_acm_metadata(search_set: SearchSet) -> None:
    s = search_set
    every = ["alpha", "beta", "delta", "gamma"]
    assert sorted(s.search(metadata_filter(Status="ISSUED"))) == every
    assert s.search(metadata_filter(Status="EXPIRED")) == []
    assert s.search(metadata_filter(Status="PENDING_VALIDATION")) == []
    assert sorted(s.search(metadata_filter(Type="IMPORTED"))) == every
    assert s.search(metadata_filter(Type="AMAZON_ISSUED")) == []
    assert s.search(metadata_filter(Type="PRIVATE")) == []
    assert sorted(s.search(metadata_filter(InUse=False))) == every
    assert s.search(metadata_filter(InUse=True)) == []
    assert sorted(s.search(metadata_filter(Exported=False))) == every
    assert s.search(metadata_filter(Exported=True)) == []
    assert sorted(s.search(metadata_filter(CertificateKeyPairOrigin="CUSTOMER_PROVIDED"))) == every
    assert s.search(metadata_filter(CertificateKeyPairOrigin="AWS_MANAGED")) == []
    assert s.search(metadata_filter(CertificateKeyPairOrigin="ACME")) == []
    assert s.search(metadata_filter(ManagedBy="CLOUDFRONT")) == []
    assert s.search(metadata_filter(ExportOption="ENABLED")) == []


def test_search_and_or_not_nesting(search_set: SearchSet) -> None:
    s = search_set
    ordered = {"SortBy": "CREATED_AT", "SortOrder": "ASCENDING"}
    rsa = x509_filter(KeyAlgorithm="RSA_2048")
    server_auth = x509_filter(ExtendedKeyUsage="TLS_WEB_SERVER_AUTHENTICATION")
    p384 = x509_filter(KeyAlgorithm="EC_secp384r1")
    gamma = common_name("EQUALS", "gamma.internal")

    assert s.search({"And": [rsa, server_auth]}) == ["alpha"]
    assert s.search({"Or": [p384, gamma]}, **ordered) == ["gamma", "delta"]
    assert s.search({"Or": [rsa, server_auth]}, **ordered) == ["alpha", "beta", "gamma"]
    assert s.search({"Not": rsa}, **ordered) == ["beta", "delta"]
    assert s.search({"Not": {"Not": rsa}}, **ordered) == ["alpha", "gamma"]
    assert s.search({"And": [rsa]}, **ordered) == ["alpha", "gamma"]
    assert s.search({"And": [rsa, {"Not": server_auth}]}) == ["gamma"]
    assert s.search({"Or": [{"And": [rsa, server_auth]}, {"And": [p384]}]}, **ordered) == [
        "alpha",
        "delta",
    ]
    assert s.search(
        {
            "And": [
                {"Or": [dns_name("CONTAINS", "example"), gamma]},
                {"Not": {"Or": [x509_filter(KeyAlgorithm="EC_prime256v1"), p384]}},
                metadata_filter(Type="IMPORTED"),
            ]
        },
        **ordered,
    ) == ["alpha", "gamma"]
    # Not of a filter on an attribute a certificate lacks: delta has no common name, so it
    # does not contain "example" and belongs to the negation.
    assert s.search({"Not": common_name("CONTAINS", "example")}, **ordered) == ["gamma", "delta"]
    assert s.search({"Not": common_name("EQUALS", "alpha.example.com")}, **ordered) == [
        "beta",
        "gamma",
        "delta",
    ]
    assert s.search({"Not": metadata_filter(ManagedBy="CLOUDFRONT")}, **ordered) == [
        "alpha",
        "beta",
        "gamma",
        "delta",
    ]
    assert s.search({"And": [p384, {"Not": p384}]}) == []


def test_search_paging(search_set: SearchSet) -> None:
    s = search_set
    order = {"SortBy": "NOT_AFTER", "SortOrder": "ASCENDING"}
    pages = []
    token = None
    while True:
        params: dict[str, Any] = {"MaxResults": 3, **order}
        if token:
            params["NextToken"] = token
        response = s.acm.search_certificates(**params)
        pages.append(s.names([r["CertificateArn"] for r in response["Results"]]))
        token = response.get("NextToken")
        if not token:
            break
    assert pages == [["beta", "delta", "alpha"], ["gamma"]]
    result = (
        s.acm.get_paginator("search_certificates")
        .paginate(
            FilterStatement={"Not": x509_filter(KeyAlgorithm="EC_prime256v1")},
            PaginationConfig={"PageSize": 1},
            **order,
        )
        .build_full_result()
    )
    assert s.names([r["CertificateArn"] for r in result["Results"]]) == ["delta", "alpha", "gamma"]


def test_search_sorting(search_set: SearchSet) -> None:
    s = search_set

    def by(key: str, order: str = "ASCENDING") -> list[str]:
        return s.search(SortBy=key, SortOrder=order)

    assert by("CREATED_AT") == ["alpha", "beta", "gamma", "delta"]
    assert by("CREATED_AT", "DESCENDING") == ["delta", "gamma", "beta", "alpha"]
    assert by("IMPORTED_AT") == ["alpha", "beta", "gamma", "delta"]
    assert by("NOT_AFTER") == ["beta", "delta", "alpha", "gamma"]
    assert by("NOT_AFTER", "DESCENDING") == ["gamma", "alpha", "delta", "beta"]
    assert by("NOT_BEFORE") == ["gamma", "beta", "delta", "alpha"]
    assert by("CERTIFICATE_ARN") == s.names(sorted(s.arns.values()))
    assert by("CERTIFICATE_ARN", "DESCENDING") == s.names(sorted(s.arns.values(), reverse=True))
    # Ties are broken by ARN in the same direction.
    ec_first = sorted(
        ["beta", "delta"], key=lambda n: ("EC_prime256v1", "EC_secp384r1")[n == "delta"]
    )
    rsa = sorted(["alpha", "gamma"], key=lambda n: s.arns[n])
    assert by("KEY_ALGORITHM") == ec_first + rsa
    assert by("KEY_ALGORITHM", "DESCENDING") == rsa[::-1] + ec_first[::-1]
    # A certificate without a common name sorts after the others either way, on every backend.
    assert by("COMMON_NAME") == ["alpha", "beta", "gamma", "delta"]
    assert by("COMMON_NAME", "DESCENDING") == ["gamma", "beta", "alpha", "delta"]


def test_search_result_shapes(search_set: SearchSet) -> None:
    s = search_set
    results = {
        name: result
        for name, result in zip(
            ["alpha", "beta", "gamma", "delta"],
            s.acm.search_certificates(SortBy="CREATED_AT", SortOrder="ASCENDING")["Results"],
            strict=True,
        )
    }

    def metadata(name: str) -> dict[str, Any]:
        detail = s.acm.describe_certificate(CertificateArn=s.arns[name])["Certificate"]
        return {
            "CreatedAt": detail["CreatedAt"],
            "Exported": False,
            "ImportedAt": detail["ImportedAt"],
            "InUse": False,
            "RenewalEligibility": "INELIGIBLE",
            "Status": "ISSUED",
            "Type": "IMPORTED",
            "CertificateKeyPairOrigin": "CUSTOMER_PROVIDED",
        }

    def validity(name: str) -> dict[str, Any]:
        cert = s.certs[name].certificate
        return {
            "SerialNumber": pki.acm_serial(cert),
            "NotBefore": cert.not_valid_before_utc,
            "NotAfter": cert.not_valid_after_utc,
        }

    intermediate_dn = {"CommonName": "Test Intermediate CA", "Organization": "openacm tests"}
    assert results["alpha"] == {
        "CertificateArn": s.arns["alpha"],
        "X509Attributes": {
            "Issuer": intermediate_dn,
            "Subject": {"CommonName": "alpha.example.com", "Organization": "Alpha Org"},
            "SubjectAlternativeNames": [
                {"DnsName": "alpha.example.com"},
                {"DnsName": "www.alpha.example.com"},
            ],
            "ExtendedKeyUsages": ["TLS_WEB_SERVER_AUTHENTICATION", "TLS_WEB_CLIENT_AUTHENTICATION"],
            "KeyAlgorithm": "RSA_2048",
            "KeyUsages": ["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"],
            **validity("alpha"),
        },
        "CertificateMetadata": {"AcmCertificateMetadata": metadata("alpha")},
    }
    assert results["beta"] == {
        "CertificateArn": s.arns["beta"],
        "X509Attributes": {
            "Issuer": {"CommonName": "beta.example.org"},
            "Subject": {"CommonName": "beta.example.org"},
            "SubjectAlternativeNames": [
                {"DnsName": "beta.example.org"},
                {"DnsName": "shared.example.net"},
            ],
            "ExtendedKeyUsages": ["TLS_WEB_SERVER_AUTHENTICATION"],
            "KeyAlgorithm": "EC_prime256v1",
            "KeyUsages": ["DIGITAL_SIGNATURE"],
            **validity("beta"),
        },
        "CertificateMetadata": {"AcmCertificateMetadata": metadata("beta")},
    }
    # No SAN extension, no key usage, no extended key usage: the members are left out.
    assert results["gamma"] == {
        "CertificateArn": s.arns["gamma"],
        "X509Attributes": {
            "Issuer": {"CommonName": "gamma.internal"},
            "Subject": {"CommonName": "gamma.internal"},
            "KeyAlgorithm": "RSA_2048",
            **validity("gamma"),
        },
        "CertificateMetadata": {"AcmCertificateMetadata": metadata("gamma")},
    }
    assert results["delta"] == {
        "CertificateArn": s.arns["delta"],
        "X509Attributes": {
            "Issuer": {"Organization": "Delta Org"},
            "Subject": {"Organization": "Delta Org"},
            "SubjectAlternativeNames": [
                {"DnsName": "delta.example.net"},
                {"DnsName": "shared.example.net"},
            ],
            "ExtendedKeyUsages": ["CODE_SIGNING"],
            "KeyAlgorithm": "EC_secp384r1",
            "KeyUsages": ["DIGITAL_SIGNATURE"],
            **validity("delta"),
        },
        "CertificateMetadata": {"AcmCertificateMetadata": metadata("delta")},
    }
