"""What the console does that no API operation does: managing the signed-in account's access
keys (services/identity.py), reading its audit log (adapters/audit_log.py) and the events of
its certificates (adapters/store/events.py).

These calls do not go through the API endpoint, so the principal they act for is resolved
here, from the session's key, exactly as the endpoint resolves it (KeyDirectory): a key that
stops working ends the session, and every read or change is confined to the key's account.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openacm.adapters.audit_log import search_events
from openacm.adapters.store.database import Database
from openacm.adapters.store.events import EventOutbox
from openacm.adapters.store.pca_operations import AuditReportStore
from openacm.console.api import Origin, Signer
from openacm.domain.arn import parse_arn
from openacm.domain.errors import ApiError
from openacm.protocol.partitions import partition_for_region
from openacm.services.context import CallContext
from openacm.services.identity import IdentityAdmin, KeyDirectory


@dataclass(frozen=True)
class DirectServices:
    db: Database
    identity: IdentityAdmin
    keys: KeyDirectory
    clock: Callable[[], float]

    def context(self, signer: Signer, origin: Origin) -> CallContext | None:
        """The call context of the session's key, as the endpoint would build it for a
        request it signed; None when the key no longer resolves (disabled or deleted)."""
        principal = self.keys.principal(signer.access_key_id)
        if principal is None:
            return None
        return CallContext(
            account_id=principal.account_id,
            region=signer.region,
            partition=partition_for_region(signer.region) or "aws",
            access_key_id=principal.access_key_id,
            user_name=principal.user_name,
            request_id=str(uuid.uuid4()),
            source_ip=origin.client_ip,
            user_agent=origin.user_agent,
            now=self.clock(),
            secure_transport=origin.scheme == "https",
        )

    def certificate_events(
        self, ctx: CallContext, arn: str, limit: int
    ) -> Sequence[dict[str, Any]]:
        """The events emitted about one certificate of the caller's account, newest first."""
        with self.db.read() as conn:
            return EventOutbox(conn).for_resource(ctx.account_id, arn, limit=limit)

    def audit_report_ids(self, ctx: CallContext, ca_arn: str, limit: int) -> list[str]:
        """The newest audit reports of a CA of the caller's account (others': none); each is
        then described through the API."""
        try:
            owner = parse_arn(ca_arn).account_id
        except ApiError:
            return []
        if owner != ctx.account_id:
            return []
        with self.db.read() as conn:
            return AuditReportStore(conn).ids_for(ca_arn, limit)

    def audit_records(
        self, ctx: CallContext, filters: AuditFilters, limit: int
    ) -> list[dict[str, Any]]:
        """The caller's account's audit records matching `filters`, newest first."""
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
