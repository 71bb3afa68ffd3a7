"""Runs wrk with bench/replay.lua and parses its JSON summary."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent / "replay.lua"
_MARKER = "WRK_JSON "
_EXTRA_WAIT_S = 30  # wrk's own start-up and drain, beyond the measured duration


@dataclass(frozen=True)
class LoadShape:
    threads: int
    connections: int
    duration_s: int
    timeout_s: int


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_us: int
    bytes: int
    p50_us: int
    p90_us: int
    p99_us: int
    max_us: int
    mean_us: float
    connect_errors: int
    read_errors: int
    write_errors: int
    non_2xx: int
    timeouts: int

    @property
    def requests_per_s(self) -> float:
        return self.requests * 1_000_000 / self.duration_us if self.duration_us else 0.0

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "requests_per_s": round(self.requests_per_s, 1)}


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return path


def wrk_version() -> str:
    done = subprocess.run(
        [wrk_path(), "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    return (done.stdout or done.stderr).splitlines()[0].strip()


def run(endpoint: str, request_file: Path, shape: LoadShape) -> WrkResult:
    """One bounded wrk run against `endpoint` replaying `request_file`."""
    argv = [
        wrk_path(),
        "--threads", str(shape.threads),
        "--connections", str(shape.connections),
        "--duration", f"{shape.duration_s}s",
        "--timeout", f"{shape.timeout_s}s",
        "--script", str(SCRIPT),
        endpoint + "/",
        "--", str(request_file), str(shape.threads),
    ]  # fmt: skip
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=shape.duration_s + shape.timeout_s + _EXTRA_WAIT_S,
        check=False,
    )
    if done.returncode != 0:
        raise WrkError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return _parse(done.stdout)


def _parse(stdout: str) -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith(_MARKER):
            return WrkResult(**json.loads(line[len(_MARKER) :]))
    raise WrkError(f"wrk printed no summary:\n{stdout}")


class WrkError(RuntimeError):
    """wrk itself failed or printed no summary."""
