"""Create/Describe/List/Revoke/Delete AcmeExternalAccountBinding and
GetAcmeExternalAccountBindingCredentials: the credentials an ACME client binds its new account
with (RFC 8555 §7.3.4).

A binding's KeyId is its id; its MAC key (32 random bytes, handed out base64url as clients
expect it) is sealed at rest with the envelope cipher under the binding's ARN. One binding may
register several ACME accounts until it expires, is revoked or deleted; accounts it registered
stay (RevokeAcmeAccount ends them).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.acme_endpoints import AcmeEndpointStore
from openacm.adapters.store.acme_resources import BindingStore
from openacm.adapters.store.certificates import TagStore
from openacm.adapters.store.database import Database
from openacm.domain.acme_resources import (
    BINDING,
    ExternalAccountBinding,
    expiry_of,
    sub_resource_arn,
)
from openacm.domain.acme_server import b64url
from openacm.domain.errors import ResourceNotFoundError, ServiceQuotaExceededError
from openacm.services.acm.certificates import make_page_token, query_digest_of
from openacm.services.acme.endpoints import AcmeEndpointOperations, idempotent, page_after
from openacm.services.context import CallContext

WHAT = "ACME external account binding"
MAC_KEY_BYTES = 32
LIST_DEFAULT_MAX_RESULTS = 100


class AcmeBindingOperations:
    def __init__(
        self, db: Database, cipher: EnvelopeCipher, endpoints: AcmeEndpointOperations, limit: int
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.endpoints = endpoints
        self.limit = limit

    def _load(
        self, store: BindingStore, ctx: CallContext, arn: str, operation: str
    ) -> ExternalAccountBinding:
        return self.endpoints.load_child(ctx, arn, BINDING, operation, store.get, WHAT)

    def create_acme_external_account_binding(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        tags = self.endpoints.tags_of(params, "Tags")
        expires_at = expiry_of(params.get("Expiration"), ctx.now)
        with (
            self.db.write() as conn,
            idempotent(conn, ctx, params, "CreateAcmeExternalAccountBinding") as once,
        ):
            if once.answer is not None:
                return once.answer
            endpoint = self.endpoints.load(
                AcmeEndpointStore(conn),
                ctx,
                params["AcmeEndpointArn"],
                "CreateAcmeExternalAccountBinding",
            )
            store = BindingStore(conn)
            if store.count(endpoint.arn) >= self.limit:
                raise ServiceQuotaExceededError(
                    f"The ACME endpoint has reached the limit of {self.limit} external "
                    "account bindings."
                )
            binding_id = str(uuid.uuid4())
            arn = sub_resource_arn(endpoint.arn, BINDING, binding_id)
            mac_key = secrets.token_bytes(MAC_KEY_BYTES)
            binding = ExternalAccountBinding(
                arn=arn,
                binding_id=binding_id,
                endpoint_arn=endpoint.arn,
                role_arn=params["RoleArn"],
                mac_key_sealed=self.cipher.seal(mac_key, arn),
                expires_at=expires_at,
                revoked_at=None,
                last_used_at=None,
                created_at=ctx.now,
                updated_at=ctx.now,
            )
            store.insert(binding)
            TagStore(conn).put(arn, tags)
            once.answer = {"ExternalAccountBinding": binding.view()}
        return once.answer

    def describe_acme_external_account_binding(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self.db.read() as conn:
            binding = self._load(
                BindingStore(conn),
                ctx,
                params["AcmeExternalAccountBindingArn"],
                "DescribeAcmeExternalAccountBinding",
            )
        return {"ExternalAccountBinding": binding.view()}

    def list_acme_external_account_bindings(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        limit = params.get("MaxResults") or LIST_DEFAULT_MAX_RESULTS
        digest = query_digest_of(params, exclude=("NextToken", "MaxResults"))
        after = page_after(params, digest)
        with self.db.read() as conn:
            endpoint = self.endpoints.load(
                AcmeEndpointStore(conn),
                ctx,
                params["AcmeEndpointArn"],
                "ListAcmeExternalAccountBindings",
            )
            bindings, more = BindingStore(conn).page(endpoint.arn, after=after, limit=limit)
        result: dict[str, Any] = {"ExternalAccountBindings": [b.view() for b in bindings]}
        if more:
            result["NextToken"] = make_page_token(
                [bindings[-1].created_at, bindings[-1].arn], digest
            )
        return result

    def get_acme_external_account_binding_credentials(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self.db.read() as conn:
            binding = self._load(
                BindingStore(conn),
                ctx,
                params["AcmeExternalAccountBindingArn"],
                "GetAcmeExternalAccountBindingCredentials",
            )
        mac_key = self.cipher.open(binding.mac_key_sealed, binding.arn)
        return {"KeyId": binding.binding_id, "MacKey": b64url(mac_key)}

    def revoke_acme_external_account_binding(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Idempotent, as the model marks it: a revoked binding stays revoked at its time."""
        with self.db.write() as conn:
            store = BindingStore(conn)
            binding = self._load(
                store,
                ctx,
                params["AcmeExternalAccountBindingArn"],
                "RevokeAcmeExternalAccountBinding",
            )
            store.revoke(binding.arn, ctx.now)
        return {}

    def delete_acme_external_account_binding(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Idempotent (the model lists no ResourceNotFoundException): a binding already gone
        is deleted. Credentials fetched before no longer register accounts."""
        with self.db.write() as conn:
            store = BindingStore(conn)
            try:
                binding = self._load(
                    store,
                    ctx,
                    params["AcmeExternalAccountBindingArn"],
                    "DeleteAcmeExternalAccountBinding",
                )
            except ResourceNotFoundError:
                return {}
            store.delete([binding.arn])
            tags = TagStore(conn)
            tags.remove(binding.arn, [tag.key for tag in tags.list(binding.arn)])
        return {}
