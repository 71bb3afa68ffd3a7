"""The audit records and metrics of ACME requests.

Every request is counted in `openacm_requests` (service "acme", the RFC 8555 resource as the
operation, the problem type or "Success" as the outcome). Every request that changes
something (newAccount, newOrder, a challenge answer, finalize, keyChange, revokeCert, an
account update), refused or not, gets an audit record in the same store and file as the API's
CloudTrail records, under the endpoint's account and region, with the ACME account as the
identity and the endpoint as the resource: `openacm audit search` finds them.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from openacm.adapters.audit_log import AuditEntry, AuditLog
from openacm.adapters.metrics import Metrics
from openacm.domain.acme_endpoints import AcmeEndpointRecord
from openacm.domain.acme_server import AcmeProblem
from openacm.protocol.audit_record import EVENT_VERSION

log = logging.getLogger("openacm.acme")
EVENT_SOURCE = "acme.openacm.amazonaws.com"


@dataclass
class Trace:
    """What one ACME request did: its audit record and metrics are written from it."""

    route: str
    changes: bool = False
    endpoint: AcmeEndpointRecord | None = None
    account: Any = None
    account_url: str | None = None


class AcmeTrail:
    def __init__(self, audit: AuditLog | None, metrics: Metrics | None) -> None:
        self.audit = audit
        self.metrics = metrics

    def after(
        self, request: Request, trace: Trace, problem: AcmeProblem | None, seconds: float
    ) -> None:
        outcome = problem.kind if problem is not None else "Success"
        if self.metrics is not None:
            self.metrics.observe_request("acme", trace.route, outcome, seconds)
            if trace.route == "finalize" and problem is None:
                self.metrics.count_issued("acme_endpoint")
        if self.audit is None or not trace.changes or trace.endpoint is None:
            return
        try:
            now = datetime.now(UTC)
            record = _record(request, trace, trace.endpoint, problem, now)
            entry = AuditEntry(record, now.timestamp(), trace.endpoint.arn)
            self.audit.record(entry, durable=True)
        except Exception:
            log.exception("audit record of an ACME request not written")


def _record(
    request: Request,
    trace: Trace,
    endpoint: AcmeEndpointRecord,
    problem: AcmeProblem | None,
    now: datetime,
) -> dict[str, Any]:
    identity: dict[str, Any] = {"type": "AcmeAccount"}
    if trace.account_url:
        identity["principalId"] = trace.account_url
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": EVENT_SOURCE,
        "eventName": f"Acme{trace.route[0].upper()}{trace.route[1:]}",
        "awsRegion": endpoint.region,
        "sourceIPAddress": request.client.host if request.client else "",
        "userAgent": request.headers.get("user-agent", ""),
        "requestParameters": {"acmeEndpointArn": endpoint.arn, "url": request.url.path},
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": endpoint.account_id,
        "eventCategory": "Management",
    }
    if problem is not None:
        record["errorCode"] = problem.kind
        record["errorMessage"] = problem.detail
    return record
