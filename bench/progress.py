"""A one-line progress bar on stderr with rate and ETA (no dependency)."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

_BAR_WIDTH = 30
_TTY_INTERVAL_S = 0.1
_LOG_STEPS = 10  # when stderr is not a terminal, print one line per 10 %


class Progress:
    """Counts finished units of work and redraws a single status line.

    Thread-safe: `advance` may be called from pool workers.
    """

    def __init__(self, label: str, total: int, stream: TextIO = sys.stderr) -> None:
        self._label = label
        self._total = max(total, 1)
        self._stream = stream
        self._tty = stream.isatty()
        self._done = 0
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._next_log_step = 1
        self._logged = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            if self._tty:
                self._draw()
                self._stream.write("\n")
            elif self._logged != self._done:
                self._draw()
            self._stream.flush()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self._done += count
            if self._due():
                self._draw()

    def _due(self) -> bool:
        if self._tty:
            now = time.monotonic()
            if now - self._last_draw < _TTY_INTERVAL_S:
                return False
            self._last_draw = now
            return True
        if self._done * _LOG_STEPS >= self._next_log_step * self._total:
            self._next_log_step = self._done * _LOG_STEPS // self._total + 1
            return True
        return False

    def _draw(self) -> None:
        elapsed = self.elapsed
        rate = self._done / elapsed if elapsed > 0 else 0.0
        remaining = (self._total - self._done) / rate if rate > 0 else float("inf")
        filled = _BAR_WIDTH * self._done // self._total
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        eta = f"{remaining:5.0f}s" if remaining != float("inf") else "    ?s"
        line = f"{self._label:<24} [{bar}] {self._done:>6}/{self._total:<6} {rate:7.0f}/s ETA {eta}"
        if self._tty:
            self._stream.write("\r" + line)
        else:
            self._stream.write(line + "\n")
            self._logged = self._done
        self._stream.flush()


def say(message: str) -> None:
    """One status line on stderr (stdout carries only the report)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)
