"""Persistence of ACM certificates, their tags and their quota ledger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy import update as sql_update

from openacm.adapters.store.schema import certificates, quota_ledger, tags
from openacm.domain.certificates import CertificateRecord
from openacm.domain.renewal import FAILED, IN_PROGRESS, MANAGED_TYPES, renewal_due_at
from openacm.domain.tags import Tag

# Everything a response needs; the PEM bodies and the sealed key are fetched only by the
# calls that return them.
_LISTED_COLUMNS = [
    c
    for c in certificates.c
    if c.name not in ("certificate_pem", "chain_pem", "private_key_sealed")
]


# Built once: a prebuilt statement keeps its compiled form and cache key across calls, which
# matters on DescribeCertificate's path.
_GET = select(*_LISTED_COLUMNS).where(certificates.c.arn == bindparam("arn"))
_GET_WITH_BODIES = select(certificates).where(certificates.c.arn == bindparam("arn"))
# Writing a row the same way: building an INSERT or UPDATE of every column from literal values
# costs about 0.7 ms of SQLAlchemy work per call, running the prebuilt one about 0.05 ms
# (RequestCertificate inserts a row, the validation worker replaces it when it issues).
_INSERT = insert(certificates)
# Columns whose only writer is elsewhere: `in_use` follows the associations
# (adapters/store/associations.py) in their own transactions, so a replace made from a
# record read earlier must not set it back.
_NOT_REPLACED = frozenset({"in_use"})
_REPLACE = (
    sql_update(certificates)
    .where(
        certificates.c.arn == bindparam("where_arn"),
        certificates.c.row_version == bindparam("where_row_version"),
    )
    .values(
        {
            column.name: bindparam(column.name)
            for column in certificates.c
            if column.name not in _NOT_REPLACED
        }
    )
)
# RequestCertificate's quota checks and ledger entry, and the tags it sets.
_COUNT = (
    select(func.count())
    .select_from(certificates)
    .where(
        certificates.c.account_id == bindparam("account_id"),
        certificates.c.region == bindparam("region"),
        certificates.c.type == bindparam("type"),
    )
)
_QUOTA_USES_SINCE = (
    select(func.count())
    .select_from(quota_ledger)
    .where(
        quota_ledger.c.account_id == bindparam("account_id"),
        quota_ledger.c.region == bindparam("region"),
        quota_ledger.c.kind == bindparam("kind"),
        quota_ledger.c.at > bindparam("since"),
    )
)
_RECORD_QUOTA_USE = insert(quota_ledger)
_TAGS = (
    select(tags.c.tag_key, tags.c.tag_value)
    .where(tags.c.resource_arn == bindparam("arn"))
    .order_by(tags.c.tag_id)
)


def _joined(values: Iterable[str]) -> str:
    """ ",A,B," — a delimited form a LIKE '%,A,%' predicate can test in any database."""
    items = list(values)
    return "," + ",".join(items) + "," if items else ""


def _names_text(names: Iterable[str]) -> str:
    items = list(names)
    return "\n" + "\n".join(items) + "\n" if items else ""


def record_row(record: CertificateRecord, private_key_sealed: bytes | None) -> dict[str, Any]:
    return {
        "arn": record.arn,
        "certificate_id": record.certificate_id,
        "account_id": record.account_id,
        "region": record.region,
        "type": record.type,
        "status": record.status,
        "domain_name": record.domain_name,
        "has_domain": record.has_domain,
        "common_name": (record.facts.get("subject_dn") or {}).get("CommonName"),
        "names_text": _names_text(record.names),
        "key_algorithm": record.key_algorithm,
        "key_usages_text": _joined(record.key_usages),
        "extended_key_usages_text": _joined(name for name, _ in record.extended_key_usages),
        "serial": record.serial,
        "not_before": record.not_before,
        "not_after": record.not_after,
        "created_at": record.created_at,
        "imported_at": record.imported_at,
        "issued_at": record.issued_at,
        "revoked_at": record.revoked_at,
        "revocation_reason": record.revocation_reason,
        "in_use": record.in_use,
        "exported": record.exported,
        "export_option": record.export_option,
        "managed_by": record.managed_by,
        "key_pair_origin": record.key_pair_origin,
        "renewal_eligibility": record.renewal_eligibility,
        "renewal_status": record.renewal_status,
        "validation_method": record.validation_method,
        "acme_endpoint_arn": record.acme_endpoint_arn,
        "acme_account_id": record.acme_account_id,
        "failure_reason": record.failure_reason,
        "ct_logging": record.options.get("CertificateTransparencyLoggingPreference"),
        "issuer_ca_id": record.issuer_ca_id,
        "certificate_authority_arn": record.certificate_authority_arn,
        "renewal_status_reason": record.renewal_status_reason,
        "renewal_updated_at": record.renewal_updated_at,
        "renewal_due_at": renewal_due_at(record),
        "certificate_pem": record.certificate_pem,
        "chain_pem": record.chain_pem,
        "private_key_sealed": private_key_sealed,
        "facts_json": orjson.dumps(_facts_document(record)).decode(),
        "row_version": record.row_version,
    }


def _facts_document(record: CertificateRecord) -> dict[str, Any]:
    document = dict(record.facts)
    document["names"] = list(record.names)
    document["key_usages"] = list(record.key_usages)
    document["extended_key_usages"] = [list(pair) for pair in record.extended_key_usages]
    return document


def _records(result: Any) -> list[CertificateRecord]:
    # Plain dicts built from the result's keys once: RowMapping access costs several times
    # more per row, and .get() of an absent column (the PEM bodies, left out of listings)
    # raises and catches inside SQLAlchemy.
    keys = list(result.keys())
    return [record_from_mapping(dict(zip(keys, row, strict=True))) for row in result.all()]


def record_from_mapping(mapping: dict[str, Any]) -> CertificateRecord:
    facts = orjson.loads(mapping["facts_json"])
    return CertificateRecord(
        arn=mapping["arn"],
        certificate_id=mapping["certificate_id"],
        account_id=mapping["account_id"],
        region=mapping["region"],
        type=mapping["type"],
        status=mapping["status"],
        domain_name=mapping["domain_name"],
        names=tuple(facts["names"]),
        key_algorithm=mapping["key_algorithm"],
        key_usages=tuple(facts["key_usages"]),
        extended_key_usages=tuple((n, o) for n, o in facts["extended_key_usages"]),
        serial=mapping["serial"],
        not_before=mapping["not_before"],
        not_after=mapping["not_after"],
        created_at=mapping["created_at"],
        certificate_pem=mapping.get("certificate_pem"),
        chain_pem=mapping.get("chain_pem"),
        facts=facts,
        imported_at=mapping["imported_at"],
        issued_at=mapping["issued_at"],
        revoked_at=mapping["revoked_at"],
        revocation_reason=mapping["revocation_reason"],
        exported=mapping["exported"],
        associated=mapping["in_use"],
        export_option=mapping["export_option"],
        managed_by=mapping["managed_by"],
        key_pair_origin=mapping["key_pair_origin"],
        renewal_eligibility=mapping["renewal_eligibility"],
        renewal_status=mapping["renewal_status"],
        validation_method=mapping["validation_method"],
        acme_endpoint_arn=mapping["acme_endpoint_arn"],
        acme_account_id=mapping["acme_account_id"],
        failure_reason=mapping["failure_reason"],
        issuer_ca_id=mapping["issuer_ca_id"],
        certificate_authority_arn=mapping["certificate_authority_arn"],
        renewal_status_reason=mapping["renewal_status_reason"],
        renewal_updated_at=mapping["renewal_updated_at"],
        options=_options(mapping),
        row_version=mapping["row_version"],
    )


def _options(mapping: dict[str, Any]) -> dict[str, str]:
    options = {"CertificateTransparencyLoggingPreference": mapping["ct_logging"] or "ENABLED"}
    if mapping["export_option"]:
        options["Export"] = mapping["export_option"]
    return options


@dataclass(frozen=True)
class Page:
    records: list[CertificateRecord]
    has_more: bool


@dataclass(frozen=True)
class DueRenewal:
    """A certificate the renewal sweep starts: enough to mark it and queue it."""

    arn: str
    row_version: int
    not_after: float
    validation_method: str | None


class CertificateStore:
    """Queries on one connection (one transaction); the service decides the boundaries."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- single certificates --------------------------------------------------------------

    def get(self, arn: str, *, with_bodies: bool = False) -> CertificateRecord | None:
        statement = _GET_WITH_BODIES if with_bodies else _GET
        records = _records(self.conn.execute(statement, {"arn": arn}))
        return records[0] if records else None

    def insert(self, record: CertificateRecord, private_key_sealed: bytes | None) -> None:
        self.conn.execute(_INSERT, record_row(record, private_key_sealed))

    def replace(self, record: CertificateRecord, private_key_sealed: bytes | None) -> bool:
        """Overwrite a certificate if nobody changed it since it was read (row_version)."""
        values = record_row(record, private_key_sealed)
        for name in _NOT_REPLACED:  # an UPDATE would also SET any column named here
            del values[name]
        values["row_version"] = record.row_version + 1
        values["where_arn"] = record.arn
        values["where_row_version"] = record.row_version
        result = self.conn.execute(_REPLACE, values)
        return bool(result.rowcount == 1)

    def sealed_private_key(self, arn: str) -> bytes | None:
        """The certificate's private key as sealed by the envelope cipher (None if it has
        none yet): for the operations that hand a key out, never for listing."""
        sealed = self.conn.execute(
            select(certificates.c.private_key_sealed).where(certificates.c.arn == arn)
        ).scalar_one_or_none()
        return bytes(sealed) if sealed is not None else None

    def set_renewal(
        self, arn: str, status: str, reason: str | None, updated_at: float, *, row_version: int
    ) -> bool:
        """The RenewalSummary's status, reason and time, nothing else (the current certificate,
        its key and everything else stay); False if the row changed since `row_version`."""
        result = self.conn.execute(
            sql_update(certificates)
            .where(certificates.c.arn == arn, certificates.c.row_version == row_version)
            .values(
                renewal_status=status,
                renewal_status_reason=reason,
                renewal_updated_at=updated_at,
                row_version=certificates.c.row_version + 1,
            )
        )
        return bool(result.rowcount == 1)

    def mark_exported(self, arn: str) -> None:
        """Exported since the last issuance, which makes a managed certificate eligible for
        renewal (decision 5)."""
        self.conn.execute(
            sql_update(certificates)
            .where(certificates.c.arn == arn)
            .values(exported=True, row_version=certificates.c.row_version + 1)
        )

    def due_for_renewal(
        self, now: float, *, retry_failed_after: float, limit: int
    ) -> list[DueRenewal]:
        """Certificates whose managed renewal may start at `now` (domain/renewal.py): ISSUED
        and not expired, managed, eligible (exported or in use), inside their window and not
        renewing already (a FAILED renewal again `retry_failed_after` seconds after it
        failed); the longest-due first. One range scan of `ix_certificates_renewal_due`,
        reading four columns: the sweep over a million certificates stays well under a
        second."""
        c = certificates.c
        statement = (
            select(c.arn, c.row_version, c.not_after, c.validation_method)
            .where(
                c.renewal_due_at <= now,
                c.status == "ISSUED",
                c.not_after > now,
                c.type.in_(MANAGED_TYPES),
                or_(c.exported.is_(True), c.in_use.is_(True)),  # eligible (decision 5)
                or_(c.renewal_status.is_(None), c.renewal_status.not_in(IN_PROGRESS)),
                or_(
                    c.renewal_status.is_(None),
                    c.renewal_status != FAILED,
                    c.renewal_updated_at <= now - retry_failed_after,
                ),
            )
            .order_by(c.renewal_due_at)
            .limit(limit)
            # SQLite, without statistics, would rather take the (type, status) index and sort
            # every ISSUED certificate; the due ones are a small range of this one.
            .with_hint(certificates, "INDEXED BY ix_certificates_renewal_due", "sqlite")
        )
        return [DueRenewal(*row) for row in self.conn.execute(statement)]

    def delete(self, arn: str) -> None:
        self.conn.execute(delete(tags).where(tags.c.resource_arn == arn))
        self.conn.execute(delete(certificates).where(certificates.c.arn == arn))

    def count(self, account_id: str, region: str, cert_type: str) -> int:
        parameters = {"account_id": account_id, "region": region, "type": cert_type}
        return int(self.conn.execute(_COUNT, parameters).scalar_one())

    # -- listing --------------------------------------------------------------------------

    def page(
        self,
        account_id: str,
        region: str,
        conditions: Sequence[ColumnElement[bool]],
        *,
        order: Sequence[Any],
        limit: int,
        offset: int = 0,
    ) -> Page:
        query: Select[Any] = (
            select(*_LISTED_COLUMNS)
            .where(certificates.c.account_id == account_id)
            .where(certificates.c.region == region)
            .where(*conditions)
            .order_by(*order)
            .limit(limit + 1)
            .offset(offset)
        )
        records = _records(self.conn.execute(query))
        return Page(records[:limit], len(records) > limit)

    def expiry_counts(self, account_id: str, region: str, boundaries: Sequence[float]) -> list[int]:
        """How many of the scope's certificates have their NotAfter in each span between
        consecutive `boundaries` (each span includes its start; the last also its end, as
        SearchCertificates' NotAfter range does): one GROUP BY, the console's expiry chart."""
        not_after = certificates.c.not_after
        spans = len(boundaries) - 1
        bucket = case(
            *((not_after < end, index) for index, end in enumerate(boundaries[1:-1])),
            else_=spans - 1,
        ).label("bucket")
        query = (
            select(bucket, func.count())
            .where(certificates.c.account_id == account_id)
            .where(certificates.c.region == region)
            .where(not_after >= boundaries[0], not_after <= boundaries[-1])
            .group_by(bucket)
        )
        counts = [0] * spans
        for index, count in self.conn.execute(query):
            counts[int(index)] = int(count)
        return counts

    # -- quota ledger ---------------------------------------------------------------------

    def record_quota_use(
        self, account_id: str, region: str, kind: str, arn: str, at: float
    ) -> None:
        self.conn.execute(
            _RECORD_QUOTA_USE,
            {
                "account_id": account_id,
                "region": region,
                "kind": kind,
                "certificate_arn": arn,
                "at": at,
            },
        )

    def quota_uses_since(self, account_id: str, region: str, kind: str, since: float) -> int:
        parameters = {"account_id": account_id, "region": region, "kind": kind, "since": since}
        return int(self.conn.execute(_QUOTA_USES_SINCE, parameters).scalar_one())


class TagStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def list(self, resource_arn: str) -> list[Tag]:
        rows = self.conn.execute(_TAGS, {"arn": resource_arn}).all()
        return [Tag(key, value) for key, value in rows]

    def put(self, resource_arn: str, new_tags: Sequence[Tag]) -> None:
        """Set each tag's value, keeping the position of keys that already exist."""
        if not new_tags:
            return
        existing = {tag.key for tag in self.list(resource_arn)}
        for tag in new_tags:
            if tag.key in existing:
                self.conn.execute(
                    sql_update(tags)
                    .where(and_(tags.c.resource_arn == resource_arn, tags.c.tag_key == tag.key))
                    .values(tag_value=tag.value)
                )
            else:
                self.conn.execute(
                    insert(tags).values(
                        resource_arn=resource_arn, tag_key=tag.key, tag_value=tag.value
                    )
                )
                existing.add(tag.key)

    def remove(self, resource_arn: str, keys: Sequence[str]) -> None:
        if keys:
            self.conn.execute(
                delete(tags).where(
                    and_(
                        tags.c.resource_arn == resource_arn,
                        or_(*(tags.c.tag_key == k for k in keys)),
                    )
                )
            )
