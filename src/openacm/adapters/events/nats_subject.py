"""NATS sink: each event published to a subject with core NATS (no JetStream), then flushed.

Core NATS has no acknowledgement from subscribers: a delivery counts once the server took the
messages (the flush's PING/PONG came back). nats-py is an optional extra (`openacm[nats]`);
configuring a NATS sink without it fails at start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from openacm.adapters.events.base import DELIVERED, Outcome


class NatsSink:
    def __init__(self, name: str, url: str, subject: str, *, timeout: float) -> None:
        try:
            import nats  # noqa: F401
        except ImportError as exc:
            raise ValueError(
                f"events sink {name}: the NATS sink needs nats-py (pip install 'openacm[nats]')"
            ) from exc
        self.name = name
        self.url = url
        self.subject = subject
        self.timeout = timeout

    def deliver(self, bodies: Sequence[bytes], attempts: Sequence[int]) -> list[Outcome]:
        if not bodies:
            return []
        try:
            # A connection per batch, on a loop of its own: the worker thread has no loop, and
            # a batch is rare enough that keeping a connection open is not worth its upkeep.
            asyncio.run(self._publish(bodies))
        except Exception as exc:  # nats-py raises its own errors and OSError, both mean failed
            return [Outcome(False, f"{type(exc).__name__}: {exc}")] * len(bodies)
        return [DELIVERED] * len(bodies)

    async def _publish(self, bodies: Sequence[bytes]) -> None:
        import nats

        client = await nats.connect(
            self.url,
            connect_timeout=self.timeout,
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )
        try:
            for body in bodies:
                await client.publish(self.subject, body)
            await client.flush(timeout=max(1, round(self.timeout)))
        finally:
            await client.close()

    def close(self) -> None:
        pass
