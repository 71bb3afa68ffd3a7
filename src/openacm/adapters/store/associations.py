"""Persistence of certificate associations: which consumer ARNs use which certificate."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_, bindparam, delete, insert, or_, select
from sqlalchemy import update as sql_update

from openacm.adapters.store.schema import certificate_associations, certificates

_a = certificate_associations.c


@dataclass(frozen=True)
class Association:
    certificate_arn: str
    resource_arn: str
    created_at: float

    def to_api(self) -> dict[str, object]:
        return {
            "CertificateArn": self.certificate_arn,
            "ResourceArn": self.resource_arn,
            "AssociatedAt": self.created_at,
        }


# DescribeCertificate reads the consumers on every call: built once (see certificates.py).
_CONSUMERS = (
    select(_a.resource_arn).where(_a.certificate_arn == bindparam("arn")).order_by(_a.resource_arn)
)
_GET = select(_a.certificate_arn, _a.resource_arn, _a.created_at).where(
    _a.certificate_arn == bindparam("arn"), _a.resource_arn == bindparam("resource")
)
# FOR UPDATE on PostgreSQL; SQLite has no row locks and needs none (its writers are serial).
_LOCK = select(certificates.c.arn).where(certificates.c.arn == bindparam("arn")).with_for_update()
_SET_IN_USE = (
    sql_update(certificates)
    .where(certificates.c.arn == bindparam("where_arn"))
    .values(in_use=bindparam("set_in_use"))
)


class AssociationStore:
    """Queries on one connection (one transaction); the service decides the boundaries."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock_certificate(self, arn: str) -> bool:
        """Lock the certificate's row until the transaction ends; False if there is none.

        Associating and deleting both take this lock before they look at the associations,
        so a delete can never pass its "not in use" check while an association of the same
        certificate is being committed (PostgreSQL reads at each statement: the check after
        the lock sees what the other transaction committed)."""
        return self.conn.execute(_LOCK, {"arn": arn}).first() is not None

    def consumers(self, certificate_arn: str) -> tuple[str, ...]:
        """The ARNs using the certificate, sorted: DescribeCertificate's InUseBy."""
        rows = self.conn.execute(_CONSUMERS, {"arn": certificate_arn})
        return tuple(resource for (resource,) in rows)

    def get(self, certificate_arn: str, resource_arn: str) -> Association | None:
        row = self.conn.execute(_GET, {"arn": certificate_arn, "resource": resource_arn}).first()
        return None if row is None else Association(*row)

    def add(
        self, certificate_arn: str, resource_arn: str, *, account_id: str, region: str, at: float
    ) -> Association:
        self.conn.execute(
            insert(certificate_associations).values(
                certificate_arn=certificate_arn,
                resource_arn=resource_arn,
                account_id=account_id,
                region=region,
                created_at=at,
            )
        )
        self._mark_in_use(certificate_arn)
        return Association(certificate_arn, resource_arn, at)

    def remove(self, certificate_arn: str, resource_arn: str) -> bool:
        """Remove one association; False when there was none."""
        result = self.conn.execute(
            delete(certificate_associations).where(
                _a.certificate_arn == certificate_arn, _a.resource_arn == resource_arn
            )
        )
        self._mark_in_use(certificate_arn)
        return bool(result.rowcount)

    def _mark_in_use(self, certificate_arn: str) -> None:
        """Keep the certificate's `in_use` column equal to "has an association". The row
        version is left alone: no other writer touches this column (CertificateStore.replace
        leaves it out), so nobody's read-modify-write can be undone by it."""
        in_use = bool(self.consumers(certificate_arn))
        self.conn.execute(_SET_IN_USE, {"where_arn": certificate_arn, "set_in_use": in_use})

    def page(
        self,
        account_id: str,
        region: str,
        *,
        certificate_arn: str | None,
        resource_arn: str | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> tuple[list[Association], bool]:
        """Associations of the account and region, optionally of one certificate and/or one
        consumer, ordered by (certificate, consumer); `after` is the last pair of the previous
        page. Returns the page and whether more follow."""
        conditions: list[ColumnElement[bool]] = [_a.account_id == account_id, _a.region == region]
        if certificate_arn is not None:
            conditions.append(_a.certificate_arn == certificate_arn)
        if resource_arn is not None:
            conditions.append(_a.resource_arn == resource_arn)
        if after is not None:
            conditions.append(_after(*after))
        query = (
            select(_a.certificate_arn, _a.resource_arn, _a.created_at)
            .where(*conditions)
            .order_by(_a.certificate_arn, _a.resource_arn)
            .limit(limit + 1)
        )
        rows = [Association(*row) for row in self.conn.execute(query)]
        return rows[:limit], len(rows) > limit


def _after(certificate_arn: str, resource_arn: str) -> ColumnElement[bool]:
    return or_(
        _a.certificate_arn > certificate_arn,
        and_(_a.certificate_arn == certificate_arn, _a.resource_arn > resource_arn),
    )
