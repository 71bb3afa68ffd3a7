"""Request throttling without a server: the bucket arithmetic, the `aws` profile, overrides and
their configuration, the in-memory buckets, the fall-back from Redis, the refusal's shape."""

from __future__ import annotations

import botocore.session
import orjson
import pytest

from openacm.adapters.throttle_buckets import (
    BucketStoreUnavailable,
    FailoverBuckets,
    MemoryBuckets,
)
from openacm.config import sections_from
from openacm.domain.errors import ThrottlingError
from openacm.domain.throttling import (
    AWS_RATES,
    BucketState,
    RateLimit,
    bucket_key,
    parse_limit,
    rate_table,
    take_token,
)
from openacm.protocol.jsonproto import serialize_error
from openacm.services.context import CallContext
from openacm.services.throttling import RATE_EXCEEDED, RequestThrottle

# The seeds' requests-per-second table (inventory §1.0), ExportCertificate at 5 (decision 9).
SEEDS_ACM_RATES = {
    "AddTagsToCertificate": 5,
    "DeleteCertificate": 10,
    "DescribeCertificate": 10,
    "ExportCertificate": 5,
    "GetAccountConfiguration": 1,
    "GetCertificate": 10,
    "ImportCertificate": 1,
    "ListCertificates": 8,
    "ListTagsForCertificate": 10,
    "PutAccountConfiguration": 1,
    "RemoveTagsFromCertificate": 5,
    "RenewCertificate": 5,
    "RequestCertificate": 5,
    "ResendValidationEmail": 1,
    "UpdateCertificateOptions": 5,
}


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def drain(limit: RateLimit, times: list[float]) -> list[bool]:
    state: BucketState | None = None
    answers = []
    for now in times:
        allowed, state = take_token(state, limit, now)
        answers.append(allowed)
    return answers


# -- the bucket -----------------------------------------------------------------------------


def test_a_full_bucket_lets_the_burst_through_then_refuses() -> None:
    assert drain(RateLimit(rate=2, burst=3), [0.0] * 5) == [True, True, True, False, False]


def test_the_bucket_refills_at_the_rate() -> None:
    limit = RateLimit(rate=2, burst=1)
    # One token every half second: at 0.4 s not yet, at 0.5 s again.
    assert drain(limit, [0.0, 0.4, 0.5, 0.6, 1.0]) == [True, False, True, False, True]


def test_the_bucket_never_holds_more_than_the_burst() -> None:
    limit = RateLimit(rate=10, burst=2)
    # An hour idle fills it to 2, not to 36,000.
    assert drain(limit, [0.0, 3600.0, 3600.0, 3600.0]) == [True, True, True, False]


def test_a_clock_going_backwards_adds_no_token() -> None:
    limit = RateLimit(rate=1, burst=1)
    assert drain(limit, [100.0, 50.0, 100.5, 101.0]) == [True, False, False, True]


def test_fractional_rates() -> None:
    limit = RateLimit(rate=0.5, burst=1)  # one request every two seconds
    assert drain(limit, [0.0, 1.0, 1.9, 2.0]) == [True, False, False, True]


def test_a_refused_request_spends_nothing() -> None:
    limit = RateLimit(rate=1, burst=1)
    # Refusals at 0.3 and 0.6 do not push the next token further away.
    assert drain(limit, [0.0, 0.3, 0.6, 1.0]) == [True, False, False, True]


@pytest.mark.parametrize(
    ("rate", "burst"), [(0, 1), (-1, 1), (float("inf"), 1), (1, 0.5), (1, float("nan"))]
)
def test_impossible_limits_are_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        RateLimit(rate, burst)


def test_published_rates_hold_a_second_worth() -> None:
    assert RateLimit.per_second(8) == RateLimit(8.0, 8.0)
    assert RateLimit.per_second(0.2) == RateLimit(0.2, 1.0)  # at least one request
    assert RateLimit(2, 6).refill_seconds == 3


def test_buckets_are_per_account_region_and_operation() -> None:
    keys = {
        bucket_key("111111111111", "us-east-1", "acm", "ListCertificates"),
        bucket_key("222222222222", "us-east-1", "acm", "ListCertificates"),
        bucket_key("111111111111", "eu-west-1", "acm", "ListCertificates"),
        bucket_key("111111111111", "us-east-1", "acm-pca", "GetCertificate"),
        bucket_key("111111111111", "us-east-1", "acm", "GetCertificate"),
    }
    assert len(keys) == 5


