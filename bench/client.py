"""boto3 work done before measuring: loading certificates, checking answers, walking pages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from bench.fixtures import Fixtures, leaf_name
from bench.progress import Progress
from bench.servers import RunningServer

REGION = "us-east-1"
PAGE_SIZE = 100


def acm_client(server: RunningServer, *, pool: int = 10) -> Any:
    """A plain boto3 ACM client pointed at `server` (standard retries for throttling)."""
    config = Config(
        region_name=REGION,
        max_pool_connections=pool,
        retries={"mode": "standard", "max_attempts": 10},
        connect_timeout=5,
        read_timeout=120,
    )
    return boto3.client(
        "acm",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.target.access_key,
        aws_secret_access_key=server.target.secret_key,
        config=config,
    )


def import_all(server: RunningServer, fixtures: Fixtures, threads: int) -> list[str]:
    """Imports every fixture certificate; returns ARNs in fixture order."""
    client = acm_client(server, pool=threads)
    label = f"import {len(fixtures.certificates)} -> {server.target.name}"
    with Progress(label, len(fixtures.certificates)) as progress:

        def import_one(certificate: bytes) -> str:
            response = client.import_certificate(
                Certificate=certificate,
                PrivateKey=fixtures.private_key,
                CertificateChain=fixtures.chain,
            )
            progress.advance()
            return str(response["CertificateArn"])

        pool = ThreadPoolExecutor(max_workers=threads)
        try:
            return list(pool.map(import_one, fixtures.certificates))
        finally:
            pool.shutdown(cancel_futures=True)  # on Ctrl-C, drop what has not started


@dataclass(frozen=True)
class ListCheck:
    """What one ListCertificates(MaxItems=100) call returned."""

    items: int
    has_next_token: bool

    @property
    def paginates(self) -> bool:
        return self.items <= PAGE_SIZE


def check_describe(server: RunningServer, arns: list[str]) -> None:
    """Fails unless DescribeCertificate returns the asked-for ARN and its domain name."""
    client = acm_client(server)
    for index in (0, len(arns) // 2, len(arns) - 1):
        cert = client.describe_certificate(CertificateArn=arns[index])["Certificate"]
        if cert["CertificateArn"] != arns[index] or cert["DomainName"] != leaf_name(index + 1):
            raise CheckError(f"{server.target.name}: DescribeCertificate answered {cert}")


def check_list(server: RunningServer, expected_total: int) -> ListCheck:
    """One first-page call; fails when the page is short or empty."""
    client = acm_client(server)
    response = client.list_certificates(MaxItems=PAGE_SIZE)
    check = ListCheck(len(response["CertificateSummaryList"]), "NextToken" in response)
    wanted = min(PAGE_SIZE, expected_total)
    if check.items < wanted or (check.paginates and check.items != wanted):
        raise CheckError(f"{server.target.name}: ListCertificates returned {check.items} items")
    if check.paginates and expected_total > PAGE_SIZE and not check.has_next_token:
        raise CheckError(f"{server.target.name}: ListCertificates gave no NextToken")
    return check


def page_tokens(server: RunningServer, expected_total: int) -> list[str | None]:
    """Walks ListCertificates(MaxItems=100) to the end; returns each page's NextToken.

    The first page's is None (no token); the list is what the load generator replays.
    Fails unless the pages hold `expected_total` distinct certificates in all.
    """
    client = acm_client(server)
    tokens: list[str | None] = [None]
    seen: set[str] = set()
    while True:
        kwargs: dict[str, Any] = {"MaxItems": PAGE_SIZE}
        if tokens[-1] is not None:
            kwargs["NextToken"] = tokens[-1]
        response = client.list_certificates(**kwargs)
        seen.update(item["CertificateArn"] for item in response["CertificateSummaryList"])
        token = response.get("NextToken")
        if not token:
            break
        if token in tokens:
            raise CheckError(f"{server.target.name}: NextToken repeats: {token!r}")
        tokens.append(token)
    if len(seen) != expected_total:
        raise CheckError(
            f"{server.target.name}: pages held {len(seen)} certificates, not {expected_total}"
        )
    return tokens


class CheckError(RuntimeError):
    """A server answered wrongly, so its timings would mean nothing."""
