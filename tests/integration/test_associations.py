"""Associations (openacm's AssociateCertificate, DisassociateCertificate,
ListCertificateAssociations) and what ACM shows of them: InUseBy, InUse, ResourceInUseException
on DeleteCertificate, RenewalEligibility. Real servers on SQLite and PostgreSQL, driven by
boto3 (ACM) and a botocore client that finds openacm's model through the data path, and by
the `openacm associations` command.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from openacm.protocol.model import MODELS_PATH
from tests.conftest import Tenant
from tests.support import pki
from tests.support.acm_flow import request, request_and_issue, unique_domain
from tests.support.bind import BindServer
from tests.support.server import NO_RETRIES, OPENACM, REPO, OpenAcmServer

LB = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/50dc6c495c0c9188"
CDN = "arn:aws:cloudfront::111122223333:distribution/E12KXPQHVLSYVC"


def openacm_client(server: OpenAcmServer, key: tuple[str, str], region: str = "us-east-1") -> Any:
    session = botocore.session.Session()
    session.set_config_variable("data_path", str(MODELS_PATH))
    return session.create_client(
        "openacm",
        endpoint_url=server.endpoint,
        region_name=region,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=NO_RETRIES,
    )


def target(name: str) -> str:
    """A consumer ARN of openacm's deploy agent, unique to the test."""
    return f"arn:openacm:deploy:us-east-1:111122223333:target/{name}-{uuid.uuid4().hex[:8]}"


def imported(tenant: Tenant) -> str:
    leaf = pki.issue(f"{uuid.uuid4().hex[:8]}.example.com", sans=["x.example.com"])
    return str(tenant.acm.import_certificate(**leaf.import_args())["CertificateArn"])


