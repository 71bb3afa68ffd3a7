"""Tags on ACM resources: the certificate-specific operations and the generic *Resource ones.

TagResource/UntagResource/ListTagsForResource are meant for ACM's non-certificate resources
(ACME endpoints and the like); openacm also accepts certificate ARNs there, on the same tag
set, so a tool using only the generic calls works on every resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from openacm.adapters.store.certificates import TagStore
from openacm.domain.arn import parse_arn
from openacm.domain.errors import ServiceQuotaExceededError, TooManyTagsError
from openacm.domain.tags import Tag, check_tags_to_change, merge_tags, tags_from_api, tags_to_remove
from openacm.services.acm.certificates import CertificateOperations
from openacm.services.acme.endpoints import AcmeEndpointOperations
from openacm.services.context import CallContext


class TagOperations:
    def __init__(
        self,
        certificates: CertificateOperations,
        acme_endpoints: AcmeEndpointOperations | None = None,
    ) -> None:
        self.certificates = certificates
        self.acme_endpoints = acme_endpoints
        self.db = certificates.db
        self.limits = certificates.tag_limits

    def _check(self, conn: Connection, ctx: CallContext, arn: str, operation: str) -> None:
        """The resource exists and is the caller's: a certificate, or an ACME endpoint (the
        generic *Resource operations only)."""
        if (
            self.acme_endpoints is not None
            and operation.endswith("Resource")
            and parse_arn(arn).resource_type == "acme-endpoint"
        ):
            self.acme_endpoints.load_any(conn, ctx, arn, operation)
        else:
            self.certificates.load(conn, ctx, arn, operation)

    def _add(self, ctx: CallContext, arn: str, added: list[Tag], operation: str) -> None:
        with self.db.write() as conn:
            self._check(conn, ctx, arn, operation)
            store = TagStore(conn)
            merge_tags(store.list(arn), added, self.limits)  # refuses what breaks the rules
            store.put(arn, added)

    def _remove(self, ctx: CallContext, arn: str, requested: list[Tag], operation: str) -> None:
        check_tags_to_change(requested, self.limits)
        with self.db.write() as conn:
            self._check(conn, ctx, arn, operation)
            store = TagStore(conn)
            store.remove(arn, tags_to_remove(store.list(arn), requested))

    def _list(self, ctx: CallContext, arn: str, operation: str) -> dict[str, Any]:
        with self.db.read() as conn:
            self._check(conn, ctx, arn, operation)
            tags = TagStore(conn).list(arn)
        return {"Tags": [tag.to_api() for tag in tags] or None}

    # -- certificate operations -----------------------------------------------------------

    def add_tags_to_certificate(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        added = tags_from_api(params["Tags"])
        self._add(ctx, params["CertificateArn"], added, "AddTagsToCertificate")
        return {}

    def remove_tags_from_certificate(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        requested = tags_from_api(params["Tags"])
        self._remove(ctx, params["CertificateArn"], requested, "RemoveTagsFromCertificate")
        return {}

    def list_tags_for_certificate(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._list(ctx, params["CertificateArn"], "ListTagsForCertificate")

    # -- generic resource operations ------------------------------------------------------

    def tag_resource(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            self._add(ctx, params["ResourceArn"], tags_from_api(params["Tags"]), "TagResource")
        except TooManyTagsError as exc:
            raise ServiceQuotaExceededError(exc.message) from exc
        return {}

    def untag_resource(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        requested = [Tag(key, None) for key in params["TagKeys"]]
        self._remove(ctx, params["ResourceArn"], requested, "UntagResource")
        return {}

    def list_tags_for_resource(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._list(ctx, params["ResourceArn"], "ListTagsForResource")
