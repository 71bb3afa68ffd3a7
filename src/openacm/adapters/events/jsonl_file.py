"""JSON-lines file sink: each event appended as one line, then fsync'ed.

A delivery counts once the line is on disk. A crash between the write and the store's
"delivered" leaves the line there and the delivery pending: the event is appended again
(at-least-once; readers de-duplicate on `id`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from openacm.adapters.events.base import DELIVERED, Outcome

# Several worker processes may append to one file: O_APPEND makes each write() land whole at
# the end, and a line of an event is far below what one write() writes at once.
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class JsonLinesSink:
    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = Path(path)
        self._lock = threading.Lock()

    def deliver(self, bodies: Sequence[bytes], attempts: Sequence[int]) -> list[Outcome]:
        if not bodies:
            return []
        lines = b"".join(body.replace(b"\n", b"") + b"\n" for body in bodies)
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, _FLAGS, 0o640)
                try:
                    _write_all(fd, lines)
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            return [Outcome(False, f"{type(exc).__name__}: {exc}")] * len(bodies)
        return [DELIVERED] * len(bodies)

    def close(self) -> None:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
