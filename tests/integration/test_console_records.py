"""The console's "Create records": openacm's CreateValidationRecords from the detail page, into
a zone the server is configured to update, followed to ISSUED."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from openacm.config import DEV_ACCOUNT_ID
from tests.conftest import finish_server
from tests.integration.test_create_records import other_domain, start_with_zones, zone_entry
from tests.support.acm_flow import TEST_ZONE, describe, request, unique_domain
from tests.support.bind import BindServer
from tests.support.console import ConsoleVisitor
from tests.support.server import DEV_KEY, OpenAcmServer


@pytest.fixture(scope="module")
def zones_server(
    tmp_path_factory: pytest.TempPathFactory, bind_server: BindServer
) -> Iterator[OpenAcmServer]:
    started = start_with_zones(
        tmp_path_factory.mktemp("console-zones"),
        bind_server,
        zone_entry(TEST_ZONE, bind_server, [DEV_ACCOUNT_ID]),
    )
    yield started
    finish_server(started)


def test_create_records_from_the_detail_page(zones_server: OpenAcmServer) -> None:
    acm = zones_server.client("acm")
    domain = unique_domain("console")
    outside = other_domain()
    arn = request(acm, domain, domain, outside)
    visitor = ConsoleVisitor(zones_server)
    visitor.sign_in(DEV_KEY)
    page = visitor.get(f"/console/certificates/detail?arn={quote(arn)}")
    assert "Create records" in page.text
    visitor.post("/console/certificates/records", {"csrf": visitor.csrf_of(page), "arn": arn})
    shown = visitor.get(f"/console/certificates/detail?arn={quote(arn)}").text
    assert f"{domain}: CREATED in {TEST_ZONE}" in shown
    assert f"{outside}: NO_CONFIGURED_ZONE" in shown
    options = {o["DomainName"]: o for o in describe(acm, arn)["DomainValidationOptions"]}
    deadline = time.monotonic() + 30
    while options[domain]["ValidationStatus"] != "SUCCESS":
        assert time.monotonic() < deadline, options
        time.sleep(0.2)
        options = {o["DomainName"]: o for o in describe(acm, arn)["DomainValidationOptions"]}
