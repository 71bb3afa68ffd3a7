"""Fixtures every test module shares: real openacm servers and per-test accounts."""

from __future__ import annotations

import compileall
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import openacm
from tests.support.bind import BindServer, bind_server  # noqa: F401 (a fixture)
from tests.support.server import (
    OpenAcmServer,
    create_postgres_database,
    drop_postgres_database,
    postgres_available,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile openacm's modules to bytecode once: every server and CLI command the tests
    start is a new interpreter, and with PYTHONDONTWRITEBYTECODE set each would compile the
    whole package again, about a second of every server start. Python reads existing
    bytecode whatever that variable says."""
    compileall.compile_dir(Path(openacm.__file__).parent, quiet=1)


@pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by their fixtures
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow (a minute or more) run first. `make test` hands tests to its two
    workers in this order: a test of minutes near the end would leave one worker idle
    while the other finishes it; first, the other worker runs the short ones meanwhile."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def start_server(tmp_root: Path, backend: str, **kwargs: Any) -> OpenAcmServer:
    database_url = None
    if backend == "postgresql":
        reason = postgres_available()
        if reason:
            if IN_CI:
                pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
            pytest.skip(reason)
        database_url = create_postgres_database()
    data_dir = tmp_root / f"{backend}-{uuid.uuid4().hex[:8]}"
    return OpenAcmServer(data_dir=data_dir, database_url=database_url, **kwargs).start()


def finish_server(server: OpenAcmServer) -> None:
    server.stop()
    if server.database_url:
        drop_postgres_database(server.database_url)
    shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenAcmServer]:
    """One openacm process per backend per test worker; tests isolate through accounts."""
    started = start_server(tmp_path_factory.mktemp("openacm"), request.param)
    yield started
    finish_server(started)


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAcmServer]:
    """For tests whose subject is not the store (protocol, auth, CLI)."""
    started = start_server(tmp_path_factory.mktemp("openacm"), "sqlite")
    yield started
    finish_server(started)


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[OpenAcmServer]:
    """A server of the test's own, for tests that stop, kill or reconfigure it."""
    started = start_server(tmp_path, "sqlite")
    yield started
    finish_server(started)


@dataclass
class Tenant:
    """A fresh account on a server, with a boto3 ACM client signed by its own key."""

    server: OpenAcmServer
    account_id: str
    key: tuple[str, str]
    acm: Any

    def client(self, service: str = "acm", region: str = "us-east-1") -> Any:
        return self.server.client(service, region=region, key=self.key)

    def aws(self, *args: str, **kwargs: Any) -> Any:
        return self.server.aws(*args, key=self.key, **kwargs)

    def aws_json(self, *args: str, **kwargs: Any) -> Any:
        return self.server.aws_json(*args, key=self.key, **kwargs)


def _tenant(server: OpenAcmServer) -> Tenant:
    account_id, key = server.new_account()
    return Tenant(server, account_id, key, server.client(key=key))


@pytest.fixture
def tenant(server: OpenAcmServer) -> Tenant:
    return _tenant(server)


@pytest.fixture
def sqlite_tenant(sqlite_server: OpenAcmServer) -> Tenant:
    return _tenant(sqlite_server)


# -- servers that validate against the test DNS server ----------------------------------------

# The links put into issued certificates: a public-looking name, so the CA/B linter judges the
# certificates as it would a production installation's (tests fetch CRLs and OCSP answers
# from the server's own address).
PKI_PUBLIC_URL = "http://pki.openacm-test.com"


def pki_env(dns: BindServer, **overrides: str) -> dict[str, str]:
    """Settings of a server that validates quickly against the test BIND server."""
    env = {
        "OPENACM_VALIDATION_RESOLVERS": dns.nameserver_spec,
        "OPENACM_VALIDATION_POLL_INTERVAL": "0.1",
        "OPENACM_VALIDATION_RETRY_INITIAL": "0.1",
        "OPENACM_VALIDATION_RETRY_MAX": "0.4",
        "OPENACM_VALIDATION_DNS_TIMEOUT": "2",
        "OPENACM_ISSUANCE_PUBLIC_URL": PKI_PUBLIC_URL,
        # ACME endpoints authorize names outside their domain validations by dns-01 too.
        "OPENACM_ACME_SERVER_CHALLENGES": "dns-01",
    }
    env.update(overrides)
    return env


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def pki_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    bind_server: BindServer,  # noqa: F811
) -> Iterator[OpenAcmServer]:
    started = start_server(
        tmp_path_factory.mktemp("openacm-pki"), request.param, env=pki_env(bind_server)
    )
    yield started
    finish_server(started)


@pytest.fixture
def pki_tenant(pki_server: OpenAcmServer) -> Tenant:
    return _tenant(pki_server)
