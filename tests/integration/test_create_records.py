"""CreateValidationRecords / ListValidationZones and `openacm records`, against a real BIND.

The server is given `[[dns_zones]]` in its TOML config and writes the validation CNAMEs into
BIND by dynamic update; the tests never touch DNS themselves, yet certificates get issued.
Clients are plain botocore clients that find openacm's model through the data path, as users'
clients do.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import dns.message
import dns.query
import dns.rdatatype
import pytest
from botocore.exceptions import ClientError

from openacm.config import DEV_ACCOUNT_ID
from openacm.protocol.model import MODELS_PATH
from tests.conftest import finish_server, pki_env, start_server
from tests.support import pki
from tests.support.acm_flow import TEST_ZONE, describe, request, unique_domain, wait_for_status
from tests.support.bind import BindServer
from tests.support.server import DEV_KEY, NO_RETRIES, OPENACM, REPO, OpenAcmServer

OTHER_ZONE = "other-test.net"


def unknown_secret() -> str:
    """A well-formed TSIG secret that BIND does not have."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def other_domain() -> str:
    """A name under the BIND zone that the servers here do not configure (or break)."""
    return f"o-{uuid.uuid4().hex[:10]}.{OTHER_ZONE}"


def zone_entry(zone: str, bind: BindServer, accounts: list[str], **changes: str) -> str:
    values = {
        "zone": zone,
        "server": bind.nameserver_spec,
        "tsig_key_name": bind.tsig_key_name,
        "tsig_secret": bind.tsig_secret_b64,
        "tsig_algorithm": bind.tsig_algorithm,
        **changes,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(["[[dns_zones]]", *lines, f"accounts = {json.dumps(accounts)}", ""])


def start_with_zones(root: Path, bind: BindServer, *entries: str) -> OpenAcmServer:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "openacm.toml"
    config.write_text("\n".join(entries))
    config.chmod(0o600)
    return start_server(root, "sqlite", env=pki_env(bind), extra_args=["--config", str(config)])


def openacm_client(server: OpenAcmServer, key: tuple[str, str] = DEV_KEY) -> Any:
    """A botocore client for openacm's API: the model is found through the data path."""
    session = botocore.session.Session()
    session.set_config_variable("data_path", str(MODELS_PATH))
    return session.create_client(
        "openacm",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=NO_RETRIES,
    )


def cname_at(bind: BindServer, name: str) -> str | None:
    """The CNAME target BIND holds at `name`, asked of BIND directly."""
    response = dns.query.tcp(
        dns.message.make_query(name, "CNAME"), bind.address, port=bind.port, timeout=5
    )
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.CNAME:
            return str(rrset[0].target).lower()
    return None


def by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["DomainName"]: entry for entry in entries}


