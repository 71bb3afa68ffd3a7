"""Result tables for the terminal and the JSON record in bench/results/."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.cpu import CpuUse
from bench.wrk import LoadShape, WrkResult

TARGET_RATIO = 5.0
_SECRET_HINTS = ("KEY", "SECRET", "PASSWORD", "TOKEN", "URL")


def inherited_settings() -> dict[str, str]:
    """OPENACM_* variables the servers inherit from this shell (e.g. OPENACM_WORKERS).

    Values of names that may hold a secret are not recorded.
    """
    return {
        name: "(set)" if any(hint in name for hint in _SECRET_HINTS) else value
        for name, value in sorted(os.environ.items())
        if name.startswith("OPENACM_")
    }


@dataclass(frozen=True)
class Run:
    """One measured wrk run and who used the CPU meanwhile."""

    result: WrkResult
    cpu: CpuUse

    def as_json(self) -> dict[str, Any]:
        return {**self.result.as_json(), "cpu": self.cpu.as_json()}


@dataclass
class Measurement:
    """Every round of one operation on one target."""

    target: str
    certificates: int  # how many the measured server held
    distinct_requests: int
    runs: list[Run] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        return [run.result.requests_per_s for run in self.runs]

    @property
    def median(self) -> Run:
        """The run with the median requests/s (the lower one of an even count)."""
        ordered = sorted(self.runs, key=lambda run: run.result.requests_per_s)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def non_2xx(self) -> int:
        return sum(run.result.non_2xx for run in self.runs)

    @property
    def socket_errors(self) -> int:
        return sum(run.result.socket_errors for run in self.runs)


@dataclass
class Operation:
    name: str
    measurements: dict[str, Measurement] = field(default_factory=dict)  # by target
    notes: list[str] = field(default_factory=list)

    def ratio(self) -> float | None:
        """openacm/moto of the median requests/s."""
        pair = self._pair()
        if pair is None:
            return None
        openacm, moto = pair
        return openacm.median.result.requests_per_s / moto.median.result.requests_per_s

    def round_ratios(self) -> list[float]:
        """openacm/moto within each round (the two runs closest in time)."""
        pair = self._pair()
        if pair is None:
            return []
        openacm, moto = pair
        return [mine / theirs for mine, theirs in zip(openacm.rates, moto.rates, strict=True)]

    def _pair(self) -> tuple[Measurement, Measurement] | None:
        openacm, moto = self.measurements.get("openacm"), self.measurements.get("moto")
        if openacm is None or moto is None or 0 in moto.rates:
            return None
        return openacm, moto


@dataclass
class Report:
    command: str
    shape: LoadShape
    certificates: int
    rounds: int
    operations: list[Operation]
    setup: dict[str, dict[str, Any]] = field(default_factory=dict)  # per target
    environment: dict[str, str] = field(default_factory=inherited_settings)
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def operation(self, name: str) -> Operation:
        return next(operation for operation in self.operations if operation.name == name)


def machine_facts(wrk_version: str) -> dict[str, str]:
    return {
        "cores": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "wrk": wrk_version,
        "boto3": _version("boto3"),
        "moto": _version("moto"),
        "openacm": _version("openacm"),
        "openacm_source": _source_revision(),
    }


def render(report: Report, machine: dict[str, str]) -> str:
    shape = report.shape
    lines = [
        f"ACM throughput, {report.certificates:,} imported certificates, "
        f"{report.started:%Y-%m-%d %H:%M} UTC",
        f"wrk: {shape.threads} threads, {shape.connections} connections, "
        f"{shape.duration_s}s per run, {report.rounds} round(s) alternating the servers, "
        "pre-signed requests replayed; req/s and latencies are the median round's",
        f"machine: {machine['cores']} cores ({machine['cpu']}), Python {machine['python']}, "
        f"{machine['os']}; wrk runs on the same cores as the server",
        f"versions: openacm {machine['openacm']} at {machine['openacm_source']}, "
        f"moto {machine['moto']}, boto3 {machine['boto3']}, {machine['wrk'].split(' [')[0]}",
        f"command: {report.command}",
        *(f"{name}: {facts['description']}" for name, facts in report.setup.items()),
    ]
    if report.environment:
        settings = " ".join(f"{name}={value}" for name, value in report.environment.items())
        lines.append(f"inherited by the servers: {settings}")
    for operation in report.operations:
        lines += ["", *_operation_table(operation)]
    return "\n".join(lines)


def _operation_table(operation: Operation) -> list[str]:
    header = (
        f"{'target':<8} {'certs':>6} {'distinct':>8} {'req/s':>8} {'(min-max)':>15} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'sock err':>8} | cores: "
        f"{'server':>6} {'wrk':>4} {'other':>5}"
    )
    lines = [operation.name, header, "-" * len(header)]
    for m in operation.measurements.values():
        run = m.median
        spread = f"({min(m.rates):.0f}-{max(m.rates):.0f})"
        lines.append(
            f"{m.target:<8} {m.certificates:>6} {m.distinct_requests:>8} "
            f"{run.result.requests_per_s:>8.1f} {spread:>15} "
            f"{run.result.p50_us / 1000:>7.1f} {run.result.p99_us / 1000:>7.1f} "
            f"{m.non_2xx:>7} {m.socket_errors:>8} |        "
            f"{run.cpu.server:>6.2f} {run.cpu.load_generator:>4.2f} {run.cpu.other:>5.2f}"
        )
    lines += [f"note: {note}" for note in operation.notes]
    ratio = operation.ratio()
    if ratio is not None:
        verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
        rounds = ", ".join(f"{value:.2f}x" for value in operation.round_ratios())
        lines.append(
            f"openacm/moto: {ratio:.2f}x requests/s ({verdict} the {TARGET_RATIO:g}x target); "
            f"per round: {rounds}"
        )
    return lines


def write_json(report: Report, machine: dict[str, str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "date": report.started.isoformat(timespec="seconds"),
        "command": report.command,
        "machine": machine,
        "certificates": report.certificates,
        "load": {
            "generator": "wrk + bench/replay.lua (pre-signed requests)",
            "threads": report.shape.threads,
            "connections": report.shape.connections,
            "duration_s": report.shape.duration_s,
            "rounds": report.rounds,
        },
        "setup": report.setup,
        "inherited_environment": report.environment,
        "operations": {
            operation.name: {
                "measurements": [_measurement_json(m) for m in operation.measurements.values()],
                "notes": operation.notes,
                "ratio_openacm_over_moto": _rounded(operation.ratio()),
                "ratio_per_round": [round(value, 2) for value in operation.round_ratios()],
                "target_ratio": TARGET_RATIO,
            }
            for operation in report.operations
        },
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def _measurement_json(m: Measurement) -> dict[str, Any]:
    return {
        "target": m.target,
        "certificates": m.certificates,
        "distinct_requests": m.distinct_requests,
        "median_requests_per_s": round(m.median.result.requests_per_s, 1),
        "runs": [run.as_json() for run in m.runs],
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _source_revision() -> str:
    """The commit the measured openacm was built from, and whether src/ differs from it."""
    git = ["git", "-C", str(Path(__file__).resolve().parent.parent)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--", "src"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} + uncommitted changes in src/" if changed else commit


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def command_line() -> str:
    return shlex.join([".venv/bin/python", "-m", "bench", *sys.argv[1:]])
