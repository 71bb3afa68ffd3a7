"""The IAM API (AWS Query protocol, what boto3's `iam` client speaks) for the caller's own
account: users and their access keys, roles, inline and managed policies. It is the
`openacm admin user | role | policy` commands' service, over the wire; restricted callers
need the matching `iam:` actions (docs/access-control.md)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.database import Database
from openacm.adapters.store.iam import ROLE, USER, IamPrincipal
from openacm.domain.errors import ApiError
from openacm.domain.managed_policies import AWS_MANAGED_PREFIX
from openacm.protocol.errors import NotImplementedOperationError
from openacm.services.context import CallContext
from openacm.services.iam.admin import (
    DEFAULT_MAX_SESSION_SECONDS,
    IamAdmin,
    IamError,
    role_arn,
    user_arn,
)
from openacm.services.identity import IdentityAdmin, IdentityError

Handler = Callable[[CallContext, Mapping[str, Any]], dict[str, Any]]
_STATUS = {
    "NoSuchEntity": 404,
    "EntityAlreadyExists": 409,
    "DeleteConflict": 409,
    "LimitExceeded": 409,
}
_ERRORS: dict[str, type[ApiError]] = {}


def api_error(exc: IdentityError) -> ApiError:
    """IAM's error for an admin refusal, by its code."""
    code = exc.code if isinstance(exc, IamError) else "NoSuchEntity"
    error_class = _ERRORS.get(code)
    if error_class is None:
        error_class = type(code, (ApiError,), {"code": code, "status": _STATUS.get(code, 400)})
        _ERRORS[code] = error_class
    return error_class(str(exc))


def _policy_text(document: str) -> str:
    """IAM returns policy documents URL-encoded (botocore decodes them)."""
    return urllib.parse.quote(document, safe="")