def records_cli(server: OpenAcmServer, *args: str) -> subprocess.CompletedProcess[str]:
    """`openacm records ...` with credentials from the environment, as a user runs it."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(server.data_dir),
        "AWS_ACCESS_KEY_ID": DEV_KEY[0],
        "AWS_SECRET_ACCESS_KEY": DEV_KEY[1],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    return subprocess.run(
        [*OPENACM, "records", *args, "--endpoint-url", server.endpoint],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def zones_server(
    tmp_path_factory: pytest.TempPathFactory, bind_server: BindServer
) -> Iterator[OpenAcmServer]:
    """The test zone open to the dev account only; the other BIND zone not configured."""
    root = tmp_path_factory.mktemp("openacm-zones")
    started = start_with_zones(
        root, bind_server, zone_entry(TEST_ZONE, bind_server, [DEV_ACCOUNT_ID])
    )
    yield started
    finish_server(started)


@pytest.fixture
def acm(zones_server: OpenAcmServer) -> Any:
    return zones_server.client("acm")


@pytest.fixture
def records(zones_server: OpenAcmServer) -> Any:
    return openacm_client(zones_server)


def test_records_are_created_once_per_record_and_the_certificate_is_issued(
    zones_server: OpenAcmServer, acm: Any, records: Any, bind_server: BindServer
) -> None:
    domain = unique_domain()
    arn = request(acm, domain, f"*.{domain}", f"api.{domain}")
    options = by_name(describe(acm, arn)["DomainValidationOptions"])

    entries = by_name(records.create_validation_records(CertificateArn=arn)["Records"])

    assert list(entries) == [domain, f"*.{domain}", f"api.{domain}"]
    for name, entry in entries.items():
        assert entry["Status"] == "CREATED", entry
        assert entry["Zone"] == TEST_ZONE
        assert entry["ResourceRecord"] == options[name]["ResourceRecord"]
        assert "Message" not in entry
        record = entry["ResourceRecord"]
        assert cname_at(bind_server, record["Name"]) == record["Value"].lower()
    assert entries[domain]["ResourceRecord"] == entries[f"*.{domain}"]["ResourceRecord"]
    # The apex and the wildcard share one record: one dynamic update wrote it.
    shared = entries[domain]["ResourceRecord"]["Name"].rstrip(".")
    assert bind_server.log().count(f"adding an RR at '{shared}' CNAME") == 1

    assert wait_for_status(acm, arn)["Status"] == "ISSUED"
    with pytest.raises(records.exceptions.InvalidStateException, match="ISSUED"):
        records.create_validation_records(CertificateArn=arn)

    audit = [json.loads(line) for line in (zones_server.data_dir / "audit.jsonl").open()]
    calls = [r for r in audit if r["eventName"] == "CreateValidationRecords"]
    assert calls and calls[0]["eventSource"] == "openacm.amazonaws.com"
    assert calls[0]["requestParameters"] == {"certificateArn": arn}
    assert calls[0]["recipientAccountId"] == DEV_ACCOUNT_ID


def test_a_record_already_in_the_zone_is_reported_present(acm: Any, records: Any) -> None:
    domain = unique_domain()
    first = request(acm, domain)
    [created] = records.create_validation_records(CertificateArn=first)["Records"]
    assert created["Status"] == "CREATED"
    # A later certificate for the same name in the same account has the same record.
    second = request(acm, domain, f"www.{domain}")
    entries = by_name(records.create_validation_records(CertificateArn=second)["Records"])
    assert entries[domain]["Status"] == "ALREADY_PRESENT"
    assert entries[domain]["ResourceRecord"] == created["ResourceRecord"]
    assert entries[f"www.{domain}"]["Status"] == "CREATED"
    assert wait_for_status(acm, second)["Status"] == "ISSUED"


def test_names_outside_the_configured_zones_are_left_to_the_caller(
    acm: Any, records: Any, bind_server: BindServer
) -> None:
    domain, elsewhere = unique_domain(), other_domain()
    arn = request(acm, domain, elsewhere)

    only = records.create_validation_records(CertificateArn=arn, DomainNames=[elsewhere])
    [entry] = only["Records"]
    assert entry["DomainName"] == elsewhere
    assert entry["Status"] == "NO_CONFIGURED_ZONE"
    assert "Zone" not in entry
    assert entry["ResourceRecord"]["Name"] in entry["Message"]
    assert cname_at(bind_server, entry["ResourceRecord"]["Name"]) is None

    entries = by_name(records.create_validation_records(CertificateArn=arn)["Records"])
    assert entries[domain]["Status"] == "CREATED"
    assert entries[elsewhere]["Status"] == "NO_CONFIGURED_ZONE"

    with pytest.raises(records.exceptions.InvalidParameterException, match="no name"):
        records.create_validation_records(CertificateArn=arn, DomainNames=[unique_domain()])


def test_an_account_the_zone_does_not_list_may_not_write_into_it(
    zones_server: OpenAcmServer, records: Any, bind_server: BindServer
) -> None:
    _, key = zones_server.new_account()
    acm = zones_server.client("acm", key=key)
    own = openacm_client(zones_server, key)
    arn = request(acm, unique_domain())

    [entry] = own.create_validation_records(CertificateArn=arn)["Records"]

    assert entry["Status"] == "NOT_PERMITTED"
    assert entry["Zone"] == TEST_ZONE
    assert cname_at(bind_server, entry["ResourceRecord"]["Name"]) is None
    assert own.list_validation_zones()["Zones"] == []
    assert records.list_validation_zones()["Zones"] == [{"Zone": TEST_ZONE}]
    # Nor may the account listed write another account's records.
    with pytest.raises(records.exceptions.AccessDeniedException):
        records.create_validation_records(CertificateArn=arn)


def test_certificates_that_are_unknown_or_not_requested_are_refused(acm: Any, records: Any) -> None:
    missing = f"arn:aws:acm:us-east-1:{DEV_ACCOUNT_ID}:certificate/{uuid.uuid4()}"
    with pytest.raises(records.exceptions.ResourceNotFoundException):
        records.create_validation_records(CertificateArn=missing)
    with pytest.raises(records.exceptions.InvalidArnException):
        records.create_validation_records(
            CertificateArn=f"arn:aws:acm:us-east-1:{DEV_ACCOUNT_ID}:key/{uuid.uuid4()}"
        )
    with pytest.raises(ClientError) as refused:
        records.create_validation_records(CertificateArn="not-an-arn-at-all-but-long")
    assert refused.value.response["Error"]["Code"] == "ValidationException"

    leaf = pki.issue(unique_domain(), sans=[unique_domain()])
    imported = acm.import_certificate(**leaf.import_args())["CertificateArn"]
    with pytest.raises(records.exceptions.InvalidStateException, match="IMPORTED"):
        records.create_validation_records(CertificateArn=imported)


def test_the_cli_prints_a_table_of_what_it_did(zones_server: OpenAcmServer, acm: Any) -> None:
    domain, elsewhere = unique_domain(), other_domain()
    arn = request(acm, domain, elsewhere)

    created = records_cli(zones_server, "create", "--certificate-arn", arn)

    assert created.returncode == 0, created.stderr
    header, *rows = created.stdout.splitlines()
    assert header.split() == ["DOMAIN", "ZONE", "STATUS", "RECORD"]
    record = describe(acm, arn)["DomainValidationOptions"][0]["ResourceRecord"]
    assert rows[0].split() == [
        domain,
        TEST_ZONE,
        "CREATED",
        record["Name"],
        "CNAME",
        record["Value"],
    ]
    assert rows[1].split()[:3] == [elsewhere, "-", "NO_CONFIGURED_ZONE"]
    assert f"{elsewhere}: No zone configured" in created.stdout

    zones = records_cli(zones_server, "zones", "--output", "json")
    assert zones.returncode == 0, zones.stderr
    assert json.loads(zones.stdout) == [TEST_ZONE]


def test_the_aws_cli_finds_the_api_through_aws_data_path(zones_server: OpenAcmServer) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(zones_server.data_dir),
        "AWS_DATA_PATH": str(MODELS_PATH),
        "AWS_ACCESS_KEY_ID": DEV_KEY[0],
        "AWS_SECRET_ACCESS_KEY": DEV_KEY[1],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    aws = str(Path(sys.executable).parent / "aws")
    answer = subprocess.run(
        [aws, "--endpoint-url", zones_server.endpoint, "openacm", "list-validation-zones"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"Zones": [{"Zone": TEST_ZONE}]}


def test_a_zone_whose_key_the_server_refuses_fails_with_its_answer(
    tmp_path: Path, bind_server: BindServer
) -> None:
    server = start_with_zones(
        tmp_path,
        bind_server,
        zone_entry(OTHER_ZONE, bind_server, ["*"], tsig_secret=unknown_secret()),
        zone_entry(TEST_ZONE, bind_server, ["*"], tsig_key_name="no-such-key"),
    )
    try:
        acm = server.client("acm")
        domain, elsewhere = unique_domain(), other_domain()
        arn = request(acm, domain, elsewhere)

        entries = by_name(
            openacm_client(server).create_validation_records(CertificateArn=arn)["Records"]
        )

        assert entries[elsewhere]["Status"] == "FAILED"
        assert "BADSIG" in entries[elsewhere]["Message"]
        assert entries[domain]["Status"] == "FAILED"
        assert "BADKEY" in entries[domain]["Message"]
        for entry in entries.values():
            assert cname_at(bind_server, entry["ResourceRecord"]["Name"]) is None

        cli = records_cli(server, "create", "--certificate-arn", arn)
        assert cli.returncode == 1
        assert "FAILED" in cli.stdout and "BADSIG" in cli.stdout
    finally:
        finish_server(server)
