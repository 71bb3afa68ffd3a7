"""`python -m bench issuance`: RequestCertificate → ISSUED throughput, next to the raw
cryptography limit measured in the same run.

The validation records are published before the timed requests are made, so a timed run
measures what openacm does with a request whose DNS is already right: accept it, look the
CNAME and CAA up (in a real BIND server on loopback), generate the key, sign, commit. The
raw limit is the key generation and signing alone, in as many Python processes as openacm
has workers, so both figures use the whole machine the same way; it is measured right
before and right after each run, because a shared machine's speed drifts. docs/performance.md
describes the method and the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import http.client
import itertools
import json
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import cpu, presign
from bench.cli import DEFAULT_RESULTS, only_run_on_this_machine
from bench.client import acm_client
from bench.progress import say
from bench.report import command_line, inherited_settings, machine_facts
from bench.servers import (
    HOST,
    OPENACM,
    OPENACM_WORKERS,
    RunningServer,
    ServerError,
    Target,
    keep_log,
    openacm_installed,
    running,
)

if TYPE_CHECKING:
    from tests.support.bind import BindServer

EC = "EC_prime256v1"
RSA = "RSA_2048"
ZONE = "openacm-bench.com"
REGION = "us-east-1"
DEV_ACCOUNT = "000000000000"
# Targets of the issue: EC end to end at 25 % of the raw limit; RSA (no key pool) at 90 % of
# the raw key-generation rate; a burst served from the pool at 10x that rate.
EC_TARGET = 0.25
RSA_TARGET = 0.90
BURST_TARGET = 10.0
SCENARIO_KINDS = ("ec", "rsa", "burst")
# How often the store is asked whether the run is done near its end (the timing error is at
# most this), and at least how often before.
_POLL_S = 0.01
_MAX_POLL_S = 0.25
_RUN_TIMEOUT_S = 600.0


# -- the raw limit ------------------------------------------------------------------------


RAW_OPERATIONS = {
    "ec_leaf": "P-256 key generation + leaf_builder + P-384/SHA-384 signature",
    "rsa_key": "RSA-2048 key generation",
    "rsa_leaf": "RSA-2048 key generation + leaf_builder + RSA-3072 signature",
}


@dataclass(frozen=True)
class IssuerMaterial:
    """Throwaway issuing CAs of the builtin hierarchy's types (picklable, for the children)."""

    ecdsa_certificate_pem: bytes
    ecdsa_key_der: bytes
    rsa_certificate_pem: bytes
    rsa_key_der: bytes


@dataclass(frozen=True)
class RawRate:
    operation: str
    processes: int
    per_process: tuple[float, ...]  # operations per second of each process
    operations: int
    cpu_seconds: float  # CPU time the processes used, all together

    @property
    def per_s(self) -> float:
        return sum(self.per_process)

    @property
    def cpu_ms_per_operation(self) -> float:
        """Unlike the rate, hardly changed by other load on the machine."""
        return 1000 * self.cpu_seconds / self.operations

    def as_json(self) -> dict[str, Any]:
        return {
            "operation": RAW_OPERATIONS[self.operation],
            "processes": self.processes,
            "per_s": round(self.per_s, 1),
            "per_process_per_s": [round(rate, 1) for rate in self.per_process],
            "operations": self.operations,
            "cpu_ms_per_operation": round(self.cpu_ms_per_operation, 3),
        }


