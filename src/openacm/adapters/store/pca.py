"""Persistence of private CAs (AWS Private CA): the CA rows, permissions, policy grants and
the certificates each CA signs.

The issuance side reads a CA with `PrivateCaStore.get(arn)` (a `PrivateCaRecord`), opens its
key with `open_signer(record, cipher)`, and records what it signs in `private_ca_certificates`
through `IssuedCertificateStore` (docs/private-ca.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, select, update

from openacm.adapters.ca.algorithms import PrivateCaSigner, load_private_key, private_ca_signer
from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.schema import (
    private_ca_audit_reports,
    private_ca_certificates,
    private_ca_issuance,
    private_ca_permissions,
    private_ca_policy_grants,
    private_cas,
    tags,
)


@dataclass(frozen=True)
class PrivateCaRecord:
    """One private CA as stored. `status` is the stored status: `domain.pca.effective_status`
    turns an ACTIVE CA past its NotAfter into EXPIRED."""

    arn: str
    account_id: str
    region: str
    ca_type: str
    status: str
    usage_mode: str
    key_algorithm: str
    signing_algorithm: str
    key_storage_security_standard: str
    configuration: dict[str, Any]
    revocation: dict[str, Any]
    created_at: float
    last_state_change_at: float
    row_version: int = 0
    # "envelope": the key is `key_sealed` (None while CREATING); "pkcs11": it lives in the
    # installation's token under `private_ca_key_label(arn)` and `key_sealed` stays None.
    key_sealed: bytes | None = None
    key_storage: str = "envelope"
    csr_pem: str | None = None
    status_before_deletion: str | None = None
    certificate_pem: str | None = None
    chain_pem: str | None = None
    serial: str | None = None
    not_before: float | None = None
    not_after: float | None = None
    restorable_until: float | None = None
    failure_reason: str | None = None
    policy_text: str | None = None

    def changed(self, now: float, **changes: Any) -> PrivateCaRecord:
        """A copy with `changes`; a new status also moves LastStateChangeAt."""
        if "status" in changes and changes["status"] != self.status:
            changes["last_state_change_at"] = now
        return replace(self, **changes)


def open_signer(record: PrivateCaRecord, cipher: EnvelopeCipher) -> PrivateCaSigner:
    """The CA's key, unsealed (bound to the CA's ARN), signing with its SigningAlgorithm: a
    `ClassicCaSigner` (a `CaSigner`) for RSA and EC keys, a `PrivateCaSigner` for ML-DSA.
    Only for a CA past CREATING (the state rules of the calling operation see to it)."""
    if record.key_sealed is None:
        raise ValueError(f"{record.arn} has no key yet (status {record.status})")
    key = load_private_key(cipher.open(record.key_sealed, record.arn))
    return private_ca_signer(key, record.signing_algorithm)


def _row(record: PrivateCaRecord) -> dict[str, Any]:
    return {
        "arn": record.arn,
        "account_id": record.account_id,
        "region": record.region,
        "ca_type": record.ca_type,
        "status": record.status,
        "status_before_deletion": record.status_before_deletion,
        "usage_mode": record.usage_mode,
        "key_algorithm": record.key_algorithm,
        "signing_algorithm": record.signing_algorithm,
        "key_storage_security_standard": record.key_storage_security_standard,
        "configuration_json": orjson.dumps(record.configuration).decode(),
        "revocation_json": orjson.dumps(record.revocation).decode(),
        "key_sealed": record.key_sealed,
        "key_storage": record.key_storage,
        "csr_pem": record.csr_pem,
        "certificate_pem": record.certificate_pem,
        "chain_pem": record.chain_pem,
        "serial": record.serial,
        "not_before": record.not_before,
        "not_after": record.not_after,
        "created_at": record.created_at,
        "last_state_change_at": record.last_state_change_at,
        "restorable_until": record.restorable_until,
        "failure_reason": record.failure_reason,
        "policy_text": record.policy_text,
        "row_version": record.row_version,
    }


def _record(row: Any) -> PrivateCaRecord:
    mapping = dict(row._mapping)
    mapping["configuration"] = orjson.loads(mapping.pop("configuration_json"))
    mapping["revocation"] = orjson.loads(mapping.pop("revocation_json"))
    if mapping["key_sealed"] is not None:
        mapping["key_sealed"] = bytes(mapping["key_sealed"])
    return PrivateCaRecord(**mapping)


@dataclass(frozen=True)
class CaPage:
    records: list[PrivateCaRecord]
    has_more: bool


class PrivateCaStore:
    """Queries on one connection (one transaction); the service decides the boundaries."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, arn: str) -> PrivateCaRecord | None:
        row = self.conn.execute(select(private_cas).where(private_cas.c.arn == arn)).first()
        return None if row is None else _record(row)

    def owned(self, arn: str, account_id: str) -> PrivateCaRecord | None:
        """The CA if `account_id` owns it (no state or window check: see
        `services.pca.authorities.CertificateAuthorities.load` for a caller's view)."""
        record = self.get(arn)
        return record if record is not None and record.account_id == account_id else None

    def insert(self, record: PrivateCaRecord) -> None:
        self.conn.execute(insert(private_cas).values(_row(record)))

    def replace(self, record: PrivateCaRecord) -> bool:
        """Write `record` if nobody changed the CA since it was read (row_version)."""
        values = _row(record)
        values["row_version"] = record.row_version + 1
        result = self.conn.execute(
            update(private_cas)
            .where(private_cas.c.arn == record.arn, private_cas.c.row_version == record.row_version)
            .values(values)
        )
        return bool(result.rowcount == 1)

    def remove_permanently(self, arn: str) -> None:
        """A CA past its restoration window: the row and everything hanging from it."""
        self.conn.execute(delete(tags).where(tags.c.resource_arn == arn))
        for table in (private_ca_permissions, private_ca_policy_grants, private_ca_certificates):
            self.conn.execute(delete(table).where(table.c.ca_arn == arn))
        # What the issuing side keeps per CA (counter, CRL, audit reports).
        for table in (private_ca_issuance, private_ca_audit_reports):
            self.conn.execute(delete(table).where(table.c.ca_arn == arn))
        self.conn.execute(delete(private_cas).where(private_cas.c.arn == arn))

    def purge_gone(self, account_id: str, region: str, now: float) -> list[PrivateCaRecord]:
        """Remove the account's CAs whose restoration window has passed; the removed ones."""
        c = private_cas.c
        rows = self.conn.execute(
            select(private_cas).where(
                c.account_id == account_id,
                c.region == region,
                c.status == "DELETED",
                c.restorable_until <= now,
            )
        ).all()
        for row in rows:
            self.remove_permanently(row.arn)
        return [_record(row) for row in rows]

    def count(self, account_id: str, region: str, *, not_gone_at: float) -> int:
        """CAs held in the region, counting DELETED ones still in their window."""
        c = private_cas.c
        query = (
            select(func.count())
            .select_from(private_cas)
            .where(c.account_id == account_id, c.region == region)
            .where((c.restorable_until.is_(None)) | (c.restorable_until > not_gone_at))
        )
        return int(self.conn.execute(query).scalar_one())

    def page(
        self,
        owner_accounts: Sequence[str] | None,
        arns: Sequence[str] | None,
        *,
        region: str,
        now: float,
        after: tuple[float, str] | None,
        limit: int,
    ) -> CaPage:
        """CAs by creation time: of `owner_accounts`, or the listed `arns` (shared CAs)."""
        c = private_cas.c
        query = select(private_cas).where(c.region == region)
        if owner_accounts is not None:
            query = query.where(c.account_id.in_(owner_accounts))
        if arns is not None:
            query = query.where(c.arn.in_(arns))
        query = query.where((c.restorable_until.is_(None)) | (c.restorable_until > now))
        if after is not None:
            created, arn = after
            query = query.where(
                (c.created_at > created) | ((c.created_at == created) & (c.arn > arn))
            )
        rows = self.conn.execute(query.order_by(c.created_at, c.arn).limit(limit + 1)).all()
        records = [_record(row) for row in rows]
        return CaPage(records[:limit], len(records) > limit)

    # -- permissions ----------------------------------------------------------------------

    def permission(self, ca_arn: str, principal: str) -> Permission | None:
        t = private_ca_permissions.c
        row = self.conn.execute(
            select(private_ca_permissions).where(t.ca_arn == ca_arn, t.principal == principal)
        ).first()
        return None if row is None else _permission(row)

    def permissions(self, ca_arn: str) -> list[Permission]:
        t = private_ca_permissions.c
        rows = self.conn.execute(
            select(private_ca_permissions)
            .where(t.ca_arn == ca_arn)
            .order_by(t.created_at, t.principal)
        ).all()
        return [_permission(row) for row in rows]

    def add_permission(self, permission: Permission) -> None:
        self.conn.execute(
            insert(private_ca_permissions).values(
                ca_arn=permission.ca_arn,
                principal=permission.principal,
                source_account=permission.source_account,
                actions_text=",".join(permission.actions),
                created_at=permission.created_at,
            )
        )

    def delete_permission(self, ca_arn: str, principal: str) -> bool:
        t = private_ca_permissions.c
        result = self.conn.execute(
            delete(private_ca_permissions).where(t.ca_arn == ca_arn, t.principal == principal)
        )
        return bool(result.rowcount)

    # -- policy grants --------------------------------------------------------------------

    def set_policy_grants(self, ca_arn: str, region: str, grants: dict[str, set[str]]) -> None:
        """Replace the accounts the CA's policy shares it with."""
        t = private_ca_policy_grants.c
        self.conn.execute(delete(private_ca_policy_grants).where(t.ca_arn == ca_arn))
        for account_id, actions in sorted(grants.items()):
            self.conn.execute(
                insert(private_ca_policy_grants).values(
                    ca_arn=ca_arn,
                    account_id=account_id,
                    region=region,
                    actions_text=",".join(sorted(actions)),
                )
            )

    def shared_with(self, account_id: str, region: str) -> list[str]:
        """ARNs of the CAs whose policies name `account_id`."""
        t = private_ca_policy_grants.c
        rows = self.conn.execute(
            select(t.ca_arn).where(t.account_id == account_id, t.region == region)
        ).all()
        return [row.ca_arn for row in rows]

    def granted_actions(self, ca_arn: str, account_id: str) -> set[str]:
        t = private_ca_policy_grants.c
        text = self.conn.execute(
            select(t.actions_text).where(and_(t.ca_arn == ca_arn, t.account_id == account_id))
        ).scalar_one_or_none()
        return set(text.split(",")) if text else set()