def error_of(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error: dict[str, Any] = caught.value.response["Error"]
    return error


def summary(tenant: Tenant, arn: str) -> dict[str, Any]:
    listed = tenant.acm.list_certificates(Includes={"keyTypes": ["RSA_2048", "EC_prime256v1"]})
    (found,) = [s for s in listed["CertificateSummaryList"] if s["CertificateArn"] == arn]
    return dict(found)


@pytest.fixture
def oacm(tenant: Tenant) -> Any:
    return openacm_client(tenant.server, tenant.key)


def test_associations_drive_in_use_and_delete(tenant: Tenant, oacm: Any) -> None:
    arn = imported(tenant)
    agent = target("web")
    first = oacm.associate_certificate(CertificateArn=arn, ResourceArn=LB)["Association"]
    assert first["CertificateArn"] == arn and first["ResourceArn"] == LB
    oacm.associate_certificate(CertificateArn=arn, ResourceArn=agent)
    oacm.associate_certificate(CertificateArn=arn, ResourceArn=CDN)

    detail = tenant.acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["InUseBy"] == sorted([LB, agent, CDN])
    # Imported certificates are never renewed, in use or not.
    assert detail["RenewalEligibility"] == "INELIGIBLE"
    assert summary(tenant, arn)["InUse"] is True
    search = tenant.acm.search_certificates(
        FilterStatement={"Filter": {"AcmCertificateMetadataFilter": {"InUse": True}}}
    )["Results"]
    assert [r["CertificateArn"] for r in search] == [arn]

    error = error_of(tenant.acm.delete_certificate, CertificateArn=arn)
    assert error["Code"] == "ResourceInUseException"
    assert arn in error["Message"] and LB in error["Message"]
    assert tenant.acm.describe_certificate(CertificateArn=arn)["Certificate"]["InUseBy"]

    for consumer in (LB, agent):
        oacm.disassociate_certificate(CertificateArn=arn, ResourceArn=consumer)
    assert tenant.acm.describe_certificate(CertificateArn=arn)["Certificate"]["InUseBy"] == [CDN]
    assert error_of(tenant.acm.delete_certificate, CertificateArn=arn)["Code"] == (
        "ResourceInUseException"
    )
    oacm.disassociate_certificate(CertificateArn=arn, ResourceArn=CDN)
    assert tenant.acm.describe_certificate(CertificateArn=arn)["Certificate"]["InUseBy"] == []
    assert summary(tenant, arn)["InUse"] is False
    tenant.acm.delete_certificate(CertificateArn=arn)
    assert error_of(tenant.acm.describe_certificate, CertificateArn=arn)["Code"] == (
        "ResourceNotFoundException"
    )


def test_calls_are_idempotent(tenant: Tenant, oacm: Any) -> None:
    arn = imported(tenant)
    first = oacm.associate_certificate(CertificateArn=arn, ResourceArn=LB)["Association"]
    again = oacm.associate_certificate(CertificateArn=arn, ResourceArn=LB)["Association"]
    assert again == first  # the same association, with its first time
    listed = oacm.list_certificate_associations(CertificateArn=arn)["Associations"]
    assert listed == [first]
    oacm.disassociate_certificate(CertificateArn=arn, ResourceArn=LB)
    oacm.disassociate_certificate(CertificateArn=arn, ResourceArn=LB)  # absent: still fine
    assert oacm.list_certificate_associations(CertificateArn=arn)["Associations"] == []
    # A certificate that never had one deletes as before.
    tenant.acm.delete_certificate(CertificateArn=arn)


def test_list_filters_and_pages(tenant: Tenant, oacm: Any) -> None:
    first, second = imported(tenant), imported(tenant)
    shared = target("shared")
    pairs = {(first, LB), (first, shared), (second, shared), (second, CDN)}
    for certificate, consumer in pairs:
        oacm.associate_certificate(CertificateArn=certificate, ResourceArn=consumer)

    def every(**params: Any) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        while True:
            page = oacm.list_certificate_associations(MaxResults=1, **params)
            found += [(a["CertificateArn"], a["ResourceArn"]) for a in page["Associations"]]
            if "NextToken" not in page:
                return found
            params["NextToken"] = page["NextToken"]

    assert every() == sorted(pairs)
    assert every(CertificateArn=second) == sorted(p for p in pairs if p[0] == second)
    assert every(ResourceArn=shared) == sorted(p for p in pairs if p[1] == shared)
    assert every(CertificateArn=first, ResourceArn=CDN) == []
    token = oacm.list_certificate_associations(MaxResults=1)["NextToken"]
    error = error_of(oacm.list_certificate_associations, ResourceArn=LB, NextToken=token)
    assert error["Code"] == "ValidationException"


def test_accounts_never_see_each_others_associations(server: OpenAcmServer) -> None:
    mine, theirs = (_tenant_of(server) for _ in range(2))
    my_client = openacm_client(server, mine.key)
    their_client = openacm_client(server, theirs.key)
    my_arn, their_arn = imported(mine), imported(theirs)
    my_client.associate_certificate(CertificateArn=my_arn, ResourceArn=LB)
    their_client.associate_certificate(CertificateArn=their_arn, ResourceArn=LB)

    # The same consumer in both accounts: each sees its own association only.
    mine_listed = my_client.list_certificate_associations(ResourceArn=LB)["Associations"]
    assert [a["CertificateArn"] for a in mine_listed] == [my_arn]
    assert [
        a["CertificateArn"] for a in their_client.list_certificate_associations()["Associations"]
    ] == [their_arn]
    for call in (
        my_client.associate_certificate,
        my_client.disassociate_certificate,
    ):
        error = error_of(call, CertificateArn=their_arn, ResourceArn=CDN)
        assert error["Code"] == "AccessDeniedException", error
    error = error_of(my_client.list_certificate_associations, CertificateArn=their_arn)
    assert error["Code"] == "AccessDeniedException"
    # Their certificate is untouched: still associated with LB only.
    detail = theirs.acm.describe_certificate(CertificateArn=their_arn)["Certificate"]
    assert detail["InUseBy"] == [LB]


def _tenant_of(server: OpenAcmServer) -> Tenant:
    account_id, key = server.new_account()
    return Tenant(server, account_id, key, server.client(key=key))


def test_bad_arns(tenant: Tenant, oacm: Any) -> None:
    arn = imported(tenant)
    missing = f"arn:aws:acm:us-east-1:{tenant.account_id}:certificate/{uuid.uuid4()}"
    cases = [
        # (certificate ARN, resource ARN, code)
        (missing, LB, "ResourceNotFoundException"),
        (arn.replace(":us-east-1:", ":eu-west-1:"), LB, "ResourceNotFoundException"),
        (arn.replace(":certificate/", ":xertificate/"), LB, "InvalidArnException"),
        (f"arn:aws:acm:us-east-1:{tenant.account_id}:certificate", LB, "InvalidArnException"),
        ("arn:aws:iam::123456789012:server-certificate/x", LB, "ValidationException"),
        (arn, "not-an-arn-at-all", "ValidationException"),
        (arn, "arn:aws:elasticloadbalancing:us-east-1:12:", "ValidationException"),
        (arn, "arn:aws:x:us-east-1:abc:thing", "ValidationException"),
    ]
    for certificate, resource, code in cases:
        for call in (oacm.associate_certificate, oacm.disassociate_certificate):
            error = error_of(call, CertificateArn=certificate, ResourceArn=resource)
            assert error["Code"] == code, (certificate, resource, error)
    error = error_of(oacm.associate_certificate, CertificateArn=arn, ResourceArn="not-an-arn:x")
    assert error["Message"].startswith(
        "1 validation error detected: Value 'not-an-arn:x' at 'resourceArn' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: arn:"
    )
    assert oacm.list_certificate_associations(CertificateArn=arn)["Associations"] == []


def test_only_issued_certificates_are_associated(
    pki_tenant: Tenant, bind_server: BindServer
) -> None:
    oacm = openacm_client(pki_tenant.server, pki_tenant.key)
    pending = request(pki_tenant.acm, unique_domain("pend"))
    error = error_of(oacm.associate_certificate, CertificateArn=pending, ResourceArn=LB)
    assert error["Code"] == "InvalidStateException"
    assert "PENDING_VALIDATION" in error["Message"]


def test_renewal_eligibility_follows_use_and_export(
    pki_tenant: Tenant, bind_server: BindServer
) -> None:
    oacm = openacm_client(pki_tenant.server, pki_tenant.key)
    acm = pki_tenant.acm
    arn = request_and_issue(acm, bind_server, unique_domain("elig"))

    def eligibility(certificate: str) -> str:
        detail = acm.describe_certificate(CertificateArn=certificate)["Certificate"]
        return str(detail["RenewalEligibility"])

    assert eligibility(arn) == "INELIGIBLE"  # issued, but nothing uses it
    oacm.associate_certificate(CertificateArn=arn, ResourceArn=LB)
    assert eligibility(arn) == "ELIGIBLE"
    listed = acm.list_certificates()["CertificateSummaryList"]
    (entry,) = [s for s in listed if s["CertificateArn"] == arn]
    assert entry["InUse"] is True and entry["RenewalEligibility"] == "ELIGIBLE"
    oacm.disassociate_certificate(CertificateArn=arn, ResourceArn=LB)
    assert eligibility(arn) == "INELIGIBLE"

    exportable = request_and_issue(
        acm, bind_server, unique_domain("exp"), Options={"Export": "ENABLED"}
    )
    assert eligibility(exportable) == "INELIGIBLE"
    acm.export_certificate(CertificateArn=exportable, Passphrase=b"passphrase")
    assert eligibility(exportable) == "ELIGIBLE"

    # Revoked: nothing to renew, whatever uses it.
    oacm.associate_certificate(CertificateArn=exportable, ResourceArn=CDN)
    acm.revoke_certificate(CertificateArn=exportable, RevocationReason="SUPERSEDED")
    assert eligibility(exportable) == "INELIGIBLE"
    assert acm.describe_certificate(CertificateArn=exportable)["Certificate"]["InUseBy"] == [CDN]


def _outcome(call: Any, **params: Any) -> str:
    try:
        call(**params)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def test_concurrent_associate_and_delete_never_orphan(tenant: Tenant, oacm: Any) -> None:
    """Each round races an association against the delete: either the delete wins (and the
    association fails: no certificate) or the association wins (and the delete is refused);
    never both."""
    for _ in range(8):
        arn = imported(tenant)
        with ThreadPoolExecutor(max_workers=2) as pool:
            associating = pool.submit(
                _outcome, oacm.associate_certificate, CertificateArn=arn, ResourceArn=LB
            )
            deleting = pool.submit(_outcome, tenant.acm.delete_certificate, CertificateArn=arn)
            outcome = {"associate": associating.result(), "delete": deleting.result()}
        assert sorted(outcome.values()) in (
            ["ResourceNotFoundException", "ok"],
            ["ResourceInUseException", "ok"],
        ), outcome
        remaining = oacm.list_certificate_associations(ResourceArn=LB)["Associations"]
        if outcome["delete"] == "ok":
            assert all(a["CertificateArn"] != arn for a in remaining)
        else:
            oacm.disassociate_certificate(CertificateArn=arn, ResourceArn=LB)


def test_associations_are_audited(tenant: Tenant, oacm: Any) -> None:
    arn = imported(tenant)
    oacm.associate_certificate(CertificateArn=arn, ResourceArn=LB)
    oacm.disassociate_certificate(CertificateArn=arn, ResourceArn=LB)
    audit = tenant.server.admin("audit", "search", "--resource-arn", arn)
    assert audit.returncode == 0, audit.stderr
    records = {r["eventName"]: r for r in map(json.loads, audit.stdout.splitlines())}
    assert set(records) == {"ImportCertificate", "AssociateCertificate", "DisassociateCertificate"}
    for name in ("AssociateCertificate", "DisassociateCertificate"):
        record = records[name]
        assert record["eventSource"] == "openacm.amazonaws.com"
        assert record["requestParameters"] == {"certificateArn": arn, "resourceArn": LB}
        assert record["recipientAccountId"] == tenant.account_id


# -- the openacm associations command --------------------------------------------------------


def associations_cli(tenant: Tenant, *args: str) -> subprocess.CompletedProcess[str]:
    """`openacm associations ...` with credentials from the environment, as a user runs it."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tenant.server.data_dir),
        "AWS_ACCESS_KEY_ID": tenant.key[0],
        "AWS_SECRET_ACCESS_KEY": tenant.key[1],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    return subprocess.run(
        [*OPENACM, "associations", *args, "--endpoint-url", tenant.server.endpoint],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_cli_add_list_remove(sqlite_tenant: Tenant) -> None:
    tenant = sqlite_tenant
    arn = imported(tenant)
    agent = target("cli")

    added = associations_cli(tenant, "add", "--certificate-arn", arn, "--resource-arn", agent)
    assert added.returncode == 0, added.stderr
    header, row = added.stdout.splitlines()
    assert header.split() == ["CERTIFICATE", "RESOURCE", "ASSOCIATED", "AT"]
    assert row.split()[:2] == [arn, agent]

    listed = associations_cli(tenant, "list", "--certificate-arn", arn, "--output", "json")
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["ResourceArn"] == agent and entry["AssociatedAt"].endswith("Z")
    detail = tenant.acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["InUseBy"] == [agent]

    removed = associations_cli(tenant, "remove", "--certificate-arn", arn, "--resource-arn", agent)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == f"{agent} no longer uses {arn}."
    empty = associations_cli(tenant, "list", "--resource-arn", agent)
    assert empty.stdout.strip() == "No associations."

    refused = associations_cli(
        tenant,
        "add",
        "--certificate-arn",
        arn.replace(tenant.account_id, "999999999999"),
        "--resource-arn",
        agent,
    )
    assert refused.returncode == 1
    assert "AccessDeniedException" in refused.stderr
