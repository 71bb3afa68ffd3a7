"""Domain validations of an ACME endpoint (Create/Describe/List/Update/Delete
AcmeDomainValidation) and the PRE_APPROVED behaviour they give: names a VALID domain
validation covers are authorized without challenges, any other name is refused with
rejectedIdentifier, and nothing is issued for it.

The server of this module allows no challenges (the default, ACM's behaviour); its CNAME
lookups go to the test BIND server, where the tests publish the domain validations' records.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from josepy import jwa
from josepy.jwk import JWK, JWKEC
from sqlalchemy import select

from openacm.adapters.store.schema import audit_events, event_outbox
from openacm.domain.acme_server import b64url
from openacm.protocol.acme import AcmeJws
from tests.conftest import Tenant, _tenant, finish_server, pki_env, start_server
from tests.integration.test_acme_endpoints import error_of
from tests.integration.test_acme_server import lego, needs_certbot, needs_lego, verified_leaf
from tests.integration.test_associations import openacm_client
from tests.integration.test_private_certificates import make_root_ca
from tests.support.acme_client import (
    ROLE_ARN,
    AcmeTestClient,
    Endpoint,
    create_endpoint,
    csr_der_b64,
    ec_key,
    problem_type,
)
from tests.support.bind import BindServer
from tests.support.server import OpenAcmServer

ALL_SCOPES = {"ExactDomain": "ENABLED", "Subdomains": "ENABLED", "Wildcards": "ENABLED"}


@pytest.fixture(scope="module")
def prevalidation_server(
    tmp_path_factory: pytest.TempPathFactory, bind_server: BindServer
) -> Iterator[OpenAcmServer]:
    # Three ACM certificates per account at most: the quota test reaches it.
    env = pki_env(bind_server, OPENACM_ACME_SERVER_CHALLENGES="", OPENACM_QUOTA_CERTIFICATES="3")
    started = start_server(tmp_path_factory.mktemp("acme-prevalidation"), "sqlite", env=env)
    yield started
    finish_server(started)


@pytest.fixture
def tenant(prevalidation_server: OpenAcmServer) -> Tenant:
    return _tenant(prevalidation_server)


def fresh_domain() -> str:
    return f"pv-{uuid.uuid4().hex[:8]}.openacm-test.com"


def domain_validation(acm: Any, endpoint_arn: str, domain: str, **scope: str) -> str:
    arn: str = acm.create_acme_domain_validation(
        AcmeEndpointArn=endpoint_arn,
        DomainName=domain,
        PrevalidationOptions={"DnsPrevalidation": {"DomainScope": scope or ALL_SCOPES}},
    )["AcmeDomainValidationArn"]
    return arn


def describe(acm: Any, arn: str) -> dict[str, Any]:
    found: dict[str, Any] = acm.describe_acme_domain_validation(AcmeDomainValidationArn=arn)[
        "AcmeDomainValidation"
    ]
    return found


def wait_settled(acm: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = describe(acm, arn)
        if found["Status"] != "VALIDATING":
            return found
        time.sleep(0.2)
    raise AssertionError(f"{arn} is still VALIDATING")


def validated(
    tenant: Tenant, bind: BindServer, endpoint_arn: str, domain: str, **scope: str
) -> str:
    """A VALID domain validation of `domain`: created, its CNAME published."""
    arn = domain_validation(tenant.acm, endpoint_arn, domain, **scope)
    record = describe(tenant.acm, arn)["PrevalidationDetails"]["DnsPrevalidation"]["ResourceRecord"]
    bind.add_cname(record["Name"], record["Value"])
    assert wait_settled(tenant.acm, arn)["Status"] == "VALID"
    return arn


def acme_certificates(tenant: Tenant) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = tenant.acm.list_certificates(
        Includes={"keyTypes": ["EC_prime256v1", "RSA_2048", "EC_secp384r1"]},
        CertificateKeyPairOrigins=["ACME"],
    )["CertificateSummaryList"]
    return listed


def test_domain_validation_operations(tenant: Tenant, bind_server: BindServer) -> None:
    acm = tenant.acm
    endpoint = create_endpoint(acm)
    domain = fresh_domain()
    arn = domain_validation(acm, endpoint.arn, domain, ExactDomain="ENABLED")
    assert arn.startswith(f"{endpoint.arn}/acme-domain-validation/")
    found = describe(acm, arn)
    assert found["Status"] == "VALIDATING"
    assert found["DomainName"] == domain
    assert found["PrevalidationType"] == "DNS_PREVALIDATION"
    details = found["PrevalidationDetails"]["DnsPrevalidation"]
    assert details["DomainScope"] == {
        "ExactDomain": "ENABLED",
        "Subdomains": "DISABLED",
        "Wildcards": "DISABLED",
    }
    record = details["ResourceRecord"]
    assert record["Type"] == "CNAME" and record["Name"].endswith(f".{domain}.")
    # The record is the account's DNS validation record of the name, as RequestCertificate
    # gives it.
    certificate = acm.request_certificate(DomainName=domain, ValidationMethod="DNS")
    options = acm.describe_certificate(CertificateArn=certificate["CertificateArn"])
    assert options["Certificate"]["DomainValidationOptions"][0]["ResourceRecord"] == record

    bind_server.add_cname(record["Name"], record["Value"])
    assert wait_settled(acm, arn)["Status"] == "VALID"

    error = error_of(lambda: domain_validation(acm, endpoint.arn, domain))
    assert error["Code"] == "ConflictException"
    error = error_of(
        lambda: domain_validation(acm, endpoint.arn, fresh_domain(), ExactDomain="DISABLED")
    )
    assert error["Code"] == "ValidationException"

    acm.update_acme_domain_validation(
        AcmeDomainValidationArn=arn,
        PrevalidationOptions={"DnsPrevalidation": {"DomainScope": ALL_SCOPES}},
    )
    updated = describe(acm, arn)
    assert updated["Status"] == "VALID"
    assert updated["PrevalidationDetails"]["DnsPrevalidation"]["DomainScope"] == ALL_SCOPES

    others = [domain_validation(acm, endpoint.arn, fresh_domain()) for _ in range(2)]
    seen: list[str] = []
    kwargs: dict[str, Any] = {"AcmeEndpointArn": endpoint.arn, "MaxResults": 2}
    while True:
        page = acm.list_acme_domain_validations(**kwargs)
        seen += [v["AcmeDomainValidationArn"] for v in page["AcmeDomainValidations"]]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert seen == [arn, *others]

    acm.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "web"}])
    assert acm.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "web"}]
    acm.delete_acme_domain_validation(AcmeDomainValidationArn=arn)
    acm.delete_acme_domain_validation(AcmeDomainValidationArn=arn)  # idempotent
    assert error_of(lambda: describe(acm, arn))["Code"] == "ResourceNotFoundException"
    acm.delete_acme_endpoint(AcmeEndpointArn=endpoint.arn)
    assert error_of(lambda: describe(acm, others[0]))["Code"] == "ResourceNotFoundException"


def test_a_record_never_published_times_out(tenant: Tenant) -> None:
    endpoint = create_endpoint(tenant.acm)
    arn = domain_validation(tenant.acm, endpoint.arn, fresh_domain())
    try:
        # Past the 72 hours of DNS validation on the installation's (--dev) clock.
        moved = httpx.post(
            f"{tenant.server.endpoint}/dev/clock", json={"advance_seconds": 73 * 3600}
        )
        assert moved.status_code == 200, moved.text
        failed = wait_settled(tenant.acm, arn)
    finally:
        httpx.post(f"{tenant.server.endpoint}/dev/clock", json={"reset": True})
    assert failed["Status"] == "INVALID"
    assert failed["FailureDetails"]["Reason"] == "TIMED_OUT"


def test_an_expired_binding_registers_no_account(tenant: Tenant) -> None:
    endpoint = create_endpoint(tenant.acm)
    binding = tenant.acm.create_acme_external_account_binding(
        AcmeEndpointArn=endpoint.arn, RoleArn=ROLE_ARN, Expiration={"Value": 1, "Type": "MINUTES"}
    )["ExternalAccountBinding"]
    credentials = tenant.acm.get_acme_external_account_binding_credentials(
        AcmeExternalAccountBindingArn=binding["AcmeExternalAccountBindingArn"]
    )
    client = AcmeTestClient(endpoint.url, eab=(credentials["KeyId"], credentials["MacKey"]))
    try:
        moved = httpx.post(f"{tenant.server.endpoint}/dev/clock", json={"advance_seconds": 120})
        assert moved.status_code == 200, moved.text
        assert problem_type(client.new_account()) == "unauthorized"
    finally:
        httpx.post(f"{tenant.server.endpoint}/dev/clock", json={"reset": True})
    assert client.new_account().status_code == 201  # before its expiry


def test_pre_approved_orders(tenant: Tenant, bind_server: BindServer) -> None:
    endpoint = create_endpoint(tenant.acm)
    domain = fresh_domain()
    arn = validated(tenant, bind_server, endpoint.arn, domain, Subdomains="ENABLED")
    client = endpoint.client()
    client.new_account()

    # Outside the scope: the apex (ExactDomain disabled), a wildcard, another domain.
    for name in (domain, f"*.{domain}", fresh_domain()):
        refused = client.new_order(f"www.{domain}", name)
        assert problem_type(refused) == "rejectedIdentifier", refused.text
        subproblems = refused.json()["subproblems"]
        assert [p["identifier"]["value"] for p in subproblems] == [name]

    answer = client.new_order(f"www.{domain}", f"a.b.{domain}")
    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert order["status"] == "ready"
    # The account's orders list (§7.1.2.1), its own only.
    account = client.post(client.kid or "", None).json()
    listed = client.post(account["orders"], None).json()["orders"]
    assert listed == [answer.headers["Location"]]
    stranger = endpoint.client()
    stranger.new_account()
    assert problem_type(stranger.post(account["orders"], None)) == "unauthorized"
    for url in order["authorizations"]:
        authz = client.post(url, None).json()
        assert authz["status"] == "valid" and authz["challenges"] == []

    # A domain validation deleted before finalize: nothing is issued.
    tenant.acm.delete_acme_domain_validation(AcmeDomainValidationArn=arn)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = csr_der_b64(key, [f"www.{domain}", f"a.b.{domain}"])
    assert problem_type(client.post(order["finalize"], {"csr": csr})) == "unauthorized"
    assert problem_type(client.new_order(f"www.{domain}")) == "rejectedIdentifier"
    assert acme_certificates(tenant) == []


def run_lego(
    bind: BindServer, endpoint: Endpoint, path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return lego(
        bind, endpoint, path, "--email", "ops@openacm-test.com", "--key-type", "ec256", *args
    )


@needs_lego
def test_lego_obtains_renews_and_revokes_pre_approved_names(
    tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    endpoint = create_endpoint(tenant.acm)
    domain = fresh_domain()
    validated(tenant, bind_server, endpoint.arn, domain, ExactDomain="ENABLED", Wildcards="ENABLED")
    names = ("--domains", domain, "--domains", f"*.{domain}")
    done = run_lego(bind_server, endpoint, tmp_path, *names, "run")
    assert done.returncode == 0, done.stdout + done.stderr + tenant.server.log()[-3000:]
    chain = tmp_path / "certificates" / f"{domain}.crt"
    first = verified_leaf(tenant, chain, tmp_path)

    renewed = run_lego(
        bind_server, endpoint, tmp_path, *names, "renew", "--days", "400", "--no-random-sleep"
    )
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    second = verified_leaf(tenant, chain, tmp_path)
    assert second.serial_number != first.serial_number
    listed = acme_certificates(tenant)
    assert len(listed) == 2
    for summary in listed:
        detail = tenant.acm.describe_certificate(CertificateArn=summary["CertificateArn"])
        assert detail["Certificate"]["AcmeEndpointArn"] == endpoint.arn
        assert detail["Certificate"]["Status"] == "ISSUED"

    revoked = run_lego(bind_server, endpoint, tmp_path, "--domains", domain, "revoke")
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    statuses = tenant.acm.list_certificates(
        CertificateStatuses=["REVOKED"],
        Includes={"keyTypes": ["EC_prime256v1"]},
        CertificateKeyPairOrigins=["ACME"],
    )["CertificateSummaryList"]
    assert len(statuses) == 1

    # A name outside the validated scope: refused, nothing more issued.
    outside = run_lego(
        bind_server, endpoint, tmp_path / "other", "--domains", f"www.{domain}", "run"
    )
    assert outside.returncode != 0
    assert "rejectedIdentifier" in outside.stdout + outside.stderr
    assert len(acme_certificates(tenant)) == 2


@needs_certbot
def test_certbot_obtains_renews_and_revokes_pre_approved_names(
    tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    endpoint = create_endpoint(tenant.acm)
    domain = fresh_domain()
    validated(tenant, bind_server, endpoint.arn, domain)
    base = ["certbot", "--non-interactive"]
    for option in ("config", "work", "logs"):
        base += [f"--{option}-dir", str(tmp_path / option)]
    hook = tmp_path / "never-called.sh"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    command = [*base, "certonly", "--agree-tos", "-m", "ops@openacm-test.com"]
    command += ["--server", endpoint.url, "--eab-kid", endpoint.eab[0]]
    command += ["--eab-hmac-key", endpoint.eab[1]]
    command += ["--manual", "--preferred-challenges", "dns", "--manual-auth-hook", str(hook)]
    command += ["--key-type", "ecdsa", "-d", domain, "-d", f"api.{domain}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr + tenant.server.log()[-3000:]
    chain = tmp_path / "config" / "live" / domain / "fullchain.pem"
    first = verified_leaf(tenant, chain, tmp_path)

    renew = [*base, "renew", "--force-renewal", "--no-random-sleep-on-renew"]
    renew += ["--server", endpoint.url]
    renewed = subprocess.run(renew, capture_output=True, text=True, timeout=180)
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    second = verified_leaf(tenant, chain, tmp_path)
    assert second.serial_number != first.serial_number

    revoke = [*base, "revoke", "--server", endpoint.url, "--cert-name", domain]
    revoke += ["--reason", "superseded", "--no-delete-after-revoke"]
    revoked = subprocess.run(revoke, capture_output=True, text=True, timeout=180)
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    described = [
        tenant.acm.describe_certificate(CertificateArn=s["CertificateArn"])["Certificate"]
        for s in acme_certificates(tenant)
    ]
    assert sorted(d["Status"] for d in described) == ["ISSUED", "REVOKED"]
    assert all(d["AcmeEndpointArn"] == endpoint.arn for d in described)


def issue(client: AcmeTestClient, *names: str) -> tuple[x509.Certificate, Any]:
    """A certificate of pre-approved names, and its key."""
    order = client.new_order(*names).json()
    key = ec.generate_private_key(ec.SECP256R1())
    done = client.post(order["finalize"], {"csr": csr_der_b64(key, list(names))})
    assert done.status_code == 200, done.text
    chain = client.post(done.json()["certificate"], None).text
    return x509.load_pem_x509_certificates(chain.encode())[0], key


def cert_id(certificate: x509.Certificate) -> str:
    """RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial's DER content)."""
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    serial = certificate.serial_number
    serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
    return f"{b64url(aki.key_identifier)}.{b64url(serial_bytes)}"


