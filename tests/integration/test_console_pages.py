"""The console pages of issue 10's second part, over HTTP: import with the rules checked first
(pasted or uploaded), the certificate's events and renewal history, tags edited in place."""

from __future__ import annotations

import json
import re
import time
from html import unescape
from typing import Any
from urllib.parse import unquote

import httpx
from botocore.exceptions import ClientError
from cryptography import x509

from tests.conftest import Tenant
from tests.integration.test_access_control import user_with
from tests.integration.test_pca_issue import issue, leaf_csr
from tests.integration.test_pca_lifecycle import OfflineRoot, create_ca, pem, status_of
from tests.integration.test_pca_sharing import policy_for
from tests.integration.test_private_certificates import make_root_ca
from tests.support import pki
from tests.support.acme_client import AcmeTestClient
from tests.support.console import ConsoleVisitor

IMPORT = "/console/certificates/import"


def signed_in(tenant: Tenant) -> ConsoleVisitor:
    visitor = ConsoleVisitor(tenant.server)
    assert visitor.sign_in(tenant.key).status_code == 303
    return visitor


def test_import_checks_the_rules_before_importing_uploaded_files(sqlite_tenant: Tenant) -> None:
    visitor = signed_in(sqlite_tenant)
    csrf = visitor.csrf_of(visitor.get(IMPORT))
    leaf = pki.issue("upload.example.com", sans=["upload.example.com"])
    other = pki.issue("other.example.com", algorithm="EC_prime256v1")

    def upload(step: str, key: bytes, **fields: str) -> str:
        answer = visitor.upload(
            IMPORT,
            {"csrf": csrf, "step": step, **fields},
            {
                "certificate_file": ("cert.pem", leaf.cert_pem),
                "private_key_file": ("key.pem", key),
            },
        )
        return f"{answer.status_code} {unescape(answer.text)}"

    # Checked with a key that is not the certificate's: ImportCertificate's own refusal, and
    # nothing imported.
    refused = upload("check", other.key_pem)
    assert refused.startswith("400") and "does not match" in refused
    assert sqlite_tenant.acm.list_certificates()["CertificateSummaryList"] == []
    # The right key: the rules are met, what would be imported is shown, and the uploaded
    # files are now in the form's fields (the Import button posts what was checked).
    checked = upload("check", leaf.key_pem)
    assert checked.startswith("200") and "meet the import rules" in checked
    assert "upload.example.com" in checked and "RSA_2048" in checked
    assert "-----BEGIN CERTIFICATE-----" in checked
    assert sqlite_tenant.acm.list_certificates()["CertificateSummaryList"] == []
    imported = visitor.upload(
        IMPORT,
        {"csrf": csrf, "step": "import", "certificate": leaf.cert_pem.decode()},
        {"private_key_file": ("key.pem", leaf.key_pem)},
    )
    assert imported.status_code == 303, imported.text
    (summary,) = sqlite_tenant.acm.list_certificates()["CertificateSummaryList"]
    arn = summary["CertificateArn"]
    # A reimport is checked against the certificate it replaces: another key algorithm is
    # refused by the reimport rules, before anything is submitted.
    reimport = upload("check", other.key_pem, arn=arn)
    assert reimport.startswith("400")
    ec_leaf = pki.issue("upload.example.com", algorithm="EC_prime256v1")
    answer = visitor.upload(
        IMPORT,
        {"csrf": csrf, "step": "check", "arn": arn},
        {
            "certificate_file": ("c.pem", ec_leaf.cert_pem),
            "private_key_file": ("k.pem", ec_leaf.key_pem),
        },
    )
    assert answer.status_code == 400
    assert "EC_prime256v1 which is different from RSA_2048" in unescape(answer.text)
    # The import page's multipart form is CSRF-checked like every other form.
    forged = visitor.upload(
        IMPORT, {"step": "import"}, {"certificate_file": ("c.pem", leaf.cert_pem)}
    )
    assert forged.status_code == 403


