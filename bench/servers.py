"""The servers under test: how to start each one on loopback and how to stop it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"  # loopback only, never any other address
REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = REPO_ROOT / ".venv" / "bin"
OPENACM_BIN = VENV_BIN / "openacm"
_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 10.0
_LOG_TAIL_CHARS = 3000

Command = Callable[[int, Path], list[str]]


@dataclass(frozen=True)
class Target:
    """One server implementation, started fresh for each run."""

    name: str
    command: Command  # (port, work dir) -> argv
    ready_path: str
    access_key: str = "test"
    secret_key: str = "test"
    env: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class RunningServer:
    target: Target
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"


def _moto_command(port: int, _work_dir: Path) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]


def _openacm_command(port: int, work_dir: Path) -> list[str]:
    data_dir = work_dir / "data"
    data_dir.mkdir(exist_ok=True)
    return [
        str(OPENACM_BIN), "serve", "--dev",
        "--host", HOST, "--port", str(port), "--data-dir", str(data_dir),
    ]  # fmt: skip


MOTO = Target(
    name="moto",
    command=_moto_command,
    ready_path="/moto-api/",
    description="moto.server (Werkzeug threaded dev server, in-memory, no SigV4 check)",
)

# One worker process per core, as openacm is deployed (`serve --workers`); set
# OPENACM_WORKERS to measure another count. moto's server is one process whatever the cores.
OPENACM_WORKERS = os.environ.get("OPENACM_WORKERS", str(os.cpu_count() or 1))

OPENACM = Target(
    name="openacm",
    command=_openacm_command,
    ready_path="/readyz",
    env={
        "OPENACM_QUOTA_IMPORTED_CERTIFICATES": "100000",
        "OPENACM_QUOTA_IMPORTED_PER_YEAR": "100000",
        "OPENACM_WORKERS": OPENACM_WORKERS,
    },
    description=(
        f"openacm serve --dev --workers {OPENACM_WORKERS} "
        "(SigV4 verified, SQLite persistence, audit record per call)"
    ),
)

TARGETS: dict[str, Target] = {target.name: target for target in (OPENACM, MOTO)}


def openacm_installed() -> bool:
    return OPENACM_BIN.exists()


def free_port() -> int:
    """A port the kernel says is free now on loopback (the server binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running(target: Target, work_dir: Path) -> Iterator[RunningServer]:
    """Starts `target` in its own process group and always stops the whole group."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = work_dir / f"{target.name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            target.command(port, work_dir),
            cwd=work_dir,
            env={**os.environ, **target.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the group
        )
        try:
            server = RunningServer(target, port, log_path, proc)
            _wait_ready(server)
            yield server
        finally:
            _stop(proc)


def _wait_ready(server: RunningServer) -> None:
    url = server.endpoint + server.target.ready_path
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(server, "exited before it was ready")
        if _answers_200(url):
            return
        time.sleep(0.2)
    raise ServerError(server, f"not ready at {url} after {_READY_TIMEOUT_S:.0f}s")


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_STOP_TIMEOUT_S)
            return


class ServerError(RuntimeError):
    """A server failed; the message carries its state and the end of its log."""

    def __init__(self, server: RunningServer, problem: str, kept_log: Path | None = None) -> None:
        status = server.process.poll()
        state = "running" if status is None else f"exited with status {status}"
        where = f"full log: {kept_log}" if kept_log else "log tail:"
        super().__init__(
            f"{server.target.name} ({state}): {problem}\n--- {where} ---\n"
            f"{_log_tail(server.log_path)}"
        )


def _log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
    except OSError:
        return "(no log)"


def keep_log(server: RunningServer, directory: Path) -> Path:
    """Copies the server's log out of the temporary work dir, for a post-mortem."""
    directory.mkdir(parents=True, exist_ok=True)
    kept = directory / f"{server.target.name}-server.log"
    shutil.copyfile(server.log_path, kept)
    return kept
