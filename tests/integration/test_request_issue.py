"""RequestCertificate → DNS validation against a real BIND server → issuance by the builtin CA.

Every test drives a running `openacm serve` with boto3, publishes the CNAMEs the API shows by
dynamic update to BIND, and checks what comes out with OpenSSL and a real TLS handshake.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from openacm.adapters.ca.lint import lint_dv_subscriber
from openacm.adapters.store.schema import issued_serials
from tests.conftest import Tenant
from tests.support.acm_flow import (
    describe,
    publish_records,
    request,
    request_and_issue,
    unique_domain,
    wait_for_status,
)
from tests.support.bind import BindServer

KEY_ALGORITHMS = {
    "RSA_2048": (rsa.RSAPublicKey, 2048),
    "EC_prime256v1": (ec.EllipticCurvePublicKey, 256),
    "EC_secp384r1": (ec.EllipticCurvePublicKey, 384),
}


def _roots_pem(tenant: Tenant) -> bytes:
    response = httpx.get(f"{tenant.server.endpoint}/ca/roots.pem", timeout=10)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("application/x-pem-file")
    return response.content


def test_records_are_shown_by_the_first_describe(pki_tenant: Tenant) -> None:
    domain = unique_domain()
    arn = request(pki_tenant.acm, domain, f"www.{domain}")
    detail = describe(pki_tenant.acm, arn)
    assert detail["Status"] == "PENDING_VALIDATION"
    assert detail["Type"] == "AMAZON_ISSUED"
    options = detail["DomainValidationOptions"]
    assert [o["DomainName"] for o in options] == [domain, f"www.{domain}"]
    for option in options:
        assert option["ValidationStatus"] == "PENDING_VALIDATION"
        assert option["ValidationMethod"] == "DNS"
        record = option["ResourceRecord"]
        assert record["Type"] == "CNAME"
        label, rest = record["Name"].split(".", 1)
        assert rest == option["DomainName"] + "."
        assert label.startswith("_") and len(label) == 33
        value_label, zone = record["Value"].split(".", 1)
        assert value_label.startswith("_") and len(value_label) == 33
        assert zone == "acm-validations.openacm.internal."
    with pytest.raises(pki_tenant.acm.exceptions.RequestInProgressException):
        pki_tenant.acm.get_certificate(CertificateArn=arn)


def test_wildcard_and_apex_share_one_record_and_records_are_per_account(
    pki_tenant: Tenant, pki_server: Any
) -> None:
    domain = unique_domain()
    arn = request(pki_tenant.acm, domain, f"*.{domain}", f"api.{domain}")
    apex, wildcard, api = describe(pki_tenant.acm, arn)["DomainValidationOptions"]
    assert apex["ResourceRecord"] == wildcard["ResourceRecord"]
    assert api["ResourceRecord"] != apex["ResourceRecord"]
    # The same name in the same account: the same record, whatever the certificate or region.
    again = request(pki_tenant.client("acm", region="eu-west-1"), domain)
    again_detail = describe(pki_tenant.client("acm", region="eu-west-1"), again)
    assert again_detail["DomainValidationOptions"][0]["ResourceRecord"] == apex["ResourceRecord"]
    # Another account gets its own record for the same name.
    _other_account, other_key = pki_server.new_account()
    other = pki_server.client(key=other_key)
    other_detail = describe(other, request(other, domain))
    assert other_detail["DomainValidationOptions"][0]["ResourceRecord"] != apex["ResourceRecord"]


@pytest.mark.parametrize("key_algorithm", list(KEY_ALGORITHMS))
def test_issued_chain_verifies_and_serves_tls(
    pki_tenant: Tenant, bind_server: BindServer, key_algorithm: str, tmp_path: Path
) -> None:
    domain = unique_domain()
    arn = request_and_issue(
        pki_tenant.acm, bind_server, domain, f"*.{domain}", KeyAlgorithm=key_algorithm
    )
    detail = describe(pki_tenant.acm, arn)
    assert detail["DomainName"] == domain
    assert detail["SubjectAlternativeNames"] == [domain, f"*.{domain}"]
    assert all(o["ValidationStatus"] == "SUCCESS" for o in detail["DomainValidationOptions"])
    assert detail["IssuedAt"] and detail["NotBefore"] and detail["NotAfter"]
    assert detail["Serial"].count(":") == 15  # 16 bytes, as ACM's
    lifetime = detail["NotAfter"] - detail["NotBefore"]
    assert lifetime.days <= 198
    expected_usages = {"DIGITAL_SIGNATURE"} | (
        {"KEY_ENCIPHERMENT"} if key_algorithm.startswith("RSA") else set()
    )
    assert {u["Name"] for u in detail["KeyUsages"]} == expected_usages
    assert "TLS_WEB_SERVER_AUTHENTICATION" in {u["Name"] for u in detail["ExtendedKeyUsages"]}

    issued = pki_tenant.acm.get_certificate(CertificateArn=arn)
    leaf = x509.load_pem_x509_certificate(issued["Certificate"].encode())
    key_type, size = KEY_ALGORITHMS[key_algorithm]
    assert isinstance(leaf.public_key(), key_type)
    assert leaf.public_key().key_size == size  # type: ignore[union-attr]
    chain = x509.load_pem_x509_certificates(issued["CertificateChain"].encode())
    issuer_name = chain[0].subject.rfc4514_string()
    assert ("ECDSA" if key_algorithm.startswith("EC") else "RSA") in issuer_name

    # The CA/Browser Forum linter finds no error in what the builtin CA issued.
    blocking = [f for f in lint_dv_subscriber(leaf) if f.blocks_signing]
    assert not blocking, blocking

    (tmp_path / "root.pem").write_bytes(_roots_pem(pki_tenant))
    (tmp_path / "chain.pem").write_text(issued["CertificateChain"])
    (tmp_path / "leaf.pem").write_text(issued["Certificate"])
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

    key_path = tmp_path / "key.pem"
    key_path.write_bytes(pki_tenant.server.private_key_pem(arn))
    (tmp_path / "fullchain.pem").write_text(issued["Certificate"] + issued["CertificateChain"])
    _tls_handshake(
        tmp_path / "fullchain.pem", key_path, tmp_path / "root.pem", f"www.{domain}", leaf
    )


def _tls_handshake(
    fullchain: Path, key: Path, root: Path, server_name: str, leaf: x509.Certificate
) -> None:
    """A TLS server with the issued key; a client trusting only the builtin root connects."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(fullchain, key)
    client_context = ssl.create_default_context(cafile=str(root))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with server_context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"hello")
        except BaseException as exc:  # reported by the client side's assertion
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client_context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            assert tls.recv(5) == b"hello"
            peer = tls.getpeercert(binary_form=True)
            assert peer is not None
            assert x509.load_der_x509_certificate(peer) == leaf
    finally:
        thread.join(timeout=10)
        listener.close()
    assert not errors, errors