def test_detail_shows_events_and_edits_tags_in_place(tenant: Tenant) -> None:
    leaf = pki.issue("events.example.com", sans=["events.example.com"])
    arn = tenant.acm.import_certificate(**leaf.import_args())["CertificateArn"]
    tenant.acm.import_certificate(**leaf.import_args(CertificateArn=arn))
    tenant.acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "team", "Value": "web"}])
    visitor = signed_in(tenant)
    page = visitor.get("/console/certificates/detail", params={"arn": arn})
    assert page.status_code == 200
    events = page.text[page.text.index('id="events-h"') :]
    # The import and the reimport, newest first.
    assert re.search(r"ACM Certificate Available</td><td>REIMPORT.*IMPORT", events, re.S)
    assert "Not renewed yet." in page.text
    csrf = visitor.csrf_of(page)
    # The value edited in its row, then the key renamed: one tag throughout.
    edited = {"csrf": csrf, "arn": arn, "old_key": "team", "key": "team", "value": "api"}
    assert visitor.post("/console/certificates/tags", edited).status_code == 303
    assert tenant.acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [
        {"Key": "team", "Value": "api"}
    ]
    renamed = {**edited, "key": "owner"}
    assert visitor.post("/console/certificates/tags", renamed).status_code == 303
    assert tenant.acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [
        {"Key": "owner", "Value": "api"}
    ]


def test_private_ca_permissions_policy_revocation_and_audit_reports(
    tenant: Tenant,
) -> None:
    ca_arn, _ = make_root_ca(tenant, permit_acm=False)
    pca = tenant.client("acm-pca")
    visitor = signed_in(tenant)
    page = visitor.get("/console/private-cas/detail", params={"arn": ca_arn})
    assert page.status_code == 200
    assert "No permissions" in page.text and "Policy (JSON): none yet" in page.text
    csrf = visitor.csrf_of(page)

    def post(path: str, **fields: str) -> str:
        answer = visitor.post(
            f"/console/private-cas/{path}", {"csrf": csrf, "arn": ca_arn, **fields}
        )
        assert answer.status_code == 303, answer.text
        shown = visitor.get("/console/private-cas/detail", params={"arn": ca_arn})
        return unescape(shown.text)

    # Permissions: granted to ACM for two actions, then removed.
    shown = post(
        "permissions",
        principal="acm.amazonaws.com",
        action_IssueCertificate="1",
        action_GetCertificate="1",
    )
    assert "Permission granted." in shown
    (permission,) = pca.list_permissions(CertificateAuthorityArn=ca_arn)["Permissions"]
    assert sorted(permission["Actions"]) == ["GetCertificate", "IssueCertificate"]
    assert "Permission removed." in post("permissions/delete", principal="acm.amazonaws.com")
    assert pca.list_permissions(CertificateAuthorityArn=ca_arn)["Permissions"] == []
    # The policy: a refusal is ACM-PCA's, a good one is saved, shown, then deleted.
    assert "InvalidPolicyException" in post("policy", policy="not json")
    policy = policy_for(ca_arn, "111122223333")
    assert "Policy saved." in post("policy", policy=policy)
    assert json.loads(pca.get_policy(ResourceArn=ca_arn)["Policy"]) == json.loads(policy)
    assert "Policy deleted." in post("policy/delete")
    # CRL and OCSP turned on.
    shown = post("revocation", crl="1", crl_days="9", ocsp="1")
    assert "Revocation configuration saved." in shown
    revocation = pca.describe_certificate_authority(CertificateAuthorityArn=ca_arn)[
        "CertificateAuthority"
    ]["RevocationConfiguration"]
    assert revocation["CrlConfiguration"]["Enabled"] is True
    assert revocation["CrlConfiguration"]["ExpirationInDays"] == 9
    assert revocation["OcspConfiguration"]["Enabled"] is True
    # A certificate the CA issued, revoked by its serial.
    cert_arn = issue(
        pca,
        ca_arn,
        leaf_csr(),
        "arn:aws:acm-pca:::template/EndEntityCertificate/V1",
        {"Type": "DAYS", "Value": 10},
        SigningAlgorithm="SHA256WITHRSA",
    )
    leaf = x509.load_pem_x509_certificate(wait_for_certificate(pca, ca_arn, cert_arn).encode())
    serial = format(leaf.serial_number, "x")
    assert "Certificate revoked." in post("revoke", serial=serial, reason="KEY_COMPROMISE")
    assert "RequestAlreadyProcessedException" in post("revoke", serial=serial, reason="SUPERSEDED")
    # An audit report, listed once created and downloadable from the link shown.
    assert "Audit report requested" in post("audit-reports", bucket="reports", format="CSV")
    deadline = time.monotonic() + 30
    while True:
        shown = visitor.get("/console/private-cas/detail", params={"arn": ca_arn}).text
        link = re.search(r'<a href="(/audit-report/[^"]+\.csv)" download>', shown)
        if link or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert link, shown
    report = httpx.get(f"{tenant.server.endpoint}{link.group(1)}")
    assert report.status_code == 200
    assert cert_arn in report.text and "KEY_COMPROMISE" in report.text


