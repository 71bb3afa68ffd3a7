"""`python -m bench`: openacm vs moto throughput for DescribeCertificate and ListCertificates."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from bench import cpu, presign, wrk
from bench.client import (
    PAGE_SIZE,
    CheckError,
    ListCheck,
    check_describe,
    check_list,
    import_all,
    page_tokens,
)
from bench.fixtures import Fixtures, load_or_create
from bench.progress import say
from bench.report import (
    Measurement,
    Operation,
    Report,
    Run,
    command_line,
    machine_facts,
    render,
    write_json,
)
from bench.servers import (
    REPO_ROOT,
    TARGETS,
    RunningServer,
    ServerError,
    Target,
    keep_log,
    openacm_installed,
    running,
)

DESCRIBE = "DescribeCertificate"
LIST = f"ListCertificates(MaxItems={PAGE_SIZE})"
DEFAULT_CACHE = Path("/tmp/openacm-bench-cache")
LOCK_PATH = Path("/tmp/openacm-bench.lock")
DEFAULT_RESULTS = REPO_ROOT / "bench" / "results" / "latest.json"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Options:
    certs: int
    describe_requests: int
    import_threads: int
    warmup_s: int
    rounds: int
    shape: wrk.LoadShape
    targets: tuple[Target, ...]
    cache_dir: Path
    results: Path


def main(argv: Sequence[str] | None = None) -> int:
    options = _parse(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with only_run_on_this_machine() as holder:
        if holder is not None:
            say(f"another bench run (pid {holder}) is measuring on this machine; try later")
            return 3
        return _run(options)


@contextlib.contextmanager
def only_run_on_this_machine() -> Iterator[str | None]:
    """Two benchmarks at once would each measure the other's load: yields the pid of the
    run that holds the machine-wide lock, or None once this run holds it."""
    with LOCK_PATH.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            yield lock.read().strip() or "unknown"
            return
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        yield None


def _run(options: Options) -> int:
    machine = machine_facts(wrk.wrk_version())
    report = Report(
        command_line(),
        options.shape,
        options.certs,
        options.rounds,
        [Operation(DESCRIBE), Operation(LIST)],
    )
    try:
        say(f"fixtures: {options.certs} certificates (cache: {options.cache_dir})")
        fixtures = load_or_create(options.cache_dir, options.certs)
        with (
            tempfile.TemporaryDirectory(prefix="openacm-bench-") as work_root,
            contextlib.ExitStack() as servers,
        ):
            workloads = {
                target.name: _prepare(target, fixtures, options, Path(work_root), servers, report)
                for target in options.targets
            }
            _measure_rounds(workloads, options, report)
    except ServerError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        say("interrupted; servers stopped")
        return 130
    print(render(report, machine))
    write_json(report, machine, options.results)
    print(f"\nresults written to {options.results}")
    return 0 if _clean(report) else 1


def _parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    count = _at_least(1)
    parser.add_argument("--certs", type=count, default=10_000, help="certificates imported")
    parser.add_argument("--duration", type=count, default=10, help="seconds per measured run")
    parser.add_argument("--rounds", type=count, default=3, help="measured runs per server")
    parser.add_argument(
        "--warmup", type=_at_least(0), default=2, help="unmeasured seconds before each run"
    )
    parser.add_argument("--threads", type=count, default=2, help="wrk threads")
    parser.add_argument("--connections", type=count, default=32, help="wrk connections")
    parser.add_argument("--timeout", type=count, default=10, help="wrk per-request timeout (s)")
    parser.add_argument(
        "--describe-requests", type=count, default=2_000, help="distinct ARNs replayed"
    )
    parser.add_argument("--import-threads", type=count, default=8, help="boto3 import workers")
    parser.add_argument("--only", choices=sorted(TARGETS), help="benchmark one server only")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="fixture cache")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="JSON output")
    args = parser.parse_args(argv)
    if args.certs < PAGE_SIZE:
        parser.error(f"--certs must be at least {PAGE_SIZE}")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    if args.only is None and not openacm_installed():
        parser.error("openacm is not installed in .venv yet; run with --only moto")
    return Options(
        certs=args.certs,
        describe_requests=args.describe_requests,
        import_threads=args.import_threads,
        warmup_s=args.warmup,
        rounds=args.rounds,
        shape=wrk.LoadShape(args.threads, args.connections, args.duration, args.timeout),
        targets=(TARGETS[args.only],) if args.only else tuple(TARGETS.values()),
        cache_dir=args.cache_dir,
        results=args.results,
    )


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the `with` blocks, which stop the servers


@dataclass(frozen=True)
class Workload:
    """One operation on one running server, ready to sign and replay."""

    server: RunningServer
    certificates: int
    sign: Callable[[], list[bytes]]


def _prepare(
    target: Target,
    fixtures: Fixtures,
    options: Options,
    work_root: Path,
    servers: contextlib.ExitStack,
    report: Report,
) -> dict[str, Workload]:
    """Starts `target` (kept running until the end), loads it and checks its answers."""
    server = _start(target, work_root / target.name, servers)
    with _explained(server, options.results):
        arns, import_s = _timed(lambda: import_all(server, fixtures, options.import_threads))
        say(f"checking {target.name}'s answers with boto3")
        check_describe(server, arns)
        check, check_s = _timed(lambda: check_list(server, len(arns)))
        tokens = page_tokens(server, len(arns)) if check.paginates else []
    report.setup[target.name] = _setup_facts(server, import_s, check, check_s, tokens)
    chosen = _spread(arns, options.describe_requests)
    describe = Workload(server, len(arns), lambda: presign.describe_requests(server, chosen))
    if check.paginates:
        listing = Workload(server, len(arns), lambda: presign.list_requests(server, tokens))
    else:
        report.operation(LIST).notes.append(_no_pagination_note(target, check, check_s))
        listing = _one_page(target, fixtures, options, work_root, servers)
    return {DESCRIBE: describe, LIST: listing}


def _one_page(
    target: Target,
    fixtures: Fixtures,
    options: Options,
    work_root: Path,
    servers: contextlib.ExitStack,
) -> Workload:
    """For a server that ignores MaxItems: a second instance holding exactly one page."""
    page = Fixtures(fixtures.private_key, fixtures.chain, fixtures.certificates[:PAGE_SIZE])
    server = _start(target, work_root / f"{target.name}-one-page", servers)
    with _explained(server, options.results):
        import_all(server, page, options.import_threads)
        check_list(server, PAGE_SIZE)
    return Workload(server, PAGE_SIZE, lambda: presign.list_requests(server, [None]))


def _start(target: Target, work_dir: Path, servers: contextlib.ExitStack) -> RunningServer:
    say(f"starting {work_dir.name}")
    server = servers.enter_context(running(target, work_dir))
    say(f"{target.name} ready at {server.endpoint}")
    return server


def _measure_rounds(
    workloads: dict[str, dict[str, Workload]], options: Options, report: Report
) -> None:
    """Each round measures every operation on every server, one after the other, so that
    runs compared with each other are close in time on a machine whose speed drifts."""
    for round_number in range(1, options.rounds + 1):
        for operation in report.operations:
            for target, by_operation in workloads.items():
                say(f"round {round_number}/{options.rounds}: {operation.name} on {target}")
                workload = by_operation[operation.name]
                with _explained(workload.server, options.results):
                    requests, run = _measure(workload, options)
                measurement = operation.measurements.setdefault(
                    target, Measurement(target, workload.certificates, len(requests))
                )
                measurement.runs.append(run)


def _measure(workload: Workload, options: Options) -> tuple[list[bytes], Run]:
    """Signs the requests now (SigV4 is valid ~15 min), warms up, then measures."""
    server = workload.server
    requests = workload.sign()
    request_file = server.log_path.with_name(f"requests-{time.monotonic_ns()}.bin")
    presign.write_request_file(request_file, requests)
    if options.warmup_s > 0:
        warmup = wrk.LoadShape(
            options.shape.threads, options.shape.connections, options.warmup_s,
            options.shape.timeout_s,
        )  # fmt: skip
        wrk.run(server.endpoint, request_file, warmup)
    before = cpu.sample(server.process.pid)
    result = wrk.run(server.endpoint, request_file, options.shape)
    used = cpu.between(before, cpu.sample(server.process.pid))
    say(
        f"{len(requests)} distinct requests: {result.requests_per_s:.1f} requests/s, "
        f"{result.non_2xx} non-2xx, {result.socket_errors} socket errors"
    )
    return requests, Run(result, used)


def _spread(items: Sequence[str], count: int) -> list[str]:
    """`count` items evenly spaced over `items` (all of them when there are fewer)."""
    if count >= len(items):
        return list(items)
    return [items[i * len(items) // count] for i in range(count)]


def _timed(work: Callable[[], _T]) -> tuple[_T, float]:
    started = time.monotonic()
    value = work()
    return value, time.monotonic() - started


def _setup_facts(
    server: RunningServer,
    import_s: float,
    check: ListCheck,
    check_s: float,
    tokens: list[str | None],
) -> dict[str, Any]:
    return {
        "description": server.target.description,
        "import_seconds": round(import_s, 1),
        "list_first_page_items": check.items,
        "list_first_page_seconds": round(check_s, 3),
        "list_pages_walked": len(tokens),
    }


def _no_pagination_note(target: Target, check: ListCheck, check_s: float) -> str:
    return (
        f"{target.name} ignores MaxItems/NextToken: one call returned all {check.items:,} "
        f"summaries in {check_s:.2f}s, so its row is measured on a second {target.name} "
        f"holding exactly {PAGE_SIZE} certificates (each answer = one {PAGE_SIZE}-item page)"
    )


@contextlib.contextmanager
def _explained(server: RunningServer, results: Path) -> Iterator[None]:
    """Turns a failure while talking to `server` into a ServerError that keeps its log."""
    try:
        yield
    except (CheckError, BotoCoreError, ClientError, wrk.WrkError) as error:
        kept = keep_log(server, results.parent)
        raise ServerError(server, f"{type(error).__name__}: {error}", kept) from error


def _clean(report: Report) -> bool:
    """False (and says why) when any measured run saw errors: its numbers are suspect."""
    clean = True
    for operation in report.operations:
        for m in operation.measurements.values():
            if m.non_2xx or m.socket_errors:
                print(
                    f"bench: {operation.name} on {m.target}: {m.non_2xx} non-2xx, "
                    f"{m.socket_errors} socket errors - numbers are not valid",
                    file=sys.stderr,
                )
                clean = False
    return clean
