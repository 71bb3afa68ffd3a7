"""The one authorization of every API call: the caller's policies against the request.

The endpoint calls `Authorizer.check` for each call of a caller that policies restrict (an IAM
user or a role session) once the input is parsed, before any handler runs. The request is the
action (`<signing name>:<Operation>`), the resource the operation acts on (the ARN in its
input, `arn:…:certificate/*` for ACM's creating operations, else `*`) and the request context:
the global keys (aws:PrincipalArn, aws:SourceIp, aws:CurrentTime, aws:SecureTransport…), the
tags the request carries and the target's tags, and the service's own keys (ACM's
RequestCertificate keys of inventory §12, ACM-PCA's acm-pca:TemplateArn).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from openacm.adapters.store.certificates import TagStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.iam import ROLE, USER, IamStore
from openacm.domain.errors import AccessDeniedError
from openacm.domain.managed_policies import managed_policy
from openacm.domain.policy import (
    ContextValue,
    Decision,
    MalformedPolicyError,
    Policy,
    PolicyKind,
    Refusal,
    Request,
    authorize,
    evaluate,
    parse_policy,
)
from openacm.services.context import CallContext, Caller
from openacm.services.identity import KEY_CACHE_SECONDS

# The member naming the resource an operation acts on, by action prefix, in order of preference.
_RESOURCE_MEMBERS = {
    "acm": (
        "CertificateArn",
        "ResourceArn",
        # ACME management: a domain validation or binding, else the endpoint it belongs to.
        "AcmeDomainValidationArn",
        "AcmeExternalAccountBindingArn",
        "AcmeEndpointArn",
    ),
    "acm-pca": ("CertificateAuthorityArn", "ResourceArn"),
    "sts": ("RoleArn",),
    "iam": ("PolicyArn",),
}
# What every principal may do whatever its policies say (AWS's rule for GetCallerIdentity).
ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})
_CREATING = {"acm": ("RequestCertificate", "ImportCertificate")}
# Operations whose Tags are removed, not set: only their keys are in the request.
_TAG_REMOVERS = ("RemoveTagsFromCertificate", "UntagCertificateAuthority", "UntagResource")
DEFAULT_KEY_ALGORITHM = "RSA_2048"
DEFAULT_TEMPLATE = "arn:aws:acm-pca:::template/EndEntityCertificate/V1"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_of(prefix: str, operation: str, params: Mapping[str, Any], ctx: CallContext) -> str:
    for member in _RESOURCE_MEMBERS.get(prefix, ("ResourceArn",)):
        value = params.get(member)
        if isinstance(value, str) and value:
            return value
    if operation in _CREATING.get(prefix, ()):
        return f"arn:{ctx.partition}:{prefix}:{ctx.region}:{ctx.account_id}:certificate/*"
    if prefix == "iam":  # users and roles are named, not given by ARN
        for member, kind in (("UserName", "user"), ("RoleName", "role")):
            if isinstance(params.get(member), str):
                return f"arn:{ctx.partition}:iam::{ctx.account_id}:{kind}/{params[member]}"
    return "*"


def global_keys(ctx: CallContext, caller: Caller) -> dict[str, ContextValue]:
    keys: dict[str, ContextValue] = {
        "aws:PrincipalArn": caller.identity_arn,
        "aws:PrincipalAccount": ctx.account_id,
        "aws:PrincipalType": "User" if caller.kind == USER else "AssumedRole",
        "aws:userid": caller.principal_id,
        "aws:SourceIp": ctx.source_ip or None,
        "aws:CurrentTime": _iso(ctx.now),
        "aws:EpochTime": str(int(ctx.now)),
        "aws:SecureTransport": "true" if ctx.secure_transport else "false",
        "aws:RequestedRegion": ctx.region,
        "aws:UserAgent": ctx.user_agent,
    }
    if caller.kind == USER:
        keys["aws:username"] = caller.name
    return keys


def request_keys(
    prefix: str, operation: str, params: Mapping[str, Any] | None
) -> dict[str, ContextValue]:
    """The keys the request itself carries: its tags and the service's own keys."""
    keys: dict[str, ContextValue] = {}
    if params is None:
        return keys
    tags = params.get("Tags")
    tag_keys: list[str] = []
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, Mapping) and isinstance(tag.get("Key"), str):
                tag_keys.append(tag["Key"])
                if operation not in _TAG_REMOVERS:
                    keys[f"aws:RequestTag/{tag['Key']}"] = str(tag.get("Value") or "")
    if isinstance(params.get("TagKeys"), list):
        tag_keys.extend(str(k) for k in params["TagKeys"])
    if tag_keys:
        keys["aws:TagKeys"] = tag_keys
    if prefix == "acm" and operation == "RequestCertificate":
        keys.update(_request_certificate_keys(params))
    if prefix == "acm-pca" and operation == "IssueCertificate":
        keys["acm-pca:TemplateArn"] = params.get("TemplateArn") or DEFAULT_TEMPLATE
    return keys