def issuer_material() -> IssuerMaterial:
    from cryptography.hazmat.primitives import serialization

    from openacm.adapters.ca.hierarchy import create_builtin_hierarchy

    hierarchy = create_builtin_hierarchy(now=dt.datetime.now(dt.UTC), installation_label="bench")

    def der(key: Any) -> bytes:
        return bytes(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    pem = serialization.Encoding.PEM
    return IssuerMaterial(
        hierarchy.ecdsa_intermediate.certificate.public_bytes(pem),
        der(hierarchy.ecdsa_intermediate.private_key),
        hierarchy.rsa_intermediate.certificate.public_bytes(pem),
        der(hierarchy.rsa_intermediate.private_key),
    )


def measure_raw(
    operation: str, processes: int, seconds: float, material: IssuerMaterial
) -> RawRate:
    """`operation` in `processes` fresh Python processes at once, for `seconds`."""
    counts = cpu.run_in_processes(_raw_operation, (operation, material), processes, seconds)
    return RawRate(
        operation,
        processes,
        tuple(done / elapsed for done, elapsed, _cpu in counts),
        sum(done for done, _elapsed, _cpu in counts),
        sum(cpu_s for _done, _elapsed, cpu_s in counts),
    )


def _raw_operation(operation: str, material: IssuerMaterial) -> Callable[[int], object]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from openacm.adapters.ca.signer import CaPrivateKey, SoftwareSigner
    from openacm.domain.issuance import (
        CaUrls,
        leaf_builder,
        new_serial_number,
        public_validity_window,
    )

    urls = CaUrls(
        crl_url=f"http://pki.{ZONE}/crl/bench.crl",
        ocsp_url=f"http://pki.{ZONE}/ocsp/bench",
        ca_issuers_url=f"http://pki.{ZONE}/ca/bench.cer",
    )
    if operation == "ec_leaf":
        certificate_pem, key_der = material.ecdsa_certificate_pem, material.ecdsa_key_der
    else:
        certificate_pem, key_der = material.rsa_certificate_pem, material.rsa_key_der
    issuer = x509.load_pem_x509_certificate(certificate_pem)
    issuer_key = serialization.load_der_private_key(key_der, password=None)
    assert isinstance(issuer_key, CaPrivateKey)
    signer = SoftwareSigner(issuer_key)

    def new_key() -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
        if operation == "ec_leaf":
            return ec.generate_private_key(ec.SECP256R1())
        return rsa.generate_private_key(65537, 2048)

    def leaf(index: int) -> object:
        key = new_key()
        if operation == "rsa_key":
            return key
        name = f"raw-{index}.{ZONE}"
        not_before, not_after = public_validity_window(dt.datetime.now(dt.UTC))
        builder = leaf_builder(
            common_name=name,
            names=(name,),
            public_key=key.public_key(),
            issuer=issuer,
            serial_number=new_serial_number(),
            not_before=not_before,
            not_after=not_after,
            urls=urls,
        )
        return signer.sign_certificate(builder)

    return leaf


@dataclass
class RawLimits:
    """The raw figures for reference, taken once before the end-to-end runs; each run is
    compared with its own measurements, taken right before and right after it."""

    parallel: dict[str, RawRate] = field(default_factory=dict)  # one process per worker
    single: dict[str, RawRate] = field(default_factory=dict)  # one process


def raw_seconds_for(operation: str, seconds: float) -> float:
    # RSA key generation time varies a lot from key to key (prime search): longer runs.
    return seconds * (2 if operation.startswith("rsa") else 1)


def measure_raw_logged(
    operation: str, processes: int, seconds: float, material: IssuerMaterial
) -> RawRate:
    duration = raw_seconds_for(operation, seconds)
    say(f"raw limit: {RAW_OPERATIONS[operation]}, {processes} process(es), {duration:g}s")
    rate = measure_raw(operation, processes, duration, material)
    say(f"  {rate.per_s:.1f}/s ({rate.cpu_ms_per_operation:.2f} ms CPU each)")
    return rate


# -- openacm end to end -------------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    lint: bool
    pool_size: int

    @property
    def label(self) -> str:
        return f"lint {'on' if self.lint else 'off'}, RSA key pool {self.pool_size or 'off'}"


@dataclass(frozen=True)
class Scenario:
    name: str  # "EC_prime256v1", "RSA_2048", "RSA_2048 burst"
    key_algorithm: str
    certificates: int
    config: ServerConfig
    raw_operation: str  # the raw figure it is compared with
    target: float | None  # None: reported, no target
    target_kind: str  # "fraction" (of the raw rate) or "multiple" (of it)


@dataclass(frozen=True)
class CpuSeconds:
    """CPU seconds used so far by each party of a run, and by the whole machine."""

    server: float  # openacm's process group
    bind: float
    bench: float  # this process: sending requests, polling the store
    machine: float

    @classmethod
    def now(cls, server: RunningServer, bind_pid: int) -> CpuSeconds:
        return cls(
            cpu.group_cpu_s(server.process.pid),
            cpu.process_cpu_s(bind_pid),
            _own_cpu_s(),
            cpu.machine_busy_s(),
        )

    def __sub__(self, earlier: CpuSeconds) -> CpuSeconds:
        return CpuSeconds(
            self.server - earlier.server,
            self.bind - earlier.bind,
            self.bench - earlier.bench,
            self.machine - earlier.machine,
        )

    @property
    def other(self) -> float:
        """Everything else the machine ran meanwhile (other work on a shared machine)."""
        return max(self.machine - self.server - self.bind - self.bench, 0.0)


@dataclass
class E2eRun:
    scenario: Scenario
    seconds: float
    accepted_seconds: float  # until the last RequestCertificate was answered
    used: CpuSeconds
    arns: list[str]
    pool_before: int | None = None
    raw_before: RawRate | None = None  # the raw figure right before the run
    raw_after: RawRate | None = None  # and right after it

    @property
    def per_s(self) -> float:
        return self.scenario.certificates / self.seconds

    @property
    def raw_per_s(self) -> float:
        """The mean of the raw rates just before and after: the machine's speed drifts
        (a shared virtual machine), and the two bracket the run in time."""
        rates = [raw.per_s for raw in (self.raw_before, self.raw_after) if raw is not None]
        return sum(rates) / len(rates)

    @property
    def raw_cpu_ms(self) -> float:
        measured = [raw for raw in (self.raw_before, self.raw_after) if raw is not None]
        cpu_seconds = sum(raw.cpu_seconds for raw in measured)
        return 1000 * cpu_seconds / sum(raw.operations for raw in measured)

    def ms_per_certificate(self, seconds: float) -> float:
        """CPU time per certificate: unlike the rate, hardly changed by other load."""
        return 1000 * seconds / self.scenario.certificates


def openacm_target(bind_spec: str, config: ServerConfig, workers: str) -> Target:
    env = {
        **OPENACM.env,
        "OPENACM_WORKERS": workers,
        "OPENACM_QUOTA_CERTIFICATES": "1000000",
        "OPENACM_QUOTA_CERTIFICATES_PER_YEAR": "1000000",
        "OPENACM_VALIDATION_RESOLVERS": bind_spec,
        "OPENACM_VALIDATION_POLL_INTERVAL": "0.1",
        "OPENACM_VALIDATION_RETRY_INITIAL": "0.1",
        "OPENACM_VALIDATION_RETRY_MAX": "0.4",
        "OPENACM_VALIDATION_DNS_TIMEOUT": "2",
        # A public-looking name, so that the linter judges the links as in production.
        "OPENACM_ISSUANCE_PUBLIC_URL": f"http://pki.{ZONE}",
        "OPENACM_ISSUANCE_LINT_BEFORE_SIGN": "true" if config.lint else "false",
        "OPENACM_ISSUANCE_RSA_KEY_POOL_SIZE": str(config.pool_size),
    }
    return dataclasses.replace(
        OPENACM,
        env=env,
        description=(
            f"openacm serve --dev --workers {workers} (SQLite), validating against BIND on "
            f"loopback; poll/retry 0.1 s; {config.label}"
        ),
    )


class StoreProbe:
    """Reads the server's SQLite store directly: counting issued rows costs the server
    nothing, where polling its API would take CPU from the run being measured."""

    def __init__(self, database: Path) -> None:
        self.conn = sqlite3.connect(database, timeout=10, check_same_thread=False)

    def close(self) -> None:
        self.conn.close()

    def statuses(self, since: float) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT status, count(*) FROM certificates"
            " WHERE account_id = ? AND region = ? AND created_at >= ? GROUP BY status",
            (DEV_ACCOUNT, REGION, since),
        ).fetchall()
        return {str(status): int(count) for status, count in rows}

    def pooled_keys(self, key_algorithm: str) -> int:
        (count,) = self.conn.execute(
            "SELECT count(*) FROM key_pool WHERE key_algorithm = ?", (key_algorithm,)
        ).fetchone()
        return int(count)

    def check_issued(self, arns: Sequence[str], key_algorithm: str) -> None:
        """Every ARN ISSUED with a certificate for a key of its algorithm, signed once."""
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        wanted = set(arns)
        rows = self.conn.execute(
            "SELECT arn, status, certificate_pem, key_algorithm FROM certificates"
            " WHERE status = 'ISSUED' AND arn IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(wanted)),),
        ).fetchall()
        if {row[0] for row in rows} != wanted:
            raise CheckError(f"{len(wanted) - len(rows)} of {len(wanted)} are not ISSUED")
        key_type = ec.EllipticCurvePublicKey if key_algorithm.startswith("EC") else rsa.RSAPublicKey
        for arn, _status, pem, algorithm in rows:
            key = x509.load_pem_x509_certificate(pem.encode()).public_key()
            if algorithm != key_algorithm or not isinstance(key, key_type):
                raise CheckError(f"{arn}: {algorithm} certificate with a {type(key).__name__}")
        serials = self.conn.execute(
            "SELECT certificate_arn, state FROM issued_serials"
            " WHERE certificate_arn IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(wanted)),),
        ).fetchall()
        issued = [arn for arn, state in serials if state == "issued"]
        if sorted(issued) != sorted(wanted):
            raise CheckError(f"{len(issued)} issued serials for {len(wanted)} certificates")


