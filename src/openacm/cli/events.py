"""`openacm events`: the outbox's deliveries, dead letters and re-queueing (docs/events.md).

Works on the store directly, with or without a running server (give it the same storage
options as `serve`).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import click

from openacm.cli.options import emit_rows, output_option, settings_from_context, storage_options

COLUMNS = ["delivery_id", "sink", "status", "attempts", "detail_type", "resource", "created"]


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _db(storage: dict[str, Any]) -> Any:
    from openacm.runtime import Runtime

    return Runtime.open(settings_from_context(**storage)).db


@click.group()
def events() -> None:
    """Event deliveries: backlog, dead letters, re-queueing."""


@events.command("list")
@storage_options
@click.option("--dead-letter", is_flag=True, help="Only dead-lettered deliveries.")
@click.option(
    "--status", type=click.Choice(["pending", "delivered", "dead"]), default=None, help="Filter."
)
@click.option("--sink", default=None, help="Only this sink's deliveries.")
@click.option("--limit", default=100, type=click.IntRange(1, 100_000))
@output_option
def list_deliveries(
    dead_letter: bool,
    status: str | None,
    sink: str | None,
    limit: int,
    output: str,
    **storage: Any,
) -> None:
    """List deliveries, newest event first (dead letters with their last error)."""
    from openacm.adapters.store.events import DEAD, EventOutbox

    if dead_letter:
        status = DEAD
    with _db(storage).read() as conn:
        views = EventOutbox(conn).list(status=status, sink=sink, limit=limit)
    rows = [
        {
            "delivery_id": v.delivery_id,
            "event_id": v.event_id,
            "sink": v.sink,
            "status": v.status,
            "attempts": v.attempts,
            "detail_type": v.detail_type,
            "resource": v.resource_arn,
            "created": _when(v.created_at),
            "delivered": _when(v.delivered_at),
            "next_attempt": _when(v.due_at) if v.status == "pending" else "",
            "last_error": v.last_error or "",
        }
        for v in views
    ]
    columns = [*COLUMNS, "last_error"] if status == DEAD else COLUMNS
    emit_rows(rows, output, columns)


@events.command("requeue")
@storage_options
@click.option("--delivery-id", "delivery_ids", multiple=True, type=int, help="Repeatable.")
@click.option("--sink", default=None, help="Only this sink's dead letters.")
@click.option("--all", "everything", is_flag=True, help="Every dead letter.")
def requeue(
    delivery_ids: tuple[int, ...], sink: str | None, everything: bool, **storage: Any
) -> None:
    """Put dead-lettered deliveries back in the queue, due now, attempts reset."""
    from openacm.adapters.store.events import EventOutbox

    if not (delivery_ids or sink or everything):
        raise click.UsageError("name --delivery-id, --sink or --all")
    with _db(storage).write() as conn:
        count = EventOutbox(conn).requeue_dead(time.time(), delivery_ids=delivery_ids, sink=sink)
    click.echo(f"{count} delivery(ies) re-queued")


@events.command("show")
@storage_options
@click.argument("event_id")
def show(event_id: str, **storage: Any) -> None:
    """Print one event's JSON, as delivered."""
    from openacm.adapters.store.events import EventOutbox

    with _db(storage).read() as conn:
        body = EventOutbox(conn).event_body(event_id)
    if body is None:
        raise click.ClickException(f"no event {event_id}")
    click.echo(json.dumps(body, indent=2))


@events.command("stats")
@storage_options
@output_option
def stats(output: str, **storage: Any) -> None:
    """Deliveries per sink and status: the backlog and the dead letters at a glance."""
    from openacm.adapters.store.events import EventOutbox

    with _db(storage).read() as conn:
        counts = EventOutbox(conn).counts()
    rows = [{"sink": s, "status": st, "count": n} for (s, st), n in sorted(counts.items())]
    emit_rows(rows, output, ["sink", "status", "count"])
