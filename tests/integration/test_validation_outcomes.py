"""How DNS validation ends when the records do not prove control, and what survives a crash.

The module runs its own server with a three-second validation timeout (ACM's is 72 hours), so
requests whose records are wrong end VALIDATION_TIMED_OUT while the test watches. Every
scenario is requested at once and waited for together; a correct record and a five-link chain
requested alongside them issue within the same budget, so a timeout means the record was
refused, not that three seconds were too short.

The last test kills the server with SIGKILL while its CA is signing, starts it again on the
same data directory, kills it again during the catch-up, and checks that every certificate
ends ISSUED, signed exactly once.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from openacm.adapters.store.schema import issued_serials
from tests.conftest import finish_server, pki_env, start_server
from tests.support.acm_flow import (
    TEST_ZONE,
    describe,
    publish_records,
    request,
    unique_domain,
    wait_for_status,
)
from tests.support.bind import BindServer
from tests.support.server import OpenAcmServer

TIMEOUT_SECONDS = 3
VALIDATION_ZONE = "acm-validations.openacm.internal"


@pytest.fixture(scope="module")
def short_server(
    tmp_path_factory: pytest.TempPathFactory, bind_server: BindServer
) -> Iterator[OpenAcmServer]:
    server = start_server(
        tmp_path_factory.mktemp("openacm-short"),
        "sqlite",
        env=pki_env(bind_server, OPENACM_VALIDATION_TIMEOUT=str(TIMEOUT_SECONDS)),
    )
    yield server
    finish_server(server)


@pytest.fixture(scope="module")
def acm(short_server: OpenAcmServer) -> Any:
    _account_id, key = short_server.new_account()
    return short_server.client(key=key)


def serial_rows(server: OpenAcmServer, arn: str) -> list[tuple[str, str]]:
    """(serial, state) of every serial the CA planned or signed for `arn`."""
    rows = server.query(
        select(issued_serials.c.serial, issued_serials.c.state).where(
            issued_serials.c.certificate_arn == arn
        )
    )
    return [(serial, state) for serial, state in rows]


def _records(acm: Any, arn: str) -> list[dict[str, str]]:
    return [o["ResourceRecord"] for o in describe(acm, arn)["DomainValidationOptions"]]


def _chain(dns: BindServer, record: dict[str, str], *, links: int, base: str) -> None:
    """record name → l1 → … → l(links-1) → the expected value: `links` CNAME links."""
    hops = [record["Name"]] + [f"l{i}.{base}." for i in range(1, links)]
    for source, target in itertools.pairwise(hops):
        dns.add_cname(source, target)
    dns.add_cname(hops[-1], record["Value"])


# -- the scenarios ----------------------------------------------------------------------------


@dataclass
class Scenario:
    """A request and what the test does to its DNS before waiting."""

    names: int
    publish: Callable[[BindServer, list[dict[str, str]], str], None]


def _wrong_value(dns: BindServer, records: list[dict[str, str]], domain: str) -> None:
    dns.add_cname(records[0]["Name"], f"_{secrets.token_hex(16)}.{VALIDATION_ZONE}.")


def _value_in_another_zone(dns: BindServer, records: list[dict[str, str]], domain: str) -> None:
    label = records[0]["Value"].split(".", 1)[0]
    dns.add_cname(records[0]["Name"], f"{label}.{TEST_ZONE}.")


def _txt_instead_of_cname(dns: BindServer, records: list[dict[str, str]], domain: str) -> None:
    dns.add_txt(records[0]["Name"], records[0]["Value"])


def _doubled_name(dns: BindServer, records: list[dict[str, str]], domain: str) -> None:
    # The record name pasted into a provider that appends the zone: the classic mistake.
    dns.add_cname(f"{records[0]['Name']}{TEST_ZONE}.", records[0]["Value"])


def _six_links(dns: BindServer, records: list[dict[str, str]], domain: str) -> None:
    _chain(dns, records[0], links=6, base=f"c6.{domain}")


def _five_links(dns: BindServer, records: list[dict[str, str]], domain: str) -> None:
    _chain(dns, records[0], links=5, base=f"c5.{domain}")


def _loop(dns: BindServer, records: list[dict[str, str]], domain: str) -> None:
    first, second = f"l1.loop.{domain}.", f"l2.loop.{domain}."
    dns.add_cname(records[0]["Name"], first)
    dns.add_cname(first, second)
    dns.add_cname(second, first)


def _self_loop(dns: BindServer, records: list[dict[str, str]], domain: str) -> None:
    dns.add_cname(records[0]["Name"], records[0]["Name"])


def _first_name_only(dns: BindServer, records: list[dict[str, str]], domain: str) -> None:
    dns.add_cname(records[0]["Name"], records[0]["Value"])


def _nothing(dns: BindServer, records: list[dict[str, str]], domain: str) -> None:
    pass


SCENARIOS = {
    "wrong_value": Scenario(1, _wrong_value),
    "value_in_another_zone": Scenario(1, _value_in_another_zone),
    "txt_instead_of_cname": Scenario(1, _txt_instead_of_cname),
    "doubled_record_name": Scenario(1, _doubled_name),
    "six_link_chain": Scenario(1, _six_links),
    "cname_loop": Scenario(1, _loop),
    "cname_to_itself": Scenario(1, _self_loop),
    "missing_record": Scenario(1, _nothing),
    "one_of_two_names": Scenario(2, _first_name_only),
    # Controls: these issue within the same three seconds.
    "correct_record": Scenario(1, _first_name_only),
    "five_link_chain": Scenario(1, _five_links),
}
CONTROLS = ("correct_record", "five_link_chain")
TIMED_OUT = tuple(name for name in SCENARIOS if name not in CONTROLS)


@dataclass
class Outcome:
    arn: str
    domain: str
    records: list[dict[str, str]]
    detail: dict[str, Any]
    elapsed: float


@pytest.fixture(scope="module")
def outcomes(acm: Any, bind_server: BindServer) -> dict[str, Outcome]:
    started: dict[str, tuple[str, str, float]] = {}
    for name, scenario in SCENARIOS.items():
        domain = unique_domain(name.replace("_", "-")[:20])
        sans = [f"n{i}.{domain}" for i in range(1, scenario.names)]
        started[name] = (request(acm, domain, *sans), domain, time.monotonic())
    results = {}
    for name, (arn, domain, _) in started.items():
        records = _records(acm, arn)
        SCENARIOS[name].publish(bind_server, records, domain)
        results[name] = Outcome(arn, domain, records, {}, 0.0)
    for name, outcome in results.items():
        outcome.detail = wait_for_status(acm, outcome.arn, timeout=TIMEOUT_SECONDS + 15)
        outcome.elapsed = time.monotonic() - started[name][2]
    return results


@pytest.mark.parametrize("scenario", TIMED_OUT)
def test_records_that_prove_nothing_time_out(
    acm: Any, outcomes: dict[str, Outcome], short_server: OpenAcmServer, scenario: str
) -> None:
    outcome = outcomes[scenario]
    detail = outcome.detail
    assert detail["Status"] == "VALIDATION_TIMED_OUT", detail
    assert "FailureReason" not in detail
    assert "IssuedAt" not in detail and "Serial" not in detail
    assert outcome.elapsed >= TIMEOUT_SECONDS - 0.5
    statuses = [o["ValidationStatus"] for o in detail["DomainValidationOptions"]]
    if scenario == "one_of_two_names":
        # The name that validated stays so; DomainStatus has no "timed out": the other FAILED.
        assert statuses == ["SUCCESS", "FAILED"]
    else:
        assert statuses == ["FAILED"]
    summaries = acm.list_certificate_domain_validations(CertificateArn=outcome.arn)[
        "DomainValidationSummaryList"
    ]
    assert [s["ActiveValidationConfiguration"]["ValidationStatus"] for s in summaries] == statuses
    # The CA never got as far as planning a serial.
    assert serial_rows(short_server, outcome.arn) == []
    # GetCertificate: there will never be a certificate.
    with pytest.raises(ClientError) as caught:
        acm.get_certificate(CertificateArn=outcome.arn)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert outcome.arn in error["Message"] and "VALIDATION_TIMED_OUT" in error["Message"]


@pytest.mark.parametrize("scenario", CONTROLS)
def test_correct_records_issue_within_the_same_budget(
    outcomes: dict[str, Outcome], short_server: OpenAcmServer, scenario: str
) -> None:
    outcome = outcomes[scenario]
    assert outcome.detail["Status"] == "ISSUED", outcome.detail
    assert [state for _, state in serial_rows(short_server, outcome.arn)] == ["issued"]


def test_timed_out_certificates_are_listed_and_a_late_record_changes_nothing(
    acm: Any, outcomes: dict[str, Outcome], short_server: OpenAcmServer, bind_server: BindServer
) -> None:
    listed = acm.list_certificates(CertificateStatuses=["VALIDATION_TIMED_OUT"])
    arns = {s["CertificateArn"] for s in listed["CertificateSummaryList"]}
    assert arns == {outcomes[name].arn for name in TIMED_OUT}
    # The right record, once the request has timed out, is too late for it.
    late = outcomes["missing_record"]
    publish_records(bind_server, describe(acm, late.arn))
    time.sleep(1.5)  # many rounds of the 0.1-0.4 s backoff
    assert describe(acm, late.arn)["Status"] == "VALIDATION_TIMED_OUT"
    assert serial_rows(short_server, late.arn) == []
    # A new request for the name, with the record in place, issues.
    again = request(acm, late.domain)
    assert wait_for_status(acm, again)["Status"] == "ISSUED"


def test_deleting_a_pending_certificate_stops_its_validation(
    acm: Any, short_server: OpenAcmServer, bind_server: BindServer
) -> None:
    domain = unique_domain("del")
    arn = request(acm, domain)
    detail = describe(acm, arn)
    assert detail["Status"] == "PENDING_VALIDATION"
    acm.delete_certificate(CertificateArn=arn)
    with pytest.raises(acm.exceptions.ResourceNotFoundException):
        describe(acm, arn)
    # The record appears after the deletion: nothing may be issued for the deleted ARN.
    publish_records(bind_server, detail)
    time.sleep(1.5)
    assert serial_rows(short_server, arn) == []
    with pytest.raises(acm.exceptions.ResourceNotFoundException):
        acm.get_certificate(CertificateArn=arn)
    # The worker is alive: a new request for the same name issues with that record.
    again = request(acm, domain)
    assert wait_for_status(acm, again)["Status"] == "ISSUED"
    assert serial_rows(short_server, arn) == []


# -- kill -9 ----------------------------------------------------------------------------------


def test_kill_during_issuance_issues_each_certificate_once(
    tmp_path: Path, bind_server: BindServer
) -> None:
    """Twelve requests validated at once; SIGKILL while the CA is signing them, again while
    the restarted server catches up; each certificate is then ISSUED with exactly one issued
    serial (planned ones left by the kills are never signed twice)."""
    # Leases of the killed process run out quickly, so the restarted one takes over at once.
    env = pki_env(bind_server, OPENACM_VALIDATION_LEASE_SECONDS="2")
    server = start_server(tmp_path, "sqlite", env=env)
    try:
        _account_id, key = server.new_account()
        acm = server.client(key=key)
        domain = unique_domain("kill")
        algorithms = ("RSA_2048", "EC_prime256v1", "EC_secp384r1")
        arns = [request(acm, f"n{i}.{domain}", KeyAlgorithm=algorithms[i % 3]) for i in range(12)]
        # The records go in after every request: the worker finds them all at once.
        for arn in arns:
            publish_records(bind_server, describe(acm, arn))
        planned = _kill_when_planned(server, arns, beyond=0)
        states = [state for arn in arns for _, state in serial_rows(server, arn)]
        assert planned and states.count("issued") < len(arns), states
        server.start()
        # Once more when the restarted worker plans serials of its own: the catch-up.
        _kill_when_planned(server, arns, beyond=planned)
        server.start()
        for arn in arns:
            detail = wait_for_status(acm, arn, timeout=30)
            assert detail["Status"] == "ISSUED", detail
        for arn in arns:
            states = [state for _, state in serial_rows(server, arn)]
            assert states.count("issued") == 1, (arn, states)
            assert set(states) <= {"issued", "planned", "abandoned"}, (arn, states)
            (issued_serial,) = [s for s, st in serial_rows(server, arn) if st == "issued"]
            shown = describe(acm, arn)["Serial"].replace(":", "").lower()
            assert int(shown, 16) == int(issued_serial, 16)
            leaf = acm.get_certificate(CertificateArn=arn)["Certificate"]
            assert leaf.startswith("-----BEGIN CERTIFICATE-----")
    finally:
        finish_server(server)


def _kill_when_planned(server: OpenAcmServer, arns: list[str], *, beyond: int) -> int:
    """SIGKILL as soon as the CA has more than `beyond` serials planned or signed for `arns`
    (the worker is then in the middle of issuing them), or after ten seconds; how many it had
    when killed."""
    query = select(issued_serials.c.serial).where(issued_serials.c.certificate_arn.in_(arns))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(server.query(query)) <= beyond:
        time.sleep(0.002)
    server.kill()
    return len(server.query(query))
