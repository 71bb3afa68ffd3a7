"""Steps every issuance test repeats: request, publish the validation records, wait."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.support.bind import BindServer

TEST_ZONE = "openacm-test.com"
TERMINAL = ("ISSUED", "FAILED", "VALIDATION_TIMED_OUT", "REVOKED")


def unique_domain(prefix: str = "t") -> str:
    """A name under the test zone that no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}.{TEST_ZONE}"


def request(acm: Any, domain: str, *sans: str, **extra: Any) -> str:
    params: dict[str, Any] = {"DomainName": domain, "ValidationMethod": "DNS", **extra}
    if sans:
        params["SubjectAlternativeNames"] = list(sans)
    return str(acm.request_certificate(**params)["CertificateArn"])


def describe(acm: Any, arn: str) -> dict[str, Any]:
    detail: dict[str, Any] = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    return detail


def publish_records(dns: BindServer, detail: dict[str, Any]) -> None:
    """Create every distinct validation record the certificate shows (a CNAME, or the acme
    issuer's dns-persist-01 TXT)."""
    seen = set()
    for option in detail["DomainValidationOptions"]:
        record = option["ResourceRecord"]
        if record["Name"] not in seen:
            seen.add(record["Name"])
            if record["Type"] == "TXT":
                dns.add_txt(record["Name"], record["Value"])
            else:
                dns.add_cname(record["Name"], record["Value"])


def wait_for_status(
    acm: Any, arn: str, *, until: tuple[str, ...] = TERMINAL, timeout: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        detail = describe(acm, arn)
        if detail["Status"] in until or time.monotonic() > deadline:
            return detail
        time.sleep(0.1)


def request_and_issue(acm: Any, dns: BindServer, domain: str, *sans: str, **extra: Any) -> str:
    arn = request(acm, domain, *sans, **extra)
    publish_records(dns, describe(acm, arn))
    detail = wait_for_status(acm, arn)
    assert detail["Status"] == "ISSUED", detail
    return arn
