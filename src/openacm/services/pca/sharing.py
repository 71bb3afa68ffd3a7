"""What hangs off a private CA besides its key: tags, permissions for ACM, resource policies.

Tags follow ACM's rules (`domain/tags.py`) on the shared tags table. Permissions are what the
ACM service principal may do with the CA (renewals of private certificates). A resource
policy shares the CA with other accounts; openacm keeps the policy as written and applies
the subset documented in docs/private-ca.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from openacm.adapters.store.certificates import TagStore
from openacm.adapters.store.pca import Permission, PrivateCaStore
from openacm.domain import pca
from openacm.domain.errors import ResourceNotFoundError, ValidationError
from openacm.domain.tags import check_tags_to_change, merge_tags, tags_from_api, tags_to_remove
from openacm.services.acm.certificates import make_page_token, query_digest_of, read_page_token
from openacm.services.context import CallContext
from openacm.services.pca.authorities import CertificateAuthorities, save_changed

ACM_PRINCIPAL = "acm.amazonaws.com"
LIST_DEFAULT_MAX_RESULTS = 100


class SharingOperations:
    def __init__(self, authorities: CertificateAuthorities) -> None:
        self.cas = authorities
        self.db = authorities.db

    # -- tags -----------------------------------------------------------------------------

    def tag_certificate_authority(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        arn = params["CertificateAuthorityArn"]
        added = tags_from_api(params["Tags"])
        with self.db.write() as conn:
            self.cas.load(conn, ctx, arn, "TagCertificateAuthority")
            store = TagStore(conn)
            merge_tags(store.list(arn), added, self.cas.tag_limits)  # refuses what breaks rules
            store.put(arn, added)
        return {}

    def untag_certificate_authority(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        arn = params["CertificateAuthorityArn"]
        requested = tags_from_api(params["Tags"])
        check_tags_to_change(requested, self.cas.tag_limits)
        with self.db.write() as conn:
            self.cas.load(conn, ctx, arn, "UntagCertificateAuthority")
            store = TagStore(conn)
            store.remove(arn, tags_to_remove(store.list(arn), requested))
        return {}

    def list_tags(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["CertificateAuthorityArn"]
        with self.db.read() as conn:
            self.cas.load(conn, ctx, arn, "ListTags", shareable=True)
            items = [tag.to_api() for tag in TagStore(conn).list(arn)]
        return _page(params, items, "Tags")

    # -- permissions ----------------------------------------------------------------------

    def create_permission(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["CertificateAuthorityArn"]
        principal = params["Principal"]
        if principal != ACM_PRINCIPAL:
            raise ValidationError(
                f"Principal {principal} is not supported; the only valid principal is "
                f"{ACM_PRINCIPAL}."
            )
        actions = tuple(dict.fromkeys(params["Actions"]))
        with self.db.write() as conn:
            self.cas.load(conn, ctx, arn, "CreatePermission")
            store = PrivateCaStore(conn)
            if store.permission(arn, principal) is not None:
                raise pca.PermissionAlreadyExistsError(
                    "The designated permission has already been given to the user."
                )
            source = params.get("SourceAccount") or ctx.account_id
            store.add_permission(Permission(arn, principal, source, actions, ctx.now))
        return {}

    def delete_permission(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["CertificateAuthorityArn"]
        with self.db.write() as conn:
            self.cas.load(conn, ctx, arn, "DeletePermission")
            if not PrivateCaStore(conn).delete_permission(arn, params["Principal"]):
                raise ResourceNotFoundError(
                    f"No permission for principal {params['Principal']} on {arn}."
                )
        return {}

    def list_permissions(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["CertificateAuthorityArn"]
        with self.db.read() as conn:
            self.cas.load(conn, ctx, arn, "ListPermissions", shareable=True)
            permissions = PrivateCaStore(conn).permissions(arn)
        items = [_permission_view(p) for p in permissions]
        return _page(params, items, "Permissions", error=pca.InvalidNextTokenError)

    # -- resource policies ----------------------------------------------------------------

    def put_policy(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        with self.db.write() as conn:
            record = self.cas.load(conn, ctx, arn, "PutPolicy")
            grants = pca.policy_grants(params["Policy"], record.account_id)
            store = PrivateCaStore(conn)
            save_changed(store, record.changed(ctx.now, policy_text=params["Policy"]))
            store.set_policy_grants(arn, record.region, grants)
        return {}

    def get_policy(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        with self.db.read() as conn:
            record = self.cas.load(conn, ctx, arn, "GetPolicy", shareable=True)
        if record.policy_text is None:
            raise ResourceNotFoundError(f"No policy is attached to {arn}.")
        return {"Policy": record.policy_text}

    def delete_policy(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        with self.db.write() as conn:
            record = self.cas.load(conn, ctx, arn, "DeletePolicy")
            if record.policy_text is None:
                raise ResourceNotFoundError(f"No policy is attached to {arn}.")
            store = PrivateCaStore(conn)
            save_changed(store, record.changed(ctx.now, policy_text=None))
            store.set_policy_grants(arn, record.region, {})
        return {}


def _permission_view(permission: Permission) -> dict[str, Any]:
    """The Permission shape, with the policy statement AWS shows for it."""
    actions = [f"acm-pca:{action}" for action in permission.actions]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": permission.principal},
                "Action": actions,
                "Resource": permission.ca_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": permission.source_account}},
            }
        ],
    }
    return {
        "CertificateAuthorityArn": permission.ca_arn,
        "CreatedAt": permission.created_at,
        "Principal": permission.principal,
        "SourceAccount": permission.source_account,
        "Actions": list(permission.actions),
        "Policy": json.dumps(policy),
    }


def _page(
    params: Mapping[str, Any],
    items: list[dict[str, Any]],
    member: str,
    *,
    error: type[pca.InvalidNextTokenError] | type[ValidationError] = ValidationError,
) -> dict[str, Any]:
    """One page of a short list held in memory (a CA's tags or permissions)."""
    limit = params.get("MaxResults") or LIST_DEFAULT_MAX_RESULTS
    digest = query_digest_of(params, exclude=("NextToken", "MaxResults"))
    offset = 0
    if params.get("NextToken"):
        (offset,) = read_page_token(params["NextToken"], digest, error, (int,))
    result: dict[str, Any] = {member: items[offset : offset + limit]}
    if offset + limit < len(items):
        result["NextToken"] = make_page_token([offset + limit], digest)
    return result
