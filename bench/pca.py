"""`python -m bench pca`: ACM-PCA IssueCertificate throughput for EC P-256 end-entity
certificates, next to the raw cryptography limit measured in the same run.

The private CA (EC P-256, SHA256WITHECDSA, a ROOT built through the API) and the CSRs (EC
P-256, made by the client as a real client would) exist before the clock starts. A timed run
is `--threads` boto3 clients calling IssueCertificate (EndEntityCertificate/V1, 30 days)
against `openacm serve --workers N` for `--seconds`: SigV4, validation, the CA read, CSR check,
certificate build and signature, the commit of the certificate and counter, the audit record.
The raw limit is the cryptographic part alone — read and verify the CSR, build the certificate
with the same code (`build_private_certificate`), sign it — in N Python processes at once, so
both figures use the whole machine the same way; it is measured right before and right after
the run (a shared machine's speed drifts) and the lower of the two is the reference.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench import cpu
from bench.progress import say
from bench.report import machine_facts
from bench.servers import OPENACM, OPENACM_WORKERS, RunningServer, running

TARGET = 0.30  # the issue's target: IssueCertificate at 30 % of the raw limit or more
TEMPLATE = "arn:aws:acm-pca:::template/{}/V1"
VALIDITY = {"Type": "DAYS", "Value": 30}
DEFAULT_SECONDS = 15.0
DEFAULT_THREADS = 8
RAW_SECONDS = 5.0


def csr_pems(count: int) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    made = []
    for index in range(count):
        name = f"svc-{index}.bench.internal"
        key = ec.generate_private_key(ec.SECP256R1())
        made.append(
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )
    return made


# -- the raw limit ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RawRate:
    processes: int
    per_s: float
    cpu_ms_per_operation: float


def measure_raw(processes: int, seconds: float, csrs: list[bytes]) -> RawRate:
    counts = cpu.run_in_processes(_issue_step, (csrs,), processes, seconds)
    done = sum(count for count, _elapsed, _cpu in counts)
    return RawRate(
        processes,
        sum(count / elapsed for count, elapsed, _cpu in counts),
        1000 * sum(cpu_s for _count, _elapsed, cpu_s in counts) / done,
    )


def _issue_step(csrs: list[bytes]) -> Callable[[int], object]:
    """In the child process: a CA and the step that builds and signs one certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from openacm.adapters.ca.algorithms import private_ca_signer
    from openacm.adapters.ca.private_issuance import (
        PrivateCertificateRequest,
        RevocationUrls,
        build_private_certificate,
    )
    from openacm.domain.pca_validity import ValidityWindow
    from openacm.services.pca.issuance import random_serial_number

    key = ec.generate_private_key(ec.SECP256R1())
    signer = private_ca_signer(key, "SHA256WITHECDSA")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Root")])
    issuer = signer.sign_certificate(
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    window = ValidityWindow(now - dt.timedelta(hours=1), now + dt.timedelta(days=30))

    def step(index: int) -> object:
        request = PrivateCertificateRequest(
            csr=csrs[index % len(csrs)],
            validity=window,
            template_arn=TEMPLATE.format("EndEntityCertificate"),
        )
        builder = build_private_certificate(
            request,
            issuer=issuer,
            serial_number=random_serial_number(),
            revocation=RevocationUrls(),
        )
        return signer.sign_certificate(builder)

    return step


# -- the API run -----------------------------------------------------------------------------


def pca_client(server: RunningServer, pool: int) -> Any:
    config = Config(
        region_name="us-east-1",
        max_pool_connections=pool,
        retries={"mode": "standard", "max_attempts": 3},
        read_timeout=120,
    )
    return boto3.client(
        "acm-pca",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.target.access_key,
        aws_secret_access_key=server.target.secret_key,
        config=config,
    )


def active_root(client: Any) -> str:
    """A ROOT CA through the API: create, sign its own CSR, import."""
    arn: str = client.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "EC_prime256v1",
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": "Bench Root"},
        },
    )["CertificateAuthorityArn"]
    csr = client.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    own = client.issue_certificate(
        CertificateAuthorityArn=arn,
        Csr=csr,
        SigningAlgorithm="SHA256WITHECDSA",
        TemplateArn=TEMPLATE.format("RootCACertificate"),
        Validity={"Type": "YEARS", "Value": 10},
    )["CertificateArn"]
    certificate = client.get_certificate(CertificateAuthorityArn=arn, CertificateArn=own)
    client.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn, Certificate=certificate["Certificate"]
    )
    return arn


def timed_issuance(
    client: Any, ca_arn: str, csrs: list[bytes], threads: int, seconds: float
) -> tuple[int, float]:
    """(certificates issued, elapsed seconds) by `threads` callers for `seconds`."""
    counter = iter(range(1 << 62))
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def caller() -> int:
        done = 0
        while time.perf_counter() < deadline:
            with lock:
                index = next(counter)
            client.issue_certificate(
                CertificateAuthorityArn=ca_arn,
                Csr=csrs[index % len(csrs)],
                SigningAlgorithm="SHA256WITHECDSA",
                Validity=VALIDITY,
            )
            done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        issued = sum(pool.map(lambda _: caller(), range(threads)))
    return issued, time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pca", description=__doc__)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--results", help="write the figures as JSON to this file")
    options = parser.parse_args(argv)
    processes = int(OPENACM_WORKERS)
    csrs = csr_pems(256)
    say(f"raw limit: CSR check + build + P-256 signature in {processes} processes")
    before = measure_raw(processes, RAW_SECONDS, csrs)
    with (
        tempfile.TemporaryDirectory(prefix="bench-pca-") as work,
        running(OPENACM, Path(work)) as server,
    ):
        client = pca_client(server, options.threads)
        ca_arn = active_root(client)
        timed_issuance(client, ca_arn, csrs, options.threads, 2.0)  # warm-up: keys, caches
        say(f"IssueCertificate: {options.threads} callers for {options.seconds:.0f} s")
        issued, elapsed = timed_issuance(client, ca_arn, csrs, options.threads, options.seconds)
    after = measure_raw(processes, RAW_SECONDS, csrs)
    raw = min(before.per_s, after.per_s)
    rate = issued / elapsed
    figures = {
        "machine": {k: v for k, v in machine_facts("").items() if k != "wrk"},
        "workers": processes,
        "threads": options.threads,
        "issue_certificate_per_s": round(rate, 1),
        "certificates": issued,
        "raw_per_s_before": round(before.per_s, 1),
        "raw_per_s_after": round(after.per_s, 1),
        "raw_cpu_ms_per_certificate": round(
            min(before, after, key=lambda r: r.per_s).cpu_ms_per_operation, 3
        ),
        "ratio": round(rate / raw, 3),
        "target": TARGET,
    }
    print(json.dumps(figures, indent=2))
    if options.results:
        Path(options.results).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if rate / raw >= TARGET else 1