def _request_certificate_keys(params: Mapping[str, Any]) -> dict[str, ContextValue]:
    """Inventory §12: the condition keys of RequestCertificate."""
    names = [params.get("DomainName"), *(params.get("SubjectAlternativeNames") or [])]
    options = params.get("Options") or {}
    private = params.get("CertificateAuthorityArn")
    return {
        "acm:DomainNames": list(dict.fromkeys(n for n in names if isinstance(n, str))),
        # A private request is validated by nobody; a public one by DNS unless it asks otherwise.
        "acm:ValidationMethod": None if private else params.get("ValidationMethod") or "DNS",
        "acm:KeyAlgorithm": params.get("KeyAlgorithm") or DEFAULT_KEY_ALGORITHM,
        "acm:CertificateTransparencyLogging": options.get(
            "CertificateTransparencyLoggingPreference"
        )
        or "ENABLED",
        "acm:CertificateAuthority": private,
    }


class Authorizer:
    """Decides each call of a restricted caller, with its policies cached a few seconds per
    process (as access keys are: a change made with the admin CLI or the IAM API in another
    process applies everywhere within KEY_CACHE_SECONDS)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[tuple[str, str, str], tuple[float, list[Policy], bool]] = {}
        self._lock = threading.Lock()

    def check(
        self, ctx: CallContext, prefix: str, operation: str, params: Mapping[str, Any]
    ) -> None:
        """Return when the call is allowed; raise AccessDeniedException (AWS's message) when
        not."""
        caller = ctx.caller
        if caller is None:
            return
        action = f"{prefix}:{operation}"
        if action in ALWAYS_ALLOWED:
            return
        resource = resource_of(prefix, operation, params, ctx)
        kind = USER if caller.kind == USER else "role"
        policies, wants_resource_tags = self.policies(ctx.account_id, kind, caller.name)
        context = global_keys(ctx, caller) | request_keys(prefix, operation, params)
        if wants_resource_tags and is_own_resource(resource, ctx.account_id):
            context |= self._resource_tags(resource)
        session = _session_policies(caller.session_policy)
        refusal = authorize(Request(action, resource, context), policies, session=session)
        if refusal is not None:
            raise AccessDeniedError(refusal.message(caller.arn, action, resource))

    def role_refusal(
        self,
        role_arn: str,
        owner_account_id: str,
        session_name: str,
        action: str,
        resource: str,
        context: Mapping[str, ContextValue],
    ) -> str | None:
        """Work openacm does on behalf of an IAM role (the orders of an ACME account registered
        through an external account binding, whose RoleArn names the role): AWS's denial
        message when the role's policies refuse `action` on `resource`, else None. A RoleArn
        that names no role of `owner_account_id` restricts nothing (docs/acme-server.md)."""
        parts = role_arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "iam" or parts[4] != owner_account_id:
            return None
        if not parts[5].startswith("role/"):
            return None
        name = parts[5].rsplit("/", 1)[-1]
        with self.db.read() as conn:
            if IamStore(conn).principal(owner_account_id, ROLE, name) is None:
                return None
        policies, _ = self.policies(owner_account_id, ROLE, name)
        keys: dict[str, ContextValue] = {
            "aws:PrincipalArn": role_arn,
            "aws:PrincipalAccount": owner_account_id,
            "aws:PrincipalType": "AssumedRole",
            **context,
        }
        refusal = authorize(Request(action, resource, keys), policies)
        if refusal is None:
            return None
        session_arn = f"arn:{parts[1]}:sts::{owner_account_id}:assumed-role/{name}/{session_name}"
        return refusal.message(session_arn, action, resource)

    def policies(self, account_id: str, kind: str, name: str) -> tuple[list[Policy], bool]:
        """The principal's identity policies, and whether any of them reads resource tags."""
        key = (account_id, kind, name)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < KEY_CACHE_SECONDS:
            return cached[1], cached[2]
        documents = self._documents(account_id, kind, name)
        policies = [_parsed(text) for text in documents]
        wants_tags = any("aws:resourcetag/" in text.lower() for text in documents)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, policies, wants_tags)
        return policies, wants_tags

    def _documents(self, account_id: str, kind: str, name: str) -> list[str]:
        with self.db.read() as conn:
            store = IamStore(conn)
            documents = []
            for attached in store.principal_policies(account_id, kind, name):
                if attached.document is not None:
                    documents.append(attached.document)
                    continue
                text = managed_policy(attached.policy)
                if text is None:
                    own = store.managed_policy(account_id, attached.policy.rsplit("/", 1)[-1])
                    text = own.document if own is not None else None
                if text is not None:
                    documents.append(text)
        return documents

    def _resource_tags(self, arn: str) -> dict[str, ContextValue]:
        with self.db.read() as conn:
            tags = TagStore(conn).list(arn)
        return {f"aws:ResourceTag/{tag.key}": tag.value or "" for tag in tags}


