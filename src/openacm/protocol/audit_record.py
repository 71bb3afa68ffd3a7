"""CloudTrail-format records of API calls (inventory §11.2).

Parameters and results are rendered from the model: member names in lowerCamelCase, blobs as
their length and SHA-256 (never their bytes), members the model marks sensitive (private keys,
passphrases) as ten stars, as CloudTrail shows them. Read-only calls record no response
elements, as ACM's trail does for Describe/List.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.model import OperationModel, Shape

from openacm.domain.errors import ApiError
from openacm.services.context import CallContext

REDACTED = "**********"
# Credentials the models do not mark sensitive: STS's session token.
ALWAYS_REDACTED = frozenset({"SessionToken"})
EVENT_VERSION = "1.08"
READ_ONLY_PREFIXES = ("Describe", "Get", "List", "Search")


@dataclass(frozen=True)
class CallerIdentity:
    account_id: str | None
    access_key_id: str | None
    user_name: str | None
    partition: str
    # A restricted caller's ARN and principal id (services/context.Caller); root keys have none.
    arn: str | None = None
    principal_id: str | None = None
    assumed_role: bool = False

    @classmethod
    def of(cls, ctx: CallContext) -> CallerIdentity:
        """The identity of an authenticated call."""
        who = ctx.caller
        return cls(
            ctx.account_id,
            ctx.access_key_id,
            ctx.user_name,
            ctx.partition,
            who.arn if who else None,
            who.principal_id if who else None,
            who is not None and who.kind == "assumed-role",
        )


@dataclass(frozen=True)
class RequestFacts:
    request_id: str
    event_source: str
    event_name: str
    region: str | None
    source_ip: str
    user_agent: str
    event_time: float
    tls: bool


# Read-only calls whose trail still shows what they returned (inventory §11.2: GetCertificate
# records the certificate and chain; Describe/List record nothing).
RESPONSE_RECORDED = frozenset({"GetCertificate"})


def is_read_only(operation_name: str) -> bool:
    return operation_name.startswith(READ_ONLY_PREFIXES)


def _records_response(operation_name: str) -> bool:
    return not is_read_only(operation_name) or operation_name in RESPONSE_RECORDED


def render(shape: Shape | None, value: Any) -> Any:
    """A request or response value as the trail shows it."""
    if value is None:
        return None
    if shape is not None and shape.metadata.get("sensitive"):
        return REDACTED
    if isinstance(value, bytes):
        return {"length": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Mapping):
        members = getattr(shape, "members", {}) if shape is not None else {}
        return {
            _camel(k): REDACTED if k in ALWAYS_REDACTED else render(members.get(k), v)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        member = getattr(shape, "member", None)
        return [render(member, item) for item in value]
    return value


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user_identity(caller: CallerIdentity | None) -> dict[str, Any]:
    if caller is None or caller.account_id is None:
        identity: dict[str, Any] = {"type": "Unknown"}
        if caller is not None and caller.access_key_id:
            identity["accessKeyId"] = caller.access_key_id
        return identity
    return {
        "type": "AssumedRole" if caller.assumed_role else "IAMUser",
        "principalId": caller.principal_id or caller.access_key_id,
        "arn": caller.arn
        or f"arn:{caller.partition}:iam::{caller.account_id}:user/{caller.user_name}",
        "accountId": caller.account_id,
        "accessKeyId": caller.access_key_id,
        "userName": caller.user_name,
    }


def cloudtrail_record(
    facts: RequestFacts,
    caller: CallerIdentity | None,
    operation: OperationModel | None,
    params: Mapping[str, Any] | None,
    result: Mapping[str, Any] | None,
    error: ApiError | None,
) -> dict[str, Any]:
    read_only = is_read_only(facts.event_name)
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": _user_identity(caller),
        "eventTime": _timestamp(facts.event_time),
        "eventSource": facts.event_source,
        "eventName": facts.event_name,
        "awsRegion": facts.region,
        "sourceIPAddress": facts.source_ip,
        "userAgent": facts.user_agent,
        "requestParameters": render(operation.input_shape if operation else None, params),
        "responseElements": None
        if not _records_response(facts.event_name) or error is not None or not result
        else render(operation.output_shape if operation else None, result),
        "requestID": facts.request_id,
        "eventID": str(uuid.uuid4()),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": caller.account_id if caller else None,
        "eventCategory": "Management",
    }
    if error is not None:
        record["errorCode"] = error.code
        record["errorMessage"] = error.message
    if facts.tls:
        record["tlsDetails"] = {"tlsVersion": "TLSv1.2+"}
    return record
