"""A minimal STS on the API's port: GetCallerIdentity and AssumeRole (docs/access-control.md).

AssumeRole checks the role's trust policy with the policy engine (the caller's own policies
were checked by the endpoint: sts:AssumeRole on the role's ARN), takes the session policies
(Policy and PolicyArns) that the session's calls must also satisfy, and makes a session key:
`ASIA…`, a secret and a session token, kept sealed (the secret) and hashed (the token) until
they expire. Expiry is judged by the installation clock, which `--dev` can move.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
from collections.abc import Callable, Mapping
from typing import Any

from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.database import Database
from openacm.adapters.store.iam import ROLE, IamStore, StsSession
from openacm.domain.arn import parse_arn
from openacm.domain.errors import AccessDeniedError, ApiError, InvalidArnError, ValidationError
from openacm.domain.managed_policies import managed_policy
from openacm.domain.policy import MalformedPolicyError, parse_policy
from openacm.protocol.errors import NotImplementedOperationError
from openacm.services.context import CallContext
from openacm.services.iam.authorizer import caller_request, resource_policy_refusal
from openacm.services.identity import SESSION_KEY_PREFIX, secret_context

Handler = Callable[[CallContext, Mapping[str, Any]], dict[str, Any]]
MIN_DURATION = 900
DEFAULT_DURATION = 3600
# Sessions that ended longer ago than this are deleted when the next session is made.
SESSION_RETENTION_SECONDS = 86_400
SESSION_POLICY_MAX_CHARS = 2048


class MalformedPolicyDocumentError(ApiError):
    code = "MalformedPolicyDocument"


class StsService:
    def __init__(self, db: Database, cipher: EnvelopeCipher) -> None:
        self.db = db
        self.cipher = cipher
        self._handlers: dict[str, Handler] = {
            "GetCallerIdentity": self.get_caller_identity,
            "AssumeRole": self.assume_role,
        }

    def handler(self, operation: str) -> Handler:
        found = self._handlers.get(operation)
        if found is None:
            raise NotImplementedOperationError(f"openacm does not implement {operation} yet.")
        return found

    def get_caller_identity(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        caller = ctx.caller
        return {
            "UserId": caller.principal_id if caller is not None else ctx.account_id,
            "Account": ctx.account_id,
            "Arn": ctx.principal_arn,
        }

    def assume_role(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        role_arn = params["RoleArn"]
        session_name = params["RoleSessionName"]
        try:
            parsed = parse_arn(role_arn)
        except InvalidArnError:
            parsed = None
        if parsed is None or parsed.service != "iam" or parsed.resource_type != "role":
            raise ValidationError(f"{role_arn} is invalid")
        role_name = parsed.resource.rsplit("/", 1)[-1]
        session_documents = self._session_policies(params)
        with self.db.write() as conn:
            store = IamStore(conn)
            role = store.principal(parsed.account_id, ROLE, role_name)
            request = caller_request(ctx, "sts:AssumeRole", role_arn)
            if role is None or resource_policy_refusal(role.trust_policy, request) is not None:
                raise AccessDeniedError(
                    f"User: {ctx.principal_arn} is not authorized to perform: sts:AssumeRole "
                    f"on resource: {role_arn}"
                )
            duration = params.get("DurationSeconds") or DEFAULT_DURATION
            longest = role.max_session_seconds or DEFAULT_DURATION
            if duration > longest:
                raise ValidationError(
                    "The requested DurationSeconds exceeds the MaxSessionDuration set for this "
                    "role."
                )
            access_key_id = SESSION_KEY_PREFIX + "".join(
                secrets.choice(string.ascii_uppercase + "234567") for _ in range(16)
            )
            secret = secrets.token_urlsafe(30)[:40]
            token = base64.b64encode(b"openacm-session:" + secrets.token_bytes(96)).decode()
            session = StsSession(
                access_key_id,
                role.account_id,
                role.name,
                session_name,
                hashlib.sha256(token.encode()).hexdigest(),
                json.dumps(session_documents) if session_documents else None,
                ctx.now + duration,
                ctx.now,
            )
            store.delete_sessions_expired_before(ctx.now - SESSION_RETENTION_SECONDS)
            store.add_session(
                session, self.cipher.seal(secret.encode(), secret_context(access_key_id))
            )
        partition = parsed.partition
        return {
            "Credentials": {
                "AccessKeyId": access_key_id,
                "SecretAccessKey": secret,
                "SessionToken": token,
                "Expiration": session.expires_at,
            },
            "AssumedRoleUser": {
                "AssumedRoleId": f"{role.principal_id}:{session_name}",
                "Arn": f"arn:{partition}:sts::{role.account_id}:assumed-role/{role.name}/"
                f"{session_name}",
            },
            "PackedPolicySize": _packed_size(session_documents),
        }

    def _session_policies(self, params: Mapping[str, Any]) -> list[str]:
        """The session's policies: Policy and each of PolicyArns (AWS managed or the role
        account's own are not looked up across accounts: AWS managed ones only)."""
        documents = []
        inline = params.get("Policy")
        if inline is not None:
            if len(inline) > SESSION_POLICY_MAX_CHARS:
                raise ValidationError("Policy exceeds the maximum allowed size.")
            try:
                parse_policy(inline)
            except MalformedPolicyError as exc:
                raise MalformedPolicyDocumentError(str(exc)) from None
            documents.append(inline)
        for entry in params.get("PolicyArns") or []:
            arn = entry.get("arn", "")
            document = managed_policy(arn)
            if document is None:
                raise ValidationError(f"Policy {arn} does not exist or is not attachable.")
            documents.append(document)
        return documents


def _packed_size(documents: list[str]) -> int:
    """The percentage of the session policies' allowance used (AWS's compressed size, here
    the characters against the limit)."""
    used = sum(len(json.dumps(json.loads(d), separators=(",", ":"))) for d in documents)
    return min(100, used * 100 // SESSION_POLICY_MAX_CHARS)