@dataclass(frozen=True)
class Permission:
    ca_arn: str
    principal: str
    source_account: str | None
    actions: tuple[str, ...]
    created_at: float


def _permission(row: Any) -> Permission:
    return Permission(
        row.ca_arn,
        row.principal,
        row.source_account,
        tuple(row.actions_text.split(",")),
        row.created_at,
    )


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate a private CA signed; `serial` is lowercase hex without separators."""

    ca_arn: str
    serial: str
    certificate_arn: str
    certificate_pem: str
    issued_at: float
    not_before: float
    not_after: float
    status: str = "ISSUED"
    revoked_at: float | None = None
    revocation_reason: str | None = None


class IssuedCertificateStore:
    """The `private_ca_certificates` table, for IssueCertificate, GetCertificate,
    RevokeCertificate and CRL generation (built by the issuance side)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(self, issued: IssuedCertificate) -> None:
        self.conn.execute(
            insert(private_ca_certificates).values(
                ca_arn=issued.ca_arn,
                serial=issued.serial,
                certificate_arn=issued.certificate_arn,
                certificate_pem=issued.certificate_pem,
                status=issued.status,
                issued_at=issued.issued_at,
                not_before=issued.not_before,
                not_after=issued.not_after,
                revoked_at=issued.revoked_at,
                revocation_reason=issued.revocation_reason,
            )
        )

    def get(self, ca_arn: str, serial: str) -> IssuedCertificate | None:
        t = private_ca_certificates.c
        row = self.conn.execute(
            select(private_ca_certificates).where(t.ca_arn == ca_arn, t.serial == serial)
        ).first()
        return None if row is None else _issued(row)

    def revoke(self, ca_arn: str, serial: str, reason: str, at: float) -> bool:
        """Mark a serial revoked; False when it is unknown or already revoked."""
        t = private_ca_certificates.c
        result = self.conn.execute(
            update(private_ca_certificates)
            .where(t.ca_arn == ca_arn, t.serial == serial, t.revoked_at.is_(None))
            .values(status="REVOKED", revoked_at=at, revocation_reason=reason)
        )
        return bool(result.rowcount == 1)

    def revoked(self, ca_arn: str) -> list[IssuedCertificate]:
        """Every revoked serial of a CA, in revocation order (the CRL's entries)."""
        t = private_ca_certificates.c
        rows = self.conn.execute(
            select(private_ca_certificates)
            .where(t.ca_arn == ca_arn, t.revoked_at.is_not(None))
            .order_by(t.revoked_at, t.serial)
        ).all()
        return [_issued(row) for row in rows]


def _issued(row: Any) -> IssuedCertificate:
    return IssuedCertificate(
        ca_arn=row.ca_arn,
        serial=row.serial,
        certificate_arn=row.certificate_arn,
        certificate_pem=row.certificate_pem,
        issued_at=row.issued_at,
        not_before=row.not_before,
        not_after=row.not_after,
        status=row.status,
        revoked_at=row.revoked_at,
        revocation_reason=row.revocation_reason,
    )