def is_own_resource(resource: str, account_id: str) -> bool:
    """A particular resource of the caller's account: the only ones whose tags a policy may
    read (another account's tags must not show through an allow or a deny)."""
    parts = resource.split(":", 5)
    return len(parts) == 6 and parts[4] == account_id and not resource.endswith("/*")


def _parsed(text: str) -> Policy:
    """A stored policy (checked when it was stored)."""
    try:
        return parse_policy(text)
    except MalformedPolicyError:  # stored before a stricter parser: it grants nothing
        return Policy(())


def _session_policies(text: str | None) -> Sequence[Policy] | None:
    """A session's policies (AssumeRole's Policy and PolicyArns documents, a JSON list)."""
    return None if text is None else [_parsed(document) for document in json.loads(text)]


# -- resource-based policies (an ACM-PCA CA's PutPolicy) ----------------------------------------


def account_principal_ids(account_id: str, partition: str = "aws") -> frozenset[str]:
    """How a resource policy's Principal names a whole account."""
    return frozenset({account_id, f"arn:{partition}:iam::{account_id}:root"})


def caller_request(
    ctx: CallContext,
    action: str,
    resource: str,
    keys: Mapping[str, ContextValue] | None = None,
) -> Request:
    """The request of `ctx`'s caller as a resource policy sees it, with the request's own
    context `keys`."""
    ids = set(account_principal_ids(ctx.account_id, ctx.partition))
    context: dict[str, ContextValue] = {
        "aws:PrincipalAccount": ctx.account_id,
        "aws:SourceIp": ctx.source_ip or None,
        "aws:CurrentTime": _iso(ctx.now),
        "aws:SecureTransport": "true" if ctx.secure_transport else "false",
    }
    if ctx.caller is not None:
        ids |= {ctx.caller.identity_arn, ctx.caller.arn}
        context |= global_keys(ctx, ctx.caller)
    else:
        context["aws:PrincipalArn"] = f"arn:{ctx.partition}:iam::{ctx.account_id}:root"
    return Request(action, resource, context | dict(keys or {}), frozenset(ids))


def resource_policy_refusal(policy_text: str | None, request: Request) -> Refusal | None:
    """None when the resource policy allows the request (and denies it nowhere)."""
    policies = []
    # A policy kept as written by PutPolicy's laxer check that IAM would not parse grants nothing.
    if policy_text is not None:
        with contextlib.suppress(MalformedPolicyError):
            policies.append(parse_policy(policy_text, resource_policy=True))
    decision = evaluate(policies, request)
    if decision is Decision.ALLOW:
        return None
    return Refusal(PolicyKind.RESOURCE, explicit=decision is Decision.EXPLICIT_DENY)