def test_acme_certificates_are_acm_certificates(tenant: Tenant, bind_server: BindServer) -> None:
    acm = tenant.acm
    endpoint = create_endpoint(acm)
    domain = fresh_domain()
    validated(tenant, bind_server, endpoint.arn, domain, Subdomains="ENABLED")
    client = endpoint.client()
    client.new_account()
    directory = client.directory()

    # RFC 9773 renewal information, from the certificate's managed renewal timing.
    first, first_key = issue(client, f"a.{domain}")
    answer = httpx.get(f"{directory['renewalInfo']}/{cert_id(first)}")
    assert answer.status_code == 200, answer.text
    window = answer.json()["suggestedWindow"]
    start = datetime.fromisoformat(window["start"])
    end = datetime.fromisoformat(window["end"])
    assert first.not_valid_before_utc < start < end < first.not_valid_after_utc
    assert int(answer.headers["Retry-After"]) > 0
    assert httpx.get(f"{directory['renewalInfo']}/AAAA.AAAA").status_code == 404

    # revokeCert signed by the certificate's own key (jwk), not by an account.
    der = {"certificate": b64url(first.public_bytes(Encoding.DER))}
    stranger = AcmeTestClient(endpoint.url, ec_key())
    assert problem_type(stranger.post(directory["revokeCert"], der, use_jwk=True)) == "unauthorized"
    holder = AcmeTestClient(endpoint.url, JWKEC(key=first_key))
    assert holder.post(directory["revokeCert"], der, use_jwk=True).status_code == 200
    revoked = httpx.get(f"{directory['renewalInfo']}/{cert_id(first)}").json()["suggestedWindow"]
    assert datetime.fromisoformat(revoked["end"]) < datetime.now(UTC)

    # RevokeCertificate works on them; ExportCertificate does not (the key is the client's).
    issue(client, f"b.{domain}")
    arns = {s["DomainName"]: s["CertificateArn"] for s in acme_certificates(tenant)}
    acm.revoke_certificate(CertificateArn=arns[f"b.{domain}"], RevocationReason="SUPERSEDED")
    detail = acm.describe_certificate(CertificateArn=arns[f"b.{domain}"])["Certificate"]
    assert detail["Status"] == "REVOKED"
    error = error_of(
        lambda: acm.export_certificate(CertificateArn=arns[f"b.{domain}"], Passphrase=b"secret1234")
    )
    assert error["Code"] == "ValidationException"

    # Counted in ACM's certificate quota (3 in this server): a third, then rateLimited.
    issue(client, f"c.{domain}")
    order = client.new_order(f"d.{domain}").json()
    csr = csr_der_b64(ec.generate_private_key(ec.SECP256R1()), [f"d.{domain}"])
    refused = client.post(order["finalize"], {"csr": csr})
    assert problem_type(refused) == "rateLimited"
    assert len(acme_certificates(tenant)) == 3

    # Audited under the endpoint, and counted in the metrics.
    rows = tenant.server.query(
        select(audit_events.c.event_name, audit_events.c.error_code).where(
            audit_events.c.resource_arn == endpoint.arn
        )
    )
    events = {(row.event_name, row.error_code) for row in rows}
    for name in ("AcmeNewAccount", "AcmeNewOrder", "AcmeFinalize"):
        assert (name, None) in events
    assert ("AcmeRevokeCert", "unauthorized") in events
    assert ("AcmeFinalize", "rateLimited") in events
    # An ACM Certificate Available event for each certificate issued.
    outbox = tenant.server.query(
        select(event_outbox.c.resource_arn).where(
            event_outbox.c.detail_type == "ACM Certificate Available"
        )
    )
    assert set(arns.values()) <= {row.resource_arn for row in outbox}
    metrics = httpx.get(f"{tenant.server.endpoint}/metrics").text
    assert 'openacm_api_requests_total{operation="finalize",outcome="Success",service="acme"}' in (
        metrics
    )


