"""Accounts never see each other (issue 11, docs/access-control.md): every operation of the
ACM and ACM-PCA models that names a resource, called by account B's root key on account A's
resource, gets AWS's AccessDeniedException and nothing of A; B's lists and searches hold
nothing of A.

The table is checked against the models themselves: an operation that takes an ARN and is
missing here fails the test, so an operation added later cannot skip the check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import botocore.loaders
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.model import ServiceModel

from tests.conftest import finish_server, start_server
from tests.integration.test_pca_issue import leaf_csr
from tests.support import pki
from tests.support.server import OpenAcmServer

# The name A's resources carry: no answer to B may contain it.
SECRET = "isolated-a"
SERIAL = "6b:4d:2e:01"
SCOPE = {"ExactDomain": "ENABLED", "Subdomains": "ENABLED", "Wildcards": "DISABLED"}


@dataclass(frozen=True)
class AccountA:
    account_id: str
    certificate: str  # an imported ACM certificate
    ca: str  # an ACM-PCA root CA
    endpoint: str  # an ACME endpoint
    issued: str  # a certificate the CA issued
    binding: str  # an external account binding of the endpoint
    domain_validation: str  # a domain validation of the endpoint


@dataclass(frozen=True)
class Clients:
    acm: Any
    pca: Any
    account_id: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAcmServer]:
    started = start_server(tmp_path_factory.mktemp("isolation"), "sqlite")
    yield started
    finish_server(started)


@pytest.fixture(scope="module")
def a(server: OpenAcmServer) -> AccountA:
    account_id, key = server.new_account()
    acm, pca = server.client(key=key), server.client("acm-pca", key=key)
    issued = pki.issue(f"{SECRET}.example.com", sans=[f"{SECRET}.example.com"])
    certificate = acm.import_certificate(**issued.import_args())["CertificateArn"]
    ca = pca.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "EC_prime256v1",
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": f"{SECRET} root"},
        },
    )["CertificateAuthorityArn"]
    pca.get_waiter("certificate_authority_csr_created").wait(CertificateAuthorityArn=ca)
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=ca)["Csr"]
    root = pca.issue_certificate(
        CertificateAuthorityArn=ca,
        Csr=csr,
        SigningAlgorithm="SHA256WITHECDSA",
        TemplateArn="arn:aws:acm-pca:::template/RootCACertificate/V1",
        Validity={"Value": 365, "Type": "DAYS"},
    )["CertificateArn"]
    pca.get_waiter("certificate_issued").wait(CertificateAuthorityArn=ca, CertificateArn=root)
    body = pca.get_certificate(CertificateAuthorityArn=ca, CertificateArn=root)["Certificate"]
    pca.import_certificate_authority_certificate(CertificateAuthorityArn=ca, Certificate=body)
    endpoint = acm.create_acme_endpoint(
        AuthorizationBehavior="PRE_APPROVED",
        CertificateAuthority={"PublicCertificateAuthority": {}},
        Tags=[{"Key": "Name", "Value": SECRET}],
    )["AcmeEndpointArn"]
    binding = acm.create_acme_external_account_binding(
        AcmeEndpointArn=endpoint, RoleArn=f"arn:aws:iam::{account_id}:role/acme-clients"
    )["ExternalAccountBinding"]["AcmeExternalAccountBindingArn"]
    domain_validation = acm.create_acme_domain_validation(
        AcmeEndpointArn=endpoint,
        DomainName=f"{SECRET}.example.com",
        PrevalidationOptions={"DnsPrevalidation": {"DomainScope": SCOPE}},
    )["AcmeDomainValidationArn"]
    return AccountA(account_id, certificate, ca, endpoint, root, binding, domain_validation)


@pytest.fixture(scope="module")
def b(server: OpenAcmServer) -> Clients:
    account_id, key = server.new_account()
    return Clients(server.client(key=key), server.client("acm-pca", key=key), account_id)


def _tags() -> list[dict[str, str]]:
    return [{"Key": "k", "Value": "v"}]


def acm_calls(a: AccountA) -> dict[str, dict[str, Any]]:
    """Each ACM operation naming a resource, with a well-formed input naming A's."""
    cert, endpoint = a.certificate, a.endpoint
    issued = pki.issue("b-own.example.com")
    return {
        "AddTagsToCertificate": {"CertificateArn": cert, "Tags": _tags()},
        "DeleteCertificate": {"CertificateArn": cert},
        "DescribeCertificate": {"CertificateArn": cert},
        "ExportCertificate": {"CertificateArn": cert, "Passphrase": b"passw0rd"},
        "GetCertificate": {"CertificateArn": cert},
        "ImportCertificate": {"CertificateArn": cert, **issued.import_args()},
        "ListCertificateDomainValidations": {"CertificateArn": cert},
        "ListTagsForCertificate": {"CertificateArn": cert},
        "RemoveTagsFromCertificate": {"CertificateArn": cert, "Tags": _tags()},
        "RenewCertificate": {"CertificateArn": cert},
        "ResendValidationEmail": {
            "CertificateArn": cert,
            "Domain": f"{SECRET}.example.com",
            "ValidationDomain": "example.com",
        },
        "RevokeCertificate": {"CertificateArn": cert, "RevocationReason": "KEY_COMPROMISE"},
        "UpdateCertificateOptions": {
            "CertificateArn": cert,
            "Options": {"CertificateTransparencyLoggingPreference": "DISABLED"},
        },
        "ListTagsForResource": {"ResourceArn": endpoint},
        "TagResource": {"ResourceArn": endpoint, "Tags": _tags()},
        "UntagResource": {"ResourceArn": endpoint, "TagKeys": ["Name"]},
        "DescribeAcmeEndpoint": {"AcmeEndpointArn": endpoint},
        "UpdateAcmeEndpoint": {"AcmeEndpointArn": endpoint, "Contact": "REQUIRED"},
        "DeleteAcmeEndpoint": {"AcmeEndpointArn": endpoint},
        "ListAcmeAccounts": {"AcmeEndpointArn": endpoint},
        "DescribeAcmeAccount": {
            "AcmeEndpointArn": endpoint,
            "AccountUrl": "https://acme.example.com/acme/x/account/1",
        },
        "RevokeAcmeAccount": {
            "AcmeEndpointArn": endpoint,
            "AccountUrl": "https://acme.example.com/acme/x/account/1",
        },
        "CreateAcmeExternalAccountBinding": {
            "AcmeEndpointArn": endpoint,
            "RoleArn": "arn:aws:iam::123456789012:role/acme-clients",
        },
        "ListAcmeExternalAccountBindings": {"AcmeEndpointArn": endpoint},
        "DescribeAcmeExternalAccountBinding": {"AcmeExternalAccountBindingArn": a.binding},
        "GetAcmeExternalAccountBindingCredentials": {"AcmeExternalAccountBindingArn": a.binding},
        "RevokeAcmeExternalAccountBinding": {"AcmeExternalAccountBindingArn": a.binding},
        "DeleteAcmeExternalAccountBinding": {"AcmeExternalAccountBindingArn": a.binding},
        "CreateAcmeDomainValidation": {
            "AcmeEndpointArn": endpoint,
            "DomainName": "b-own.example.com",
            "PrevalidationOptions": {"DnsPrevalidation": {"DomainScope": SCOPE}},
        },
        "ListAcmeDomainValidations": {"AcmeEndpointArn": endpoint},
        "DescribeAcmeDomainValidation": {"AcmeDomainValidationArn": a.domain_validation},
        "UpdateAcmeDomainValidation": {
            "AcmeDomainValidationArn": a.domain_validation,
            "PrevalidationOptions": {"DnsPrevalidation": {"DomainScope": SCOPE}},
        },
        "DeleteAcmeDomainValidation": {"AcmeDomainValidationArn": a.domain_validation},
    }