def wait_for_certificate(pca: Any, ca_arn: str, cert_arn: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            got = pca.get_certificate(CertificateAuthorityArn=ca_arn, CertificateArn=cert_arn)
            return str(got["Certificate"])
        except pca.exceptions.RequestInProgressException:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_acme_endpoint_create_update_account_revoke_delete(sqlite_tenant: Tenant) -> None:
    visitor = signed_in(sqlite_tenant)
    page = visitor.get("/console/acme-endpoints")
    assert page.status_code == 200 and "No ACME endpoints." in page.text
    csrf = visitor.csrf_of(visitor.get("/console/acme-endpoints/create"))
    created = visitor.post(
        "/console/acme-endpoints/create",
        {
            "csrf": csrf,
            "contact": "NOT_REQUIRED",
            "behavior": "PRE_APPROVED",
            "algorithm_EC_prime256v1": "1",
            "certificate_tags": "issued-by=acme\nbare",
        },
    )
    assert created.status_code == 303, created.text
    arn = unquote(created.headers["location"].split("arn=", 1)[1])
    endpoint = sqlite_tenant.acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]
    assert endpoint["CertificateAuthority"]["PublicCertificateAuthority"][
        "AllowedKeyAlgorithms"
    ] == ["EC_prime256v1"]
    assert endpoint["CertificateTags"] == [{"Key": "issued-by", "Value": "acme"}, {"Key": "bare"}]
    assert endpoint["EndpointUrl"] in visitor.get("/console/acme-endpoints").text
    updated = visitor.post(
        "/console/acme-endpoints/update",
        {
            "csrf": csrf,
            "arn": arn,
            "contact": "NOT_REQUIRED",
            "algorithm_EC_prime256v1": "1",
            "algorithm_RSA_2048": "1",
        },
    )
    assert updated.status_code == 303
    endpoint = sqlite_tenant.acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]
    assert sorted(
        endpoint["CertificateAuthority"]["PublicCertificateAuthority"]["AllowedKeyAlgorithms"]
    ) == ["EC_prime256v1", "RSA_2048"]
    # An ACME client registers; the console lists its account and revokes it.
    binding = sqlite_tenant.acm.create_acme_external_account_binding(
        AcmeEndpointArn=arn, RoleArn=f"arn:aws:iam::{sqlite_tenant.account_id}:role/acme"
    )["ExternalAccountBinding"]["AcmeExternalAccountBindingArn"]
    eab = sqlite_tenant.acm.get_acme_external_account_binding_credentials(
        AcmeExternalAccountBindingArn=binding
    )
    client = AcmeTestClient(endpoint["EndpointUrl"], eab=(eab["KeyId"], eab["MacKey"]))
    registered = client.new_account(termsOfServiceAgreed=True)
    account_url = registered.headers["location"]
    detail = visitor.get("/console/acme-endpoints/detail", params={"arn": arn})
    assert account_url in detail.text and "VALID" in detail.text
    revoked = visitor.post(
        "/console/acme-endpoints/revoke-account",
        {"csrf": csrf, "arn": arn, "account_url": account_url},
    )
    assert revoked.status_code == 303
    (account,) = sqlite_tenant.acm.list_acme_accounts(AcmeEndpointArn=arn)["AcmeAccounts"]
    assert account["Status"] == "REVOKED"
    deleted = visitor.post("/console/acme-endpoints/delete", {"csrf": csrf, "arn": arn})
    assert deleted.headers["location"] == "/console/acme-endpoints"
    assert sqlite_tenant.acm.list_acme_endpoints()["AcmeEndpoints"] == []


