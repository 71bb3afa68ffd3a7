"""Create/Describe/List/Update/Delete AcmeEndpoint: ACM's API for its managed ACME servers.

Each handler takes the call context and the validated input (member names as in the model)
and returns the output members; one transaction per call. An endpoint needs nothing built
before it can answer (its CA is the installation's builtin one), so it is ACTIVE as soon as
CreateAcmeEndpoint returns: CREATING is never observable, and DeleteAcmeEndpoint removes it at
once (DELETING is never observable either).
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection

from openacm.adapters.store.accounts import AccountStore, StoredToken
from openacm.adapters.store.acme_endpoints import AcmeEndpointStore
from openacm.adapters.store.acme_resources import BindingStore, DomainValidationStore
from openacm.adapters.store.certificates import TagStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.pca import PrivateCaStore
from openacm.config import Settings
from openacm.domain.acme_endpoints import (
    ACTIVE,
    DEFAULT_CONTACT,
    PRIVATE_CA_MEMBER,
    AcmeEndpointRecord,
    acme_endpoint_arn,
    endpoint_view,
    normalise_authority,
)
from openacm.domain.acme_resources import BINDING, DOMAIN_VALIDATION, endpoint_arn_of
from openacm.domain.arn import parse_arn
from openacm.domain.errors import (
    AccessDeniedError,
    ConflictError,
    ResourceNotFoundError,
    ServiceQuotaExceededError,
    TooManyTagsError,
    ValidationError,
)
from openacm.domain.policy import NO_RESOURCE_POLICY
from openacm.domain.tags import TagLimits, merge_tags, tags_from_api
from openacm.services.acm.certificates import make_page_token, query_digest_of, read_page_token
from openacm.services.context import CallContext

T = TypeVar("T")
# How long an IdempotencyToken names the endpoint it created (ACM's RequestCertificate window).
IDEMPOTENCY_WINDOW_SECONDS = 3600
LIST_DEFAULT_MAX_RESULTS = 100


def api_base_url(settings: Settings) -> str:
    """Where ACME clients reach this installation: `[acme] public_url`, else the API's own
    address, https when the API serves TLS (a loopback development server speaks HTTP)."""
    if settings.acme_server.public_url:
        return settings.acme_server.public_url.rstrip("/")
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if (settings.tls_cert or settings.self_tls) else "http"
    return f"{scheme}://{host}:{settings.port}"


@dataclass
class _Once:
    """What an idempotent create answers: the earlier answer of the same token, or the one
    the body sets."""

    answer: dict[str, Any] | None = None


@contextlib.contextmanager
def idempotent(
    conn: Connection, ctx: CallContext, params: Mapping[str, Any], operation: str
) -> Iterator[_Once]:
    """An IdempotencyToken of a create call: the same token within an hour answers what the
    first call answered (the body is skipped when `once.answer` is set on entry); the same
    token with other arguments is ConflictException. The account is locked for the body, so
    two calls with one token create one resource."""
    token = params.get("IdempotencyToken")
    digest = query_digest_of(params, exclude=("IdempotencyToken",))
    scope = (ctx.account_id, ctx.region, operation)
    accounts = AccountStore(conn)
    accounts.lock_account(ctx.account_id)
    once = _Once()
    if token:
        earlier = accounts.token(scope, token, since=ctx.now - IDEMPOTENCY_WINDOW_SECONDS)
        if earlier is not None:
            # The same token is the same request; with other arguments it is a caller's
            # mistake, not a second resource.
            if earlier.request_digest != digest:
                raise ConflictError(
                    "The IdempotencyToken was already used with different parameters."
                )
            once.answer = orjson.loads(earlier.response_json)
            yield once
            return
    yield once
    if token and once.answer is not None:
        accounts.put_token(
            scope, token, StoredToken(digest, orjson.dumps(once.answer).decode(), ctx.now)
        )


def page_after(params: Mapping[str, Any], digest: str) -> tuple[float, str] | None:
    """Where a List call's NextToken says the previous page ended: (created_at, key)."""
    if not params.get("NextToken"):
        return None
    created, key = read_page_token(
        params["NextToken"], digest, ValidationError, ((int, float), str)
    )
    return float(created), str(key)