def test_validated_name_issues_again_without_a_new_record(
    pki_tenant: Tenant, bind_server: BindServer
) -> None:
    domain = unique_domain()
    request_and_issue(pki_tenant.acm, bind_server, domain)
    second = request(pki_tenant.acm, domain, KeyAlgorithm="EC_prime256v1")
    assert wait_for_status(pki_tenant.acm, second)["Status"] == "ISSUED"


def test_names_turn_validated_with_the_issuance(
    pki_tenant: Tenant, bind_server: BindServer
) -> None:
    """Every name SUCCESS means ISSUED: the aws CLI's `wait certificate-validated` followed at
    once by `get-certificate` gets the certificate, and no Describe in between shows every
    name validated while the certificate is still pending."""
    domain = unique_domain()
    arn = request(pki_tenant.acm, domain, f"www.{domain}")
    publish_records(bind_server, describe(pki_tenant.acm, arn))
    seen_all_validated_pending = []
    while (detail := describe(pki_tenant.acm, arn))["Status"] == "PENDING_VALIDATION":
        statuses = {o["ValidationStatus"] for o in detail["DomainValidationOptions"]}
        if statuses == {"SUCCESS"}:
            seen_all_validated_pending.append(detail)
    assert detail["Status"] == "ISSUED"
    assert not seen_all_validated_pending

    second = request(pki_tenant.acm, f"www.{domain}", domain)
    pki_tenant.aws("acm", "wait", "certificate-validated", "--certificate-arn", second)
    got = pki_tenant.aws_json("acm", "get-certificate", "--certificate-arn", second)
    assert got["Certificate"].startswith("-----BEGIN CERTIFICATE-----")