def test_access_keys_show_the_secret_once_and_disable(sqlite_tenant: Tenant) -> None:
    visitor = signed_in(sqlite_tenant)
    page = visitor.get("/console/access-keys")
    assert page.status_code == 200 and sqlite_tenant.key[0] in page.text
    assert sqlite_tenant.key[1] not in page.text  # secrets are never listed
    csrf = visitor.csrf_of(page)
    created = visitor.post("/console/access-keys/create", {"csrf": csrf, "user_name": "deploy"})
    assert created.status_code == 200
    key_id = re.search(r"Access key ID</dt><dd class=\"mono\">(\w+)<", created.text)
    secret = re.search(r"Secret access key</dt><dd class=\"mono\">([^<]+)<", created.text)
    assert key_id and secret
    new_key = (key_id.group(1), unescape(secret.group(1)))
    # The key works through the API, and its secret is not shown again.
    other = sqlite_tenant.server.client(key=new_key)
    assert other.list_certificates()["CertificateSummaryList"] == []
    again = visitor.get("/console/access-keys")
    assert new_key[0] in again.text and new_key[1] not in again.text
    disabled = visitor.post(
        "/console/access-keys/status",
        {"csrf": csrf, "access_key_id": new_key[0], "status": "Inactive"},
    )
    assert disabled.status_code == 303
    assert "Inactive" in visitor.get("/console/access-keys").text
    # Both changes are in the account's audit trail, as IAM's events, without the secret.
    trail = unescape(visitor.get("/console/audit", params={"event_name": "CreateAccessKey"}).text)
    assert new_key[0] in trail and "iam.amazonaws.com" in trail and new_key[1] not in trail
    trail = unescape(visitor.get("/console/audit", params={"event_name": "UpdateAccessKey"}).text)
    assert '"status": "Inactive"' in trail and "openacm-console" in trail
    deleted = visitor.post(
        "/console/access-keys/delete", {"csrf": csrf, "access_key_id": new_key[0]}
    )
    assert deleted.status_code == 303
    listed = visitor.get("/console/access-keys").text
    assert f"{new_key[0]} deleted." in listed and f'"mono">{new_key[0]}' not in listed
    trail = unescape(visitor.get("/console/audit", params={"event_name": "DeleteAccessKey"}).text)
    assert new_key[0] in trail and "iam.amazonaws.com" in trail
    # Another account's key cannot be touched from this one.
    _, foreign = sqlite_tenant.server.new_account()
    refused = visitor.post(
        "/console/access-keys/status",
        {"csrf": csrf, "access_key_id": foreign[0], "status": "Inactive"},
    )
    assert refused.status_code == 303
    assert "No access key" in visitor.get("/console/access-keys").text
    visitor.post("/console/access-keys/delete", {"csrf": csrf, "access_key_id": foreign[0]})
    assert "No access key" in visitor.get("/console/access-keys").text
    assert sqlite_tenant.server.client(key=foreign).list_certificates() is not None


def test_an_iam_user_deletes_keys_only_as_its_policies_allow(sqlite_tenant: Tenant) -> None:
    """Deleting a key is authorized as iam:DeleteAccessKey: refused (403, audited) for a user
    allowed to list keys only, done for one allowed to delete them."""
    server, account_id = sqlite_tenant.server, sqlite_tenant.account_id
    listing = {"Effect": "Allow", "Action": "iam:ListAccessKeys", "Resource": "*"}
    _, target_arn = user_with(server, account_id)
    target, _ = server._identity_admin().create_access_key(
        account_id, user_name=target_arn.rsplit("/", 1)[1]
    )
    for statements, allowed in (([listing], False), ([{**listing, "Action": "iam:*"}], True)):
        _, user_arn = user_with(server, account_id, *statements)
        key, secret = server._identity_admin().create_access_key(
            account_id, user_name=user_arn.rsplit("/", 1)[1]
        )
        visitor = ConsoleVisitor(server)
        assert visitor.sign_in((key.access_key_id, secret)).status_code == 303
        csrf = visitor.csrf_of(visitor.get("/console/access-keys"))
        answer = visitor.post(
            "/console/access-keys/delete", {"csrf": csrf, "access_key_id": target.access_key_id}
        )
        kept = {k.access_key_id for k in server._identity_admin().list_access_keys(account_id)}
        if allowed:
            assert answer.status_code == 303 and target.access_key_id not in kept
        else:
            assert answer.status_code == 403 and target.access_key_id in kept
            assert "is not authorized to perform: iam:DeleteAccessKey" in answer.text


