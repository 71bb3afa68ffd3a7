"""Which names a domain validation's scope authorizes, and the scope's defaults."""

from __future__ import annotations

import pytest

from openacm.domain.acme_resources import domain_scope, endpoint_arn_of, scope_covers
from openacm.domain.errors import ValidationError

EXACT = {"ExactDomain": "ENABLED", "Subdomains": "DISABLED", "Wildcards": "DISABLED"}
SUBS = {"ExactDomain": "DISABLED", "Subdomains": "ENABLED", "Wildcards": "DISABLED"}
WILD = {"ExactDomain": "DISABLED", "Subdomains": "DISABLED", "Wildcards": "ENABLED"}
ALL = {"ExactDomain": "ENABLED", "Subdomains": "ENABLED", "Wildcards": "ENABLED"}


@pytest.mark.parametrize(
    ("scope", "name", "covered"),
    [
        (EXACT, "example.com", True),
        (EXACT, "Example.COM.", True),
        (EXACT, "www.example.com", False),
        (EXACT, "*.example.com", False),
        (SUBS, "example.com", False),
        (SUBS, "www.example.com", True),
        (SUBS, "a.b.example.com", True),
        (SUBS, "wwwexample.com", False),
        (SUBS, "*.example.com", False),
        (WILD, "*.example.com", True),
        (WILD, "*.www.example.com", False),
        (WILD, "www.example.com", False),
        (ALL, "*.www.example.com", True),
        (ALL, "example.org", False),
    ],
)
def test_scope_covers(scope: dict[str, str], name: str, covered: bool) -> None:
    assert scope_covers("example.com", scope, name) is covered


def test_scope_defaults() -> None:
    assert domain_scope({}) == EXACT
    assert domain_scope({"DomainScope": {"Wildcards": "ENABLED"}}) == WILD
    with pytest.raises(ValidationError):
        domain_scope({"DomainScope": {"ExactDomain": "DISABLED"}})


def test_endpoint_arn_of() -> None:
    endpoint = "arn:aws:acm:us-east-1:123456789012:acme-endpoint/e1"
    kind = "acme-domain-validation"
    assert endpoint_arn_of(f"{endpoint}/{kind}/d1", kind) == endpoint
    assert endpoint_arn_of(endpoint, kind) is None
    assert endpoint_arn_of(f"{endpoint}/{kind}/d1/x", kind) is None
