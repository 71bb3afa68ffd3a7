"""Who used the CPU during a measured run: the server, wrk, and everything else.

The machine is shared (wrk runs on the same cores, and so may anything else that happens
to be running), so each run records CPU use in cores: 1.0 = one core busy all the time.
Linux /proc only.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

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
