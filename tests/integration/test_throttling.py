"""Throttling against real servers (docs/throttling.md): `openacm serve --rate-limits aws` with
tiny overrides so a burst is over the limit at once, whatever the machine's speed.

- A burst above an operation's rate is refused with ThrottlingException, HTTP 400, "Rate
  exceeded", in JSON (ACM) and in Smithy RPC v2 CBOR (ACM-PCA); other accounts keep their own
  buckets; each refusal is counted in /metrics.
- boto3 in standard and legacy retry modes completes the whole burst.
- The Redis buckets: the Lua script's answers are the domain's, atomic under concurrency.
- Two server processes on one SQLite file sharing Redis hold the limit together; a server
  whose Redis is unreachable keeps answering, limited per process.

Each test uses its own Redis key prefix, so parallel test workers never share a bucket.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import redis
from botocore.config import Config
from botocore.exceptions import ClientError

from openacm.adapters.throttle_buckets import BucketStoreUnavailable, RedisBuckets
from openacm.domain.throttling import RateLimit
from tests.conftest import IN_CI, _tenant, finish_server, start_server
from tests.integration.test_cbor_protocol import FRAMEWORK, Caller
from tests.integration.test_metrics import scrape, value
from tests.support.server import OpenAcmServer, free_port

REDIS_URL = os.environ.get("OPENACM_TEST_REDIS", "redis://127.0.0.1:6379/0")
# Refills so slow that no token comes back during a test: exactly `burst` calls go through.
HELD = "0.001"
# Limits over the `aws` profile for the module's server. ListCertificates keeps a real rate,
# so a retrying client gets through.
OVERRIDES = ",".join(
    [
        f"acm:GetAccountConfiguration={HELD}/3",
        f"acm-pca:ListCertificateAuthorities={HELD}/2",
        "acm:ListCertificates=2/1",
    ]
)


def acm_client(server: OpenAcmServer, key: tuple[str, str], **retries: object) -> Any:
    """An ACM client with the given retry settings; by default one attempt and no retry
    (botocore's `max_attempts` counts retries: the shared NO_RETRIES' `max_attempts: 1` still
    retries once, and would hide a throttled call)."""
    return boto3.session.Session().client(
        "acm",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(retries=retries or {"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The machine's Redis (.ci/run starts it); CI must run these tests."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        reason = f"Redis at {REDIS_URL} is not reachable: {exc}"
        if IN_CI:
            pytest.fail(f"CI must run the Redis tests: {reason}")
        pytest.skip(reason)
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of the test's own; its keys are deleted afterwards."""
    prefix = f"openacm-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


@pytest.fixture(scope="module")
def throttled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAcmServer]:
    """One process, in-memory buckets (the default store), the `aws` profile."""
    started = start_server(
        tmp_path_factory.mktemp("openacm-throttled"),
        "sqlite",
        env={"OPENACM_THROTTLING_LIMITS": OVERRIDES},
        extra_args=["--rate-limits", "aws"],
    )
    yield started
    finish_server(started)


def outcomes(call: Callable[[], object], times: int) -> list[str]:
    """ "OK" or the error code of each of `times` calls in a row."""
    answers = []
    for _ in range(times):
        try:
            call()
            answers.append("OK")
        except ClientError as exc:
            answers.append(exc.response["Error"]["Code"])
    return answers


# -- one server -----------------------------------------------------------------------------


