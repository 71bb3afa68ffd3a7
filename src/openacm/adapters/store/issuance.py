"""Persistence of what issuing certificates needs: per-name validations, the CAs and their
keys, every serial planned or signed, installation secrets and the leaf key pool."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update

from openacm.adapters.store.schema import (
    domain_validations,
    installation_secrets,
    issued_serials,
    issuing_cas,
    key_pool,
)
from openacm.domain.certificates import DomainValidation

# Statements on the issuance path are built once: building a SQLAlchemy statement costs far
# more than running it on SQLite, and these run for every certificate.
_v = domain_validations.c
_s = issued_serials.c
_INSERT_VALIDATIONS = insert(domain_validations)
_LIST_VALIDATIONS = (
    select(domain_validations).where(_v.certificate_arn == bindparam("arn")).order_by(_v.position)
)
_SET_STATUS = (
    update(domain_validations)
    .where(_v.certificate_arn == bindparam("arn"), _v.domain_name == bindparam("name"))
    .values(status=bindparam("status"), updated_at=bindparam("now"))
)
_PLAN_SERIAL = insert(issued_serials)
_SERIAL = and_(_s.ca_id == bindparam("ca"), _s.serial == bindparam("number"))
_MARK_SERIAL = update(issued_serials).where(_SERIAL).values(state=bindparam("state"))
_MARK_SERIAL_ISSUED = (
    update(issued_serials)
    .where(_SERIAL)
    .values(state=bindparam("state"), issued_at=bindparam("now"))
)


class ValidationStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, arn: str, validations: Sequence[DomainValidation], now: float) -> None:
        if not validations:
            return
        self.conn.execute(
            _INSERT_VALIDATIONS,
            [
                {
                    "certificate_arn": arn,
                    "position": position,
                    "domain_name": v.domain_name,
                    "validation_domain": v.validation_domain,
                    "validation_method": v.validation_method,
                    "record_name": v.record_name,
                    "record_value": v.record_value,
                    "status": v.status,
                    "updated_at": now,
                }
                for position, v in enumerate(validations)
            ],
        )

    def list(self, arn: str) -> tuple[DomainValidation, ...]:
        rows = self.conn.execute(_LIST_VALIDATIONS, {"arn": arn}).all()
        return tuple(
            DomainValidation(
                domain_name=row.domain_name,
                validation_domain=row.validation_domain,
                validation_method=row.validation_method,
                status=row.status,
                record_name=row.record_name,
                record_value=row.record_value,
            )
            for row in rows
        )

    def set_status(self, arn: str, domain_name: str, status: str, now: float) -> None:
        self.conn.execute(
            _SET_STATUS, {"arn": arn, "name": domain_name, "status": status, "now": now}
        )

    def set_all_pending(self, arn: str, status: str, now: float) -> None:
        """Every name not yet SUCCESS takes `status` (a timed-out or failed request)."""
        self.conn.execute(
            update(domain_validations)
            .where(
                domain_validations.c.certificate_arn == arn,
                domain_validations.c.status != "SUCCESS",
            )
            .values(status=status, updated_at=now)
        )

    def delete(self, arn: str) -> None:
        self.conn.execute(
            delete(domain_validations).where(domain_validations.c.certificate_arn == arn)
        )


@dataclass(frozen=True)
class StoredCa:
    ca_id: str
    issuer: str
    role: str
    certificate_pem: str
    key_storage: str  # "envelope" | "pkcs11"
    key_sealed: bytes | None
    key_label: str | None
    crl_number: int
    crl_der: bytes | None
    crl_next_update: float | None


@dataclass(frozen=True)
class SerialEntry:
    serial: str
    certificate_arn: str
    state: str
    not_after: float
    revoked_at: float | None
    revocation_reason: str | None


class AuthorityStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- CAs -------------------------------------------------------------------------------

    def cas(self, issuer: str) -> list[StoredCa]:
        rows = self.conn.execute(
            select(issuing_cas).where(issuing_cas.c.issuer == issuer).order_by(issuing_cas.c.role)
        ).all()
        return [_stored_ca(row) for row in rows]

    def ca(self, ca_id: str) -> StoredCa | None:
        row = self.conn.execute(select(issuing_cas).where(issuing_cas.c.ca_id == ca_id)).first()
        return _stored_ca(row) if row is not None else None

    def insert_ca(self, ca: StoredCa, now: float) -> None:
        self.conn.execute(
            insert(issuing_cas).values(
                ca_id=ca.ca_id,
                issuer=ca.issuer,
                role=ca.role,
                certificate_pem=ca.certificate_pem,
                key_storage=ca.key_storage,
                key_sealed=ca.key_sealed,
                key_label=ca.key_label,
                crl_number=ca.crl_number,
                crl_der=ca.crl_der,
                crl_next_update=ca.crl_next_update,
                created_at=now,
            )
        )

    def next_crl_number(self, ca_id: str) -> int:
        """Take the next CRL number (monotonic, RFC 5280 §5.2.3) in this transaction."""
        self.conn.execute(
            update(issuing_cas)
            .where(issuing_cas.c.ca_id == ca_id)
            .values(crl_number=issuing_cas.c.crl_number + 1)
        )
        return int(
            self.conn.execute(
                select(issuing_cas.c.crl_number).where(issuing_cas.c.ca_id == ca_id)
            ).scalar_one()
        )

    def store_crl(self, ca_id: str, crl_der: bytes, next_update: float) -> None:
        self.conn.execute(
            update(issuing_cas)
            .where(issuing_cas.c.ca_id == ca_id)
            .values(crl_der=crl_der, crl_next_update=next_update)
        )

    def crl_due(self, now: float) -> list[str]:
        rows = self.conn.execute(
            select(issuing_cas.c.ca_id).where(
                (issuing_cas.c.crl_next_update.is_(None)) | (issuing_cas.c.crl_next_update <= now)
            )
        ).all()
        return [row.ca_id for row in rows]

    # -- serials ---------------------------------------------------------------------------

    def plan_serial(
        self, ca_id: str, serial: str, arn: str, *, not_after: float, tbs_sha256: str, now: float
    ) -> None:
        self.conn.execute(
            _PLAN_SERIAL,
            {
                "ca_id": ca_id,
                "serial": serial,
                "certificate_arn": arn,
                "state": "planned",
                "planned_at": now,
                "not_after": not_after,
                "tbs_sha256": tbs_sha256,
            },
        )

    def mark_serial(self, ca_id: str, serial: str, state: str, now: float) -> None:
        statement = _MARK_SERIAL_ISSUED if state == "issued" else _MARK_SERIAL
        self.conn.execute(statement, {"ca": ca_id, "number": serial, "state": state, "now": now})

    def revoke_serial(self, ca_id: str, serial: str, *, at: float, reason: str) -> None:
        self.conn.execute(
            update(issued_serials)
            .where(
                issued_serials.c.ca_id == ca_id,
                issued_serials.c.serial == serial,
                issued_serials.c.revoked_at.is_(None),
            )
            .values(revoked_at=at, revocation_reason=reason)
        )

    def serial(self, ca_id: str, serial: str) -> SerialEntry | None:
        row = self.conn.execute(
            select(issued_serials).where(
                issued_serials.c.ca_id == ca_id, issued_serials.c.serial == serial
            )
        ).first()
        if row is None:
            return None
        return _serial_entry(row)

    def revoked(self, ca_id: str, *, not_expired_at: float) -> list[SerialEntry]:
        """Revoked serials still within their validity (expired ones may leave the CRL)."""
        rows = self.conn.execute(
            select(issued_serials)
            .where(
                issued_serials.c.ca_id == ca_id,
                issued_serials.c.revoked_at.is_not(None),
                issued_serials.c.not_after >= not_expired_at,
            )
            .order_by(issued_serials.c.revoked_at)
        ).all()
        return [_serial_entry(row) for row in rows]

    # -- installation secrets --------------------------------------------------------------

    def secret(self, name: str) -> bytes | None:
        row = self.conn.execute(
            select(installation_secrets.c.sealed).where(installation_secrets.c.name == name)
        ).first()
        return bytes(row.sealed) if row is not None else None

    def insert_secret(self, name: str, sealed: bytes, now: float) -> None:
        self.conn.execute(
            insert(installation_secrets).values(name=name, sealed=sealed, created_at=now)
        )

    def update_secret(self, name: str, sealed: bytes, now: float) -> None:
        """Replace a secret's value (callers serialize replacements themselves)."""
        self.conn.execute(
            update(installation_secrets)
            .where(installation_secrets.c.name == name)
            .values(sealed=sealed, created_at=now)
        )

    def secret_names(self, prefix: str) -> list[str]:
        rows = self.conn.execute(
            select(installation_secrets.c.name)
            .where(installation_secrets.c.name.startswith(prefix, autoescape=True))
            .order_by(installation_secrets.c.name)
        ).all()
        return [row.name for row in rows]

    # -- key pool --------------------------------------------------------------------------

    def pooled_key_count(self, key_algorithm: str) -> int:
        return int(
            self.conn.execute(
                select(func.count())
                .select_from(key_pool)
                .where(key_pool.c.key_algorithm == key_algorithm)
            ).scalar_one()
        )

    def add_pooled_key(self, key_algorithm: str, sealed: bytes, now: float) -> None:
        self.conn.execute(
            insert(key_pool).values(key_algorithm=key_algorithm, key_sealed=sealed, created_at=now)
        )

    def take_pooled_keys(self, key_algorithm: str, count: int) -> list[tuple[int, bytes]]:
        """Remove and return up to `count` pooled keys, oldest first. Only the rows this
        DELETE removed come back, so another transaction never gets the same key (one that
        raced for the same rows gets fewer, or none)."""
        if count < 1:
            return []
        oldest = (
            select(key_pool.c.key_id)
            .where(key_pool.c.key_algorithm == key_algorithm)
            .order_by(key_pool.c.key_id)
            .limit(count)
        )
        rows = self.conn.execute(
            delete(key_pool)
            .where(key_pool.c.key_id.in_(oldest))
            .returning(key_pool.c.key_id, key_pool.c.key_sealed)
        ).all()
        return sorted((int(row.key_id), bytes(row.key_sealed)) for row in rows)


def _serial_entry(row: Any) -> SerialEntry:
    return SerialEntry(
        row.serial,
        row.certificate_arn,
        row.state,
        row.not_after,
        row.revoked_at,
        row.revocation_reason,
    )


def _stored_ca(row: object) -> StoredCa:
    mapping = row._mapping  # type: ignore[attr-defined]
    return StoredCa(
        ca_id=mapping["ca_id"],
        issuer=mapping["issuer"],
        role=mapping["role"],
        certificate_pem=mapping["certificate_pem"],
        key_storage=mapping["key_storage"],
        key_sealed=bytes(mapping["key_sealed"]) if mapping["key_sealed"] is not None else None,
        key_label=mapping["key_label"],
        crl_number=mapping["crl_number"],
        crl_der=bytes(mapping["crl_der"]) if mapping["crl_der"] is not None else None,
        crl_next_update=mapping["crl_next_update"],
    )
