"""Persistence of an ACME endpoint's external account bindings and domain validations."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, Table, delete, func, insert, select, update

from openacm.adapters.store.schema import acme_domain_validations, acme_external_account_bindings
from openacm.domain.acme_resources import DomainValidation, ExternalAccountBinding
from openacm.domain.validation import ValidationRecord


def _page(
    conn: Connection, table: Table, endpoint_arn: str, after: tuple[float, str] | None, limit: int
) -> tuple[list[Any], bool]:
    """An endpoint's rows, oldest first; `after` is the (created_at, arn) the last page ended on."""
    c = table.c
    query = select(table).where(c.endpoint_arn == endpoint_arn)
    if after is not None:
        created, arn = after
        query = query.where((c.created_at > created) | ((c.created_at == created) & (c.arn > arn)))
    rows = conn.execute(query.order_by(c.created_at, c.arn).limit(limit + 1)).all()
    return list(rows[:limit]), len(rows) > limit


def _count(conn: Connection, table: Table, endpoint_arn: str) -> int:
    query = select(func.count()).where(table.c.endpoint_arn == endpoint_arn)
    return int(conn.execute(query).scalar_one())


class BindingStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, binding: ExternalAccountBinding) -> None:
        self.conn.execute(insert(acme_external_account_bindings).values(**_binding_row(binding)))

    def get(self, arn: str) -> ExternalAccountBinding | None:
        t = acme_external_account_bindings
        row = self.conn.execute(select(t).where(t.c.arn == arn)).first()
        return None if row is None else _binding(row)

    def by_key_id(self, binding_id: str) -> ExternalAccountBinding | None:
        t = acme_external_account_bindings
        row = self.conn.execute(select(t).where(t.c.binding_id == binding_id)).first()
        return None if row is None else _binding(row)

    def count(self, endpoint_arn: str) -> int:
        return _count(self.conn, acme_external_account_bindings, endpoint_arn)

    def page(
        self, endpoint_arn: str, *, after: tuple[float, str] | None, limit: int
    ) -> tuple[list[ExternalAccountBinding], bool]:
        rows, more = _page(self.conn, acme_external_account_bindings, endpoint_arn, after, limit)
        return [_binding(row) for row in rows], more

    def revoke(self, arn: str, now: float) -> bool:
        """True when this call revoked it (a revoked binding stays as it was)."""
        t = acme_external_account_bindings
        done = self.conn.execute(
            update(t)
            .where(t.c.arn == arn, t.c.revoked_at.is_(None))
            .values(revoked_at=now, updated_at=now)
        )
        return done.rowcount == 1

    def used(self, arn: str, now: float) -> None:
        t = acme_external_account_bindings
        self.conn.execute(update(t).where(t.c.arn == arn).values(last_used_at=now))

    def delete(self, arns: list[str]) -> None:
        t = acme_external_account_bindings
        self.conn.execute(delete(t).where(t.c.arn.in_(arns)))

    def arns_of(self, endpoint_arn: str) -> list[str]:
        t = acme_external_account_bindings
        return list(
            self.conn.execute(select(t.c.arn).where(t.c.endpoint_arn == endpoint_arn)).scalars()
        )


class DomainValidationStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, validation: DomainValidation) -> None:
        self.conn.execute(insert(acme_domain_validations).values(**_validation_row(validation)))

    def get(self, arn: str) -> DomainValidation | None:
        t = acme_domain_validations
        row = self.conn.execute(select(t).where(t.c.arn == arn)).first()
        return None if row is None else _validation(row)

    def by_domain(self, endpoint_arn: str, domain_name: str) -> DomainValidation | None:
        t = acme_domain_validations
        query = select(t).where(t.c.endpoint_arn == endpoint_arn, t.c.domain_name == domain_name)
        row = self.conn.execute(query).first()
        return None if row is None else _validation(row)

    def of_endpoint(self, endpoint_arn: str) -> list[DomainValidation]:
        t = acme_domain_validations
        rows = self.conn.execute(select(t).where(t.c.endpoint_arn == endpoint_arn)).all()
        return [_validation(row) for row in rows]

    def count(self, endpoint_arn: str) -> int:
        return _count(self.conn, acme_domain_validations, endpoint_arn)

    def page(
        self, endpoint_arn: str, *, after: tuple[float, str] | None, limit: int
    ) -> tuple[list[DomainValidation], bool]:
        rows, more = _page(self.conn, acme_domain_validations, endpoint_arn, after, limit)
        return [_validation(row) for row in rows], more

    def replace(self, validation: DomainValidation) -> None:
        t = acme_domain_validations
        values = _validation_row(validation)
        self.conn.execute(update(t).where(t.c.arn == validation.arn).values(**values))

    def delete(self, arns: list[str]) -> None:
        t = acme_domain_validations
        self.conn.execute(delete(t).where(t.c.arn.in_(arns)))

    def arns_of(self, endpoint_arn: str) -> list[str]:
        t = acme_domain_validations
        return list(
            self.conn.execute(select(t.c.arn).where(t.c.endpoint_arn == endpoint_arn)).scalars()
        )


def _binding_row(binding: ExternalAccountBinding) -> dict[str, Any]:
    return {
        "arn": binding.arn,
        "binding_id": binding.binding_id,
        "endpoint_arn": binding.endpoint_arn,
        "role_arn": binding.role_arn,
        "mac_key_sealed": binding.mac_key_sealed,
        "expires_at": binding.expires_at,
        "revoked_at": binding.revoked_at,
        "last_used_at": binding.last_used_at,
        "created_at": binding.created_at,
        "updated_at": binding.updated_at,
    }


def _binding(row: Any) -> ExternalAccountBinding:
    return ExternalAccountBinding(
        arn=row.arn,
        binding_id=row.binding_id,
        endpoint_arn=row.endpoint_arn,
        role_arn=row.role_arn,
        mac_key_sealed=bytes(row.mac_key_sealed),
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _validation_row(validation: DomainValidation) -> dict[str, Any]:
    return {
        "arn": validation.arn,
        "endpoint_arn": validation.endpoint_arn,
        "domain_name": validation.domain_name,
        "scope_json": orjson.dumps(validation.scope).decode(),
        "hosted_zone_id": validation.hosted_zone_id,
        "record_name": validation.record.name,
        "record_value": validation.record.value,
        "status": validation.status,
        "failure_reason": validation.failure_reason,
        "failure_message": validation.failure_message,
        "created_at": validation.created_at,
        "updated_at": validation.updated_at,
    }


def _validation(row: Any) -> DomainValidation:
    return DomainValidation(
        arn=row.arn,
        endpoint_arn=row.endpoint_arn,
        domain_name=row.domain_name,
        scope=orjson.loads(row.scope_json),
        hosted_zone_id=row.hosted_zone_id,
        record=ValidationRecord(row.record_name, row.record_value),
        status=row.status,
        failure_reason=row.failure_reason,
        failure_message=row.failure_message,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