def test_key_change(tenant: Tenant) -> None:
    endpoint = create_endpoint(tenant.acm)
    client, other = endpoint.client(), endpoint.client()
    client.new_account()
    other.new_account()
    url = client.directory()["keyChange"]

    def rollover(new_key: JWK, account: str | None = None) -> httpx.Response:
        assert client.kid is not None
        inner = AcmeJws.sign(
            json.dumps(
                {"account": account or client.kid, "oldKey": client.key.public_key().to_json()}
            ).encode(),
            key=new_key,
            alg=jwa.ES256,
            protect=frozenset(["alg", "jwk", "url"]),
            jwk=new_key.public_key(),
            url=url,
        )
        payload = json.loads(
            json.dumps(inner.to_partial_json(flat=True), default=AcmeJws.json_dump_default)
        )
        return client.post(url, payload)

    taken = rollover(other.key)
    assert taken.status_code == 409 and taken.headers["Location"] == other.kid
    assert problem_type(rollover(ec_key(), account=other.kid)) == "malformed"
    new_key = ec_key()
    assert rollover(new_key).status_code == 200
    old_key, client.key = client.key, new_key
    assert client.post(client.kid or "", None).status_code == 200
    client.key = old_key
    assert problem_type(client.post(client.kid or "", None)) == "malformed"