class CheckError(RuntimeError):
    """openacm answered wrongly, so its timing would mean nothing."""


def publish_records(bind: BindServer, server: RunningServer, arns: Sequence[str]) -> None:
    """Reads each certificate's validation CNAME from the API and adds it to BIND, 100
    records per dynamic update."""
    import dns.query
    import dns.tsig
    import dns.update

    client = acm_client(server, pool=4)

    def record(arn: str) -> tuple[str, str]:
        detail = client.describe_certificate(CertificateArn=arn)["Certificate"]
        resource = detail["DomainValidationOptions"][0]["ResourceRecord"]
        return str(resource["Name"]), str(resource["Value"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        records = sorted(set(pool.map(record, arns)))
    key = dns.tsig.Key(bind.tsig_key_name, bind.tsig_secret_b64, bind.tsig_algorithm)
    for start in range(0, len(records), 100):
        update = dns.update.UpdateMessage(bind.zone_of(records[start][0]), keyring=key)
        for name, value in records[start : start + 100]:
            update.add(name, 3600, "CNAME", value)
        response = dns.query.tcp(update, bind.address, timeout=10, port=bind.port)
        if response.rcode() != 0:
            raise CheckError(f"BIND refused the update: rcode {response.rcode()}")


def delete_all(server: RunningServer, arns: Sequence[str]) -> None:
    """Untimed: every run starts with the account as small as the last left it, so that
    per-account work (the quota count of RequestCertificate) does not grow run by run."""
    client = acm_client(server, pool=8)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda arn: client.delete_certificate(CertificateArn=arn), arns))


