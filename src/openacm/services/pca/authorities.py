"""The life of a private CA: create, CSR, import of its certificate, describe, list, update,
delete and restore.

Each handler takes the call context and the validated input (member names as in the model)
and returns the output members. One transaction per call: a refusal leaves nothing behind.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography import x509
from sqlalchemy import Connection

from openacm.adapters.ca.algorithms import (
    PrivateCaSigner,
    UnsupportedAlgorithmError,
    public_key_der,
)
from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.accounts import AccountStore, StoredToken
from openacm.adapters.store.certificates import TagStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.pca import PrivateCaRecord, PrivateCaStore
from openacm.config import IssuanceSettings, Quotas
from openacm.domain import pca
from openacm.domain.arn import Arn, parse_arn
from openacm.domain.errors import (
    AccessDeniedError,
    InvalidArnError,
    LimitExceededError,
    RequestInProgressError,
    ResourceNotFoundError,
)
from openacm.domain.tags import TagLimits, merge_tags, tags_from_api
from openacm.services.acm.certificates import make_page_token, query_digest_of, read_page_token
from openacm.services.context import CallContext
from openacm.services.iam.authorizer import (
    caller_request,
    request_keys,
    resource_policy_refusal,
)
from openacm.services.pca.keys import PrivateCaKeys

log = logging.getLogger("openacm.pca")

LIST_DEFAULT_MAX_RESULTS = 100
DEFAULT_KEY_STORAGE = "FIPS_140_2_LEVEL_3_OR_HIGHER"
DEFAULT_USAGE_MODE = "GENERAL_PURPOSE"
PCA_TAG_KEY_LENGTH = 128
PCA_TAG_VALUE_LENGTH = 256


def ca_arn(ctx: CallContext, ca_id: str) -> str:
    """arn:aws:acm-pca:<region>:<account>:certificate-authority/<uuid> (PRODUCT.md)."""
    return str(
        Arn(ctx.partition, "acm-pca", ctx.region, ctx.account_id, f"certificate-authority/{ca_id}")
    )


class CertificateAuthorities:
    """Reading a CA for a caller, shared by every ACM-PCA operation."""

    def __init__(
        self,
        db: Database,
        cipher: EnvelopeCipher,
        quotas: Quotas,
        keys: PrivateCaKeys | None = None,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.quotas = quotas
        self.keys = keys or PrivateCaKeys(cipher, IssuanceSettings())
        # ACM's tag rules with AWS's general tag lengths, the ones the ACM-PCA model states
        # (ACM's own limits are a character shorter: inventory §8).
        self.tag_limits = TagLimits(
            quotas.tags_per_resource, PCA_TAG_KEY_LENGTH, PCA_TAG_VALUE_LENGTH
        )

    def load(
        self,
        conn: Connection,
        ctx: CallContext,
        arn: str,
        operation: str,
        *,
        shareable: bool = False,
        state_rule: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> PrivateCaRecord:
        """The CA named by `arn`, refused as AWS refuses: not a CA ARN, another account's CA
        (unless its policy grants this account the operation and it is `shareable`), unknown,
        or deleted past its restoration window. The operation's state rule (or `state_rule`,
        when one operation has several) is checked too. `params`, the call's input, gives the
        resource policy's conditions their keys (acm-pca:TemplateArn, the request's tags)."""
        parsed = parse_arn(arn)
        if (
            parsed.service != "acm-pca"
            or parsed.resource_type != "certificate-authority"
            or not parsed.resource_id
        ):
            raise InvalidArnError(f"String '{arn}' is not a valid ARN")
        store = PrivateCaStore(conn)
        record = store.get(arn) if parsed.region == ctx.region else None
        if parsed.account_id != ctx.account_id:
            # Another account's CA: only what its resource policy grants, decided by the
            # policy engine (docs/access-control.md), and only for shareable operations.
            action = f"acm-pca:{operation}"
            policy_text = record.policy_text if record is not None and shareable else None
            request = caller_request(ctx, action, arn, request_keys("acm-pca", operation, params))
            refusal = resource_policy_refusal(policy_text, request)
            if refusal is not None:
                raise AccessDeniedError(refusal.message(ctx.principal_arn, action, arn))
        if record is None or pca.is_gone(record.status, record.restorable_until, ctx.now):
            raise ResourceNotFoundError(f"Could not find certificate authority {arn}.")
        pca.check_state(state_rule or operation, status_of(record, ctx.now))
        return record

    def signer(self, record: PrivateCaRecord) -> PrivateCaSigner:
        """The CA's key (unsealed, or in the token), signing with the CA's SigningAlgorithm."""
        return self.keys.signer(record)


def status_of(record: PrivateCaRecord, now: float) -> str:
    """The status every call sees (EXPIRED and FAILED are derived: `pca.effective_status`)."""
    return pca.effective_status(record.status, record.not_after, now, created_at=record.created_at)


def describe_view(record: PrivateCaRecord, now: float) -> dict[str, Any]:
    """The CertificateAuthority shape of Describe and List."""
    view: dict[str, Any] = {
        "Arn": record.arn,
        "OwnerAccount": record.account_id,
        "CreatedAt": record.created_at,
        "LastStateChangeAt": record.last_state_change_at,
        "Type": record.ca_type,
        "Status": status_of(record, now),
        "CertificateAuthorityConfiguration": record.configuration,
        "KeyStorageSecurityStandard": record.key_storage_security_standard,
        "UsageMode": record.usage_mode,
    }
    optional = {
        "RevocationConfiguration": record.revocation or None,
        "Serial": record.serial,
        "NotBefore": record.not_before,
        "NotAfter": record.not_after,
        "FailureReason": pca.failure_reason(
            record.status, record.failure_reason, status_of(record, now)
        ),
        "RestorableUntil": record.restorable_until,
    }
    view.update({key: value for key, value in optional.items() if value is not None})
    return view


class LifecycleOperations:
    def __init__(self, authorities: CertificateAuthorities) -> None:
        self.cas = authorities
        self.db = authorities.db

    # -- CreateCertificateAuthority -------------------------------------------------------

    def create_certificate_authority(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Refuse bad input with nothing written; else record the CA as CREATING (one
        transaction: quota, tags, idempotency token), generate its key and CSR outside any
        transaction (seconds for RSA 4096: no writer waits on it) and make it
        PENDING_CERTIFICATE. A CA whose generation never finishes reads as FAILED."""
        configuration = params["CertificateAuthorityConfiguration"]
        pca.check_algorithms(
            configuration["KeyAlgorithm"], configuration["SigningAlgorithm"], ctx.region
        )
        self.cas.keys.check_supported(
            configuration["KeyAlgorithm"], configuration["SigningAlgorithm"]
        )
        csr_builder = pca.csr_builder(
            pca.subject_name(configuration["Subject"]), configuration.get("CsrExtensions")
        )
        revocation = pca.revocation_configuration(params.get("RevocationConfiguration"))
        tags = merge_tags([], tags_from_api(params.get("Tags") or []), self.cas.tag_limits)
        token = params.get("IdempotencyToken")
        scope = (ctx.account_id, ctx.region, "CreateCertificateAuthority")
        if token:
            earlier = self._earlier_answer(ctx, scope, token)
            if earlier is not None:
                return earlier
        record = PrivateCaRecord(
            arn=ca_arn(ctx, str(uuid.uuid4())),
            account_id=ctx.account_id,
            region=ctx.region,
            ca_type=params["CertificateAuthorityType"],
            status=pca.CREATING,
            usage_mode=params.get("UsageMode") or DEFAULT_USAGE_MODE,
            key_algorithm=configuration["KeyAlgorithm"],
            signing_algorithm=configuration["SigningAlgorithm"],
            key_storage_security_standard=params.get("KeyStorageSecurityStandard")
            or DEFAULT_KEY_STORAGE,
            configuration=dict(configuration),
            revocation=revocation,
            created_at=ctx.now,
            last_state_change_at=ctx.now,
        )
        with self.db.write() as conn:
            accounts = AccountStore(conn)
            accounts.lock_account(ctx.account_id)
            if token:
                earlier_answer = _stored_answer(accounts, scope, token, ctx.now)
                if earlier_answer is not None:
                    return earlier_answer
            self._insert_within_quota(PrivateCaStore(conn), ctx, record)
            TagStore(conn).put(record.arn, tags)
            answer = {"CertificateAuthorityArn": record.arn}
            if token:
                digest = query_digest_of(params, exclude=("IdempotencyToken",))
                stored = StoredToken(digest, orjson.dumps(answer).decode(), ctx.now)
                accounts.put_token(scope, token, stored)
        self.complete_creation(record, csr_builder)
        return answer

    def _destroy_key(self, gone: PrivateCaRecord) -> None:
        """A CA removed for good takes its token key with it. Nothing can use the key any
        more, so a token that refuses only leaves an orphan key behind (logged)."""
        try:
            self.cas.keys.destroy(gone)
        except Exception:
            log.exception("could not destroy the token key of %s", gone.arn)

    def _insert_within_quota(
        self, store: PrivateCaStore, ctx: CallContext, record: PrivateCaRecord
    ) -> None:
        # Permanently deleted CAs go when their account next creates one: they already
        # answer no call, this only reclaims their rows.
        for gone in store.purge_gone(ctx.account_id, ctx.region, ctx.now):
            self._destroy_key(gone)
        limit = self.cas.quotas.private_certificate_authorities
        if store.count(ctx.account_id, ctx.region, not_gone_at=ctx.now) >= limit:
            raise LimitExceededError(
                f"You have reached the maximum number of certificate authorities ({limit}) "
                f"in region {ctx.region}."
            )
        store.insert(record)

    def complete_creation(
        self, record: PrivateCaRecord, csr_builder: x509.CertificateSigningRequestBuilder
    ) -> None:
        """CREATING → PENDING_CERTIFICATE with the sealed key and the CSR, or FAILED."""
        try:
            changes: dict[str, Any] = {
                "status": pca.PENDING_CERTIFICATE,
                **self.cas.keys.create(record, csr_builder),
            }
        except Exception as exc:  # the CA exists: it must reach FAILED, as in AWS
            log.exception("key generation for %s failed", record.arn)
            reason = (
                "UNSUPPORTED_ALGORITHM" if isinstance(exc, UnsupportedAlgorithmError) else "OTHER"
            )
            changes = {"status": pca.FAILED, "failure_reason": reason}
        now = time.time()
        with self.db.write() as conn:
            store = PrivateCaStore(conn)
            current = store.get(record.arn)
            # Deleted meanwhile (deletion is allowed while CREATING): a restore brings it back
            # to PENDING_CERTIFICATE with its key.
            if current is not None and current.status == pca.DELETED:
                changes["status_before_deletion"] = changes.pop("status")
            if current is not None:
                save_changed(store, current.changed(now, **changes))

    def _earlier_answer(
        self, ctx: CallContext, scope: tuple[str, str, str], token: str
    ) -> dict[str, Any] | None:
        with self.db.read() as conn:
            return _stored_answer(AccountStore(conn), scope, token, ctx.now)

    # -- CSR and CA certificate -----------------------------------------------------------

    def get_certificate_authority_csr(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self.db.read() as conn:
            record = self.cas.load(
                conn, ctx, params["CertificateAuthorityArn"], "GetCertificateAuthorityCsr"
            )
        return {"Csr": _csr_pem(record)}

    def import_certificate_authority_certificate(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        arn = params["CertificateAuthorityArn"]
        operation = "ImportCertificateAuthorityCertificate"
        with self.db.write() as conn:
            record = self.cas.load(conn, ctx, arn, operation)
            csr = x509.load_pem_x509_csr(_csr_pem(record).encode())
            rules = pca.ImportRules(record.ca_type, public_key_der(csr.public_key()))
            imported = pca.parse_ca_import(
                rules,
                params["Certificate"],
                params.get("CertificateChain") or None,
                datetime.fromtimestamp(ctx.now, UTC),
            )
            # A CA disabled before its certificate expired stays disabled (AWS's status page).
            status = pca.DISABLED if record.status == pca.DISABLED else pca.ACTIVE
            updated = record.changed(
                ctx.now,
                status=status,
                certificate_pem=imported.certificate_pem,
                chain_pem=imported.chain_pem,
                serial=imported.serial,
                not_before=imported.not_before,
                not_after=imported.not_after,
            )
            save_changed(PrivateCaStore(conn), updated)
        return {}

    def get_certificate_authority_certificate(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self.db.read() as conn:
            record = self.cas.load(
                conn,
                ctx,
                params["CertificateAuthorityArn"],
                "GetCertificateAuthorityCertificate",
                shareable=True,
            )
        answer = {"Certificate": record.certificate_pem}
        if record.chain_pem:
            answer["CertificateChain"] = record.chain_pem
        return answer

    # -- reads ----------------------------------------------------------------------------

    def describe_certificate_authority(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self.db.read() as conn:
            record = self.cas.load(
                conn,
                ctx,
                params["CertificateAuthorityArn"],
                "DescribeCertificateAuthority",
                shareable=True,
            )
        return {"CertificateAuthority": describe_view(record, ctx.now)}

    def list_certificate_authorities(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        limit = params.get("MaxResults") or LIST_DEFAULT_MAX_RESULTS
        digest = query_digest_of(params, exclude=("NextToken", "MaxResults"))
        after = None
        if params.get("NextToken"):
            created, arn = read_page_token(
                params["NextToken"], digest, pca.InvalidNextTokenError, ((int, float), str)
            )
            after = (float(created), str(arn))
        with self.db.read() as conn:
            store = PrivateCaStore(conn)
            if params.get("ResourceOwner") == "OTHER_ACCOUNTS":
                shared = store.shared_with(ctx.account_id, ctx.region)
                page = store.page(
                    None, shared, region=ctx.region, now=ctx.now, after=after, limit=limit
                )
            else:
                page = store.page(
                    [ctx.account_id], None, region=ctx.region, now=ctx.now, after=after, limit=limit
                )
        result: dict[str, Any] = {
            "CertificateAuthorities": [describe_view(r, ctx.now) for r in page.records]
        }
        if page.has_more:
            last = page.records[-1]
            result["NextToken"] = make_page_token([last.created_at, last.arn], digest)
        return result

    # -- UpdateCertificateAuthority -------------------------------------------------------

    def update_certificate_authority(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        arn = params["CertificateAuthorityArn"]
        with self.db.write() as conn:
            record = self.cas.load(conn, ctx, arn, "UpdateCertificateAuthority")
            changes: dict[str, Any] = {}
            if "RevocationConfiguration" in params:
                changes["revocation"] = pca.revocation_configuration(
                    params["RevocationConfiguration"]
                )
            if params.get("Status"):
                changes["status"] = pca.requested_status(params["Status"])
            save_changed(PrivateCaStore(conn), record.changed(ctx.now, **changes))
        return {}

    # -- DeleteCertificateAuthority / RestoreCertificateAuthority -------------------------

    def delete_certificate_authority(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        arn = params["CertificateAuthorityArn"]
        with self.db.write() as conn:
            record = self.cas.load(conn, ctx, arn, "DeleteCertificateAuthority")
            current = status_of(record, ctx.now)
            until = pca.deletion_window(params.get("PermanentDeletionTimeInDays"), current, ctx.now)
            deleted = record.changed(
                ctx.now,
                status=pca.DELETED,
                status_before_deletion=record.status,
                restorable_until=until,
            )
            save_changed(PrivateCaStore(conn), deleted)
        return {}

    def restore_certificate_authority(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        arn = params["CertificateAuthorityArn"]
        with self.db.write() as conn:
            record = self.cas.load(conn, ctx, arn, "RestoreCertificateAuthority")
            restored = record.changed(
                ctx.now,
                status=record.status_before_deletion or pca.PENDING_CERTIFICATE,
                status_before_deletion=None,
                restorable_until=None,
            )
            save_changed(PrivateCaStore(conn), restored)
        return {}


def _csr_pem(record: PrivateCaRecord) -> str:
    if record.csr_pem is None:  # only while CREATING, which the state rules answer first
        raise RequestInProgressError("The certificate authority is still being created.")
    return record.csr_pem


def save_changed(store: PrivateCaStore, record: PrivateCaRecord) -> None:
    """Write a changed CA read in this transaction; another writer in between (possible on
    PostgreSQL's READ COMMITTED) makes it ConcurrentModificationException, as in AWS."""
    if not store.replace(record):
        raise pca.ConcurrentModificationError(
            f"The certificate authority {record.arn} was changed by another request; try again."
        )


def _stored_answer(
    accounts: AccountStore, scope: tuple[str, str, str], token: str, now: float
) -> dict[str, Any] | None:
    """The CA created with `token` in the last 5 minutes. The token alone decides, not the
    request: "if you call CreateCertificateAuthority multiple times with the same idempotency
    token within five minutes, AWS Private CA recognizes that you are requesting only one
    certificate authority" (the request's digest is kept for the record)."""
    earlier = accounts.token(scope, token, since=now - pca.IDEMPOTENCY_WINDOW_SECONDS)
    if earlier is None:
        return None
    answer: dict[str, Any] = orjson.loads(earlier.response_json)
    return answer