def test_deleting_the_sessions_own_key_needs_confirming(sqlite_tenant: Tenant) -> None:
    _, own = sqlite_tenant.server.new_account()
    visitor = ConsoleVisitor(sqlite_tenant.server)
    assert visitor.sign_in(own).status_code == 303
    csrf = visitor.csrf_of(visitor.get("/console/access-keys"))
    unconfirmed = visitor.post(
        "/console/access-keys/delete", {"csrf": csrf, "access_key_id": own[0]}
    )
    assert unconfirmed.headers["location"] == "/console/access-keys"
    assert "tick the box" in visitor.get("/console/access-keys").text
    assert sqlite_tenant.server.client(key=own).list_certificates() is not None
    confirmed = visitor.post(
        "/console/access-keys/delete",
        {"csrf": csrf, "access_key_id": own[0], "confirm_own": "1"},
    )
    assert confirmed.headers["location"] == "/console/sign-in"
    assert visitor.get("/console/access-keys").headers["location"] == "/console/sign-in"
    deadline = time.monotonic() + 10  # servers refuse a deleted key within seconds
    while True:
        try:
            sqlite_tenant.server.client(key=own).list_certificates()
        except ClientError as refused:
            assert refused.response["Error"]["Code"] == "UnrecognizedClientException"
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_audit_log_page_filters_the_accounts_records(tenant: Tenant) -> None:
    leaf = pki.issue("audited.example.com", sans=["audited.example.com"])
    arn = tenant.acm.import_certificate(**leaf.import_args())["CertificateArn"]
    tenant.acm.list_certificates()
    visitor = signed_in(tenant)
    page = visitor.get("/console/audit", params={"event_name": "ImportCertificate"})
    assert page.status_code == 200
    rows = page.text[page.text.index("<tbody>") :]
    assert rows.count("<tr>") == 1 and "ImportCertificate" in rows and arn in unescape(rows)
    by_resource = visitor.get("/console/audit", params={"resource_arn": arn, "limit": "100"})
    assert "ImportCertificate" in by_resource.text
    future = visitor.get("/console/audit", params={"since": "2999-01-01T00:00"})
    assert "No records match." in future.text
    bad = visitor.get("/console/audit", params={"since": "yesterday"})
    assert bad.status_code == 200 and "Times are dates" in bad.text
    # Another account's calls are not this account's log.
    _, foreign = tenant.server.new_account()
    tenant.server.client(key=foreign).import_certificate(**leaf.import_args())
    everything = visitor.get("/console/audit", params={"limit": "500"})
    assert foreign[0] not in everything.text


def test_import_refuses_oversized_or_malformed_uploads(sqlite_tenant: Tenant) -> None:
    visitor = signed_in(sqlite_tenant)
    csrf = visitor.csrf_of(visitor.get(IMPORT))
    too_big = visitor.upload(
        IMPORT, {"csrf": csrf, "step": "check"}, {"chain_file": ("c.pem", b"x" * 300_000)}
    )
    assert too_big.status_code == 403
    many = {f"field{i}": "x" for i in range(20)}
    empty_file = {"chain_file": ("c.pem", b"")}
    assert visitor.upload(IMPORT, {"csrf": csrf, **many}, empty_file).status_code == 403
    broken = visitor.http.post(
        IMPORT,
        content=b"--b\r\nnot a part",
        headers={**visitor._cookie_header(), "content-type": "multipart/form-data; boundary=b"},
    )
    assert broken.status_code in (400, 403)
    assert "content-security-policy" in broken.headers