# -- the profiles and overrides -------------------------------------------------------------


def test_the_aws_profile_is_the_seeds_table_for_acm() -> None:
    acm = {key.split(":", 1)[1]: rate for key, rate in AWS_RATES.items() if key.startswith("acm:")}
    assert acm == SEEDS_ACM_RATES
    table = rate_table("aws")
    assert table.limit_for("acm", "ListCertificates") == RateLimit(8, 8)
    assert table.limit_for("acm-pca", "IssueCertificate") == RateLimit(25, 25)
    assert table.limit_for("acm", "SearchCertificates") is None  # not in the published table
    assert table.limit_for("openacm", "ListValidationZones") is None


def test_every_profile_entry_names_an_operation_of_the_model() -> None:
    session = botocore.session.get_session()
    for key in AWS_RATES:
        service, operation = key.split(":")
        assert operation in session.get_service_model(service).operation_names, key


def test_off_limits_nothing() -> None:
    assert not rate_table("off")
    assert rate_table("off").limit_for("acm", "ListCertificates") is None


def test_overrides_over_the_profile() -> None:
    table = rate_table(
        "aws",
        [
            ("acm:ListCertificates", 20),
            ("acm:DescribeCertificate", "50/100"),
            ("acm-pca:IssueCertificate", {"rate": 100, "burst": 10}),
            ("openacm:*", "2"),
        ],
    )
    assert table.limit_for("acm", "ListCertificates") == RateLimit(20, 20)
    assert table.limit_for("acm", "DescribeCertificate") == RateLimit(50, 100)
    assert table.limit_for("acm-pca", "IssueCertificate") == RateLimit(100, 10)
    assert table.limit_for("openacm", "ListValidationZones") == RateLimit(2, 2)
    assert table.limit_for("acm", "GetCertificate") == RateLimit(10, 10)  # the profile's
    # With the profile off, the overrides alone are limited.
    alone = rate_table("off", [("acm:ListCertificates", 3)])
    assert alone.limit_for("acm", "ListCertificates") == RateLimit(3, 3)
    assert alone.limit_for("acm", "GetCertificate") is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("ListCertificates", 5, "service:Operation"),
        ("acm:", 5, "service:Operation"),
        ("acm:List Certificates", 5, "service:Operation"),
        ("acm:ListCertificates", "fast", "not a number"),
        ("acm:ListCertificates", 0, "positive"),
        ("acm:ListCertificates", "5/0", "at least 1"),
        ("acm:ListCertificates", {"burst": 4}, "rate"),
        ("acm:ListCertificates", {"rate": 4, "period": 2}, "rate"),
        ("acm:ListCertificates", True, "number"),
    ],
)
def test_bad_overrides_are_refused_with_their_key(key: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        rate_table("aws", [(key, value)])
    assert key in str(refused.value)


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="one of off, aws"):
        rate_table("azure")


def test_parse_limit_forms() -> None:
    assert parse_limit(" 4 / 12 ") == RateLimit(4, 12)
    assert parse_limit(2.5) == RateLimit(2.5, 2.5)


# -- configuration --------------------------------------------------------------------------


def test_limits_from_the_config_file() -> None:
    config = {
        "throttling": {
            "redis_url": "redis://10.0.0.5:6379/2",
            "limits": {"acm:ListCertificates": 20, "acm-pca:IssueCertificate": {"rate": 50}},
        }
    }
    throttling = sections_from(config, {})["throttling"]
    assert throttling.redis_url == "redis://10.0.0.5:6379/2"
    table = throttling.table("aws")
    assert table.limit_for("acm", "ListCertificates") == RateLimit(20, 20)
    assert table.limit_for("acm-pca", "IssueCertificate") == RateLimit(50, 50)


