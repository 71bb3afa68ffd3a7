"""http-01 and tls-alpn-01, validated for real: an endpoint of a server that allows them
(beyond the model's PRE_APPROVED) has lego answer with its own HTTP and TLS servers, on ports
the server is told to connect to; the names resolve to 127.0.0.1 in the test BIND server.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Tenant, _tenant, finish_server, pki_env, start_server
from tests.integration.test_acme_server import needs_lego, verified_leaf
from tests.support.acme_client import Endpoint, create_endpoint, problem_type
from tests.support.bind import BindServer
from tests.support.server import OpenAcmServer, free_port

PORTS = {"http-01": free_port(), "tls-alpn-01": free_port()}


@pytest.fixture(scope="module")
def challenge_server(
    tmp_path_factory: pytest.TempPathFactory, bind_server: BindServer
) -> Iterator[OpenAcmServer]:
    env = pki_env(
        bind_server,
        OPENACM_ACME_SERVER_CHALLENGES="http-01,tls-alpn-01,dns-01",
        OPENACM_ACME_SERVER_HTTP01_PORT=str(PORTS["http-01"]),
        OPENACM_ACME_SERVER_TLS_ALPN01_PORT=str(PORTS["tls-alpn-01"]),
    )
    started = start_server(tmp_path_factory.mktemp("acme-challenges"), "sqlite", env=env)
    yield started
    finish_server(started)


@pytest.fixture
def tenant(challenge_server: OpenAcmServer) -> Tenant:
    return _tenant(challenge_server)


def local_name(bind: BindServer) -> str:
    name = f"ch-{uuid.uuid4().hex[:8]}.openacm-test.com"
    bind.add(name, "A", "127.0.0.1")
    return name


def lego(endpoint: Endpoint, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = ["lego", "--server", endpoint.url, "--accept-tos", "--path", str(path)]
    command += ["--eab", "--kid", endpoint.eab[0], "--hmac", endpoint.eab[1]]
    command += ["--email", "ops@openacm-test.com", "--key-type", "ec256", *args]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(path)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@needs_lego
@pytest.mark.parametrize(
    "flags",
    [
        ("--http", "--http.port", f"127.0.0.1:{PORTS['http-01']}"),
        ("--tls", "--tls.port", f"127.0.0.1:{PORTS['tls-alpn-01']}"),
    ],
    ids=["http-01", "tls-alpn-01"],
)
def test_lego_answers_the_challenge(
    tenant: Tenant, bind_server: BindServer, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    endpoint = create_endpoint(tenant.acm)
    name = local_name(bind_server)
    done = lego(endpoint, tmp_path, *flags, "--domains", name, "run")
    assert done.returncode == 0, done.stdout + done.stderr + tenant.server.log()[-3000:]
    leaf = verified_leaf(tenant, tmp_path / "certificates" / f"{name}.crt", tmp_path)
    assert leaf.subject.rfc4514_string() == f"CN={name}"


def test_nobody_answers(tenant: Tenant, bind_server: BindServer) -> None:
    endpoint = create_endpoint(tenant.acm)
    client = endpoint.client()
    client.new_account()
    order = client.new_order(local_name(bind_server)).json()
    authz = client.post(order["authorizations"][0], None).json()
    challenges = {c["type"]: c for c in authz["challenges"]}
    assert list(challenges) == ["http-01", "tls-alpn-01", "dns-01"]
    assert len({c["token"] for c in challenges.values()}) == 1
    answered = client.post(challenges["http-01"]["url"], {}).json()
    assert answered["status"] == "invalid"
    assert answered["error"]["type"] == "urn:ietf:params:acme:error:connection"
    # The authorization failed with it; its other challenges can no longer be answered.
    after = client.post(order["authorizations"][0], None).json()
    assert after["status"] == "invalid"
    assert client.post(challenges["tls-alpn-01"]["url"], {}).json()["status"] == "pending"
    missing = client.post(challenges["dns-01"]["url"].replace("dns-01", "tls-sni-01"), {})
    assert problem_type(missing) == "malformed"


def test_a_wildcard_is_offered_dns01_only(tenant: Tenant) -> None:
    client = create_endpoint(tenant.acm).client()
    client.new_account()
    order = client.new_order("*.wild.openacm-test.com").json()
    authz = client.post(order["authorizations"][0], None).json()
    assert [c["type"] for c in authz["challenges"]] == ["dns-01"]
    assert authz["wildcard"] is True
