"""The acme public issuer end to end: boto3 drives a real `openacm serve` whose us-east-1
public issuer is a real Pebble (loopback, its own CA), Pebble resolving through the test BIND
server. The user creates the `_acme-challenge` CNAME DescribeCertificate shows, once; openacm
answers DNS-01 by RFC 2136 TXT updates into its validation zone; the chain Pebble issues
verifies against Pebble's root; a renewal (the `--dev` clock) needs no new record.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import Tenant, _tenant, finish_server, pki_env, start_server
from tests.integration.test_acme_upstream import _txt_at
from tests.integration.test_create_records import zone_entry
from tests.integration.test_managed_renewal import (
    PASSPHRASE,
    into_renewal_window,
    move_clock,
    public_key_of,
    wait_renewal,
)
from tests.support.acm_flow import (
    TEST_ZONE,
    describe,
    publish_records,
    request,
    unique_domain,
    wait_for_status,
)
from tests.support.bind import BindServer
from tests.support.pebble import BLOCKED_DOMAIN, PebbleServer, pebble_server  # noqa: F401
from tests.support.server import OpenAcmServer, free_port

# Inside the test zone: BIND (recursion off) follows a CNAME only within its own zone, and
# Pebble asks BIND directly.
VALIDATION_ZONE = f"acme-validations.{TEST_ZONE}"


@pytest.fixture(scope="module")
def acme_server(
    tmp_path_factory: pytest.TempPathFactory,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
) -> Iterator[OpenAcmServer]:
    root = tmp_path_factory.mktemp("acme-issuer")
    config = root / "openacm.toml"
    config.write_text(zone_entry(TEST_ZONE, bind_server, []))
    config.chmod(0o600)
    env = pki_env(
        bind_server,
        OPENACM_VALIDATION_ZONE=VALIDATION_ZONE,
        OPENACM_RENEWAL_SWEEP_INTERVAL_SECONDS="0.1",
        OPENACM_ACME_DIRECTORY_URL=pebble_server.directory_url,
        OPENACM_ACME_CA_BUNDLE=pebble_server.ca_bundle,
        OPENACM_ACME_CONTACT="mailto:ops@openacm-test.com",
        OPENACM_ACME_REGIONS="us-east-1",
        OPENACM_ACME_ORDER_TIMEOUT="60",
        # Pebble offers a second chain, to another root: openacm keeps that one.
        OPENACM_ACME_PREFERRED_CHAIN=pebble_server.root_name(1),
    )
    started = start_server(root, "sqlite", env=env, extra_args=["--config", str(config)])
    yield started
    finish_server(started)


@pytest.fixture
def tenant(acme_server: OpenAcmServer) -> Iterator[Tenant]:
    move_clock(acme_server, reset=True)
    yield _tenant(acme_server)
    move_clock(acme_server, reset=True)


def chain_verifies(tenant: Tenant, arn: str, root_pem: bytes, tmp_path: Path) -> bool:
    """Whether `openssl verify` accepts the certificate and its chain under `root_pem`."""
    got = tenant.acm.get_certificate(CertificateArn=arn)
    (tmp_path / "leaf.pem").write_text(got["Certificate"])
    (tmp_path / "chain.pem").write_text(got["CertificateChain"])
    (tmp_path / "root.pem").write_bytes(root_pem)
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"),
         "-untrusted", str(tmp_path / "chain.pem"), str(tmp_path / "leaf.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.returncode == 0


def _verify_chain(tenant: Tenant, arn: str, root_pem: bytes, tmp_path: Path) -> None:
    assert chain_verifies(tenant, arn, root_pem, tmp_path)


def test_the_record_is_the_acme_challenge_cname_and_pebble_issues(
    tenant: Tenant,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    domain = unique_domain("acme")
    arn = request(tenant.acm, domain, f"*.{domain}")
    detail = describe(tenant.acm, arn)
    apex, wildcard = detail["DomainValidationOptions"]
    assert apex["ResourceRecord"] == wildcard["ResourceRecord"]
    record = apex["ResourceRecord"]
    assert record["Name"] == f"_acme-challenge.{domain}."
    assert record["Type"] == "CNAME"
    token, zone = record["Value"].split(".", 1)
    assert zone == VALIDATION_ZONE + "." and len(token) == 32
    # Stable per (account, name): a second request shows the same record.
    again = describe(tenant.acm, request(tenant.acm, domain))
    assert again["DomainValidationOptions"][0]["ResourceRecord"] == record

    publish_records(bind_server, detail)
    issued = wait_for_status(tenant.acm, arn, timeout=60)

    assert issued["Status"] == "ISSUED", issued
    assert issued["Type"] == "AMAZON_ISSUED"
    assert [o["ValidationStatus"] for o in issued["DomainValidationOptions"]] == ["SUCCESS"] * 2
    assert "Pebble" in issued["Issuer"]
    # The preferred (alternate) chain was kept, not Pebble's default one.
    _verify_chain(tenant, arn, pebble_server.root_pem(1), tmp_path)
    assert not chain_verifies(tenant, arn, pebble_server.root_pem(0), tmp_path)
    # The second request needs no new record.
    assert wait_for_status(tenant.acm, again["CertificateArn"], timeout=60)["Status"] == "ISSUED"


def test_a_name_the_ca_refuses_fails_with_domain_not_allowed(
    tenant: Tenant, bind_server: BindServer
) -> None:
    arn = request(tenant.acm, f"x.{BLOCKED_DOMAIN}")
    publish_records(bind_server, describe(tenant.acm, arn))
    detail = wait_for_status(tenant.acm, arn, timeout=60)
    assert detail["Status"] == "FAILED", detail
    assert detail["FailureReason"] == "DOMAIN_NOT_ALLOWED"


def test_email_validation_is_refused_in_an_acme_region(tenant: Tenant) -> None:
    with pytest.raises(tenant.acm.exceptions.ClientError, match="ValidationMethod DNS"):
        tenant.acm.request_certificate(DomainName=unique_domain(), ValidationMethod="EMAIL")


def test_renewal_goes_through_pebble_with_the_same_record(
    tenant: Tenant, bind_server: BindServer
) -> None:
    domain = unique_domain("acme-renew")
    arn = request(tenant.acm, domain, Options={"Export": "ENABLED"})
    publish_records(bind_server, describe(tenant.acm, arn))
    before = wait_for_status(tenant.acm, arn, timeout=60)
    assert before["Status"] == "ISSUED", before
    tenant.acm.export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)  # eligible
    old_key = public_key_of(tenant.acm, arn)

    into_renewal_window(tenant.server, before)
    after = wait_renewal(tenant.acm, arn, ("SUCCESS", "FAILED"), timeout=60)

    assert after["RenewalSummary"]["RenewalStatus"] == "SUCCESS", after["RenewalSummary"]
    assert after["CertificateArn"] == arn and after["Serial"] != before["Serial"]
    assert public_key_of(tenant.acm, arn) != old_key
    leaf = x509.load_pem_x509_certificate(
        tenant.acm.get_certificate(CertificateArn=arn)["Certificate"].encode()
    )
    assert "Pebble" in leaf.issuer.rfc4514_string()


def test_a_ca_that_is_down_keeps_the_request_pending_and_a_restart_resumes_it(
    tmp_path: Path,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
) -> None:
    config = tmp_path / "openacm.toml"
    config.write_text(zone_entry(TEST_ZONE, bind_server, []))
    config.chmod(0o600)
    acme_env = {
        "OPENACM_VALIDATION_ZONE": VALIDATION_ZONE,
        "OPENACM_ACME_CA_BUNDLE": pebble_server.ca_bundle,
        "OPENACM_ACME_REGIONS": "us-east-1",
        "OPENACM_ACME_ORDER_TIMEOUT": "60",
    }
    # Nothing listens on that port: the CA is down.
    down = f"https://127.0.0.1:{free_port()}/dir"
    server = start_server(
        tmp_path, "sqlite", extra_args=["--config", str(config)],
        env=pki_env(bind_server, **acme_env, OPENACM_ACME_DIRECTORY_URL=down),
    )  # fmt: skip
    try:
        tenant = _tenant(server)
        arn = request(tenant.acm, unique_domain("acme-down"))
        publish_records(bind_server, describe(tenant.acm, arn))
        deadline = time.monotonic() + 30
        while True:  # openacm saw the CNAME: the name is SUCCESS, the CA is what is missing
            detail = describe(tenant.acm, arn)
            if detail["DomainValidationOptions"][0]["ValidationStatus"] == "SUCCESS":
                break
            assert time.monotonic() < deadline, detail
            time.sleep(0.1)
        time.sleep(1)  # several retries with the test's short backoff
        assert describe(tenant.acm, arn)["Status"] == "PENDING_VALIDATION"
        assert "fetching the directory" in server.log()

        server.stop()
        server.env = pki_env(
            bind_server, **acme_env, OPENACM_ACME_DIRECTORY_URL=pebble_server.directory_url
        )
        server.start()
        detail = wait_for_status(tenant.acm, arn, timeout=60)
        assert detail["Status"] == "ISSUED", detail
    finally:
        finish_server(server)


def test_orders_that_would_outlive_the_lease_wait_for_the_next_batch(
    tmp_path: Path,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
) -> None:
    """With order_timeout equal to the lease, a batch runs one order and gives the others
    back: every certificate is still issued, once."""
    config = tmp_path / "openacm.toml"
    config.write_text(zone_entry(TEST_ZONE, bind_server, []))
    config.chmod(0o600)
    env = pki_env(
        bind_server,
        OPENACM_VALIDATION_ZONE=VALIDATION_ZONE,
        OPENACM_VALIDATION_LEASE_SECONDS="60",
        OPENACM_ACME_ORDER_TIMEOUT="60",
        OPENACM_ACME_DIRECTORY_URL=pebble_server.directory_url,
        OPENACM_ACME_CA_BUNDLE=pebble_server.ca_bundle,
        OPENACM_ACME_REGIONS="us-east-1",
    )
    server = start_server(tmp_path, "sqlite", env=env, extra_args=["--config", str(config)])
    try:
        tenant = _tenant(server)
        # One name: its one record, published after the three requests, makes them ready
        # together, so they are likely to share a batch.
        domain = unique_domain("acme-batch")
        arns = [request(tenant.acm, domain) for _ in range(3)]
        publish_records(bind_server, describe(tenant.acm, arns[0]))
        serials = set()
        for arn in arns:
            detail = wait_for_status(tenant.acm, arn, timeout=90)
            assert detail["Status"] == "ISSUED", detail
            serials.add(detail["Serial"])
        assert len(serials) == 3
        assert server.log().count("certificate issued by the ACME CA") == 3
    finally:
        finish_server(server)


def test_a_cname_to_the_wrong_token_keeps_the_name_pending(
    tenant: Tenant, bind_server: BindServer
) -> None:
    """openacm checks the delegation itself before asking the CA, as ACM checks its CNAMEs."""
    domain = unique_domain("acme-wrong")
    arn = request(tenant.acm, domain)
    record = describe(tenant.acm, arn)["DomainValidationOptions"][0]["ResourceRecord"]
    bind_server.add_cname(record["Name"], f"{'0' * 32}.{VALIDATION_ZONE}.")
    time.sleep(1.5)  # several checks with the test's short backoff
    detail = describe(tenant.acm, arn)
    assert detail["Status"] == "PENDING_VALIDATION"
    assert detail["DomainValidationOptions"][0]["ValidationStatus"] == "PENDING_VALIDATION"
    # Corrected, it is issued without a new request.
    bind_server.delete(record["Name"], "CNAME")
    bind_server.add_cname(record["Name"], record["Value"])
    assert wait_for_status(tenant.acm, arn, timeout=60)["Status"] == "ISSUED"


def test_revocation_is_forwarded_to_the_ca(
    tenant: Tenant,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
) -> None:
    arn = request(tenant.acm, unique_domain("acme-revoke"), Options={"Export": "ENABLED"})
    publish_records(bind_server, describe(tenant.acm, arn))
    assert wait_for_status(tenant.acm, arn, timeout=60)["Status"] == "ISSUED"
    leaf = x509.load_pem_x509_certificate(
        tenant.acm.get_certificate(CertificateArn=arn)["Certificate"].encode()
    )
    assert pebble_server.certificate_status(leaf.serial_number)["Status"] == "Valid"

    tenant.acm.revoke_certificate(CertificateArn=arn, RevocationReason="KEY_COMPROMISE")

    assert describe(tenant.acm, arn)["Status"] == "REVOKED"
    assert pebble_server.certificate_status(leaf.serial_number)["Status"] == "Revoked"
    with pytest.raises(tenant.acm.exceptions.ClientError, match="already revoked"):
        tenant.acm.revoke_certificate(CertificateArn=arn, RevocationReason="KEY_COMPROMISE")


def test_a_ca_that_finds_wrong_answers_fails_the_request_and_the_renewal(
    tenant: Tenant, bind_server: BindServer
) -> None:
    """The delegation is right (openacm's check passes) but the CA finds no right TXT: here
    the token's own name is made an alias elsewhere, so the answers openacm writes there are
    not what the CA reads. The renewal ends FAILED (the certificate stays ISSUED), a new
    request FAILED with OTHER; no answer is left in the zone."""
    domain = unique_domain("acme-refused")
    arn = request(tenant.acm, domain, Options={"Export": "ENABLED"})
    detail = describe(tenant.acm, arn)
    publish_records(bind_server, detail)
    before = wait_for_status(tenant.acm, arn, timeout=60)
    assert before["Status"] == "ISSUED", before
    tenant.acm.export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)  # eligible

    token_name = detail["DomainValidationOptions"][0]["ResourceRecord"]["Value"]
    elsewhere = f"elsewhere-{domain}"
    bind_server.add_txt(elsewhere, "not-the-key-authorization")
    bind_server.add_cname(token_name, elsewhere + ".")

    into_renewal_window(tenant.server, before)
    after = wait_renewal(tenant.acm, arn, ("SUCCESS", "FAILED"), timeout=60)
    assert after["RenewalSummary"]["RenewalStatus"] == "FAILED", after["RenewalSummary"]
    assert after["RenewalSummary"]["RenewalStatusReason"] == "OTHER"
    assert after["Status"] == "ISSUED" and after["Serial"] == before["Serial"]

    again = request(tenant.acm, domain)
    refused = wait_for_status(tenant.acm, again, timeout=60)
    assert refused["Status"] == "FAILED", refused
    assert refused["FailureReason"] == "OTHER"
    assert "unauthorized" in tenant.server.log()
    # Nothing half-done: no TXT answer stays at the token's name.
    bind_server.delete(token_name, "CNAME")
    assert _txt_at(bind_server, token_name) == []


def test_a_missing_cname_times_out_without_an_order(
    tenant: Tenant, acme_server: OpenAcmServer
) -> None:
    arn = request(tenant.acm, unique_domain("acme-missing"))
    time.sleep(1)  # several looks with the test's short backoff: the CNAME is not there
    assert describe(tenant.acm, arn)["Status"] == "PENDING_VALIDATION"
    move_clock(acme_server, advance_seconds=72 * 3600 + 60)
    detail = wait_for_status(tenant.acm, arn, timeout=30)
    assert detail["Status"] == "VALIDATION_TIMED_OUT", detail
    assert detail["DomainValidationOptions"][0]["ValidationStatus"] == "FAILED"
    # The CA was never asked.
    assert not [line for line in acme_server.log().splitlines() if arn in line and "ACME" in line]


def test_a_ca_down_for_72_hours_times_the_request_out(
    tmp_path: Path,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
) -> None:
    """The names are proven (SUCCESS) but no certificate came: ACM's 72 hours still apply."""
    config = tmp_path / "openacm.toml"
    config.write_text(zone_entry(TEST_ZONE, bind_server, []))
    config.chmod(0o600)
    env = pki_env(
        bind_server,
        OPENACM_VALIDATION_ZONE=VALIDATION_ZONE,
        OPENACM_ACME_CA_BUNDLE=pebble_server.ca_bundle,
        OPENACM_ACME_REGIONS="us-east-1",
        OPENACM_ACME_DIRECTORY_URL=f"https://127.0.0.1:{free_port()}/dir",  # nothing there
    )
    server = start_server(tmp_path, "sqlite", env=env, extra_args=["--config", str(config)])
    try:
        tenant = _tenant(server)
        arn = request(tenant.acm, unique_domain("acme-down-long"))
        publish_records(bind_server, describe(tenant.acm, arn))
        deadline = time.monotonic() + 30
        while describe(tenant.acm, arn)["DomainValidationOptions"][0]["ValidationStatus"] != (
            "SUCCESS"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        move_clock(server, advance_seconds=72 * 3600 + 60)
        detail = wait_for_status(tenant.acm, arn, timeout=30)
        assert detail["Status"] == "VALIDATION_TIMED_OUT", detail
        assert "FailureReason" not in detail
    finally:
        finish_server(server)