def test_subordinate_ca_installed_with_a_certificate_signed_outside(sqlite_tenant: Tenant) -> None:
    pca = sqlite_tenant.client("acm-pca")
    arn = create_ca(pca, "SUBORDINATE", "RSA_2048", "SHA256WITHRSA")
    deadline = time.monotonic() + 60
    while status_of(pca, arn) == "CREATING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    visitor = signed_in(sqlite_tenant)
    page = visitor.get("/console/private-cas/detail", params={"arn": arn})
    assert "Download the CSR" in page.text
    csrf = visitor.csrf_of(page)
    downloaded = visitor.get("/console/private-cas/csr", params={"arn": arn})
    assert downloaded.headers["content-disposition"].endswith('.csr"')
    root = OfflineRoot()
    signed = root.sign(x509.load_pem_x509_csr(downloaded.content), path_length=0)
    # A certificate that does not chain to what is given is ACM-PCA's refusal, shown.
    form = {"csrf": csrf, "arn": arn, "certificate": pem(signed).decode()}
    assert visitor.post("/console/private-cas/install-external", form).status_code == 303
    page = unescape(visitor.get("/console/private-cas/detail", params={"arn": arn}).text)
    assert "flash error" in page and status_of(pca, arn) == "PENDING_CERTIFICATE"
    form["chain"] = pem(root.certificate).decode()
    assert visitor.post("/console/private-cas/install-external", form).status_code == 303
    page = unescape(visitor.get("/console/private-cas/detail", params={"arn": arn}).text)
    assert "CA certificate installed." in page
    assert status_of(pca, arn) == "ACTIVE"


