"""Several upstream CAs in order of preference: a real `openacm serve` configured with a CA
that rate-limits (a loopback fake answering rateLimited), then a second real Pebble, then the
session's Pebble. Each order goes to the first CA that does not fail for a passing reason;
each CA has its own account; RevokeCertificate goes to the CA that issued the certificate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from openacm.adapters.store.acme import AcmeAccountStore
from tests.conftest import Tenant, _tenant, finish_server, pki_env, start_server
from tests.integration.test_acme_issuer import VALIDATION_ZONE, chain_verifies
from tests.integration.test_create_records import zone_entry
from tests.support.acm_flow import TEST_ZONE, describe, publish_records, request, unique_domain
from tests.support.acm_flow import wait_for_status as wait_status
from tests.support.bind import BindServer
from tests.support.fake_acme import RateLimitingCa
from tests.support.pebble import PebbleServer, pebble_server  # noqa: F401
from tests.support.server import OpenAcmServer


@pytest.fixture(scope="module")
def second_pebble(bind_server: BindServer) -> Iterator[PebbleServer]:
    server = PebbleServer(bind_server.nameserver_spec).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rate_limited() -> Iterator[str]:
    with RateLimitingCa() as url:
        yield url


@pytest.fixture(scope="module")
def fallback_server(
    tmp_path_factory: pytest.TempPathFactory,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
    second_pebble: PebbleServer,
    rate_limited: str,
) -> Iterator[OpenAcmServer]:
    root = tmp_path_factory.mktemp("acme-fallback")
    config = root / "openacm.toml"
    upstreams = [
        {"directory_url": second_pebble.directory_url, "ca_bundle": second_pebble.ca_bundle},
        {"directory_url": pebble_server.directory_url, "ca_bundle": pebble_server.ca_bundle},
    ]
    config.write_text(
        zone_entry(TEST_ZONE, bind_server, [])
        + "".join(
            "[[acme.upstreams]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in entry.items())
            for entry in upstreams
        )
    )
    config.chmod(0o600)
    env = pki_env(
        bind_server,
        OPENACM_VALIDATION_ZONE=VALIDATION_ZONE,
        OPENACM_ACME_DIRECTORY_URL=rate_limited,  # the most preferred, always rate-limiting
        OPENACM_ACME_REGIONS="us-east-1",
        OPENACM_ACME_ORDER_TIMEOUT="30",
    )
    started = start_server(root, "sqlite", env=env, extra_args=["--config", str(config)])
    yield started
    finish_server(started)


def _issue(tenant: Tenant, bind_server: BindServer, prefix: str) -> str:
    arn = request(tenant.acm, unique_domain(prefix), Options={"Export": "ENABLED"})
    publish_records(bind_server, describe(tenant.acm, arn))
    detail = wait_status(tenant.acm, arn, timeout=90)
    assert detail["Status"] == "ISSUED", tenant.server.log()[-4000:]
    return arn


def test_orders_fall_back_in_order_and_revocation_finds_the_issuing_ca(
    fallback_server: OpenAcmServer,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
    second_pebble: PebbleServer,
    rate_limited: str,
    tmp_path: Path,
) -> None:
    tenant = _tenant(fallback_server)
    # The rate-limited CA is passed over; the second Pebble, preferred to the first, issues.
    first = _issue(tenant, bind_server, "fallback-1")
    assert chain_verifies(tenant, first, second_pebble.root_pem(), tmp_path)
    assert not chain_verifies(tenant, first, pebble_server.root_pem(), tmp_path)
    assert "rateLimited" in fallback_server.log()

    # The second Pebble goes down: the next order goes on to the last CA.
    second_root = second_pebble.root_pem()
    second_pebble.halt()
    other = _issue(tenant, bind_server, "fallback-2")
    assert chain_verifies(tenant, other, pebble_server.root_pem(), tmp_path)

    # One account per CA, each sealed in the store (the rate-limited CA registered none).
    with fallback_server._runtime().db.read() as conn:
        accounts = AcmeAccountStore(conn)
        assert accounts.get(second_pebble.directory_url).account_url  # type: ignore[union-attr]
        assert accounts.get(pebble_server.directory_url).account_url  # type: ignore[union-attr]
        stored = accounts.get(rate_limited)
        assert stored is None or stored.account_url is None

    # Revocation goes to the CA that issued: the reachable one revokes...
    leaf = x509.load_pem_x509_certificate(
        tenant.acm.get_certificate(CertificateArn=other)["Certificate"].encode()
    )
    tenant.acm.revoke_certificate(CertificateArn=other, RevocationReason="SUPERSEDED")
    assert pebble_server.certificate_status(leaf.serial_number)["Status"] == "Revoked"
    # ...and one whose CA is down is not marked REVOKED here while valid there.
    with pytest.raises(tenant.acm.exceptions.ClientError, match="could not be reached"):
        tenant.acm.revoke_certificate(CertificateArn=first, RevocationReason="SUPERSEDED")
    assert describe(tenant.acm, first)["Status"] == "ISSUED"
    assert chain_verifies(tenant, first, second_root, tmp_path)
