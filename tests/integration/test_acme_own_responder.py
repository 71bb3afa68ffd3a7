"""The acme issuer with openacm's own responder for its validation zone: no `[[dns_zones]]`
entry, the DNS-01 answers served by `openacm serve --dns-listen`. Pebble asks a real Unbound
whose stub zones point at the test BIND server (the user's zone, with the CNAME) and at
openacm's responder (the validation zone, with the TXT), as a public resolver would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import _tenant, finish_server, pki_env, start_server
from tests.support.acm_flow import (
    TEST_ZONE,
    describe,
    publish_records,
    request,
    unique_domain,
    wait_for_status,
)
from tests.support.bind import IN_CI, BindServer, free_udp_and_tcp_port
from tests.support.pebble import PebbleServer
from tests.support.server import OpenAcmServer
from tests.support.unbound import UNBOUND, UnboundResolver, unbound_available

VALIDATION_ZONE = "acme-validations.openacm-test.org"


@pytest.fixture(scope="module")
def own_responder_server(
    tmp_path_factory: pytest.TempPathFactory, bind_server: BindServer
) -> Iterator[OpenAcmServer]:
    if not unbound_available():
        reason = f"{UNBOUND} is not installed (apt-get install unbound)"
        if IN_CI:
            pytest.fail(f"CI must run the ACME tests: {reason}")
        pytest.skip(reason)
    dns_port = free_udp_and_tcp_port()
    resolver = UnboundResolver(
        {TEST_ZONE: bind_server.nameserver_spec, VALIDATION_ZONE: f"127.0.0.1:{dns_port}"}
    ).start()
    pebble = PebbleServer(resolver.nameserver_spec).start()
    env = pki_env(
        bind_server,
        OPENACM_VALIDATION_ZONE=VALIDATION_ZONE,
        OPENACM_ACME_DIRECTORY_URL=pebble.directory_url,
        OPENACM_ACME_CA_BUNDLE=pebble.ca_bundle,
        OPENACM_ACME_REGIONS="*",
        OPENACM_ACME_ORDER_TIMEOUT="60",
    )
    root = tmp_path_factory.mktemp("acme-own-responder")
    server = start_server(
        root, "sqlite", env=env, extra_args=["--dns-listen", f"127.0.0.1:{dns_port}"]
    )
    try:
        yield server
    finally:
        finish_server(server)
        pebble.stop()
        resolver.stop()


def test_pebble_validates_through_openacms_own_responder(
    own_responder_server: OpenAcmServer, bind_server: BindServer
) -> None:
    tenant = _tenant(own_responder_server)
    domain = unique_domain("acme-own")
    arn = request(tenant.acm, domain, f"*.{domain}")
    detail = describe(tenant.acm, arn)
    record = detail["DomainValidationOptions"][0]["ResourceRecord"]
    assert record["Value"].endswith(f".{VALIDATION_ZONE}.")
    publish_records(bind_server, detail)
    issued = wait_for_status(tenant.acm, arn, timeout=60)
    assert issued["Status"] == "ISSUED", issued
    assert "Pebble" in issued["Issuer"]