def test_a_burst_above_the_rate_is_throttled_as_aws_does(throttled_server: OpenAcmServer) -> None:
    tenant = _tenant(throttled_server)
    acm = acm_client(throttled_server, tenant.key)
    before = scrape(throttled_server)
    assert outcomes(acm.get_account_configuration, 5) == ["OK"] * 3 + ["ThrottlingException"] * 2
    with pytest.raises(ClientError) as refused:
        acm.get_account_configuration()
    answer = refused.value.response
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert answer["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ThrottlingException"
    assert answer["ResponseMetadata"]["RequestId"]
    # Another account has buckets of its own.
    other = _tenant(throttled_server)
    assert (
        outcomes(acm_client(throttled_server, other.key).get_account_configuration, 3) == ["OK"] * 3
    )
    # Each refusal is counted, by operation.
    after = scrape(throttled_server)
    name = "openacm_throttled_requests_total"
    labels = {"service": "acm", "operation": "GetAccountConfiguration"}
    assert value(after, name, **labels) - value(before, name, **labels) == 3
    assert "request throttled" in throttled_server.log()


def test_the_raw_json_answer(throttled_server: OpenAcmServer) -> None:
    """What goes over the wire: botocore's retry rules match on the code and status 400."""
    tenant = _tenant(throttled_server)
    with httpx.Client(timeout=30) as http:
        caller = Caller(throttled_server, tenant.key, http)
        answers = [caller.json("ListCertificateAuthorities", {}) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 400]
    assert answers[2].headers["content-type"] == "application/x-amz-json-1.1"
    assert answers[2].body == b'{"__type":"ThrottlingException","message":"Rate exceeded"}'


def test_acm_pca_in_cbor(throttled_server: OpenAcmServer) -> None:
    tenant = _tenant(throttled_server)
    with httpx.Client(timeout=30) as http:
        caller = Caller(throttled_server, tenant.key, http)
        answers = [caller.cbor("ListCertificateAuthorities", {}) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 400]
    assert answers[2].error() == {
        "__type": FRAMEWORK + "ThrottlingException",
        "message": "Rate exceeded",
    }


def test_operations_without_a_limit_are_not_throttled(throttled_server: OpenAcmServer) -> None:
    tenant = _tenant(throttled_server)
    # SearchCertificates is in no published table.
    assert outcomes(lambda: tenant.acm.search_certificates(), 12) == ["OK"] * 12


@pytest.mark.parametrize("mode", ["standard", "legacy"])
def test_boto3_retries_complete_the_burst(throttled_server: OpenAcmServer, mode: str) -> None:
    """ListCertificates at 2 a second, one at a time: a burst of 4 is throttled, and boto3's
    retry handler (which knows ThrottlingException with HTTP 400) gets every call through."""
    tenant = _tenant(throttled_server)
    retrying = acm_client(throttled_server, tenant.key, mode=mode, total_max_attempts=12)
    before = scrape(throttled_server)
    answers = [retrying.list_certificates() for _ in range(4)]
    assert all("CertificateSummaryList" in answer for answer in answers)
    retried = sum(answer["ResponseMetadata"]["RetryAttempts"] for answer in answers)
    name = "openacm_throttled_requests_total"
    labels = {"service": "acm", "operation": "ListCertificates"}
    throttled = value(scrape(throttled_server), name, **labels) - value(before, name, **labels)
    assert retried == throttled > 0


# -- the Redis buckets ----------------------------------------------------------------------


def test_redis_buckets_answer_as_the_domain_does(redis_url: str, redis_prefix: str) -> None:
    buckets = RedisBuckets(redis_url, redis_prefix)
    held = RateLimit(rate=0.001, burst=3)
    assert [buckets.take("a", held) for _ in range(5)] == [True, True, True, False, False]
    assert buckets.take("b", held)  # its own bucket
    # The key expires once the bucket would be full again, and not before.
    ttl_ms = buckets.client.pttl(redis_prefix + "a")
    assert 0 < ttl_ms <= 3 / 0.001 * 1000 + 1000
    quick = RateLimit(rate=20, burst=1)
    assert buckets.take("c", quick)
    time.sleep(0.1)  # two tokens' worth of time, capped at one
    assert buckets.take("c", quick)
    buckets.close()


def test_redis_buckets_are_atomic(redis_url: str, redis_prefix: str) -> None:
    """Eight threads, one bucket of 50: exactly 50 takes succeed."""
    limit = RateLimit(rate=0.001, burst=50)
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        buckets = RedisBuckets(redis_url, redis_prefix)
        answers = [buckets.take("shared", limit) for _ in range(25)]
        with lock:
            allowed.extend(answers)
        buckets.close()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 200
    assert allowed.count(True) == 50


def test_unreachable_redis_is_reported() -> None:
    buckets = RedisBuckets(f"redis://127.0.0.1:{free_port()}/0", "x:", timeout=0.5)
    with pytest.raises(BucketStoreUnavailable):
        buckets.take("a", RateLimit(1, 1))


# -- several processes ----------------------------------------------------------------------


def _redis_env(redis_url: str, prefix: str) -> dict[str, str]:
    return {
        "OPENACM_THROTTLING_REDIS_URL": redis_url,
        "OPENACM_THROTTLING_REDIS_KEY_PREFIX": prefix,
        "OPENACM_THROTTLING_LIMITS": f"acm:GetAccountConfiguration={HELD}/10",
    }


def test_two_processes_sharing_redis_hold_the_limit_together(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    env = _redis_env(redis_url, redis_prefix)
    first = start_server(tmp_path, "sqlite", env=env, extra_args=["--rate-limits", "aws"])
    second: OpenAcmServer | None = None
    try:
        # The second process: its own data directory, the first one's store and master key.
        second = OpenAcmServer(
            data_dir=tmp_path / "second",
            database_url=f"sqlite:///{(first.data_dir / 'openacm.db').resolve()}",
            env=env,
            extra_args=[
                "--rate-limits",
                "aws",
                "--master-key-file",
                str(first.data_dir / "master.key"),
            ],
        ).start()
        tenant = _tenant(first)
        clients = [acm_client(first, tenant.key), acm_client(second, tenant.key)]
        answers = [
            outcome
            for round_ in range(15)
            for outcome in outcomes(clients[round_ % 2].get_account_configuration, 2)
        ]
        # Alone, each process would have let its own 10 through: 20 of the 30.
        assert answers.count("OK") == 10
        assert answers.count("ThrottlingException") == 20
        name = "openacm_throttled_requests_total"
        labels = {"service": "acm", "operation": "GetAccountConfiguration"}
        throttled = [value(scrape(server), name, **labels) for server in (first, second)]
        assert sum(throttled) == 20
        assert all(count > 0 for count in throttled)  # both processes refused some
        assert value(scrape(first), "openacm_throttle_store_failures_total") == 0
    finally:
        if second is not None:
            second.stop()
        finish_server(first)


def test_a_server_whose_redis_is_down_keeps_answering(tmp_path: Path) -> None:
    """Redis unreachable: every call is answered, the limit holds per process, and the
    failure is counted and logged."""
    env = {
        **_redis_env(f"redis://127.0.0.1:{free_port()}/0", "down:"),
        "OPENACM_THROTTLING_REDIS_RETRY_SECONDS": "60",
    }
    server = start_server(tmp_path, "sqlite", env=env, extra_args=["--rate-limits", "aws"])
    try:
        tenant = _tenant(server)
        answers = outcomes(acm_client(server, tenant.key).get_account_configuration, 12)
        assert answers == ["OK"] * 10 + ["ThrottlingException"] * 2
        assert value(scrape(server), "openacm_throttle_store_failures_total") == 1
        assert "rate-limit store unreachable" in server.log()
    finally:
        finish_server(server)
