"""openacm's association operations: tying a certificate to the consumers that use it.

ACM learns that a certificate is in use when an integrated service (a load balancer, a
CloudFront distribution) attaches it. openacm has no such services, so consumers say it
themselves: AssociateCertificate with the certificate and the consumer's ARN (any ARN: its
own `arn:openacm:deploy:...:target/<name>`, a load balancer's...). Associations drive what
ACM shows: InUseBy, InUse, ResourceInUseException on DeleteCertificate, RenewalEligibility.

Both calls are idempotent: associating twice keeps the first association (and its time),
removing an association that does not exist succeeds. A certificate is seen only by its own
account, so its associations are too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openacm.adapters.store.associations import AssociationStore
from openacm.adapters.store.database import Database
from openacm.domain.arn import parse_arn
from openacm.domain.errors import InvalidStateError, ValidationError
from openacm.services.acm.certificates import (
    CertificateOperations,
    make_page_token,
    query_digest_of,
    read_page_token,
)
from openacm.services.context import CallContext

LIST_DEFAULT_MAX_RESULTS = 100


class AssociationOperations:
    def __init__(self, db: Database, certificates: CertificateOperations) -> None:
        self.db = db
        self.certificates = certificates

    # -- AssociateCertificate ---------------------------------------------------------------

    def associate_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        resource_arn = consumer_arn(params["ResourceArn"])
        arn = self.certificates.owned_arn(ctx, params["CertificateArn"], "AssociateCertificate")
        with self.db.write() as conn:
            store = AssociationStore(conn)
            # The lock DeleteCertificate takes as well: the certificate cannot be deleted
            # between the checks below and the association's commit.
            store.lock_certificate(arn)
            record = self.certificates.load(conn, ctx, arn, "AssociateCertificate")
            existing = store.get(arn, resource_arn)
            if existing is not None:
                return {"Association": existing.to_api()}
            status = record.status_at(ctx.now)
            if status != "ISSUED":
                # What an integrated service refuses too: it can only serve a certificate
                # that exists and is valid.
                raise InvalidStateError(
                    f"Certificate {arn} is {status}: only an issued certificate can be "
                    "associated with a resource."
                )
            association = store.add(
                arn, resource_arn, account_id=ctx.account_id, region=ctx.region, at=ctx.now
            )
        return {"Association": association.to_api()}

    # -- DisassociateCertificate ------------------------------------------------------------

    def disassociate_certificate(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        resource_arn = consumer_arn(params["ResourceArn"])
        arn = self.certificates.owned_arn(ctx, params["CertificateArn"], "DisassociateCertificate")
        with self.db.write() as conn:
            store = AssociationStore(conn)
            store.lock_certificate(arn)
            self.certificates.load(conn, ctx, arn, "DisassociateCertificate")
            store.remove(arn, resource_arn)
        return {}

    # -- ListCertificateAssociations --------------------------------------------------------

    def list_certificate_associations(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        limit = params.get("MaxResults") or LIST_DEFAULT_MAX_RESULTS
        digest = query_digest_of(params, exclude=("NextToken", "MaxResults"))
        after = None
        if params.get("NextToken"):
            position = read_page_token(params["NextToken"], digest, ValidationError, (str, str))
            after = (position[0], position[1])
        resource_arn = params.get("ResourceArn")
        if resource_arn is not None:
            resource_arn = consumer_arn(resource_arn)
        with self.db.read() as conn:
            certificate_arn = None
            if params.get("CertificateArn") is not None:
                certificate_arn = self.certificates.load(
                    conn, ctx, params["CertificateArn"], "ListCertificateAssociations"
                ).arn
            page, has_more = AssociationStore(conn).page(
                ctx.account_id,
                ctx.region,
                certificate_arn=certificate_arn,
                resource_arn=resource_arn,
                after=after,
                limit=limit,
            )
        result: dict[str, Any] = {"Associations": [a.to_api() for a in page]}
        if has_more:
            last = page[-1]
            result["NextToken"] = make_page_token([last.certificate_arn, last.resource_arn], digest)
        return result


def consumer_arn(text: str) -> str:
    """A consumer's ARN, once it is one (six fields, partition, service and resource): the
    model's pattern keeps out most other strings, and what it lets through is refused as
    ACM refuses a malformed certificate ARN (InvalidArnException)."""
    parse_arn(text)
    return text