class IamApiService:
    def __init__(self, db: Database, cipher: EnvelopeCipher) -> None:
        self.admin = IamAdmin(db)
        self.keys = IdentityAdmin(db, cipher)
        self._handlers: dict[str, Handler] = {
            "CreateUser": self.create_user,
            "GetUser": self.get_user,
            "ListUsers": self.list_users,
            "DeleteUser": self.delete_user,
            "CreateAccessKey": self.create_access_key,
            "ListAccessKeys": self.list_access_keys,
            "DeleteAccessKey": self.delete_access_key,
            "CreateRole": self.create_role,
            "GetRole": self.get_role,
            "ListRoles": self.list_roles,
            "DeleteRole": self.delete_role,
            "PutUserPolicy": self._put_inline(USER),
            "PutRolePolicy": self._put_inline(ROLE),
            "GetUserPolicy": self._get_inline(USER),
            "GetRolePolicy": self._get_inline(ROLE),
            "DeleteUserPolicy": self._remove(USER, "PolicyName"),
            "DeleteRolePolicy": self._remove(ROLE, "PolicyName"),
            "ListUserPolicies": self._list_inline(USER),
            "ListRolePolicies": self._list_inline(ROLE),
            "AttachUserPolicy": self._attach(USER),
            "AttachRolePolicy": self._attach(ROLE),
            "DetachUserPolicy": self._remove(USER, "PolicyArn"),
            "DetachRolePolicy": self._remove(ROLE, "PolicyArn"),
            "ListAttachedUserPolicies": self._list_attached(USER),
            "ListAttachedRolePolicies": self._list_attached(ROLE),
            "CreatePolicy": self.create_policy,
            "DeletePolicy": self.delete_policy,
            "ListPolicies": self.list_policies,
        }

    def handler(self, operation: str) -> Handler:
        found = self._handlers.get(operation)
        if found is None:
            raise NotImplementedOperationError(f"openacm does not implement {operation} yet.")

        def refusals_as_api_errors(ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
            try:
                return found(ctx, params)
            except IdentityError as exc:
                raise api_error(exc) from None

        return refusals_as_api_errors

    # -- users ------------------------------------------------------------------------------

    def create_user(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        user = self.admin.create_user(ctx.account_id, params["UserName"])
        return {"User": _user_view(user, ctx.partition)}

    def get_user(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        name = params.get("UserName")
        if name is None:
            raise IamError("ValidationError", "The account's root keys name no user.")
        return {"User": _user_view(self.admin.get(ctx.account_id, USER, name), ctx.partition)}

    def list_users(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        users = self.admin.list_principals(ctx.account_id, USER)
        return {"Users": [_user_view(u, ctx.partition) for u in users], "IsTruncated": False}

    def delete_user(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        self.admin.delete(ctx.account_id, USER, params["UserName"])
        return {}

    def create_access_key(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        name = params.get("UserName") or ctx.user_name
        self.admin.get(ctx.account_id, USER, name)  # keys of users only: root keys are the CLI's
        key, secret = self.keys.create_access_key(ctx.account_id, user_name=name)
        return {
            "AccessKey": {
                "UserName": key.user_name,
                "AccessKeyId": key.access_key_id,
                "Status": key.status,
                "SecretAccessKey": secret,
                "CreateDate": key.created_at,
            }
        }

    def list_access_keys(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        name = params.get("UserName") or ctx.user_name
        keys = [k for k in self.keys.list_access_keys(ctx.account_id) if k.user_name == name]
        return {
            "AccessKeyMetadata": [
                {
                    "UserName": k.user_name,
                    "AccessKeyId": k.access_key_id,
                    "Status": k.status,
                    "CreateDate": k.created_at,
                }
                for k in keys
            ],
            "IsTruncated": False,
        }

    def delete_access_key(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        name = params.get("UserName") or ctx.user_name
        key_id = params["AccessKeyId"]
        owned = any(
            k.access_key_id == key_id and k.user_name == name
            for k in self.keys.list_access_keys(ctx.account_id)
        )
        if not owned:
            raise IamError("NoSuchEntity", f"The Access Key with id {key_id} cannot be found.")
        self.keys.delete_access_key(ctx.account_id, key_id)
        return {}

    # -- roles ------------------------------------------------------------------------------

    def create_role(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        role = self.admin.create_role(
            ctx.account_id,
            params["RoleName"],
            params["AssumeRolePolicyDocument"],
            params.get("MaxSessionDuration") or DEFAULT_MAX_SESSION_SECONDS,
        )
        return {"Role": _role_view(role, ctx.partition)}

    def get_role(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        role = self.admin.get(ctx.account_id, ROLE, params["RoleName"])
        return {"Role": _role_view(role, ctx.partition)}

    def list_roles(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        roles = self.admin.list_principals(ctx.account_id, ROLE)
        return {"Roles": [_role_view(r, ctx.partition) for r in roles], "IsTruncated": False}

    def delete_role(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        self.admin.delete(ctx.account_id, ROLE, params["RoleName"])
        return {}

    # -- policies ---------------------------------------------------------------------------

    @staticmethod
    def _principal(kind: str, params: Mapping[str, Any]) -> str:
        return str(params["UserName" if kind == USER else "RoleName"])

    def _put_inline(self, kind: str) -> Handler:
        def put(ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
            self.admin.put_inline(
                ctx.account_id,
                kind,
                self._principal(kind, params),
                params["PolicyName"],
                params["PolicyDocument"],
            )
            return {}

        return put

    def _get_inline(self, kind: str) -> Handler:
        def get(ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
            name = self._principal(kind, params)
            for attached in self.admin.policies_of(ctx.account_id, kind, name):
                if attached.document is not None and attached.policy == params["PolicyName"]:
                    member = "UserName" if kind == USER else "RoleName"
                    return {
                        member: name,
                        "PolicyName": attached.policy,
                        "PolicyDocument": _policy_text(attached.document),
                    }
            raise IamError(
                "NoSuchEntity",
                f"The {kind} policy with name {params['PolicyName']} cannot be found.",
            )

        return get

    def _list_inline(self, kind: str) -> Handler:
        def list_inline(ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
            attached = self.admin.policies_of(ctx.account_id, kind, self._principal(kind, params))
            names = [a.policy for a in attached if a.document is not None]
            return {"PolicyNames": names, "IsTruncated": False}

        return list_inline

    def _attach(self, kind: str) -> Handler:
        def attach(ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
            name = self._principal(kind, params)
            self.admin.attach(ctx.account_id, kind, name, params["PolicyArn"])
            return {}

        return attach

    def _remove(self, kind: str, member: str) -> Handler:
        def remove(ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
            name = self._principal(kind, params)
            self.admin.remove(ctx.account_id, kind, name, params[member])
            return {}

        return remove

    def _list_attached(self, kind: str) -> Handler:
        def list_attached(ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
            attached = self.admin.policies_of(ctx.account_id, kind, self._principal(kind, params))
            return {
                "AttachedPolicies": [
                    {"PolicyName": a.policy.rsplit("/", 1)[-1], "PolicyArn": a.policy}
                    for a in attached
                    if a.document is None
                ],
                "IsTruncated": False,
            }

        return list_attached

    def create_policy(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        policy = self.admin.create_policy(
            ctx.account_id, params["PolicyName"], params["PolicyDocument"]
        )
        arn = f"arn:{ctx.partition}:iam::{ctx.account_id}:policy/{policy.name}"
        return {"Policy": _policy_view(policy.name, arn, policy.policy_id, policy.created_at)}

    def delete_policy(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        self.admin.delete_policy(ctx.account_id, params["PolicyArn"])
        return {}

    def list_policies(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        scope = params.get("Scope") or "All"
        policies = []
        for arn, _ in self.admin.list_policies(ctx.account_id):
            aws_managed = arn.startswith(AWS_MANAGED_PREFIX)
            if (scope == "AWS" and not aws_managed) or (scope == "Local" and aws_managed):
                continue
            name = arn.rsplit("/", 1)[-1]
            policies.append(_policy_view(name, arn, None, None))
        return {"Policies": policies, "IsTruncated": False}


def _user_view(user: IamPrincipal, partition: str) -> dict[str, Any]:
    return {
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.principal_id,
        "Arn": user_arn(user.account_id, user.name, partition),
        "CreateDate": user.created_at,
    }


def _role_view(role: IamPrincipal, partition: str) -> dict[str, Any]:
    return {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.principal_id,
        "Arn": role_arn(role.account_id, role.name, partition),
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": _policy_text(role.trust_policy or ""),
        "MaxSessionDuration": role.max_session_seconds,
    }


def _policy_view(
    name: str, arn: str, policy_id: str | None, created_at: float | None
) -> dict[str, Any]:
    return {
        "PolicyName": name,
        "PolicyId": policy_id,
        "Arn": arn,
        "Path": "/",
        "DefaultVersionId": "v1",
        "IsAttachable": True,
        "CreateDate": created_at,
    }