def pca_calls(a: AccountA) -> dict[str, dict[str, Any]]:
    """Each ACM-PCA operation naming a resource, with a well-formed input naming A's CA."""
    ca = {"CertificateAuthorityArn": a.ca}
    csr = leaf_csr("b-own.example.com")
    return {
        "CreateCertificateAuthorityAuditReport": ca
        | {"S3BucketName": "bucket-b", "AuditReportResponseFormat": "JSON"},
        "CreatePermission": ca
        | {"Principal": "acm.amazonaws.com", "Actions": ["IssueCertificate"]},
        "DeleteCertificateAuthority": ca,
        "DeletePermission": ca | {"Principal": "acm.amazonaws.com"},
        "DeletePolicy": {"ResourceArn": a.ca},
        "DescribeCertificateAuthority": ca,
        "DescribeCertificateAuthorityAuditReport": ca
        | {"AuditReportId": "11111111-2222-3333-4444-555555555555"},
        "GetCertificate": ca | {"CertificateArn": a.issued},
        "GetCertificateAuthorityCertificate": ca,
        "GetCertificateAuthorityCsr": ca,
        "GetPolicy": {"ResourceArn": a.ca},
        "ImportCertificateAuthorityCertificate": ca
        | {"Certificate": b"-----BEGIN CERTIFICATE-----"},
        "IssueCertificate": ca
        | {
            "Csr": csr,
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Validity": {"Value": 30, "Type": "DAYS"},
        },
        "ListPermissions": ca,
        "ListTags": ca,
        "PutPolicy": {"ResourceArn": a.ca, "Policy": '{"Version":"2012-10-17","Statement":[]}'},
        "RestoreCertificateAuthority": ca,
        "RevokeCertificate": ca
        | {"CertificateSerial": SERIAL, "RevocationReason": "KEY_COMPROMISE"},
        "TagCertificateAuthority": ca | {"Tags": _tags()},
        "UntagCertificateAuthority": ca | {"Tags": _tags()},
        "UpdateCertificateAuthority": ca | {"Status": "DISABLED"},
    }