def private_endpoint(tenant: Tenant, bind: BindServer) -> tuple[Endpoint, str, str]:
    """An endpoint issuing from an ACTIVE private EC P-256 root ACM may use, with a VALID
    domain validation: (endpoint, domain, root PEM)."""
    ca_arn, root_pem = make_root_ca(tenant, key="EC_prime256v1", signing="SHA256WITHECDSA")
    endpoint = create_endpoint(tenant.acm, CertificateTags=[{"Key": "ca", "Value": "private"}])
    openacm = openacm_client(tenant.server, tenant.key)
    openacm.put_acme_endpoint_certificate_authority(
        AcmeEndpointArn=endpoint.arn, CertificateAuthorityArn=ca_arn
    )
    domain = fresh_domain()
    validated(tenant, bind, endpoint.arn, domain, ExactDomain="ENABLED", Subdomains="ENABLED")
    return endpoint, domain, root_pem


def verify_under(root_pem: str, chain: Path, tmp_path: Path) -> x509.Certificate:
    roots = tmp_path / "private-root.pem"
    roots.write_text(root_pem)
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(roots), "-untrusted", str(chain), str(chain)],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return x509.load_pem_x509_certificates(chain.read_bytes())[0]


@needs_lego
def test_lego_with_a_private_ca_backed_endpoint(
    tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    endpoint, domain, root_pem = private_endpoint(tenant, bind_server)
    openacm = openacm_client(tenant.server, tenant.key)
    missing = f"arn:aws:acm-pca:us-east-1:{tenant.account_id}:certificate-authority/{uuid.uuid4()}"
    for arn, code in (
        (missing, "ResourceNotFoundException"),
        (missing.replace("us-east-1", "eu-west-1"), "ValidationException"),
    ):
        error = error_of(
            lambda arn=arn: openacm.put_acme_endpoint_certificate_authority(
                AcmeEndpointArn=endpoint.arn, CertificateAuthorityArn=arn
            )
        )
        assert error["Code"] == code
    # ACM's view of the endpoint keeps the model's union.
    described = tenant.acm.describe_acme_endpoint(AcmeEndpointArn=endpoint.arn)["AcmeEndpoint"]
    assert list(described["CertificateAuthority"]) == ["PublicCertificateAuthority"]

    done = run_lego(bind_server, endpoint, tmp_path, "--domains", domain, "run")
    assert done.returncode == 0, done.stdout + done.stderr + tenant.server.log()[-3000:]
    chain = tmp_path / "certificates" / f"{domain}.crt"
    first = verify_under(root_pem, chain, tmp_path)
    renewed = run_lego(
        bind_server, endpoint, tmp_path, "--domains", domain, "renew", "--days", "400",
        "--no-random-sleep",
    )  # fmt: skip
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    second = verify_under(root_pem, chain, tmp_path)
    assert second.serial_number != first.serial_number

    listed = acme_certificates(tenant)
    assert len(listed) == 2
    detail = tenant.acm.describe_certificate(CertificateArn=listed[0]["CertificateArn"])
    certificate = detail["Certificate"]
    assert certificate["Type"] == "PRIVATE"
    assert certificate["CertificateKeyPairOrigin"] == "ACME"
    assert certificate["AcmeEndpointArn"] == endpoint.arn
    assert certificate["CertificateAuthorityArn"].startswith("arn:aws:acm-pca:")
    tags = tenant.acm.list_tags_for_certificate(CertificateArn=listed[0]["CertificateArn"])
    assert tags["Tags"] == [{"Key": "ca", "Value": "private"}]

    revoked = run_lego(bind_server, endpoint, tmp_path, "--domains", domain, "revoke")
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    statuses = sorted(
        tenant.acm.describe_certificate(CertificateArn=s["CertificateArn"])["Certificate"]["Status"]
        for s in acme_certificates(tenant)
    )
    assert statuses == ["ISSUED", "REVOKED"]


@needs_certbot
def test_certbot_with_a_private_ca_backed_endpoint(
    tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    endpoint, domain, root_pem = private_endpoint(tenant, bind_server)
    command = ["certbot", "--non-interactive"]
    for option in ("config", "work", "logs"):
        command += [f"--{option}-dir", str(tmp_path / option)]
    command += ["certonly", "--agree-tos", "-m", "ops@openacm-test.com", "--server", endpoint.url]
    command += ["--eab-kid", endpoint.eab[0], "--eab-hmac-key", endpoint.eab[1]]
    command += ["--manual", "--preferred-challenges", "dns", "--manual-auth-hook", "/bin/false"]
    command += ["--key-type", "ecdsa", "-d", f"www.{domain}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr + tenant.server.log()[-3000:]
    leaf = verify_under(
        root_pem, tmp_path / "config" / "live" / f"www.{domain}" / "fullchain.pem", tmp_path
    )
    assert leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName) == [f"www.{domain}"]
