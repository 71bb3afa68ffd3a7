"""Describe/List/RevokeAcmeAccount: ACM's view of the ACME accounts clients made on an endpoint.

An account is named by its ACME account URL, as clients know it. A revoked account is refused
by the ACME server on its next request (`unauthorized`); revocation is final.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openacm.adapters.store.acme_endpoints import AcmeEndpointStore
from openacm.adapters.store.acme_server import AcmeAccount, AcmeStateStore
from openacm.adapters.store.database import Database
from openacm.domain.acme_endpoints import AcmeEndpointRecord
from openacm.domain.errors import ConflictError, ResourceNotFoundError, ValidationError
from openacm.services.acm.certificates import make_page_token, query_digest_of, read_page_token
from openacm.services.acme.endpoints import AcmeEndpointOperations
from openacm.services.context import CallContext

LIST_DEFAULT_MAX_RESULTS = 100


class AcmeAccountOperations:
    def __init__(self, db: Database, endpoints: AcmeEndpointOperations) -> None:
        self.db = db
        self.endpoints = endpoints

    def _account_url(self, endpoint: AcmeEndpointRecord, account_id: str) -> str:
        return f"{self.endpoints.base_url}/acme/{endpoint.endpoint_id}/acct/{account_id}"

    def _find(self, store: AcmeStateStore, endpoint: AcmeEndpointRecord, url: str) -> AcmeAccount:
        prefix = self._account_url(endpoint, "")
        account = (
            store.account(endpoint.endpoint_id, url[len(prefix) :])
            if url.startswith(prefix)
            else None
        )
        if account is None:
            raise ResourceNotFoundError(f"Could not find ACME account {url}.")
        return account

    def _view(self, endpoint: AcmeEndpointRecord, account: AcmeAccount) -> dict[str, Any]:
        view: dict[str, Any] = {
            "AccountUrl": self._account_url(endpoint, account.account_id),
            "PublicKeyThumbprint": account.thumbprint,
            "Status": account.status.upper(),
            "CreatedAt": account.created_at,
        }
        if account.contact:
            view["Contacts"] = list(account.contact)
        if account.external_account_binding_arn:
            view["AcmeExternalAccountBindingArn"] = account.external_account_binding_arn
        return view

    def describe_acme_account(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.db.read() as conn:
            endpoint = self.endpoints.load(
                AcmeEndpointStore(conn), ctx, params["AcmeEndpointArn"], "DescribeAcmeAccount"
            )
            account = self._find(AcmeStateStore(conn), endpoint, params["AccountUrl"])
        return {"AcmeAccount": self._view(endpoint, account)}

    def list_acme_accounts(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        limit = params.get("MaxResults") or LIST_DEFAULT_MAX_RESULTS
        digest = query_digest_of(params, exclude=("NextToken", "MaxResults"))
        after = None
        if params.get("NextToken"):
            created, account_id = read_page_token(
                params["NextToken"], digest, ValidationError, ((int, float), str)
            )
            after = (float(created), str(account_id))
        with self.db.read() as conn:
            endpoint = self.endpoints.load(
                AcmeEndpointStore(conn), ctx, params["AcmeEndpointArn"], "ListAcmeAccounts"
            )
            accounts, more = AcmeStateStore(conn).accounts_page(
                endpoint.endpoint_id, after=after, limit=limit
            )
        result: dict[str, Any] = {"AcmeAccounts": [self._view(endpoint, a) for a in accounts]}
        if more:
            last = accounts[-1]
            result["NextToken"] = make_page_token([last.created_at, last.account_id], digest)
        return result

    def revoke_acme_account(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.db.write() as conn:
            endpoint = self.endpoints.load(
                AcmeEndpointStore(conn), ctx, params["AcmeEndpointArn"], "RevokeAcmeAccount"
            )
            store = AcmeStateStore(conn)
            account = self._find(store, endpoint, params["AccountUrl"])
            if account.status != "valid":
                raise ConflictError(f"The ACME account is {account.status.upper()}.")
            store.update_account(account.account_id, contact=account.contact, status="revoked")
        return {}
