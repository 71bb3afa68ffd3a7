"""`python -m bench acme-server`: certificates per second that lego gets from openacm's ACME
endpoint, next to lego against Pebble (Debian `pebble`) in the same run.

Each certificate is one `lego run` process, as a fleet of hosts would ask: a new ACME account
bound with external account binding credentials, an order, finalize, download, with an EC
P-256 key (`--key-type ec256`). `--concurrency` processes run at once, after one untimed
warm-up certificate. openacm is timed three ways on one endpoint: names under a VALID domain
validation (PRE_APPROVED, the model's behaviour: no challenge) from its builtin CA (EC leaves
signed by its P-384 intermediate); names outside it, which the installation lets http-01
prove (lego writes the answer into the webroot of one shared web server, openacm fetches it
over HTTP from the address BIND gives); and pre-approved names again with the endpoint backed
by a private EC P-256 root of ACM-PCA. Pebble runs with PEBBLE_VA_ALWAYS_VALID (validation
succeeds without a lookup; lego still answers the challenge and polls). openacm runs as it is
deployed (`--workers` one per core, SQLite, an audit record per change, pkilint before the
builtin CA signs); Pebble keeps everything in memory. Pebble's CA key is whatever its build
makes (RSA 2048 in Debian's, not configurable), which the run reports rather than hides.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bench.cli import only_run_on_this_machine
from bench.client import acm_client
from bench.progress import say
from bench.servers import OPENACM, OPENACM_WORKERS, RunningServer, ServerError, free_port, running

ZONE = "openacm-bench-acme.com"
# Names no domain validation covers: openacm validates them by http-01 for real.
HTTP_ZONE = "openacm-bench-http01.com"
ROLE_ARN = "arn:aws:iam::123456789012:role/bench"
LEGO = shutil.which("lego") or "/usr/bin/lego"
PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"


@dataclasses.dataclass(frozen=True)
class Directory:
    """Where lego asks, and what it needs to: EAB credentials, a CA bundle for HTTPS."""

    name: str
    url: str
    eab: tuple[str, str]
    ca_bundle: str | None = None
    # How lego answers a challenge (None: a built-in server on a free port, never asked).
    solver: tuple[str, ...] | None = None
    zone: str = ZONE


@dataclasses.dataclass(frozen=True)
class Throughput:
    name: str
    certificates: int
    seconds: float
    issuer_key: str

    @property
    def per_second(self) -> float:
        return self.certificates / self.seconds


def _lego(directory: Directory, work: Path, name: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work)}
    if directory.ca_bundle:
        env["LEGO_CA_CERTIFICATES"] = directory.ca_bundle
    command = [
        LEGO, "--server", directory.url, "--accept-tos", "--path", str(work),
        "--eab", "--kid", directory.eab[0], "--hmac", directory.eab[1],
        "--email", "bench@openacm-bench-acme.com", "--key-type", "ec256",
        # A challenge solver lego may start; pre-approved authorizations need none.
        *(directory.solver or ("--http", "--http.port", f"127.0.0.1:{free_port()}")),
        "--domains", name, "run",
    ]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _issuer_key(chain: Path) -> str:
    issuer = x509.load_pem_x509_certificates(chain.read_bytes())[1]
    key = issuer.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    return type(key).__name__


def timed(directory: Directory, work: Path, count: int, concurrency: int) -> Throughput:
    """`count` lego processes, `concurrency` at a time, each for its own name."""
    names = [f"h{index:04d}.{directory.name}.{directory.zone}" for index in range(count + 1)]
    # One first, untimed: lego's and the server's first-use costs are not throughput.
    warm = _lego(directory, work / "warm", names[-1])
    if warm.returncode != 0:
        raise RuntimeError(f"lego against {directory.name} failed:\n{warm.stderr[-3000:]}")

    def one(index: int) -> None:
        done = _lego(directory, work / str(index), names[index])
        if done.returncode != 0:
            raise RuntimeError(f"lego against {directory.name} failed:\n{done.stderr[-3000:]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    seconds = time.perf_counter() - started
    chain = work / "warm" / "certificates" / f"{names[-1]}.crt"
    return Throughput(directory.name, count, seconds, _issuer_key(chain))


def _openacm_directory(server: RunningServer, bind: Any) -> Directory:
    """An endpoint with a VALID domain validation of the bench zone (subdomains)."""
    acm = acm_client(server)
    arn = acm.create_acme_endpoint(
        AuthorizationBehavior="PRE_APPROVED",
        CertificateAuthority={"PublicCertificateAuthority": {}},
    )["AcmeEndpointArn"]
    validation = acm.create_acme_domain_validation(
        AcmeEndpointArn=arn,
        DomainName=ZONE,
        PrevalidationOptions={"DnsPrevalidation": {"DomainScope": {"Subdomains": "ENABLED"}}},
    )["AcmeDomainValidationArn"]
    details = acm.describe_acme_domain_validation(AcmeDomainValidationArn=validation)
    dns = details["AcmeDomainValidation"]["PrevalidationDetails"]["DnsPrevalidation"]
    bind.add_cname(dns["ResourceRecord"]["Name"], dns["ResourceRecord"]["Value"])
    _wait(
        lambda: (
            acm.describe_acme_domain_validation(AcmeDomainValidationArn=validation)[
                "AcmeDomainValidation"
            ]["Status"]
            == "VALID"
        )
    )
    binding = acm.create_acme_external_account_binding(AcmeEndpointArn=arn, RoleArn=ROLE_ARN)
    credentials = acm.get_acme_external_account_binding_credentials(
        AcmeExternalAccountBindingArn=binding["ExternalAccountBinding"][
            "AcmeExternalAccountBindingArn"
        ]
    )
    url = acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]["EndpointUrl"]
    return Directory("openacm", url, (credentials["KeyId"], credentials["MacKey"]))


def _private_p256_ca(server: RunningServer) -> str:
    """An ACTIVE EC P-256 root of ACM-PCA that ACM may issue from."""
    import boto3

    pca = boto3.client(
        "acm-pca",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=server.target.access_key,
        aws_secret_access_key=server.target.secret_key,
    )
    arn: str = pca.create_certificate_authority(
        CertificateAuthorityType="ROOT",
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "EC_prime256v1",
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": "bench P-256 root", "Organization": "openacm bench"},
        },
    )["CertificateAuthorityArn"]

    def status() -> str:
        found = pca.describe_certificate_authority(CertificateAuthorityArn=arn)
        return str(found["CertificateAuthority"]["Status"])

    _wait(lambda: status() != "CREATING")
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    issued = pca.issue_certificate(
        CertificateAuthorityArn=arn,
        Csr=csr.encode(),
        SigningAlgorithm="SHA256WITHECDSA",
        TemplateArn="arn:aws:acm-pca:::template/RootCACertificate/V1",
        Validity={"Type": "YEARS", "Value": 5},
    )["CertificateArn"]
    certificate: dict[str, str] = {}

    def fetched() -> bool:
        try:
            got = pca.get_certificate(CertificateAuthorityArn=arn, CertificateArn=issued)
        except pca.exceptions.RequestInProgressException:
            return False
        certificate["pem"] = got["Certificate"]
        return True

    _wait(fetched)
    pca.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn, Certificate=certificate["pem"].encode()
    )
    pca.create_permission(
        CertificateAuthorityArn=arn,
        Principal="acm.amazonaws.com",
        Actions=["IssueCertificate", "GetCertificate", "ListPermissions"],
    )
    return arn


def _use_private_ca(server: RunningServer, directory: Directory, ca_arn: str) -> Directory:
    """The same endpoint, now issuing from `ca_arn` (openacm's own API)."""
    import botocore.session

    from openacm.protocol.model import MODELS_PATH

    session = botocore.session.Session()
    session.set_config_variable("data_path", str(MODELS_PATH))
    openacm = session.create_client(
        "openacm",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=server.target.access_key,
        aws_secret_access_key=server.target.secret_key,
    )
    endpoint_arn = acm_client(server).list_acme_endpoints()["AcmeEndpoints"][0]["AcmeEndpointArn"]
    openacm.put_acme_endpoint_certificate_authority(
        AcmeEndpointArn=endpoint_arn, CertificateAuthorityArn=ca_arn
    )
    return dataclasses.replace(directory, name="openacm-private")


@contextlib.contextmanager
def _serving(webroot: Path, port: int) -> Iterator[None]:
    """The web server lego's --http.webroot writes http-01 answers for (one for all the
    concurrent lego processes, as a fleet's shared web server would be)."""
    webroot.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(webroot))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _wait(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the domain validation did not become VALID")
        time.sleep(0.2)


def run(count: int, concurrency: int) -> tuple[Throughput, ...]:
    from tests.support.bind import BindServer  # imports pytest
    from tests.support.pebble import PebbleServer

    target = dataclasses.replace(
        OPENACM,
        env={
            **OPENACM.env,
            "OPENACM_QUOTA_CERTIFICATES": "1000000",
            "OPENACM_QUOTA_CERTIFICATES_PER_YEAR": "1000000",
            "OPENACM_VALIDATION_POLL_INTERVAL": "0.1",
            "OPENACM_ISSUANCE_PUBLIC_URL": f"http://pki.{ZONE}",
        },
    )
    with (
        tempfile.TemporaryDirectory(prefix="openacm-bench-acme-") as root,
        BindServer(zones=(ZONE, HTTP_ZONE)) as bind,
    ):
        work = Path(root)
        target = dataclasses.replace(
            target,
            env={**target.env, "OPENACM_VALIDATION_RESOLVERS": bind.nameserver_spec},
        )
        webroot = work / "webroot"
        http_port = free_port()
        bind.add(f"*.openacm-http01.{HTTP_ZONE}", "A", "127.0.0.1")
        target = dataclasses.replace(
            target,
            env={
                **target.env,
                "OPENACM_ACME_SERVER_CHALLENGES": "http-01",
                "OPENACM_ACME_SERVER_HTTP01_PORT": str(http_port),
            },
        )
        with (
            running(target, work / "openacm-server") as server,
            _serving(webroot, http_port),
        ):
            say(f"openacm: {count} certificates, {concurrency} lego processes at a time")
            directory = _openacm_directory(server, bind)
            builtin = timed(directory, work / "openacm", count, concurrency)
            say("openacm, names outside the domain validation: http-01 checked for each")
            http01 = dataclasses.replace(
                directory,
                name="openacm-http01",
                solver=("--http", "--http.webroot", str(webroot)),
                zone=HTTP_ZONE,
            )
            validated = timed(http01, work / "openacm-http01", count, concurrency)
            say("openacm, the same endpoint backed by a private EC P-256 CA")
            directory = _use_private_ca(server, directory, _private_p256_ca(server))
            private = timed(directory, work / "openacm-private", count, concurrency)
        mac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
        pebble = PebbleServer(
            bind.nameserver_spec,
            work / "pebble-server",
            eab_keys={"bench": mac},
            env={"PEBBLE_VA_ALWAYS_VALID": "1"},
        )
        (work / "pebble-server").mkdir()
        pebble.start()
        try:
            say(f"Pebble: {count} certificates, {concurrency} lego processes at a time")
            directory = Directory("pebble", pebble.directory_url, ("bench", mac), pebble.ca_bundle)
            theirs = timed(directory, work / "pebble", count, concurrency)
        finally:
            pebble.stop()
    return builtin, validated, private, theirs


def report(results: Sequence[Throughput], argv: Sequence[str]) -> str:
    lines = [
        f"command: python -m bench acme-server {' '.join(argv)}".rstrip(),
        f"machine: {os.cpu_count()} cores; openacm --workers {OPENACM_WORKERS}",
    ]
    for result in results:
        lines.append(
            f"{result.name:16} {result.certificates} certificates in {result.seconds:.1f} s: "
            f"{result.per_second:.2f} per second (issuing CA key {result.issuer_key})"
        )
    pebble = results[-1]
    for result in results[:-1]:
        lines.append(f"{result.name} / Pebble: {result.per_second / pebble.per_second:.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench acme-server", description=__doc__)
    parser.add_argument("--certs", type=int, default=60, help="certificates per server")
    parser.add_argument("--concurrency", type=int, default=4, help="lego processes at once")
    options = parser.parse_args(argv)
    for tool in (LEGO, PEBBLE):
        if not os.access(tool, os.X_OK):
            missing = f"bench acme-server: {tool} is missing (apt-get install lego pebble)"
            print(missing, file=sys.stderr)
            return 2
    with only_run_on_this_machine() as holder:
        if holder is not None:
            say(f"another bench run (pid {holder}) is measuring on this machine; try later")
            return 3
        try:
            results = run(options.certs, options.concurrency)
        except (ServerError, RuntimeError) as error:
            print(f"bench acme-server: {error}", file=sys.stderr)
            return 2
    print(report(results, argv))
    return 0