# Operations that take an ARN yet name no resource of another account to act on: a role B
# passes (CreateAcmeExternalAccountBinding's RoleArn is checked with its endpoint's ARN, which
# is in the table once the operation exists), and RequestCertificate's CertificateAuthorityArn,
# whose refusal is the certificate's PCA_* FailureReason (test_pca_sharing.py).
NOT_A_TARGET = {"RequestCertificate"}


def _resource_operations(service: str) -> set[str]:
    model = ServiceModel(
        botocore.loaders.Loader().load_service_model(service, "service-2"), service
    )
    named = set()
    for name in model.operation_names:
        shape = model.operation_model(name).input_shape
        if shape is not None and any(member.endswith("Arn") for member in shape.members):
            named.add(name)
    return named - NOT_A_TARGET


def _refused(call: Callable[..., Any], params: dict[str, Any]) -> str:
    with pytest.raises(ClientError) as raised:
        call(**params)
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException", error
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message: str = error["Message"]
    return message


@pytest.mark.parametrize("service", ["acm", "acm-pca"])
def test_every_operation_on_another_accounts_resource_is_refused(
    server: OpenAcmServer, a: AccountA, b: Clients, service: str
) -> None:
    calls = acm_calls(a) if service == "acm" else pca_calls(a)
    client = b.acm if service == "acm" else b.pca
    missing = _resource_operations(service) - set(calls)
    assert not missing, f"operations without an isolation check: {missing}"
    b_arn = f"arn:aws:iam::{b.account_id}:user/"
    for operation, params in calls.items():
        message = _refused(getattr(client, xform_name(operation)), params)
        assert message.startswith(f"User: {b_arn}"), (operation, message)
        assert "because no resource-based policy allows" in message, (operation, message)
        assert SECRET not in message, (operation, message)
    # Nothing was changed by any of those calls.
    acm_a = server.client(key=_key_of(server, a.account_id))
    described = acm_a.describe_certificate(CertificateArn=a.certificate)["Certificate"]
    assert described["Status"] == "ISSUED" and described["DomainName"].startswith(SECRET)
    tags = acm_a.list_tags_for_resource(ResourceArn=a.endpoint)["Tags"]
    assert tags == [{"Key": "Name", "Value": SECRET}]
    binding = acm_a.describe_acme_external_account_binding(AcmeExternalAccountBindingArn=a.binding)[
        "ExternalAccountBinding"
    ]
    assert "RevokedAt" not in binding, binding
    validations = acm_a.list_acme_domain_validations(AcmeEndpointArn=a.endpoint)
    assert [v["AcmeDomainValidationArn"] for v in validations["AcmeDomainValidations"]] == [
        a.domain_validation
    ]


def test_lists_and_searches_hold_nothing_of_another_account(a: AccountA, b: Clients) -> None:
    answers = [
        b.acm.list_certificates(Includes={"keyTypes": ["RSA_2048", "EC_prime256v1"]}),
        b.acm.search_certificates(),
        b.acm.list_acme_endpoints(),
        b.pca.list_certificate_authorities(ResourceOwner="SELF"),
        b.pca.list_certificate_authorities(ResourceOwner="OTHER_ACCOUNTS"),
    ]
    for answer in answers:
        text = repr(answer)
        assert SECRET not in text and a.account_id not in text, text


def _key_of(server: OpenAcmServer, account_id: str) -> tuple[str, str]:
    key, secret = server._identity_admin().create_access_key(account_id, user_name="checker")
    return key.access_key_id, secret
