"""Request-rate limits: the token bucket and the tables of per-operation rates.

Pure: the caller passes the time and keeps the bucket's state (in memory or in Redis,
adapters/throttle_buckets.py; the Redis script does this same arithmetic). docs/throttling.md.

A bucket holds at most `burst` tokens and gains `rate` tokens a second; each request takes
one, and a request that finds less than one token is throttled. A bucket nobody used is full.
AWS publishes its limits as requests per second per account and region for each operation
(ACM: the seeds' rate table, inventory §1.0; ACM-PCA: the AWS Private CA user guide's
"Quotas on API requests"), without a burst size: a profile's bucket holds one second's worth
(`burst == rate`, at least one request), so a client keeping to the published rate is never
throttled and one that sends a second's worth at once is not either.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "AWS_RATES",
    "PROFILES",
    "BucketState",
    "RateLimit",
    "RateTable",
    "bucket_key",
    "parse_limit",
    "rate_table",
    "take_token",
]


@dataclass(frozen=True)
class RateLimit:
    """`rate` requests a second on average, `burst` of them at once."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(
                f"a rate must be a positive number of requests a second, not {self.rate}"
            )
        if not (math.isfinite(self.burst) and self.burst >= 1):
            raise ValueError(f"a burst must be at least 1 request, not {self.burst}")

    @classmethod
    def per_second(cls, rate: float) -> RateLimit:
        """The published form: `rate` a second, a bucket of one second's worth."""
        return cls(float(rate), max(1.0, float(rate)))

    @property
    def refill_seconds(self) -> float:
        """How long an empty bucket takes to be full again (after that, a forgotten bucket
        and a kept one answer the same)."""
        return self.burst / self.rate


@dataclass(frozen=True)
class BucketState:
    tokens: float
    updated: float  # seconds, on the clock of whoever keeps the bucket


def take_token(state: BucketState | None, limit: RateLimit, now: float) -> tuple[bool, BucketState]:
    """Whether a request at `now` may go ahead, and the bucket after it.

    A clock that went backwards adds nothing (and takes nothing away)."""
    if state is None:
        tokens = limit.burst
    else:
        elapsed = max(0.0, now - state.updated)
        tokens = min(limit.burst, state.tokens + elapsed * limit.rate)
        now = max(now, state.updated)
    if tokens >= 1.0:
        return True, BucketState(tokens - 1.0, now)
    return False, BucketState(tokens, now)


def bucket_key(account_id: str, region: str, service: str, operation: str) -> str:
    """One bucket per account, region and operation, as AWS counts its quotas."""
    return f"{account_id}:{region}:{service}:{operation}"


# ACM: the seeds' table (inventory §1.0), with ExportCertificate at 5 (PRODUCT.md decision 9).
# ACM-PCA: AWS Private CA's published requests-per-second quotas; its operations the table
# does not name (GetPolicy, PutPolicy, DeletePolicy) are not limited, nor are ACM's newer ones.
AWS_RATES: Final[Mapping[str, float]] = {
    "acm:AddTagsToCertificate": 5,
    "acm:DeleteCertificate": 10,
    "acm:DescribeCertificate": 10,
    "acm:ExportCertificate": 5,
    "acm:GetAccountConfiguration": 1,
    "acm:GetCertificate": 10,
    "acm:ImportCertificate": 1,
    "acm:ListCertificates": 8,
    "acm:ListTagsForCertificate": 10,
    "acm:PutAccountConfiguration": 1,
    "acm:RemoveTagsFromCertificate": 5,
    "acm:RenewCertificate": 5,
    "acm:RequestCertificate": 5,
    "acm:ResendValidationEmail": 1,
    "acm:UpdateCertificateOptions": 5,
    "acm-pca:CreateCertificateAuthority": 1,
    "acm-pca:CreateCertificateAuthorityAuditReport": 1,
    "acm-pca:CreatePermission": 1,
    "acm-pca:DeleteCertificateAuthority": 10,
    "acm-pca:DeletePermission": 1,
    "acm-pca:DescribeCertificateAuthority": 20,
    "acm-pca:DescribeCertificateAuthorityAuditReport": 20,
    "acm-pca:GetCertificate": 75,
    "acm-pca:GetCertificateAuthorityCertificate": 20,
    "acm-pca:GetCertificateAuthorityCsr": 10,
    "acm-pca:ImportCertificateAuthorityCertificate": 10,
    "acm-pca:IssueCertificate": 25,
    "acm-pca:ListCertificateAuthorities": 20,
    "acm-pca:ListPermissions": 5,
    "acm-pca:ListTags": 20,
    "acm-pca:RestoreCertificateAuthority": 20,
    "acm-pca:RevokeCertificate": 20,
    "acm-pca:TagCertificateAuthority": 10,
    "acm-pca:UntagCertificateAuthority": 10,
    "acm-pca:UpdateCertificateAuthority": 10,
}

# Throttling is off by default (decision 8); `aws` is the published table.
PROFILES: Final[Mapping[str, Mapping[str, float]]] = {"off": {}, "aws": AWS_RATES}


@dataclass(frozen=True)
class RateTable:
    """The limit of each operation, keyed `service:Operation` (`acm:ListCertificates`); a
    `service:*` entry covers that service's operations the table does not name."""

    limits: Mapping[str, RateLimit]

    def limit_for(self, service: str, operation: str) -> RateLimit | None:
        return self.limits.get(f"{service}:{operation}") or self.limits.get(f"{service}:*")

    def __bool__(self) -> bool:
        return bool(self.limits)


def parse_limit(value: object) -> RateLimit:
    """An override as configured: a number (requests a second, the profile's burst), the text
    `RATE` or `RATE/BURST`, or a table `{rate = R, burst = B}`."""
    if isinstance(value, Mapping):
        unknown = set(value) - {"rate", "burst"}
        if unknown or "rate" not in value:
            raise ValueError(f"a limit table has rate and optionally burst, not {dict(value)}")
        rate = _number(value["rate"])
        return (
            RateLimit(rate, _number(value["burst"]))
            if "burst" in value
            else (RateLimit.per_second(rate))
        )
    if isinstance(value, bool):
        raise ValueError(f"a limit is a number of requests a second, not {value!r}")
    if isinstance(value, int | float):
        return RateLimit.per_second(float(value))
    rate_text, slash, burst_text = str(value).strip().partition("/")
    rate = _number(rate_text)
    return RateLimit(rate, _number(burst_text)) if slash else RateLimit.per_second(rate)


def _number(raw: object) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"not a number: {raw!r}")
    try:
        return float(str(raw).strip())
    except ValueError:
        raise ValueError(f"not a number: {raw!r}") from None


def _check_key(key: str) -> str:
    service, colon, operation = key.partition(":")
    if not (colon and service and operation) or any(c.isspace() for c in key):
        raise ValueError(f"a limit is keyed service:Operation (acm:ListCertificates), not {key!r}")
    return key


def rate_table(profile: str, overrides: Iterable[tuple[str, object]] = ()) -> RateTable:
    """The profile's limits with the configured overrides over them."""
    if profile not in PROFILES:
        raise ValueError(f"unknown rate-limit profile {profile!r}: one of {', '.join(PROFILES)}")
    limits = {key: RateLimit.per_second(rate) for key, rate in PROFILES[profile].items()}
    for key, value in overrides:
        try:
            limits[_check_key(key)] = parse_limit(value)
        except ValueError as exc:
            raise ValueError(f"rate limit {key}: {exc}") from None
    return RateTable(limits)
