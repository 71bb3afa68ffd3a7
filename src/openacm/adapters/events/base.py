"""What every sink does: take a batch of event bodies, say what became of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Outcome:
    """One event's delivery: done, failed (`error`), or not tried (the sink failed on an
    earlier event of the batch, so trying the rest now would only wait out more timeouts)."""

    delivered: bool
    error: str | None = None

    @property
    def tried(self) -> bool:
        return self.delivered or self.error is not None


DELIVERED = Outcome(True)
NOT_TRIED = Outcome(False)


class Sink(Protocol):
    name: str

    def deliver(self, bodies: Sequence[bytes], attempts: Sequence[int]) -> list[Outcome]:
        """Deliver each body (an event's JSON), `attempts[i]` being how many times body i was
        tried before; one outcome per body, in order. Never raises for a delivery failure."""
        ...

    def close(self) -> None: ...
