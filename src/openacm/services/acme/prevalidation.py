"""Create/Describe/List/Update/Delete AcmeDomainValidation, and the background check that
takes a domain validation from VALIDATING to VALID or INVALID.

A domain validation proves control of a domain once, with the CNAME of ACM's DNS validation
(the same record RequestCertificate gives the account for that name, found by the same CNAME
lookup), and then authorizes the names its DomainScope covers on its endpoint without
per-order challenges (the PRE_APPROVED AuthorizationBehavior). The check runs through the
shared work queue, so any process of the installation may do it, once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from openacm.adapters.dns.resolver import DnsChecker, DnsLookupError
from openacm.adapters.store.acme_endpoints import AcmeEndpointStore
from openacm.adapters.store.acme_resources import DomainValidationStore
from openacm.adapters.store.certificates import TagStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.work import WORK_SCHEDULED, WorkItem, WorkQueue, lease_due_items
from openacm.config import ValidationSettings
from openacm.domain.acme_resources import (
    DOMAIN_VALIDATION,
    INVALID,
    VALID,
    VALIDATING,
    DomainValidation,
    dns_prevalidation,
    domain_scope,
    sub_resource_arn,
)
from openacm.domain.errors import ConflictError, ResourceNotFoundError, ServiceQuotaExceededError
from openacm.domain.validation import chain_proves, validation_record
from openacm.services.acm.certificates import make_page_token, query_digest_of
from openacm.services.acme.endpoints import AcmeEndpointOperations, idempotent, page_after
from openacm.services.context import CallContext

log = logging.getLogger("openacm.acme")
WHAT = "ACME domain validation"
PREVALIDATE_WORK = "acme-prevalidate"
LIST_DEFAULT_MAX_RESULTS = 100
BATCH_SIZE = 20


def _schedule(queue: WorkQueue, validation: DomainValidation, settings: ValidationSettings) -> None:
    queue.schedule(
        PREVALIDATE_WORK,
        validation.arn,
        due_at=validation.updated_at,
        deadline_at=validation.updated_at + settings.timeout,
        now=validation.updated_at,
    )


class AcmeDomainValidationOperations:
    def __init__(
        self,
        db: Database,
        endpoints: AcmeEndpointOperations,
        validation: ValidationSettings,
        validation_key: bytes,
        limit: int,
    ) -> None:
        self.db = db
        self.endpoints = endpoints
        self.validation = validation
        self.validation_key = validation_key
        self.limit = limit

    def _load(
        self, store: DomainValidationStore, ctx: CallContext, arn: str, operation: str
    ) -> DomainValidation:
        return self.endpoints.load_child(ctx, arn, DOMAIN_VALIDATION, operation, store.get, WHAT)

    def create_acme_domain_validation(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        tags = self.endpoints.tags_of(params, "Tags")
        dns = dns_prevalidation(params["PrevalidationOptions"])
        scope = domain_scope(dns)
        domain = params["DomainName"].lower().rstrip(".")
        operation = "CreateAcmeDomainValidation"
        with self.db.write() as conn, idempotent(conn, ctx, params, operation) as once:
            if once.answer is not None:
                return once.answer
            endpoint = self.endpoints.load(
                AcmeEndpointStore(conn), ctx, params["AcmeEndpointArn"], operation
            )
            store = DomainValidationStore(conn)
            if store.by_domain(endpoint.arn, domain) is not None:
                raise ConflictError(
                    f"The ACME endpoint already has a domain validation for {domain}."
                )
            if store.count(endpoint.arn) >= self.limit:
                raise ServiceQuotaExceededError(
                    f"The ACME endpoint has reached the limit of {self.limit} domain validations."
                )
            validation = DomainValidation(
                arn=sub_resource_arn(endpoint.arn, DOMAIN_VALIDATION, str(uuid.uuid4())),
                endpoint_arn=endpoint.arn,
                domain_name=domain,
                scope=scope,
                hosted_zone_id=dns.get("HostedZoneId"),
                # The account's DNS validation record of the name: one CNAME serves its
                # certificates and its endpoints' domain validations alike.
                record=validation_record(
                    self.validation_key, ctx.account_id, domain, self.validation.zone
                ),
                status=VALIDATING,
                failure_reason=None,
                failure_message=None,
                created_at=ctx.now,
                updated_at=ctx.now,
            )
            store.insert(validation)
            TagStore(conn).put(validation.arn, tags)
            _schedule(WorkQueue(conn), validation, self.validation)
            once.answer = {"AcmeDomainValidationArn": validation.arn}
        WORK_SCHEDULED.notify()
        return once.answer

    def describe_acme_domain_validation(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self.db.read() as conn:
            validation = self._load(
                DomainValidationStore(conn),
                ctx,
                params["AcmeDomainValidationArn"],
                "DescribeAcmeDomainValidation",
            )
        return {"AcmeDomainValidation": validation.view()}

    def list_acme_domain_validations(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        limit = params.get("MaxResults") or LIST_DEFAULT_MAX_RESULTS
        digest = query_digest_of(params, exclude=("NextToken", "MaxResults"))
        after = page_after(params, digest)
        with self.db.read() as conn:
            endpoint = self.endpoints.load(
                AcmeEndpointStore(conn), ctx, params["AcmeEndpointArn"], "ListAcmeDomainValidations"
            )
            found, more = DomainValidationStore(conn).page(endpoint.arn, after=after, limit=limit)
        result: dict[str, Any] = {"AcmeDomainValidations": [v.view() for v in found]}
        if more:
            result["NextToken"] = make_page_token([found[-1].created_at, found[-1].arn], digest)
        return result

    def update_acme_domain_validation(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A new scope (or hosted zone). The proof of control stays: a VALID domain
        validation stays VALID; an INVALID one is looked at again (VALIDATING)."""
        with self.db.write() as conn:
            store = DomainValidationStore(conn)
            validation = self._load(
                store, ctx, params["AcmeDomainValidationArn"], "UpdateAcmeDomainValidation"
            )
            if not params.get("PrevalidationOptions"):
                return {}
            dns = dns_prevalidation(params["PrevalidationOptions"])
            changed = replace(
                validation,
                scope=domain_scope(dns),
                hosted_zone_id=dns.get("HostedZoneId"),
                updated_at=ctx.now,
            )
            if validation.status == INVALID:
                changed = replace(
                    changed, status=VALIDATING, failure_reason=None, failure_message=None
                )
                _schedule(WorkQueue(conn), changed, self.validation)
            store.replace(changed)
        WORK_SCHEDULED.notify()
        return {}

    def delete_acme_domain_validation(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Idempotent (the model lists no ResourceNotFoundException). The endpoint stops
        authorizing the names at once: orders not yet finalized are refused at finalize."""
        with self.db.write() as conn:
            store = DomainValidationStore(conn)
            try:
                validation = self._load(
                    store, ctx, params["AcmeDomainValidationArn"], "DeleteAcmeDomainValidation"
                )
            except ResourceNotFoundError:
                return {}
            store.delete([validation.arn])
            WorkQueue(conn).cancel(PREVALIDATE_WORK, validation.arn)
            tags = TagStore(conn)
            tags.remove(validation.arn, [tag.key for tag in tags.list(validation.arn)])
        return {}


@dataclass(frozen=True)
class PrevalidationResult:
    arn: str
    outcome: str  # "valid", "invalid", "pending", "gone", "lost_lease"


class PrevalidationWorker:
    """Looks up the CNAME of each VALIDATING domain validation until it is found (VALID) or
    the validation timeout passes (INVALID, TIMED_OUT), backing off like DNS validation."""

    def __init__(self, db: Database, dns: DnsChecker, validation: ValidationSettings) -> None:
        self.db = db
        self.dns = dns
        self.validation = validation
        self.owner = f"prevalidate-{uuid.uuid4().hex[:12]}"

    def run_once(self, now: float) -> list[PrevalidationResult]:
        items = lease_due_items(
            self.db,
            PREVALIDATE_WORK,
            self.owner,
            now=now,
            lease_seconds=self.validation.lease_seconds,
            limit=BATCH_SIZE,
        )
        results = []
        for item in items:
            try:
                results.append(self._step(item, now))
            except Exception:
                # One validation's fault must not stop the others; its lease runs out and
                # it is taken again.
                log.exception("domain validation check failed", extra={"arn": item.resource_arn})
        return results

    def _proven(self, validation: DomainValidation) -> bool:
        try:
            chain = self.dns.cname_chain(
                validation.record.name.rstrip("."), stop_under=(self.validation.zone,)
            )
        except DnsLookupError as exc:
            log.info("DNS lookup failed", extra={"arn": validation.arn, "error": str(exc)})
            return False
        return chain_proves(validation.record, chain.targets, too_long=chain.too_long)

    def _step(self, item: WorkItem, now: float) -> PrevalidationResult:
        with self.db.read() as conn:
            validation = DomainValidationStore(conn).get(item.resource_arn)
        proven = (
            validation is not None and validation.status == VALIDATING and self._proven(validation)
        )
        with self.db.write() as conn:
            queue = WorkQueue(conn)
            if not queue.still_held(item, self.owner, now):
                return PrevalidationResult(item.resource_arn, "lost_lease")
            store = DomainValidationStore(conn)
            current = store.get(item.resource_arn)  # read again: it may have changed meanwhile
            if current is None or current.status != VALIDATING:
                queue.finish(item, self.owner, now)
                return PrevalidationResult(item.resource_arn, "gone")
            if proven:
                store.replace(replace(current, status=VALID, updated_at=now))
                queue.finish(item, self.owner, now)
                return PrevalidationResult(current.arn, "valid")
            if item.deadline_at is not None and now >= item.deadline_at:
                failed = replace(
                    current,
                    status=INVALID,
                    failure_reason="TIMED_OUT",
                    failure_message=(
                        f"The CNAME {current.record.name} was not found with the value "
                        f"{current.record.value} in time."
                    ),
                    updated_at=now,
                )
                store.replace(failed)
                queue.finish(item, self.owner, now)
                return PrevalidationResult(current.arn, "invalid")
            due = now + self.validation.retry_delay(item.attempts)
            if item.deadline_at is not None:
                due = min(due, item.deadline_at)
            queue.reschedule(item, self.owner, due_at=due, now=now)
        return PrevalidationResult(current.arn, "pending")