def test_deleted_record_stops_validation_of_a_new_request(
    pki_tenant: Tenant, bind_server: BindServer
) -> None:
    domain = unique_domain()
    first = request_and_issue(pki_tenant.acm, bind_server, domain)
    record = describe(pki_tenant.acm, first)["DomainValidationOptions"][0]["ResourceRecord"]
    bind_server.delete(record["Name"])
    time.sleep(1.2)  # the zone's negative TTL
    second = request(pki_tenant.acm, domain)
    time.sleep(2.0)  # many validation rounds at the test's 0.1-0.4 s backoff
    detail = describe(pki_tenant.acm, second)
    assert detail["Status"] == "PENDING_VALIDATION"
    assert detail["DomainValidationOptions"][0]["ValidationStatus"] == "PENDING_VALIDATION"
    bind_server.add_cname(record["Name"], record["Value"])
    assert wait_for_status(pki_tenant.acm, second)["Status"] == "ISSUED"


def test_value_without_underscore_or_through_a_five_link_chain_validates(
    pki_tenant: Tenant, bind_server: BindServer
) -> None:
    domain = unique_domain()
    arn = request(pki_tenant.acm, domain, f"b.{domain}")
    first, second = describe(pki_tenant.acm, arn)["DomainValidationOptions"]
    # Some DNS providers refuse a leading underscore in a value; ACM accepts it without.
    bind_server.add_cname(first["ResourceRecord"]["Name"], first["ResourceRecord"]["Value"][1:])
    # name → l1 → l2 → l3 → l4 → value: five links.
    _chain(bind_server, second["ResourceRecord"], links=5, base=f"c5.{domain}")
    assert wait_for_status(pki_tenant.acm, arn)["Status"] == "ISSUED"


def _chain(dns: BindServer, record: dict[str, str], *, links: int, base: str) -> None:
    hops = [record["Name"]] + [f"l{i}.{base}." for i in range(1, links)]
    for source, target in itertools.pairwise(hops):
        dns.add_cname(source, target)
    dns.add_cname(hops[-1], record["Value"])


def test_caa_naming_another_ca_fails_the_request(
    pki_tenant: Tenant, bind_server: BindServer
) -> None:
    domain = unique_domain("caa")
    bind_server.add_caa(domain, 0, "issue", "letsencrypt.org")
    arn = request(pki_tenant.acm, f"www.{domain}")
    publish_records(bind_server, describe(pki_tenant.acm, arn))
    detail = wait_for_status(pki_tenant.acm, arn)
    assert detail["Status"] == "FAILED"
    assert detail["FailureReason"] == "CAA_ERROR"
    with pytest.raises(pki_tenant.acm.exceptions.ValidationException):
        pki_tenant.acm.get_certificate(CertificateArn=arn)


def test_caa_naming_openacm_allows_and_issuewild_governs_wildcards(
    pki_tenant: Tenant, bind_server: BindServer
) -> None:
    domain = unique_domain("caa")
    bind_server.add_caa(domain, 0, "issue", "openacm.internal")
    bind_server.add_caa(domain, 0, "issuewild", ";")
    request_and_issue(pki_tenant.acm, bind_server, f"www.{domain}")
    wildcard = request(pki_tenant.acm, f"*.{domain}")
    publish_records(bind_server, describe(pki_tenant.acm, wildcard))
    detail = wait_for_status(pki_tenant.acm, wildcard)
    assert (detail["Status"], detail.get("FailureReason")) == ("FAILED", "CAA_ERROR")


def test_unknown_tld_and_forbidden_suffix_fail_at_once(pki_tenant: Tenant) -> None:
    unknown = describe(pki_tenant.acm, request(pki_tenant.acm, "example.invalidpublicdomain"))
    assert (unknown["Status"], unknown["FailureReason"]) == ("FAILED", "INVALID_PUBLIC_DOMAIN")
    forbidden = describe(pki_tenant.acm, request(pki_tenant.acm, "app.cloudfront.net"))
    assert (forbidden["Status"], forbidden["FailureReason"]) == ("FAILED", "DOMAIN_NOT_ALLOWED")