def test_acme_bindings_and_domain_validations(sqlite_tenant: Tenant) -> None:
    acm = sqlite_tenant.acm
    arn = acm.create_acme_endpoint(
        AuthorizationBehavior="PRE_APPROVED",
        CertificateAuthority={"PublicCertificateAuthority": {}},
    )["AcmeEndpointArn"]
    visitor = signed_in(sqlite_tenant)
    detail = visitor.get("/console/acme-endpoints/detail", params={"arn": arn})
    assert "No bindings" in detail.text and "No domain validations." in detail.text
    csrf = visitor.csrf_of(detail)
    role = f"arn:aws:iam::{sqlite_tenant.account_id}:role/web-servers"
    created = visitor.post(
        "/console/acme-endpoints/bindings/create",
        {
            "csrf": csrf,
            "arn": arn,
            "role_arn": role,
            "expiration_value": "2",
            "expiration_type": "DAYS",
        },
    )
    assert created.status_code == 303
    (binding,) = acm.list_acme_external_account_bindings(AcmeEndpointArn=arn)[
        "ExternalAccountBindings"
    ]
    assert binding["RoleArn"] == role
    lifetime = binding["ExpiresAt"] - binding["CreatedAt"]
    assert abs(lifetime.total_seconds() - 2 * 86400) < 5
    binding_arn = binding["AcmeExternalAccountBindingArn"]
    page = visitor.get("/console/acme-endpoints/detail", params={"arn": arn}).text
    assert binding_arn.rsplit("/", 1)[-1] in page and role in page
    # The credentials are on the answer to "Get credentials" only, as the API gives them.
    expected = acm.get_acme_external_account_binding_credentials(
        AcmeExternalAccountBindingArn=binding_arn
    )
    shown = visitor.post(
        "/console/acme-endpoints/bindings/credentials",
        {"csrf": csrf, "arn": arn, "binding": binding_arn},
    )
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    assert expected["KeyId"] in shown.text and expected["MacKey"] in shown.text
    kid = re.search(r'id="eab-kid">([^<]+)<', shown.text)
    mac = re.search(r'id="eab-hmac">([^<]+)<', shown.text)
    assert kid and mac
    # An ACME client registers with what the page showed; the binding shows it was used.
    url = acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]["EndpointUrl"]
    client = AcmeTestClient(url, eab=(unescape(kid.group(1)), unescape(mac.group(1))))
    assert client.new_account(termsOfServiceAgreed=True).status_code == 201
    again = visitor.get("/console/acme-endpoints/detail", params={"arn": arn}).text
    assert expected["MacKey"] not in again
    # The audit trail records the fetches (written just after they answer), never the MAC key.
    event = {"event_name": "GetAcmeExternalAccountBindingCredentials"}
    deadline = time.monotonic() + 10
    while (trail := unescape(visitor.get("/console/audit", params=event).text)).count(
        binding_arn
    ) < 2:
        assert time.monotonic() < deadline, trail[-2000:]
        time.sleep(0.2)
    assert expected["MacKey"] not in trail
    assert (
        "LastUsedAt"
        in acm.describe_acme_external_account_binding(AcmeExternalAccountBindingArn=binding_arn)[
            "ExternalAccountBinding"
        ]
    )
    # A bad expiration is the form's own refusal; nothing is created.
    visitor.post(
        "/console/acme-endpoints/bindings/create",
        {"csrf": csrf, "arn": arn, "role_arn": role, "expiration_value": "soon"},
    )
    assert "whole number" in visitor.get("/console/acme-endpoints/detail", params={"arn": arn}).text
    revoked = visitor.post(
        "/console/acme-endpoints/bindings/revoke",
        {"csrf": csrf, "arn": arn, "binding": binding_arn},
    )
    assert revoked.status_code == 303
    described = acm.describe_acme_external_account_binding(
        AcmeExternalAccountBindingArn=binding_arn
    )
    assert "RevokedAt" in described["ExternalAccountBinding"]
    visitor.post(
        "/console/acme-endpoints/bindings/delete",
        {"csrf": csrf, "arn": arn, "binding": binding_arn},
    )
    listed = acm.list_acme_external_account_bindings(AcmeEndpointArn=arn)
    assert listed["ExternalAccountBindings"] == []
    # A domain validation: created with its scope and zone, its CNAME shown and exported.
    created = visitor.post(
        "/console/acme-endpoints/domain-validations/create",
        {
            "csrf": csrf,
            "arn": arn,
            "domain": "eab.example.com",
            "hosted_zone_id": "Z123",
            "scope_ExactDomain": "1",
            "scope_Wildcards": "1",
        },
    )
    assert created.status_code == 303
    (validation,) = acm.list_acme_domain_validations(AcmeEndpointArn=arn)["AcmeDomainValidations"]
    dns = validation["PrevalidationDetails"]["DnsPrevalidation"]
    assert dns["DomainScope"] == {
        "ExactDomain": "ENABLED",
        "Subdomains": "DISABLED",
        "Wildcards": "ENABLED",
    }
    assert dns["HostedZoneId"] == "Z123"
    record = dns["ResourceRecord"]
    page = visitor.get("/console/acme-endpoints/detail", params={"arn": arn}).text
    assert record["Name"] in page and record["Value"] in page and validation["Status"] in page
    exported = visitor.get("/console/acme-endpoints/domain-validations.csv", params={"arn": arn})
    assert exported.headers["content-type"].startswith("text/csv")
    assert f"eab.example.com,{record['Name']},CNAME,{record['Value']}" in exported.text
    # A scope with nothing enabled is the API's refusal, shown; then a real update.
    validation_arn = validation["AcmeDomainValidationArn"]
    visitor.post(
        "/console/acme-endpoints/domain-validations/update",
        {"csrf": csrf, "arn": arn, "validation": validation_arn},
    )
    page = visitor.get("/console/acme-endpoints/detail", params={"arn": arn}).text
    assert "ValidationException" in page
    visitor.post(
        "/console/acme-endpoints/domain-validations/update",
        {"csrf": csrf, "arn": arn, "validation": validation_arn, "scope_Subdomains": "1"},
    )
    scope = acm.describe_acme_domain_validation(AcmeDomainValidationArn=validation_arn)[
        "AcmeDomainValidation"
    ]["PrevalidationDetails"]["DnsPrevalidation"]["DomainScope"]
    assert scope["Subdomains"] == "ENABLED" and scope["ExactDomain"] == "DISABLED"
    deleted = visitor.post(
        "/console/acme-endpoints/domain-validations/delete",
        {"csrf": csrf, "arn": arn, "validation": validation_arn},
    )
    assert deleted.status_code == 303
    assert acm.list_acme_domain_validations(AcmeEndpointArn=arn)["AcmeDomainValidations"] == []
