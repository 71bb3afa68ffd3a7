"""`python -m bench.access`: what authorization costs a call (docs/access-control.md).

One `openacm serve --dev` server; the same DescribeCertificate and ListCertificates calls,
one after another, as the account's root key (never checked) and as an IAM user whose
policies the endpoint evaluates on every call (an allow, a deny with a ForAnyValue condition
and an aws:ResourceTag condition, so the target's tags are read too). Reports p50 / p95 of
each and the difference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.progress import say
from bench.servers import OPENACM, OPENACM_BIN, running

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "acm:List*", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "acm:DescribeCertificate",
            "Resource": "arn:aws:acm:*:*:certificate/*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "web"}},
        },
        {
            "Effect": "Deny",
            "Action": "acm:RequestCertificate",
            "Resource": "*",
            "Condition": {"ForAnyValue:StringLike": {"acm:DomainNames": ["${*}.*"]}},
        },
    ],
}


def _admin(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [str(OPENACM_BIN), "admin", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def _client(endpoint: str, key: str, secret: str) -> Any:
    return boto3.session.Session().client(
        "acm",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def _timed(calls: Sequence[Callable[[], Any]], count: int) -> list[list[float]]:
    """Samples of each call, taken in turn so that a busy moment weighs on all alike."""
    for _ in range(20):  # warm: connections, caches
        for call in calls:
            call()
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(count):
        for call, kept in zip(calls, samples, strict=True):
            started = time.perf_counter()
            call()
            kept.append(time.perf_counter() - started)
    return samples


def _row(name: str, samples: list[float]) -> tuple[float, float]:
    p50 = statistics.median(samples) * 1000
    p95 = statistics.quantiles(samples, n=20)[-1] * 1000
    say(f"  {name:<34} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")
    return p50, p95


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.access", description=__doc__)
    parser.add_argument("--calls", type=int, default=300, help="Calls per operation and key.")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-access-") as work:
        work_dir = Path(work)
        with running(OPENACM, work_dir) as server:
            data_dir = work_dir / "data"
            _admin(data_dir, "user", "create", "--account-id", "000000000000",
                   "--user-name", "bench")  # fmt: skip
            _admin(data_dir, "policy", "put", "--account-id", "000000000000", "--user-name",
                   "bench", "--policy-name", "p", "--document", json.dumps(POLICY))  # fmt: skip
            key_args = ["--account-id", "000000000000", "--user-name", "bench", "--output"]
            made = json.loads(_admin(data_dir, "key", "create", *key_args, "json"))
            root = _client(server.endpoint, "test", "test")
            user = _client(server.endpoint, made["access_key_id"], made["secret_access_key"])
            arn = root.request_certificate(
                DomainName="bench.example.com", Tags=[{"Key": "team", "Value": "web"}]
            )["CertificateArn"]
            say(f"{options.calls} sequential calls each, {OPENACM.description}")
            for operation, call in (
                ("DescribeCertificate", lambda c: c.describe_certificate(CertificateArn=arn)),
                ("ListCertificates", lambda c: c.list_certificates()),
            ):
                as_root, as_user = _timed(
                    [lambda f=call: f(root), lambda f=call: f(user)], options.calls
                )
                root_row = _row(f"{operation}, root key", as_root)
                user_row = _row(f"{operation}, IAM user", as_user)
                say(
                    f"  {operation}: authorization adds p50 {user_row[0] - root_row[0]:+.2f} ms, "
                    f"p95 {user_row[1] - root_row[1]:+.2f} ms"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