def test_idempotency_token(pki_tenant: Tenant) -> None:
    domain = unique_domain()
    first = request(pki_tenant.acm, domain, IdempotencyToken="tok_1")
    assert request(pki_tenant.acm, domain, IdempotencyToken="tok_1") == first
    assert request(pki_tenant.acm, domain, IdempotencyToken="tok_2") != first
    changed = request(pki_tenant.acm, domain, IdempotencyToken="tok_1", KeyAlgorithm="EC_secp384r1")
    assert changed != first


def test_options_tags_and_list(pki_tenant: Tenant) -> None:
    domain = unique_domain()
    arn = request(
        pki_tenant.acm,
        domain,
        KeyAlgorithm="EC_prime256v1",
        Options={"CertificateTransparencyLoggingPreference": "DISABLED", "Export": "ENABLED"},
        Tags=[{"Key": "team", "Value": "edge"}],
    )
    detail = describe(pki_tenant.acm, arn)
    assert detail["Options"] == {
        "CertificateTransparencyLoggingPreference": "DISABLED",
        "Export": "ENABLED",
    }
    assert detail["KeyAlgorithm"] == "EC-prime256v1"
    assert pki_tenant.acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [
        {"Key": "team", "Value": "edge"}
    ]
    listed = pki_tenant.acm.list_certificates(
        CertificateStatuses=["PENDING_VALIDATION"], Includes={"keyTypes": ["EC_prime256v1"]}
    )["CertificateSummaryList"]
    assert [s["CertificateArn"] for s in listed] == [arn]
    assert listed[0]["Type"] == "AMAZON_ISSUED"
    validations = pki_tenant.acm.list_certificate_domain_validations(CertificateArn=arn)
    (summary,) = validations["DomainValidationSummaryList"]
    active = summary["ActiveValidationConfiguration"]
    assert active["ValidationMethod"] == "DNS"
    assert active["ValidationStatus"] == "PENDING_VALIDATION"
    expected = detail["DomainValidationOptions"][0]["ResourceRecord"]
    assert active["ValidationChallenge"]["DnsValidationChallenge"]["ResourceRecord"] == expected


def test_each_certificate_is_signed_once_by_several_workers(
    tmp_path: Path, bind_server: BindServer
) -> None:
    from tests.conftest import finish_server, pki_env, start_server

    server = start_server(tmp_path, "sqlite", env=pki_env(bind_server, OPENACM_WORKERS="2"))
    try:
        acm = server.client()
        domain = unique_domain()
        arns = [request(acm, f"n{i}.{domain}") for i in range(12)]
        for arn in arns:
            publish_records(bind_server, describe(acm, arn))
        for arn in arns:
            assert wait_for_status(acm, arn)["Status"] == "ISSUED"
        rows = server.query(
            select(issued_serials.c.certificate_arn, issued_serials.c.state).where(
                issued_serials.c.certificate_arn.in_(arns)
            )
        )
        issued = [arn for arn, state in rows if state == "issued"]
        assert sorted(issued) == sorted(arns)
    finally:
        finish_server(server)


def test_certificate_quotas_and_forbidden_suffixes_come_from_configuration(
    tmp_path: Path, bind_server: BindServer
) -> None:
    from tests.conftest import finish_server, pki_env, start_server

    env = pki_env(
        bind_server,
        OPENACM_QUOTA_CERTIFICATES="2",
        OPENACM_QUOTA_DOMAINS_PER_CERTIFICATE="3",
        OPENACM_ISSUANCE_FORBIDDEN_SUFFIXES="corp.openacm-test.com",
    )
    server = start_server(tmp_path, "sqlite", env=env)
    try:
        acm = server.client()
        domain = unique_domain()
        request(acm, domain, f"a.{domain}", f"b.{domain}")
        with pytest.raises(acm.exceptions.LimitExceededException) as too_many:
            request(acm, domain, f"a.{domain}", f"b.{domain}", f"c.{domain}")
        assert too_many.value.response["Error"]["Message"] == "Certificate has too many domains."
        refused = describe(acm, request(acm, "app.corp.openacm-test.com"))
        assert (refused["Status"], refused["FailureReason"]) == ("FAILED", "DOMAIN_NOT_ALLOWED")
        # Amazon's own suffixes are allowed once the operator lists others.
        with pytest.raises(acm.exceptions.LimitExceededException) as full:
            request(acm, "www.elasticbeanstalk.com")
        assert "limit of 2 ACM certificates" in full.value.response["Error"]["Message"]
    finally:
        finish_server(server)
