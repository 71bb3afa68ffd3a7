"""Who used the CPU during a measured run: the server, wrk, and everything else.

The machine is shared (wrk runs on the same cores, and so may anything else that happens
to be running), so each run records CPU use in cores: 1.0 = one core busy all the time.
Linux /proc only.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    at: float
    machine_busy_s: float
    server_s: float
    children_s: float  # reaped child processes of the bench: wrk


@dataclass(frozen=True)
class CpuUse:
    """Average cores busy over one interval."""

    server: float
    load_generator: float
    other: float

    def as_json(self) -> dict[str, float]:
        return {
            "server_cores": round(self.server, 2),
            "wrk_cores": round(self.load_generator, 2),
            "other_cores": round(self.other, 2),
        }


def sample(server_group: int) -> CpuSample:
    return CpuSample(time.monotonic(), machine_busy_s(), group_cpu_s(server_group), _children_s())


def between(start: CpuSample, end: CpuSample) -> CpuUse:
    wall = max(end.at - start.at, 1e-9)
    server = (end.server_s - start.server_s) / wall
    load_generator = (end.children_s - start.children_s) / wall
    machine = (end.machine_busy_s - start.machine_busy_s) / wall
    return CpuUse(server, load_generator, max(machine - server - load_generator, 0.0))


def machine_busy_s() -> float:
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICKS  # user..steal; guest time is inside user


def process_cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads); 0 once it has gone."""
    try:
        after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(after_name[11]) + int(after_name[12])) / _TICKS


def group_cpu_s(group: int) -> float:
    """utime + stime of every live process in the process group `group`."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            after_name = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process went away while we looked
        if int(after_name[2]) == group:  # state, ppid, pgrp, ...
            total += int(after_name[11]) + int(after_name[12])  # utime, stime
    return total / _TICKS


def _children_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- raw limits: the cryptographic work alone, in fresh processes ---------------------------

# (operations done, seconds taken, CPU seconds used) of one process.
ProcessCount = tuple[int, float, float]
# Builds, in the child process, the step to repeat (called with the step's index). Must be a
# module-level function: `spawn` children import it by name.
StepMaker = Callable[..., Callable[[int], object]]


def run_in_processes(
    make_step: StepMaker, args: tuple[Any, ...], processes: int, seconds: float
) -> list[ProcessCount]:
    """`make_step(*args)`'s step repeated for `seconds` in `processes` fresh Python processes
    started together (a barrier), so that they share the machine as a server's workers do."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results: Queue[ProcessCount] = context.Queue()
    children = [
        context.Process(
            target=_timed_worker, args=(make_step, args, seconds, barrier, results), daemon=True
        )
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    try:
        return [results.get(timeout=seconds + 120) for _ in children]
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()


def _timed_worker(
    make_step: StepMaker,
    args: tuple[Any, ...],
    seconds: float,
    barrier: Barrier,
    results: Queue[ProcessCount],
) -> None:
    step = make_step(*args)
    step(0)  # first-call costs (imports, OpenSSL tables) are not the steady state
    barrier.wait()
    cpu_started = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    done = 0
    while True:
        step(done)
        done += 1
        now = time.perf_counter()
        if now >= deadline:
            break
    results.put((done, now - started, time.process_time() - cpu_started))
