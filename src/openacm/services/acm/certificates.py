"""The ACM operations on certificates that exist: import, describe, get, list, search, delete.

Each handler takes the call context and the validated input (member names as in the model)
and returns the output members. One transaction per call: a failure leaves nothing behind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography import x509
from sqlalchemy import Connection

from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store import certificate_queries as queries
from openacm.adapters.store.accounts import AccountStore
from openacm.adapters.store.associations import AssociationStore
from openacm.adapters.store.certificates import CertificateStore, TagStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import ValidationStore
from openacm.adapters.store.work import VALIDATE_WORK, WorkQueue
from openacm.config import Quotas
from openacm.domain.arn import certificate_arn, parse_arn
from openacm.domain.certificates import (
    DEFAULT_LIST_KEY_PAIR_ORIGINS,
    DEFAULT_LIST_KEY_TYPES,
    CertificateRecord,
)
from openacm.domain.errors import (
    AccessDeniedError,
    ApiError,
    InvalidArgsError,
    InvalidArnError,
    InvalidParameterError,
    LimitExceededError,
    RequestInProgressError,
    ResourceInUseError,
    ResourceNotFoundError,
    ValidationError,
)
from openacm.domain.policy import NO_RESOURCE_POLICY
from openacm.domain.tags import TagLimits, merge_tags, tags_from_api
from openacm.domain.x509facts import (
    CertificateFacts,
    ImportMaterial,
    certificate_facts,
    check_reimport,
    facts_document,
    parse_import,
)
from openacm.services.acm.email_validation import forget_email_validation, with_email_details
from openacm.services.context import CallContext
from openacm.services.events import emit_available

YEAR_SECONDS = 365 * 24 * 3600
LIST_DEFAULT_MAX_ITEMS = 1000
SEARCH_DEFAULT_MAX_RESULTS = 100


class CertificateOperations:
    def __init__(self, db: Database, cipher: EnvelopeCipher, quotas: Quotas) -> None:
        self.db = db
        self.cipher = cipher
        self.quotas = quotas
        self.tag_limits = TagLimits(
            quotas.tags_per_resource, quotas.tag_key_length, quotas.tag_value_length
        )

    # -- lookups shared by every certificate operation -------------------------------------

    def owned_arn(self, ctx: CallContext, arn: str, operation: str) -> str:
        """The ARN, once it names an ACM certificate of the caller's account and region."""
        parsed = parse_arn(arn)
        if (
            parsed.service != "acm"
            or parsed.resource_type != "certificate"
            or not parsed.resource_id
        ):
            raise InvalidArnError(f"String '{arn}' is not a valid ARN")
        if parsed.account_id != ctx.account_id:
            raise AccessDeniedError(
                NO_RESOURCE_POLICY.message(ctx.principal_arn, f"acm:{operation}", arn)
            )
        if parsed.region != ctx.region or parsed.partition != ctx.partition:
            raise _not_found(arn, ctx)
        return arn

    def load(
        self, conn: Connection, ctx: CallContext, arn: str, operation: str, *, bodies: bool = False
    ) -> CertificateRecord:
        owned = self.owned_arn(ctx, arn, operation)
        record = CertificateStore(conn).get(owned, with_bodies=bodies)
        if record is None:
            raise _not_found(arn, ctx)
        return record

    # -- ImportCertificate ----------------------------------------------------------------

    def import_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        material = parse_import(
            params["Certificate"],
            params["PrivateKey"],
            params.get("CertificateChain"),
            now=datetime.fromtimestamp(ctx.now, UTC),
        )
        if params.get("CertificateArn"):
            return self._reimport(ctx, params, material)
        tags = merge_tags([], tags_from_api(params.get("Tags") or []), self.tag_limits)
        certificate_id = str(uuid.uuid4())
        arn = certificate_arn(ctx.partition, ctx.region, ctx.account_id, certificate_id)
        record = _imported_record(arn, certificate_id, ctx, material, created_at=ctx.now)
        sealed_key = self.cipher.seal(material.private_key_pkcs8_der, arn)
        with self.db.write() as conn:
            AccountStore(conn).lock_account(ctx.account_id)
            store = CertificateStore(conn)
            self._check_import_quotas(store, ctx, new_certificate=True)
            store.insert(record, sealed_key)
            store.record_quota_use(ctx.account_id, ctx.region, "IMPORTED", arn, ctx.now)
            TagStore(conn).put(arn, tags)
            emit_available(conn, record, "IMPORT", ctx.now)
        return {"CertificateArn": arn}

    def _reimport(
        self, ctx: CallContext, params: Mapping[str, Any], material: ImportMaterial
    ) -> dict[str, Any]:
        arn = params["CertificateArn"]
        if params.get("Tags"):
            raise InvalidParameterError("Tags cannot be applied when reimporting a certificate.")
        with self.db.write() as conn:
            AccountStore(conn).lock_account(ctx.account_id)
            original = self.load(conn, ctx, arn, "ImportCertificate", bodies=True)
            if original.type != "IMPORTED":
                raise ValidationError(
                    f"Certificate {arn} was not imported; only imported certificates can be "
                    "reimported."
                )
            check_reimport(_facts_of(original), material.facts)
            store = CertificateStore(conn)
            self._check_import_quotas(store, ctx, new_certificate=False)
            replacement = _imported_record(
                arn, original.certificate_id, ctx, material, created_at=original.created_at
            )
            replacement.in_use_by = original.in_use_by
            replacement.exported = original.exported
            replacement.row_version = original.row_version
            if not store.replace(
                replacement, self.cipher.seal(material.private_key_pkcs8_der, arn)
            ):
                raise ValidationError(f"Certificate {arn} changed during the reimport; try again.")
            store.record_quota_use(ctx.account_id, ctx.region, "IMPORTED", arn, ctx.now)
            emit_available(conn, replacement, "REIMPORT", ctx.now)
        return {"CertificateArn": arn}

    def _check_import_quotas(
        self, store: CertificateStore, ctx: CallContext, *, new_certificate: bool
    ) -> None:
        check_certificate_quotas(
            store,
            ctx,
            "IMPORTED",
            held_limit=self.quotas.imported_certificates if new_certificate else None,
            yearly_limit=self.quotas.imported_per_year,
            held_noun="imported certificates",
            yearly_noun="certificate imports",
        )

    # -- reads ----------------------------------------------------------------------------

    def describe_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.db.read() as conn:
            record = self.load(conn, ctx, params["CertificateArn"], "DescribeCertificate")
            if record.associated:  # the consumers' ARNs only when there are some
                record.in_use_by = AssociationStore(conn).consumers(record.arn)
            if record.type == "AMAZON_ISSUED":
                record.validations = with_email_details(
                    conn, record.arn, ValidationStore(conn).list(record.arn)
                )
        return {"Certificate": record.detail(ctx.now)}

    def get_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.db.read() as conn:
            record = self.load(conn, ctx, params["CertificateArn"], "GetCertificate", bodies=True)
        if record.certificate_pem is None:
            if record.status == "PENDING_VALIDATION":
                raise RequestInProgressError(
                    f"Certificate {record.arn} is still pending validation and has not been issued."
                )
            raise ValidationError(
                f"Certificate {record.arn} was never issued (status {record.status})."
            )
        return {"Certificate": record.certificate_pem, "CertificateChain": record.chain_pem}

    def delete_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["CertificateArn"]
        with self.db.write() as conn:
            self.load(conn, ctx, arn, "DeleteCertificate")
            associations = AssociationStore(conn)
            # Checked under the certificate's row lock, which AssociateCertificate takes too:
            # no association can be committed between this check and the delete.
            associations.lock_certificate(arn)
            in_use_by = associations.consumers(arn)
            if in_use_by:
                raise ResourceInUseError(f"Certificate {arn} is in use by {', '.join(in_use_by)}.")
            CertificateStore(conn).delete(arn)
            ValidationStore(conn).delete(arn)
            WorkQueue(conn).cancel(VALIDATE_WORK, arn)
            forget_email_validation(conn, arn)
        return {}

    def list_certificates(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        descending = params.get("SortOrder") == "DESCENDING"
        limit = params.get("MaxItems") or LIST_DEFAULT_MAX_ITEMS
        query_digest = query_digest_of(params, exclude=("NextToken", "MaxItems"))
        conditions = queries.list_conditions(
            params.get("CertificateStatuses") or [],
            params.get("CertificateKeyPairOrigins") or DEFAULT_LIST_KEY_PAIR_ORIGINS,
            params.get("Includes") or {},
            default_key_types=DEFAULT_LIST_KEY_TYPES,
            now=ctx.now,
        )
        created, arn_col = queries.c.created_at, queries.c.arn
        if params.get("NextToken"):
            after_created, after_arn = read_page_token(
                params["NextToken"], query_digest, InvalidArgsError, ((int, float), str)
            )
            if descending:
                conditions.append(
                    (created < after_created) | ((created == after_created) & (arn_col < after_arn))
                )
            else:
                conditions.append(
                    (created > after_created) | ((created == after_created) & (arn_col > after_arn))
                )
        order = [created.desc(), arn_col.desc()] if descending else [created, arn_col]
        with self.db.read() as conn:
            page = CertificateStore(conn).page(
                ctx.account_id, ctx.region, conditions, order=order, limit=limit
            )
        result: dict[str, Any] = {
            "CertificateSummaryList": [r.summary(ctx.now) for r in page.records]
        }
        if page.has_more:
            last = page.records[-1]
            result["NextToken"] = make_page_token([last.created_at, last.arn], query_digest)
        return result

    def search_certificates(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        limit = params.get("MaxResults") or SEARCH_DEFAULT_MAX_RESULTS
        query_digest = query_digest_of(params, exclude=("NextToken", "MaxResults"))
        offset = 0
        if params.get("NextToken"):
            (offset,) = read_page_token(params["NextToken"], query_digest, ValidationError, (int,))
        conditions = []
        if params.get("FilterStatement"):
            conditions.append(queries.search_condition(params["FilterStatement"], ctx.now))
        column = queries.search_sort_column(params.get("SortBy", "CREATED_AT"))
        descending = params.get("SortOrder") == "DESCENDING"
        # Certificates without the sort key (no common name, never revoked...) come last either
        # way, on every backend (SQLite and PostgreSQL disagree on where NULLs sort).
        if descending:
            order = [column.desc().nulls_last(), queries.c.arn.desc()]
        else:
            order = [column.asc().nulls_last(), queries.c.arn]
        with self.db.read() as conn:
            page = CertificateStore(conn).page(
                ctx.account_id, ctx.region, conditions, order=order, limit=limit, offset=offset
            )
        result: dict[str, Any] = {"Results": [r.search_result(ctx.now) for r in page.records]}
        if page.has_more:
            result["NextToken"] = make_page_token([offset + limit], query_digest)
        return result


def check_certificate_quotas(
    store: CertificateStore,
    ctx: CallContext,
    kind: str,
    *,
    held_limit: int | None,
    yearly_limit: int,
    held_noun: str,
    yearly_noun: str,
) -> None:
    """ACM's two quotas for one kind of certificate (inventory §4.8): how many the account
    holds in the region (None: the call adds none), and how many it added in 365 days (the
    ledger keeps deleted ones)."""
    if held_limit is not None and store.count(ctx.account_id, ctx.region, kind) >= held_limit:
        raise LimitExceededError(
            f"Account {ctx.account_id} has reached its limit of {held_limit} {held_noun} in "
            f"{ctx.region}."
        )
    recent = store.quota_uses_since(ctx.account_id, ctx.region, kind, ctx.now - YEAR_SECONDS)
    if recent >= yearly_limit:
        raise LimitExceededError(
            f"Account {ctx.account_id} has reached its limit of {yearly_limit} {yearly_noun} "
            f"in {ctx.region} in the last 365 days."
        )


def _not_found(arn: str, ctx: CallContext) -> ResourceNotFoundError:
    return ResourceNotFoundError(
        f"Certificate with arn {arn} not found in account {ctx.account_id}"
    )


def _facts_of(record: CertificateRecord) -> CertificateFacts:
    """The stored certificate's facts, read again from its PEM: the rules compare X.509."""
    assert record.certificate_pem is not None
    return certificate_facts(x509.load_pem_x509_certificate(record.certificate_pem.encode()))


def _imported_record(
    arn: str, certificate_id: str, ctx: CallContext, material: ImportMaterial, *, created_at: float
) -> CertificateRecord:
    facts = material.facts
    return CertificateRecord(
        arn=arn,
        certificate_id=certificate_id,
        account_id=ctx.account_id,
        region=ctx.region,
        type="IMPORTED",
        status="ISSUED",
        domain_name=facts.domain_name,
        names=_distinct_names(facts.domain_name, facts.subject_alternative_names),
        key_algorithm=facts.key_algorithm,
        key_usages=facts.key_usages,
        extended_key_usages=facts.extended_key_usages,
        serial=facts.serial,
        not_before=facts.not_before.timestamp(),
        not_after=facts.not_after.timestamp(),
        created_at=created_at,
        imported_at=ctx.now,
        certificate_pem=material.certificate_pem,
        chain_pem=material.chain_pem,
        facts=facts_document(facts),
    )


def _distinct_names(domain_name: str | None, sans: tuple[str, ...]) -> tuple[str, ...]:
    names = [domain_name] if domain_name else []
    names.extend(sans)
    return tuple(dict.fromkeys(names))


# -- pagination tokens ------------------------------------------------------------------------
# A token carries where the previous page ended and a digest of the query it belongs to, so a
# token replayed with other filters is refused instead of silently skipping results.


def query_digest_of(params: Mapping[str, Any], *, exclude: tuple[str, ...]) -> str:
    relevant = {k: v for k, v in params.items() if k not in exclude}
    encoded = orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS, default=_json_default)
    return hashlib.sha256(encoded).hexdigest()[:16]


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(type(value).__name__)


def make_page_token(position: list[Any], query_digest: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"p": position, "q": query_digest})).decode()


def read_page_token(
    token: str,
    query_digest: str,
    error: type[ApiError],
    shape: tuple[type | tuple[type, ...], ...],
) -> list[Any]:
    """The position in a token of this query; `shape` is the type of each of its parts, so a
    token of another operation (or a forged one) is refused rather than failing the query."""
    try:
        document = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        position = document["p"]
        valid = (
            document["q"] == query_digest
            and isinstance(position, list)
            and len(position) == len(shape)
            and all(
                isinstance(part, kind) and not isinstance(part, bool)
                for part, kind in zip(position, shape, strict=True)
            )
            and not any(isinstance(part, int) and part < 0 for part in position)
        )
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        valid = False
    if not valid:
        raise error("The NextToken is invalid or does not belong to this request.")
    return list(position)
