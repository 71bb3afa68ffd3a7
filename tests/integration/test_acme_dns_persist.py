"""dns-persist-01 (draft-ietf-acme-dns-persist) end to end: boto3 drives a real `openacm serve`
whose us-east-1 public issuer is a loopback CA offering dns-persist-01 (tests/support/
fake_acme.py), which reads the `_validation-persist` TXT records from the test BIND server,
as openacm's own check does. The user creates the record DescribeCertificate shows once; a
second certificate and a renewal need nothing new; without the record nothing is ordered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from cryptography import x509

from tests.conftest import Tenant, _tenant, finish_server, pki_env, start_server
from tests.integration.test_create_records import openacm_client, zone_entry
from tests.integration.test_managed_renewal import (
    PASSPHRASE,
    into_renewal_window,
    move_clock,
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
from tests.support.fake_acme import DnsPersistCa
from tests.support.server import OpenAcmServer

ISSUER = "persist-ca.test"


@pytest.fixture(scope="module")
def persist_ca(bind_server: BindServer) -> Iterator[DnsPersistCa]:
    with DnsPersistCa((bind_server.address, bind_server.port), (ISSUER,)) as ca:
        yield ca


@pytest.fixture(scope="module")
def persist_server(
    tmp_path_factory: pytest.TempPathFactory, bind_server: BindServer, persist_ca: DnsPersistCa
) -> Iterator[OpenAcmServer]:
    env = pki_env(
        bind_server,
        OPENACM_VALIDATION_ZONE=f"acme-validations.{TEST_ZONE}",
        OPENACM_RENEWAL_SWEEP_INTERVAL_SECONDS="0.1",
        OPENACM_ACME_DIRECTORY_URL=persist_ca.directory_url,
        OPENACM_ACME_REGIONS="us-east-1",
        OPENACM_ACME_ORDER_TIMEOUT="30",
        OPENACM_ACME_DNS_PERSIST_ISSUER=ISSUER,
    )
    root = tmp_path_factory.mktemp("acme-persist")
    config = root / "openacm.toml"  # CreateValidationRecords may write into the test zone
    config.write_text(zone_entry(TEST_ZONE, bind_server, ["*"]))
    config.chmod(0o600)
    started = start_server(root, "sqlite", env=env, extra_args=["--config", str(config)])
    yield started
    finish_server(started)


@pytest.fixture
def tenant(persist_server: OpenAcmServer) -> Iterator[Tenant]:
    move_clock(persist_server, reset=True)
    yield _tenant(persist_server)
    move_clock(persist_server, reset=True)


def _record(detail: dict[str, object]) -> dict[str, str]:
    options = detail["DomainValidationOptions"]
    assert isinstance(options, list)
    record: dict[str, str] = options[0]["ResourceRecord"]
    return record


def test_the_persistent_record_issues_and_serves_the_next_certificate_and_renewal(
    tenant: Tenant, bind_server: BindServer, persist_ca: DnsPersistCa
) -> None:
    domain = unique_domain("persist")
    arn = request(tenant.acm, domain, Options={"Export": "ENABLED"})
    detail = describe(tenant.acm, arn)
    record = _record(detail)
    assert record["Name"] == f"_validation-persist.{domain}."
    assert record["Type"] == "TXT"
    issuer, account = record["Value"].split("; ")
    assert issuer == ISSUER and account.startswith("accounturi=http://127.0.0.1:")

    publish_records(bind_server, detail)
    issued = wait_for_status(tenant.acm, arn, timeout=30)
    assert issued["Status"] == "ISSUED", issued
    assert issued["DomainValidationOptions"][0]["ValidationStatus"] == "SUCCESS"
    assert "Persist Test Root" in issued["Issuer"]

    # A second certificate for the name: the same record, already there.
    again = request(tenant.acm, domain)
    assert _record(describe(tenant.acm, again)) == record
    assert wait_for_status(tenant.acm, again, timeout=30)["Status"] == "ISSUED"

    # A renewal: the same record again.
    tenant.acm.export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)  # eligible
    into_renewal_window(tenant.server, issued)
    after = wait_renewal(tenant.acm, arn, ("SUCCESS", "FAILED"), timeout=30)
    assert after["RenewalSummary"]["RenewalStatus"] == "SUCCESS", after["RenewalSummary"]
    assert after["Serial"] != issued["Serial"]
    assert persist_ca.ordered.count([domain]) == 3


def test_a_wildcard_and_its_base_share_one_record_with_the_wildcard_policy(
    tenant: Tenant, bind_server: BindServer
) -> None:
    domain = unique_domain("persist-wild")
    arn = request(tenant.acm, domain, f"*.{domain}")
    detail = describe(tenant.acm, arn)
    apex, wildcard = (o["ResourceRecord"] for o in detail["DomainValidationOptions"])
    assert apex == wildcard
    assert apex["Value"].endswith("; policy=wildcard")

    publish_records(bind_server, detail)
    issued = wait_for_status(tenant.acm, arn, timeout=30)
    assert issued["Status"] == "ISSUED", issued
    leaf = x509.load_pem_x509_certificate(
        tenant.acm.get_certificate(CertificateArn=arn)["Certificate"].encode()
    )
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(names.get_values_for_type(x509.DNSName)) == sorted([domain, f"*.{domain}"])


def test_without_the_record_nothing_is_ordered_and_the_request_times_out(
    tenant: Tenant, bind_server: BindServer, persist_ca: DnsPersistCa
) -> None:
    domain = unique_domain("persist-missing")
    arn = request(tenant.acm, domain)
    record = _record(describe(tenant.acm, arn))
    # A record for another account does not count, in openacm's check as at the CA.
    bind_server.add_txt(record["Name"], f"{ISSUER}; accounturi=https://elsewhere.test/acct/9")
    time.sleep(1.5)  # several looks of the worker (it retries every 0.4 s at most)
    detail = describe(tenant.acm, arn)
    assert detail["Status"] == "PENDING_VALIDATION"
    assert detail["DomainValidationOptions"][0]["ValidationStatus"] == "PENDING_VALIDATION"
    assert [domain] not in persist_ca.ordered

    move_clock(tenant.server, advance_seconds=72 * 3600 + 60)
    detail = wait_for_status(tenant.acm, arn, timeout=30)
    assert detail["Status"] == "VALIDATION_TIMED_OUT", detail
    assert detail["DomainValidationOptions"][0]["ValidationStatus"] == "FAILED"
    assert [domain] not in persist_ca.ordered


def test_create_validation_records_writes_the_persistent_txt(
    tenant: Tenant, bind_server: BindServer
) -> None:
    domain = unique_domain("persist-create")
    arn = request(tenant.acm, domain)
    record = _record(describe(tenant.acm, arn))
    records = openacm_client(tenant.server, tenant.key)

    [entry] = records.create_validation_records(CertificateArn=arn)["Records"]

    assert entry["Status"] == "CREATED", entry
    assert entry["ResourceRecord"] == record
    assert wait_for_status(tenant.acm, arn, timeout=30)["Status"] == "ISSUED"