class AcmeEndpointOperations:
    def __init__(self, db: Database, settings: Settings, tag_limits: TagLimits) -> None:
        self.db = db
        self.base_url = api_base_url(settings)
        self.max_endpoints = settings.acme_server.endpoints_per_region
        self.tag_limits = tag_limits

    # -- lookups --------------------------------------------------------------------------

    def load(
        self, store: AcmeEndpointStore, ctx: CallContext, arn: str, operation: str
    ) -> AcmeEndpointRecord:
        """The endpoint an ARN names, once it is one of the caller's account and region."""
        parsed = parse_arn(arn)
        if parsed.service != "acm" or parsed.resource_type != "acme-endpoint":
            raise ValidationError(f"String '{arn}' is not a valid AcmeEndpointArn")
        if parsed.account_id != ctx.account_id:
            raise AccessDeniedError(
                NO_RESOURCE_POLICY.message(ctx.principal_arn, f"acm:{operation}", arn)
            )
        record = store.get(arn)
        if record is None or record.region != ctx.region or parsed.partition != ctx.partition:
            raise ResourceNotFoundError(f"Could not find ACME endpoint with ARN {arn}.")
        return record

    def load_child(
        self,
        ctx: CallContext,
        arn: str,
        kind: str,
        operation: str,
        get: Callable[[str], T | None],
        what: str,
    ) -> T:
        """A resource under an endpoint (a binding, a domain validation) that `get` finds by
        ARN, once it is one of the caller's account and region."""
        if endpoint_arn_of(arn, kind) is None:
            raise ValidationError(f"String '{arn}' is not a valid {what} ARN")
        parsed = parse_arn(arn)
        if parsed.account_id != ctx.account_id:
            raise AccessDeniedError(
                NO_RESOURCE_POLICY.message(ctx.principal_arn, f"acm:{operation}", arn)
            )
        found = get(arn)
        if found is None or parsed.region != ctx.region or parsed.partition != ctx.partition:
            raise ResourceNotFoundError(f"Could not find {what} with ARN {arn}.")
        return found

    def load_any(self, conn: Connection, ctx: CallContext, arn: str, operation: str) -> None:
        """The endpoint, binding or domain validation an ARN names (the tag operations)."""
        for kind, get, what in (
            (BINDING, BindingStore(conn).get, "ACME external account binding"),
            (DOMAIN_VALIDATION, DomainValidationStore(conn).get, "ACME domain validation"),
        ):
            if endpoint_arn_of(arn, kind) is not None:
                self.load_child(ctx, arn, kind, operation, get, what)
                return
        self.load(AcmeEndpointStore(conn), ctx, arn, operation)

    def tags_of(self, params: Mapping[str, Any], member: str) -> list[Any]:
        try:
            return merge_tags([], tags_from_api(params.get(member) or []), self.tag_limits)
        except TooManyTagsError as exc:
            raise ValidationError(exc.message) from exc

    # -- CreateAcmeEndpoint ---------------------------------------------------------------

    def create_acme_endpoint(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        authority = normalise_authority(params["CertificateAuthority"])
        tags = self.tags_of(params, "Tags")
        certificate_tags = self.tags_of(params, "CertificateTags")
        with self.db.write() as conn, idempotent(conn, ctx, params, "CreateAcmeEndpoint") as once:
            if once.answer is not None:
                return once.answer
            store = AcmeEndpointStore(conn)
            if store.count(ctx.account_id, ctx.region) >= self.max_endpoints:
                raise ServiceQuotaExceededError(
                    f"You have reached the limit of {self.max_endpoints} ACME endpoints in "
                    f"{ctx.region}."
                )
            endpoint_id = str(uuid.uuid4())
            record = AcmeEndpointRecord(
                arn=acme_endpoint_arn(ctx.partition, ctx.region, ctx.account_id, endpoint_id),
                endpoint_id=endpoint_id,
                account_id=ctx.account_id,
                region=ctx.region,
                status=ACTIVE,
                authorization_behavior=params["AuthorizationBehavior"],
                contact=params.get("Contact") or DEFAULT_CONTACT,
                certificate_authority=authority,
                certificate_tags=tuple(certificate_tags),
                created_at=ctx.now,
                updated_at=ctx.now,
            )
            store.insert(record)
            TagStore(conn).put(record.arn, tags)
            once.answer = {"AcmeEndpointArn": record.arn}
        return once.answer

    # -- DescribeAcmeEndpoint / ListAcmeEndpoints -----------------------------------------

    def describe_acme_endpoint(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        with self.db.read() as conn:
            store = AcmeEndpointStore(conn)
            record = self.load(store, ctx, params["AcmeEndpointArn"], "DescribeAcmeEndpoint")
        return {"AcmeEndpoint": endpoint_view(record, self.base_url)}

    def list_acme_endpoints(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        limit = params.get("MaxResults") or LIST_DEFAULT_MAX_RESULTS
        digest = query_digest_of(params, exclude=("NextToken", "MaxResults"))
        after = page_after(params, digest)
        with self.db.read() as conn:
            page = AcmeEndpointStore(conn).page(
                ctx.account_id, ctx.region, after=after, limit=limit
            )
        result: dict[str, Any] = {
            "AcmeEndpoints": [endpoint_view(r, self.base_url) for r in page.records]
        }
        if page.has_more:
            last = page.records[-1]
            result["NextToken"] = make_page_token([last.created_at, last.arn], digest)
        return result

    # -- UpdateAcmeEndpoint ---------------------------------------------------------------

    def update_acme_endpoint(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if params.get("AuthorizationBehavior"):
            changes["authorization_behavior"] = params["AuthorizationBehavior"]
        if params.get("Contact"):
            changes["contact"] = params["Contact"]
        if params.get("CertificateAuthority"):
            changes["certificate_authority"] = normalise_authority(params["CertificateAuthority"])
        with self.db.write() as conn:
            store = AcmeEndpointStore(conn)
            record = self.load(store, ctx, params["AcmeEndpointArn"], "UpdateAcmeEndpoint")
            if record.status != ACTIVE:
                raise ConflictError(
                    f"The ACME endpoint {record.arn} is {record.status} and cannot be updated."
                )
            if changes:
                store.replace(replace(record, updated_at=ctx.now, **changes))
        return {}

    # -- DeleteAcmeEndpoint ---------------------------------------------------------------

    def delete_acme_endpoint(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        """Idempotent, as the model marks it (and it lists no ResourceNotFoundException): an
        endpoint already gone is deleted."""
        with self.db.write() as conn:
            store = AcmeEndpointStore(conn)
            try:
                record = self.load(store, ctx, params["AcmeEndpointArn"], "DeleteAcmeEndpoint")
            except ResourceNotFoundError:
                return {}
            store.delete(record.arn)
            # Its bindings and domain validations go with it, and every one's tags.
            bindings, validations = BindingStore(conn), DomainValidationStore(conn)
            children = bindings.arns_of(record.arn) + validations.arns_of(record.arn)
            bindings.delete(children)
            validations.delete(children)
            tags = TagStore(conn)
            for arn in (record.arn, *children):
                tags.remove(arn, [tag.key for tag in tags.list(arn)])
        return {}

    # -- PutAcmeEndpointCertificateAuthority (openacm's API) ------------------------------

    def put_acme_endpoint_certificate_authority(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The endpoint issues from an ACM-PCA CA of the installation (or, without one, from
        the builtin public CA again). The CA must exist in the endpoint's region; whether it
        may issue for ACM (ACTIVE, ACM's permission) is checked at each finalize, as for
        RequestCertificate's private certificates."""
        ca_arn = params.get("CertificateAuthorityArn")
        with self.db.write() as conn:
            store = AcmeEndpointStore(conn)
            record = self.load(
                store, ctx, params["AcmeEndpointArn"], "PutAcmeEndpointCertificateAuthority"
            )
            authority = {
                member: value
                for member, value in record.certificate_authority.items()
                if member != PRIVATE_CA_MEMBER
            }
            if ca_arn:
                parsed = parse_arn(ca_arn)
                if parsed.region != record.region or parsed.partition != ctx.partition:
                    raise ValidationError(
                        f"The certificate authority {ca_arn} is not in {record.region}."
                    )
                if PrivateCaStore(conn).get(ca_arn) is None:
                    raise ResourceNotFoundError(f"Could not find certificate authority {ca_arn}.")
                authority[PRIVATE_CA_MEMBER] = ca_arn
            store.replace(replace(record, certificate_authority=authority, updated_at=ctx.now))
        return {}