def test_limits_from_the_environment_replace_the_file() -> None:
    config = {"throttling": {"limits": {"acm:ListCertificates": 20}}}
    env = {
        "OPENACM_THROTTLING_LIMITS": "acm:DescribeCertificate=3/6, acm-pca:GetCertificate=9",
        "OPENACM_THROTTLING_REDIS_KEY_PREFIX": "tenant-a:",
    }
    throttling = sections_from(config, env)["throttling"]
    assert throttling.redis_key_prefix == "tenant-a:"
    table = throttling.table("off")
    assert table.limit_for("acm", "DescribeCertificate") == RateLimit(3, 6)
    assert table.limit_for("acm-pca", "GetCertificate") == RateLimit(9, 9)
    assert table.limit_for("acm", "ListCertificates") is None


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ({"throttling": {"limits": {"acm:ListCertificates": -1}}}, {}, "positive"),
        ({"throttling": {"limits": ["acm:ListCertificates"]}}, {}, "must be a table"),
        ({}, {"OPENACM_THROTTLING_LIMITS": "acm:ListCertificates"}, "KEY=RATE"),
        ({"throttling": {"redis_url": "127.0.0.1:6379"}}, {}, "redis://"),
    ],
)
def test_bad_throttling_settings_stop_the_start(
    config: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sections_from(config, env)


# -- the in-memory buckets and the fall-back from Redis -------------------------------------


def test_memory_buckets_keep_each_key_apart() -> None:
    clock = FakeClock()
    buckets = MemoryBuckets(clock)
    limit = RateLimit(rate=1, burst=2)
    assert [buckets.take("a", limit) for _ in range(3)] == [True, True, False]
    assert buckets.take("b", limit)
    clock.now += 1.0
    assert buckets.take("a", limit)
    assert not buckets.take("a", limit)


def test_memory_buckets_forget_full_buckets() -> None:
    clock = FakeClock()
    buckets = MemoryBuckets(clock)
    for index in range(100):
        buckets.take(f"k{index}", RateLimit(rate=10, burst=1))
    assert len(buckets) == 100
    clock.now += MemoryBuckets.PRUNE_SECONDS
    buckets.take("fresh", RateLimit(rate=10, burst=1))
    assert len(buckets) == 1


class DownStore:
    def __init__(self) -> None:
        self.calls = 0
        self.up = False

    def take(self, key: str, limit: RateLimit) -> bool:
        self.calls += 1
        if not self.up:
            raise BucketStoreUnavailable("ConnectionError: refused")
        return False  # an empty shared bucket, to tell its answers apart


def test_an_unreachable_shared_store_falls_back_to_memory_and_is_retried() -> None:
    clock = FakeClock()
    shared = DownStore()
    failures: list[int] = []
    buckets = FailoverBuckets(
        shared,
        MemoryBuckets(clock),
        retry_seconds=5.0,
        on_failure=lambda: failures.append(1),
        clock=clock,
    )
    limit = RateLimit(rate=1, burst=2)
    # Redis down: the process's own buckets answer, and Redis is not asked again at once.
    assert [buckets.take("a", limit) for _ in range(3)] == [True, True, False]
    assert shared.calls == 1
    assert failures == [1]
    clock.now += 5.0
    shared.up = True
    assert buckets.take("a", limit) is False  # Redis's answer again
    assert shared.calls == 2
    assert failures == [1]


# -- the refusal ----------------------------------------------------------------------------


def _context(account: str = "111111111111") -> CallContext:
    return CallContext(
        account_id=account,
        region="us-east-1",
        partition="aws",
        access_key_id="AKIA",
        user_name="u",
        request_id="r-1",
        source_ip="127.0.0.1",
        user_agent="test",
        now=0.0,
        secure_transport=False,
    )


def test_the_throttle_refuses_as_aws_does_and_counts() -> None:
    throttled: list[tuple[str, str]] = []
    throttle = RequestThrottle(
        rate_table("off", [("acm:GetAccountConfiguration", "0.001/2")]),
        MemoryBuckets(FakeClock()),
        on_throttled=lambda service, operation: throttled.append((service, operation)),
    )
    ctx = _context()
    throttle.check(ctx, "acm", "GetAccountConfiguration")
    throttle.check(ctx, "acm", "GetAccountConfiguration")
    with pytest.raises(ThrottlingError) as refused:
        throttle.check(ctx, "acm", "GetAccountConfiguration")
    assert throttled == [("acm", "GetAccountConfiguration")]
    throttle.check(_context("222222222222"), "acm", "GetAccountConfiguration")  # its own bucket
    for _ in range(10):
        throttle.check(ctx, "acm", "ListCertificates")  # not limited
    status, headers, body = serialize_error(refused.value)
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "ThrottlingException"
    assert orjson.loads(body) == {"__type": "ThrottlingException", "message": RATE_EXCEEDED}
    assert RATE_EXCEEDED == "Rate exceeded"
