"""Persistence of ACME endpoints (issue 9): the `acme_endpoints` rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from openacm.adapters.store.schema import acme_endpoints
from openacm.domain.acme_endpoints import (
    AcmeEndpointRecord,
    tags_document,
    tags_from_document,
)


@dataclass(frozen=True)
class EndpointPage:
    records: list[AcmeEndpointRecord]
    has_more: bool


class AcmeEndpointStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, record: AcmeEndpointRecord) -> None:
        self.conn.execute(insert(acme_endpoints).values(**_row(record)))

    def get(self, arn: str) -> AcmeEndpointRecord | None:
        row = self.conn.execute(select(acme_endpoints).where(acme_endpoints.c.arn == arn)).first()
        return None if row is None else _record(row)

    def by_id(self, endpoint_id: str) -> AcmeEndpointRecord | None:
        """The endpoint an ACME request's URL names (/acme/<endpoint-id>/...)."""
        row = self.conn.execute(
            select(acme_endpoints).where(acme_endpoints.c.endpoint_id == endpoint_id)
        ).first()
        return None if row is None else _record(row)

    def count(self, account_id: str, region: str) -> int:
        c = acme_endpoints.c
        query = select(func.count()).where(c.account_id == account_id, c.region == region)
        return int(self.conn.execute(query).scalar_one())

    def page(
        self, account_id: str, region: str, *, after: tuple[float, str] | None, limit: int
    ) -> EndpointPage:
        """Oldest first; `after` is the (created_at, arn) the previous page ended on."""
        c = acme_endpoints.c
        query = select(acme_endpoints).where(c.account_id == account_id, c.region == region)
        if after is not None:
            created, arn = after
            query = query.where(
                (c.created_at > created) | ((c.created_at == created) & (c.arn > arn))
            )
        rows = self.conn.execute(query.order_by(c.created_at, c.arn).limit(limit + 1)).all()
        return EndpointPage([_record(row) for row in rows[:limit]], len(rows) > limit)

    def replace(self, record: AcmeEndpointRecord) -> None:
        values = _row(record)
        self.conn.execute(
            update(acme_endpoints).where(acme_endpoints.c.arn == record.arn).values(**values)
        )

    def delete(self, arn: str) -> None:
        self.conn.execute(delete(acme_endpoints).where(acme_endpoints.c.arn == arn))


def _row(record: AcmeEndpointRecord) -> dict[str, Any]:
    return {
        "arn": record.arn,
        "endpoint_id": record.endpoint_id,
        "account_id": record.account_id,
        "region": record.region,
        "status": record.status,
        "failure_reason": record.failure_reason,
        "authorization_behavior": record.authorization_behavior,
        "contact": record.contact,
        "certificate_authority_json": orjson.dumps(record.certificate_authority).decode(),
        "certificate_tags_json": orjson.dumps(tags_document(record.certificate_tags)).decode(),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _record(row: Any) -> AcmeEndpointRecord:
    return AcmeEndpointRecord(
        arn=row.arn,
        endpoint_id=row.endpoint_id,
        account_id=row.account_id,
        region=row.region,
        status=row.status,
        failure_reason=row.failure_reason,
        authorization_behavior=row.authorization_behavior,
        contact=row.contact,
        certificate_authority=orjson.loads(row.certificate_authority_json),
        certificate_tags=tags_from_document(orjson.loads(row.certificate_tags_json)),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
