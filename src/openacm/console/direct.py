"""What the console does that no API operation does: managing the signed-in account's access
keys (services/identity.py: list, create, disable / enable, delete), reading its audit log
(adapters/audit_log.py) and the events of its certificates (adapters/store/events.py); and
counting its certificates' expiries by month for the dashboard, which SearchCertificates
could only do by listing every one of them.

These calls do not go through the API endpoint, so the principal they act for is resolved
here, from the session's key, exactly as the endpoint resolves it (KeyDirectory): a key that
stops working ends the session, and every read or change is confined to the key's account.
Each is authorized as the API call it stands for (IAM's access key operations, CloudTrail's
LookupEvents, DescribeCertificate, SearchCertificates, DescribeCertificateAuthorityAuditReport)
by the endpoint's
Authorizer, so an IAM user's policies hold here as on the wire; a refusal is audited and
raised as AccessDeniedException.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openacm.adapters.audit_log import AuditEntry, AuditLog, search_events
from openacm.adapters.store.accounts import AccessKey
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.events import EventOutbox
from openacm.adapters.store.iam import USER
from openacm.adapters.store.pca_operations import AuditReportStore
from openacm.console.api import CONSOLE_USER_AGENT, Origin, Signer
from openacm.domain.arn import parse_arn
from openacm.domain.errors import AccessDeniedError, ApiError
from openacm.protocol.audit_record import CallerIdentity, RequestFacts, cloudtrail_record
from openacm.protocol.partitions import partition_for_region
from openacm.services.context import CallContext
from openacm.services.iam.admin import IamAdmin
from openacm.services.iam.authorizer import Authorizer
from openacm.services.identity import IdentityAdmin, KeyDirectory

# The trail's name for the access key changes the console makes: IAM's event names.
IAM_SOURCE = "iam.amazonaws.com"
# Each direct call's event source, by the action prefix it is authorized as.
EVENT_SOURCES = {
    "iam": IAM_SOURCE,
    "cloudtrail": "cloudtrail.amazonaws.com",
    "acm": "acm.amazonaws.com",
    "acm-pca": "acm-pca.amazonaws.com",
}


@dataclass(frozen=True)
class DirectServices:
    db: Database
    identity: IdentityAdmin
    keys: KeyDirectory
    clock: Callable[[], float]
    audit: AuditLog
    authorizer: Authorizer

    def context(self, signer: Signer, origin: Origin) -> CallContext | None:
        """The call context of the session's key, as the endpoint would build it for a
        request it signed; None when the key no longer resolves (disabled or deleted), or is
        an STS session key (the console signs without a session token, so the API refuses
        such a key too)."""
        principal = self.keys.principal(signer.access_key_id)
        if principal is None or principal.token_sha256 is not None:
            return None
        partition = partition_for_region(signer.region) or "aws"
        return CallContext(
            account_id=principal.account_id,
            region=signer.region,
            partition=partition,
            access_key_id=principal.access_key_id,
            user_name=principal.user_name,
            request_id=str(uuid.uuid4()),
            source_ip=origin.client_ip,
            user_agent=origin.user_agent,
            now=self.clock(),
            secure_transport=origin.scheme == "https",
            caller=principal.caller(partition),
        )

    def _authorize(
        self, ctx: CallContext, prefix: str, operation: str, params: dict[str, Any]
    ) -> None:
        """Return when the caller's policies allow the call; audit the refusal and raise
        AccessDeniedException (AWS's message) when not."""
        try:
            self.authorizer.check(ctx, prefix, operation, params)
        except AccessDeniedError as refusal:
            self._audit(ctx, operation, params, None, source=EVENT_SOURCES[prefix], error=refusal)
            raise

    def _check_manageable(self, ctx: CallContext, user_name: str) -> None:
        """An IAM user or role session manages keys of IAM users only, as IAM's own
        CreateAccessKey does (services/iam/api.py): a key under any other name would be a root
        key, which nothing restricts (IamError NoSuchEntity). The account's root manages both."""
        if ctx.caller is not None:
            IamAdmin(self.db).get(ctx.account_id, USER, user_name)

    def access_keys(self, ctx: CallContext) -> list[AccessKey]:
        self._authorize(ctx, "iam", "ListAccessKeys", {})
        return self.identity.list_access_keys(ctx.account_id)

    def create_access_key(self, ctx: CallContext, user_name: str) -> tuple[AccessKey, str]:
        """A new key of the caller's account, recorded in the audit trail as IAM's
        CreateAccessKey (without its secret); IdentityError when it cannot be made."""
        self._authorize(ctx, "iam", "CreateAccessKey", {"UserName": user_name})
        self._check_manageable(ctx, user_name)
        key, secret = self.identity.create_access_key(ctx.account_id, user_name=user_name)
        view = {"AccessKeyId": key.access_key_id, "Status": key.status, "UserName": user_name}
        self._audit(ctx, "CreateAccessKey", {"UserName": user_name}, {"AccessKey": view})
        return key, secret

    def set_access_key_status(self, ctx: CallContext, access_key_id: str, status: str) -> bool:
        """Enable or disable a key of the caller's account (False for any other key),
        recorded as IAM's UpdateAccessKey."""
        owners = {k.access_key_id: k.user_name for k in self.access_keys(ctx)}
        if access_key_id not in owners:
            return False
        params = {"UserName": owners[access_key_id], "AccessKeyId": access_key_id}
        self._authorize(ctx, "iam", "UpdateAccessKey", params | {"Status": status})
        self._check_manageable(ctx, owners[access_key_id])
        self.identity.set_access_key_status(access_key_id, status)
        self._audit(ctx, "UpdateAccessKey", {"AccessKeyId": access_key_id, "Status": status}, None)
        return True

    def delete_access_key(self, ctx: CallContext, access_key_id: str) -> bool:
        """Delete a key of the caller's account (False for any other key), recorded as IAM's
        DeleteAccessKey."""
        owners = {k.access_key_id: k.user_name for k in self.access_keys(ctx)}
        if access_key_id not in owners:
            return False
        params = {"UserName": owners[access_key_id], "AccessKeyId": access_key_id}
        self._authorize(ctx, "iam", "DeleteAccessKey", params)
        self._check_manageable(ctx, owners[access_key_id])
        self.identity.delete_access_key(ctx.account_id, access_key_id)
        self._audit(ctx, "DeleteAccessKey", params, None)
        return True

    def _audit(
        self,
        ctx: CallContext,
        event_name: str,
        params: dict[str, Any],
        result: dict[str, Any] | None,
        *,
        source: str = IAM_SOURCE,
        error: ApiError | None = None,
    ) -> None:
        facts = RequestFacts(
            request_id=ctx.request_id,
            event_source=source,
            event_name=event_name,
            region=ctx.region,
            source_ip=ctx.source_ip,
            user_agent=f"{CONSOLE_USER_AGENT} ({ctx.user_agent[:200]})",
            event_time=ctx.now,
            tls=ctx.secure_transport,
        )
        caller = CallerIdentity.of(ctx)
        record = cloudtrail_record(facts, caller, None, params, result, error)
        self.audit.record(AuditEntry(record, ctx.now, None), durable=True)

    def certificate_events(
        self, ctx: CallContext, arn: str, limit: int
    ) -> Sequence[dict[str, Any]]:
        """The events emitted about one certificate of the caller's account, newest first."""
        self._authorize(ctx, "acm", "DescribeCertificate", {"CertificateArn": arn})
        with self.db.read() as conn:
            return EventOutbox(conn).for_resource(ctx.account_id, arn, limit=limit)

    def expiry_counts(self, ctx: CallContext, boundaries: Sequence[float]) -> list[int]:
        """How many certificates of the caller's account and region expire in each span
        between `boundaries`: what SearchCertificates with a NotAfter range would list, counted
        in the store rather than read page by page (the dashboard's chart)."""
        self._authorize(ctx, "acm", "SearchCertificates", {})
        with self.db.read() as conn:
            return CertificateStore(conn).expiry_counts(ctx.account_id, ctx.region, boundaries)

    def audit_report_ids(self, ctx: CallContext, ca_arn: str, limit: int) -> list[str]:
        """The newest audit reports of a CA of the caller's account (others': none); each is
        then described through the API."""
        try:
            owner = parse_arn(ca_arn).account_id
        except ApiError:
            return []
        if owner != ctx.account_id:
            return []
        operation = "DescribeCertificateAuthorityAuditReport"
        self._authorize(ctx, "acm-pca", operation, {"CertificateAuthorityArn": ca_arn})
        with self.db.read() as conn:
            return AuditReportStore(conn).ids_for(ca_arn, limit)

    def audit_records(
        self, ctx: CallContext, filters: AuditFilters, limit: int
    ) -> list[dict[str, Any]]:
        """The caller's account's audit records matching `filters`, newest first."""
        self._authorize(ctx, "cloudtrail", "LookupEvents", {})
        return search_events(
            self.db,
            limit=limit,
            account_id=ctx.account_id,
            event_names=[filters.event_name] if filters.event_name else [],
            access_key_id=filters.access_key_id or None,
            error_code=filters.error_code or None,
            resource_arn=filters.resource_arn or None,
            since=filters.since,
            until=filters.until,
        )


@dataclass(frozen=True)
class AuditFilters:
    """The audit log page's filters (those of `openacm audit search`); empty means any."""

    event_name: str = ""
    access_key_id: str = ""
    error_code: str = ""
    resource_arn: str = ""
    since: float | None = None
    until: float | None = None