@dataclass(frozen=True)
class Sent:
    arns: list[str]
    seconds: float


def send_all(server: RunningServer, requests: Sequence[bytes], connections: int) -> Sent:
    """Sends the pre-signed requests over `connections` keep-alive connections, as fast as
    the server answers; returns the ARNs in request order."""
    arns: list[str | None] = [None] * len(requests)
    indexes = itertools.count()
    lock = threading.Lock()
    problems: list[str] = []
    started = time.monotonic()

    def sender() -> None:
        with socket.create_connection((HOST, server.port), timeout=120) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while not problems:
                with lock:
                    index = next(indexes)
                if index >= len(requests):
                    return
                sock.sendall(requests[index])
                response = http.client.HTTPResponse(sock)
                response.begin()
                body = response.read()
                if response.status != 200:
                    problems.append(f"HTTP {response.status}: {body[:300]!r}")
                    return
                arns[index] = json.loads(body)["CertificateArn"]

    threads = [threading.Thread(target=sender) for _ in range(min(connections, len(requests)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if problems:
        raise CheckError(f"RequestCertificate failed: {problems[0]}")
    return Sent([arn for arn in arns if arn is not None], time.monotonic() - started)


def wait_until_issued(
    probe: StoreProbe, since: float, count: int, timeout: float = _RUN_TIMEOUT_S
) -> None:
    """Returns within _POLL_S of the moment the store holds `count` certificates created
    since `since` ISSUED. Each look is a query that takes CPU from the run, so while the end
    is far (judged by the rate so far) it looks less often."""
    started = time.monotonic()
    while True:
        statuses = probe.statuses(since)
        issued = statuses.get("ISSUED", 0)
        if issued >= count:
            return
        ended = {s: n for s, n in statuses.items() if s not in ("ISSUED", "PENDING_VALIDATION")}
        if ended:
            raise CheckError(f"certificates ended without issuance: {ended}")
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            raise CheckError(f"only {issued} of {count} issued in {timeout}s")
        remaining = (count - issued) * elapsed / issued if issued else 0.0
        time.sleep(min(max(remaining / 4, _POLL_S), _MAX_POLL_S))


def timed_run(
    server: RunningServer,
    bind_pid: int,
    probe: StoreProbe,
    scenario: Scenario,
    names: Sequence[str],
    connections: int,
) -> E2eRun:
    """Requests `names` (records present), timed from the first request to the moment the
    store holds the last of them ISSUED."""
    say(f"{scenario.name}, {scenario.config.label}: {len(names)} certificates")
    requests = presign.request_certificate_requests(server, names, scenario.key_algorithm)
    since = time.time()
    cpu_before = CpuSeconds.now(server, bind_pid)
    started = time.monotonic()
    outcome: list[Sent] = []
    failure: list[BaseException] = []

    def send() -> None:
        try:
            outcome.append(send_all(server, requests, connections))
        except BaseException as error:  # reported by the main thread
            failure.append(error)

    sending = threading.Thread(target=send)
    sending.start()
    try:
        wait_until_issued(probe, since, len(names))
    finally:
        sending.join()
    seconds = time.monotonic() - started
    used = CpuSeconds.now(server, bind_pid) - cpu_before
    if failure:
        raise failure[0]
    sent = outcome[0]
    probe.check_issued(sent.arns, scenario.key_algorithm)
    run = E2eRun(scenario, seconds, sent.seconds, used, sent.arns)
    say(f"  {run.per_s:.1f} certificates/s ({seconds:.2f}s; requests answered in "
        f"{sent.seconds:.2f}s; server CPU {run.ms_per_certificate(used.server):.2f} ms, BIND "
        f"{run.ms_per_certificate(used.bind):.2f} ms per certificate; other load "
        f"{used.other / seconds:.2f} cores)")  # fmt: skip
    return run


def _pid_of(bind: BindServer) -> int:
    """The named process serving `bind` (found by its working directory)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argv = cmdline.read_bytes().split(b"\0")
            if (
                argv
                and argv[0].endswith(b"named")
                and str(bind.work_dir).encode() in b" ".join(argv)
            ):
                return int(cmdline.parent.name)
    raise CheckError("named is not running")


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_for_pool(probe: StoreProbe, size: int, timeout: float = 300.0) -> int:
    """Waits until the pool is full (`size`, its configured size) and has stopped growing:
    a refill still running would take CPU from the burst."""
    say(f"waiting for the RSA key pool to fill ({size} keys)")
    deadline = time.monotonic() + timeout
    held, steady_since = -1, time.monotonic()
    while True:
        now_held = probe.pooled_keys(RSA)
        if now_held != held:
            held, steady_since = now_held, time.monotonic()
        elif held >= size and time.monotonic() - steady_since >= 1.0:
            return held
        if time.monotonic() > deadline:
            raise CheckError(f"the key pool holds {held} keys after {timeout}s, not {size}")
        time.sleep(0.2)


# -- the whole run ------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    ec_certs: int
    rsa_certs: int
    burst: int
    lint_ec_certs: int
    lint_rsa_certs: int
    lint_on: bool
    only: tuple[str, ...]
    workers: str
    connections: int
    raw_seconds: float
    results: Path
    profile_dir: Path | None
    profile_waits: bool


def main(argv: Sequence[str] | None = None) -> int:
    from tests.support.bind import BindError

    options = _parse(argv)
    with only_run_on_this_machine() as holder:
        if holder is not None:
            say(f"another bench run (pid {holder}) is measuring on this machine; try later")
            return 3
        try:
            return _run(options)
        except (ServerError, CheckError, BindError) as error:
            print(f"bench: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            say("interrupted; servers stopped")
            return 130


def _parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench issuance",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--ec-certs", type=int, default=1000, help="EC certificates, lint off")
    parser.add_argument("--rsa-certs", type=int, default=400, help="RSA certificates, no pool")
    parser.add_argument("--burst", type=int, default=100, help="RSA burst from the key pool")
    parser.add_argument("--lint-ec-certs", type=int, default=300, help="EC, lint on")
    parser.add_argument("--lint-rsa-certs", type=int, default=100, help="RSA, lint on")
    parser.add_argument("--no-lint-on", action="store_true", help="skip the lint-on runs")
    parser.add_argument(
        "--only",
        action="append",
        choices=SCENARIO_KINDS,
        help="run only these scenarios (repeatable; default: all)",
    )
    parser.add_argument("--connections", type=int, default=8, help="request connections")
    parser.add_argument(
        "--raw-seconds",
        type=float,
        default=3.0,
        help="seconds per raw EC figure (RSA ones take three times as long)",
    )
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="JSON output")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record each timed run with py-spy (pip install py-spy) into DIR, as collapsed "
        "stacks of the server's threads",
    )
    parser.add_argument(
        "--profile-waits", action="store_true", help="with --profile: sample waiting threads too"
    )
    args = parser.parse_args(argv)
    if not openacm_installed():
        parser.error("openacm is not installed in .venv yet (make install)")
    if args.profile and not (Path(sys.executable).parent / "py-spy").exists():
        parser.error("--profile needs py-spy in the venv: .venv/bin/pip install py-spy")
    counts = (args.ec_certs, args.rsa_certs, args.burst, args.lint_ec_certs, args.lint_rsa_certs)
    if min(counts) < 1 or args.connections < 1:
        parser.error("counts and --connections must be at least 1")
    return Options(
        ec_certs=args.ec_certs,
        rsa_certs=args.rsa_certs,
        burst=args.burst,
        lint_ec_certs=args.lint_ec_certs,
        lint_rsa_certs=args.lint_rsa_certs,
        lint_on=not args.no_lint_on,
        only=tuple(args.only or SCENARIO_KINDS),
        workers=OPENACM_WORKERS,
        connections=args.connections,
        raw_seconds=args.raw_seconds,
        results=args.results,
        profile_dir=args.profile,
        profile_waits=args.profile_waits,
    )


def scenarios(options: Options) -> list[Scenario]:
    pool = max(options.burst + options.burst // 4, 100)
    plain, pooled = ServerConfig(False, 0), ServerConfig(False, pool)
    found = [
        ("ec", Scenario(EC, EC, options.ec_certs, plain, "ec_leaf", EC_TARGET, "fraction")),
        ("rsa", Scenario(RSA, RSA, options.rsa_certs, plain, "rsa_key", RSA_TARGET, "fraction")),
        ("burst", Scenario(f"{RSA} burst", RSA, options.burst, pooled, "rsa_key", BURST_TARGET,
                           "multiple")),
    ]  # fmt: skip
    if options.lint_on:
        linted, linted_pool = ServerConfig(True, 0), ServerConfig(True, pool)
        found += [
            ("ec", Scenario(EC, EC, options.lint_ec_certs, linted, "ec_leaf", None, "fraction")),
            ("rsa", Scenario(RSA, RSA, options.lint_rsa_certs, linted, "rsa_key", None,
                             "fraction")),
            ("burst", Scenario(f"{RSA} burst", RSA, options.burst, linted_pool, "rsa_key", None,
                               "multiple")),
        ]  # fmt: skip
    return [scenario for kind, scenario in found if kind in options.only]


def _run(options: Options) -> int:
    from tests.support.bind import BindServer  # imports pytest: not in the raw processes

    started = dt.datetime.now(dt.UTC)
    processes = int(options.workers)
    planned = scenarios(options)
    raw = RawLimits()
    say("creating throwaway issuing CAs for the raw measurements")
    material = issuer_material()
    for operation in RAW_OPERATIONS:
        raw.parallel[operation] = measure_raw_logged(
            operation, processes, options.raw_seconds, material
        )
        raw.single[operation] = measure_raw_logged(operation, 1, options.raw_seconds, material)

    def bracket(operation: str) -> RawRate:
        return measure_raw_logged(operation, processes, options.raw_seconds, material)

    runs: list[E2eRun] = []
    names = [f"c{index:05d}.{ZONE}" for index in range(max(s.certificates for s in planned))]
    with (
        tempfile.TemporaryDirectory(prefix="openacm-bench-issuance-") as work_root,
        BindServer(zones=(ZONE,)) as bind,
    ):
        work_dir = Path(work_root) / "openacm"  # one data dir: one CA, one validation key
        configs = list(dict.fromkeys(s.config for s in planned))
        for index, config in enumerate(configs):
            target = openacm_target(bind.nameserver_spec, config, options.workers)
            with _server(target, work_dir, options.results) as server:
                probe = StoreProbe(work_dir / "data" / "openacm.db")
                try:
                    if index == 0:
                        _publish_all(bind, server, probe, names, options.connections)
                    in_config = [s for s in planned if s.config == config]
                    for algorithm in dict.fromkeys(s.key_algorithm for s in in_config):
                        _warm_up(server, probe, names, algorithm, options.connections)
                    for scenario in in_config:
                        pool_before = None
                        burst = scenario.name.endswith("burst")
                        if burst:
                            pool_before = wait_for_pool(probe, config.pool_size)
                        raw_before = bracket(scenario.raw_operation)
                        with _profiled(server, scenario, options):
                            run = timed_run(
                                server,
                                _pid_of(bind),
                                probe,
                                scenario,
                                names[: scenario.certificates],
                                options.connections,
                            )
                        run.pool_before = pool_before
                        delete_all(server, run.arns)
                        if burst:  # the pool refills now; the raw figure must not share
                            wait_for_pool(probe, config.pool_size)
                        run.raw_before = raw_before
                        run.raw_after = bracket(scenario.raw_operation)
                        runs.append(run)
                except (CheckError, OSError, http.client.HTTPException) as error:
                    kept = keep_log(server, options.results.parent)
                    raise ServerError(server, f"{type(error).__name__}: {error}", kept) from error
                finally:
                    probe.close()
    report = IssuanceReport(started, command_line(), options, raw, runs)
    machine = {k: v for k, v in machine_facts("").items() if k not in ("wrk", "moto")}
    print(report.render(machine))
    report.merge_into(options.results, machine)
    print(f"\nresults written to {options.results} (key: issuance)")
    return 0


@contextlib.contextmanager
def _server(target: Target, work_dir: Path, results: Path) -> Iterator[RunningServer]:
    say(f"starting openacm ({target.description})")
    with running(target, work_dir) as server:
        try:
            yield server
        except ServerError:
            raise
        except BaseException:
            keep_log(server, results.parent)
            raise


@contextlib.contextmanager
def _profiled(server: RunningServer, scenario: Scenario, options: Options) -> Iterator[None]:
    """py-spy samples every openacm process while the block runs: CPU only, or with the
    waits too (--profile-waits). A diagnosis aid: the sampling costs CPU, so figures taken
    with it are not results."""
    directory = options.profile_dir
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    lint = "lint" if scenario.config.lint else "nolint"
    output = directory / f"{scenario.name.replace(' ', '-')}-{lint}.txt"
    py_spy = Path(sys.executable).parent / "py-spy"
    waits = ["--idle"] if options.profile_waits else []
    recorder = subprocess.Popen(
        [str(py_spy), "record", "--pid", str(server.process.pid), "--subprocesses",
         "--threads", *waits, "--rate", "250", "--format", "raw", "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=60)
        say(f"  profile: {output}")


def _warm_up(
    server: RunningServer,
    probe: StoreProbe,
    names: Sequence[str],
    key_algorithm: str,
    connections: int,
) -> None:
    """Untimed: a few certificates of `key_algorithm` through a freshly started server, so
    that first-use costs (imports, caches, the linter's validator tree) stay out of the
    timed runs."""
    count = min(len(names), 4 * connections)
    say(f"warming up with {count} {key_algorithm} certificates (untimed)")
    requests = presign.request_certificate_requests(server, names[:count], key_algorithm)
    since = time.time()
    sent = send_all(server, requests, connections)
    wait_until_issued(probe, since, count)
    delete_all(server, sent.arns)


def _publish_all(
    bind: BindServer,
    server: RunningServer,
    probe: StoreProbe,
    names: Sequence[str],
    connections: int,
) -> None:
    """Untimed: request every name once, publish its record, wait until all are issued (a
    warm-up too). The records stay, so every timed request finds its record present."""
    say(f"publishing {len(names)} validation records (untimed: request, describe, publish)")
    requests = presign.request_certificate_requests(server, names, EC)
    since = time.time()
    sent = send_all(server, requests, connections)
    publish_records(bind, server, sent.arns)
    wait_until_issued(probe, since, len(names))
    probe.check_issued(sent.arns, EC)
    delete_all(server, sent.arns)


# -- the report ---------------------------------------------------------------------------


@dataclass
class IssuanceReport:
    started: dt.datetime
    command: str
    options: Options
    raw: RawLimits
    runs: list[E2eRun]

    def ratio(self, run: E2eRun) -> float:
        return run.per_s / run.raw_per_s

    def cpu_ratio(self, run: E2eRun) -> float:
        """The raw operation's CPU time over the CPU time a certificate took (openacm, BIND
        and the request sender, which all share the cores in the timed run): the ratio of
        rates on a machine running nothing else, had the run kept every core busy. An upper
        bound for `ratio`, and one other load hardly moves."""
        used = run.used
        spent = run.ms_per_certificate(used.server + used.bind + used.bench)
        return run.raw_cpu_ms / spent

    def verdict(self, run: E2eRun) -> str:
        target = run.scenario.target
        if target is None:
            return "(reported)"
        return "met" if self.ratio(run) >= target else "NOT MET"

    def render(self, machine: dict[str, str]) -> str:
        workers = self.options.workers
        lines = [
            "",
            f"RequestCertificate → ISSUED, records present before each request, "
            f"{self.started:%Y-%m-%d %H:%M} UTC",
            f"openacm serve --dev --workers {workers} (SQLite) + BIND 9 on loopback; "
            f"{self.options.connections} request connections (pre-signed); time from the "
            "first request to the last certificate ISSUED in the store",
            f"raw limit: the same cryptography calls in {workers} Python processes at once "
            "(= openacm's workers); each run is compared with the mean of the raw figure "
            "measured right before it and right after it (raw/s below)",
            f"machine: {machine['cores']} cores ({machine['cpu']}), Python {machine['python']}; "
            f"openacm {machine['openacm']} at {machine['openacm_source']}",
            f"command: {self.command}",
            "",
            f"{'raw limit, before the runs':<64} {'1 process':>9} "
            f"{workers + ' processes':>12} {'CPU ms/op':>9}",
        ]
        for operation, text in RAW_OPERATIONS.items():
            parallel = self.raw.parallel[operation]
            lines.append(
                f"{text:<64} {self.raw.single[operation].per_s:>7.1f}/s "
                f"{parallel.per_s:>10.1f}/s {parallel.cpu_ms_per_operation:>9.2f}"
            )
        header = (
            f"{'scenario':<15} {'lint':>4} {'pool':>4} {'certs':>5} {'seconds':>7} "
            f"{'certs/s':>7} {'raw/s (before-after)':>20} {'ratio':>6} {'target':>6} "
            f"{'verdict':>10} | "
            f"{'CPU ms/cert: server':>19} {'BIND':>5} {'bench':>5} {'CPU ratio':>9} | "
            "other load"
        )
        lines += ["", header, "-" * len(header)]
        for run in self.runs:
            scenario = run.scenario
            kind = scenario.target_kind
            lines.append(
                f"{scenario.name:<15} {'on' if scenario.config.lint else 'off':>4} "
                f"{scenario.config.pool_size or '-':>4} {scenario.certificates:>5} "
                f"{run.seconds:>7.2f} {run.per_s:>7.1f} "
                f"{_raw_text(run):>20} "
                f"{_ratio_text(self.ratio(run), kind):>6} "
                f"{_target_text(scenario):>6} {self.verdict(run):>10} | "
                f"{run.ms_per_certificate(run.used.server):>19.2f} "
                f"{run.ms_per_certificate(run.used.bind):>5.2f} "
                f"{run.ms_per_certificate(run.used.bench):>5.2f} "
                f"{_ratio_text(self.cpu_ratio(run), kind):>9} | "
                f"{run.used.other / run.seconds:>5.2f} cores"
            )
        lines += [
            "ratio: certs/s over raw/s (raw: the EC leaf figure for EC, RSA key generation for "
            "RSA; the burst is a multiple of it); the targets are on this figure",
            "CPU ms/cert: server = openacm's processes, bench = this process (sending the "
            "requests, polling the store); CPU ratio = raw CPU ms/op over server+BIND+bench "
            "CPU ms/cert: the ratio on an otherwise idle machine if every core stayed busy",
            "other load: CPU the rest of the machine used meanwhile; above ~0.2 cores the "
            "rates (not the CPU figures) are too low",
        ]
        return "\n".join(lines)

    def as_json(self, machine: dict[str, str]) -> dict[str, Any]:
        return {
            "date": self.started.isoformat(timespec="seconds"),
            "command": self.command,
            "machine": machine,
            "workers": int(self.options.workers),
            "request_connections": self.options.connections,
            "inherited_environment": inherited_settings(),
            "raw": {
                "processes": {op: rate.as_json() for op, rate in self.raw.parallel.items()},
                "one_process": {op: rate.as_json() for op, rate in self.raw.single.items()},
            },
            "runs": [
                {
                    "scenario": run.scenario.name,
                    "key_algorithm": run.scenario.key_algorithm,
                    "lint_before_sign": run.scenario.config.lint,
                    "rsa_key_pool_size": run.scenario.config.pool_size,
                    "pool_keys_before": run.pool_before,
                    "certificates": run.scenario.certificates,
                    "seconds": round(run.seconds, 3),
                    "requests_answered_seconds": round(run.accepted_seconds, 3),
                    "certificates_per_s": round(run.per_s, 1),
                    "raw_operation": RAW_OPERATIONS[run.scenario.raw_operation],
                    "raw_per_s": round(run.raw_per_s, 1),
                    "raw_before": run.raw_before.as_json() if run.raw_before else None,
                    "raw_after": run.raw_after.as_json() if run.raw_after else None,
                    "ratio": round(self.ratio(run), 3),
                    "cpu_ratio": round(self.cpu_ratio(run), 3),
                    "target": run.scenario.target,
                    "target_kind": run.scenario.target_kind,
                    "verdict": self.verdict(run),
                    "cpu_ms_per_certificate": {
                        "server": round(run.ms_per_certificate(run.used.server), 3),
                        "bind": round(run.ms_per_certificate(run.used.bind), 3),
                        "bench": round(run.ms_per_certificate(run.used.bench), 3),
                    },
                    "other_load_cores": round(run.used.other / run.seconds, 2),
                }
                for run in self.runs
            ],
        }

    def merge_into(self, path: Path, machine: dict[str, str]) -> None:
        """Adds the `issuance` key to the results file, keeping what the API bench wrote."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        data["issuance"] = self.as_json(machine)
        path.write_text(json.dumps(data, indent=2) + "\n")


def _raw_text(run: E2eRun) -> str:
    spread = [f"{raw.per_s:.0f}" for raw in (run.raw_before, run.raw_after) if raw]
    return f"{run.raw_per_s:.1f} ({'-'.join(spread)})"


def _ratio_text(ratio: float, kind: str) -> str:
    return f"{ratio:.1f}x" if kind == "multiple" else f"{ratio:.1%}"


def _target_text(scenario: Scenario) -> str:
    if scenario.target is None:
        return "-"
    if scenario.target_kind == "multiple":
        return f">={scenario.target:g}x"
    return f">={scenario.target:.0%}"
