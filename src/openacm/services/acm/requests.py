"""RequestCertificate and what follows it on the API: the validation records, revocation.

A request is checked, recorded (certificate row, one validation row per name, a validation
work item) in one transaction, and answered with its ARN; the validation worker does the
rest. The DNS records are in the store before the ARN is returned, so the very first
DescribeCertificate shows them (ACM leaves a window of seconds without them; openacm has none).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from openacm.adapters.store.accounts import AccountStore, StoredToken
from openacm.adapters.store.certificates import CertificateStore, TagStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.email import EmailStore
from openacm.adapters.store.issuance import ValidationStore
from openacm.adapters.store.work import VALIDATE_WORK, WORK_SCHEDULED, WorkQueue
from openacm.config import AcmeSettings, Quotas, ValidationSettings
from openacm.domain.acme import dns_persist_record
from openacm.domain.arn import certificate_arn
from openacm.domain.certificates import CertificateRecord, DomainValidation
from openacm.domain.errors import InvalidArgsError, ValidationError
from openacm.domain.names import NamePolicy, RequestedNames, check_requested_names
from openacm.domain.private_requests import check_certificate_authority_arn
from openacm.domain.tags import TagLimits, merge_tags, tags_from_api
from openacm.domain.validation import (
    HTTP,
    PENDING,
    acme_http_redirect,
    acme_validation_record,
    check_http_names,
    record_type,
    validation_record,
)
from openacm.protocol.errors import NotImplementedOperationError
from openacm.services.acm.certificates import (
    LIST_DEFAULT_MAX_ITEMS,
    CertificateOperations,
    check_certificate_quotas,
    make_page_token,
    query_digest_of,
    read_page_token,
)
from openacm.services.acm.email_validation import (
    EMAIL,
    email_validation_summary,
    start_email_validation,
)
from openacm.services.context import CallContext

IDEMPOTENCY_WINDOW_SECONDS = 3600
# ACM's default when ValidationMethod is left out (the API reference).
DEFAULT_VALIDATION_METHOD = "EMAIL"
DEFAULT_KEY_ALGORITHM = "RSA_2048"
REQUESTABLE_KEY_ALGORITHMS = ("RSA_2048", "EC_prime256v1", "EC_secp384r1")


class RequestOperations:
    def __init__(
        self,
        db: Database,
        certificates_ops: CertificateOperations,
        quotas: Quotas,
        validation: ValidationSettings,
        names: NamePolicy,
        validation_key: bytes,
        acme: AcmeSettings | None = None,
        http_base_url: str = "",
        persist_account: Callable[[float], str | None] | None = None,
    ) -> None:
        self.db = db
        self.acme = acme or AcmeSettings()
        # dns-persist-01 (acme issuer): the account its records bind names to, None when
        # not in use (`AcmeUpstream.persist_account_url`).
        self.persist_account = persist_account
        self.http_base_url = http_base_url  # of RedirectTo (HTTP validation)
        self.certificates = certificates_ops
        self.quotas = quotas
        self.validation = validation
        self.names = names
        self.validation_key = validation_key
        self.tag_limits = TagLimits(
            quotas.tags_per_resource, quotas.tag_key_length, quotas.tag_value_length
        )

    # -- RequestCertificate ---------------------------------------------------------------

    def request_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        private = bool(params.get("CertificateAuthorityArn"))
        method = params.get("ValidationMethod") or DEFAULT_VALIDATION_METHOD
        if private:
            # No validation: the CA's owner vouches for the names (inventory §7).
            check_certificate_authority_arn(params["CertificateAuthorityArn"])
        elif method not in ("DNS", EMAIL, HTTP) or (
            # HTTP validation answers an ACME CA's http-01; the builtin CA has none.
            method == HTTP and self.acme.public_issuer(ctx.region) != "acme"
        ):
            raise NotImplementedOperationError(
                f"openacm does not implement {method} validation; use DNS or EMAIL."
            )
        elif method == EMAIL and self.acme.public_issuer(ctx.region) == "acme":
            # An ACME CA validates names itself (DNS-01 or HTTP-01), never by openacm's mail.
            raise ValidationError(
                f"Public certificates in {ctx.region} come from an ACME CA: "
                "use ValidationMethod DNS or HTTP."
            )
        key_algorithm = params.get("KeyAlgorithm") or DEFAULT_KEY_ALGORITHM
        if key_algorithm not in REQUESTABLE_KEY_ALGORITHMS:
            # The other values of the enum are for imported certificates (the model's doc);
            # this is real ACM's answer.
            raise ValidationError(
                f"Encryption Algorithm {key_algorithm} is not supported in {ctx.region} region"
            )
        requested = check_requested_names(
            params["DomainName"],
            params.get("SubjectAlternativeNames"),
            max_names=self.quotas.domains_per_certificate,
        )
        if method == HTTP and not private:
            check_http_names(requested.names)
        validation_domains = (
            {}
            if private
            else self.names.validation_domains(
                requested.names, params.get("DomainValidationOptions")
            )
        )
        tags = merge_tags([], tags_from_api(params.get("Tags") or []), self.tag_limits)
        # Before the transaction: the first use registers the account at the CA (network).
        persist_account = (
            self.persist_account(ctx.now)
            if self.persist_account is not None
            and method == "DNS"
            and not private
            and self.acme.public_issuer(ctx.region) == "acme"
            else None
        )
        token = params.get("IdempotencyToken")
        digest = query_digest_of(params, exclude=("IdempotencyToken",))
        scope = (ctx.account_id, ctx.region, "RequestCertificate")
        with self.db.write() as conn:
            accounts = AccountStore(conn)
            accounts.lock_account(ctx.account_id)
            if token:
                earlier = accounts.token(scope, token, since=ctx.now - IDEMPOTENCY_WINDOW_SECONDS)
                if earlier is not None and earlier.request_digest == digest:
                    answer: dict[str, Any] = orjson.loads(earlier.response_json)
                    return answer
            store = CertificateStore(conn)
            if not private:  # private certificates do not count (inventory §7)
                self._check_quotas(store, ctx)
            record = self._new_record(ctx, params, requested, method)
            validations = (
                []
                if private
                else self._validations(
                    ctx,
                    requested,
                    validation_domains,
                    method,
                    failed=record.status == "FAILED",
                    persist_account=persist_account,
                )
            )
            store.insert(record, None)
            if not private:
                store.record_quota_use(
                    ctx.account_id, ctx.region, "AMAZON_ISSUED", record.arn, ctx.now
                )
            ValidationStore(conn).insert(record.arn, validations, ctx.now)
            TagStore(conn).put(record.arn, tags)
            if record.status == PENDING and method == EMAIL and not private:
                start_email_validation(conn, record, validations, self.names, now=ctx.now)
            if record.status == PENDING:
                WorkQueue(conn).schedule(
                    VALIDATE_WORK,
                    record.arn,
                    due_at=ctx.now,
                    deadline_at=ctx.now + self.validation.timeout,
                    now=ctx.now,
                )
            answer = {"CertificateArn": record.arn}
            if token:
                accounts.put_token(
                    scope, token, StoredToken(digest, orjson.dumps(answer).decode(), ctx.now)
                )
        if record.status == PENDING:
            WORK_SCHEDULED.notify()  # committed: this process's worker may look at once
        return answer

    def _check_quotas(self, store: CertificateStore, ctx: CallContext) -> None:
        check_certificate_quotas(
            store,
            ctx,
            "AMAZON_ISSUED",
            held_limit=self.quotas.certificates,
            yearly_limit=self.quotas.certificates_per_year,
            held_noun="ACM certificates",
            yearly_noun="certificate requests",
        )

    def _new_record(
        self, ctx: CallContext, params: Mapping[str, Any], requested: RequestedNames, method: str
    ) -> CertificateRecord:
        certificate_id = str(uuid.uuid4())
        ca_arn = params.get("CertificateAuthorityArn")
        # Private names need not be public ones: only the public suffix rules are skipped.
        failure = None if ca_arn else self.names.failure_reason(requested.names)
        options = params.get("Options") or {}
        export = options.get("Export")
        return CertificateRecord(
            arn=certificate_arn(ctx.partition, ctx.region, ctx.account_id, certificate_id),
            certificate_id=certificate_id,
            account_id=ctx.account_id,
            region=ctx.region,
            type="PRIVATE" if ca_arn else "AMAZON_ISSUED",
            certificate_authority_arn=ca_arn,
            # A request for a name no public CA may certify fails at once (inventory §2.2).
            status="FAILED" if failure else PENDING,
            failure_reason=failure,
            domain_name=requested.domain_name,
            names=requested.names,
            key_algorithm=params.get("KeyAlgorithm") or DEFAULT_KEY_ALGORITHM,
            key_usages=(),
            extended_key_usages=(),
            serial=None,
            not_before=None,
            not_after=None,
            created_at=ctx.now,
            certificate_pem=None,
            chain_pem=None,
            facts={},
            managed_by=params.get("ManagedBy"),
            key_pair_origin="AWS_MANAGED",
            validation_method=None if ca_arn else method,
            export_option=export,
            options={
                "CertificateTransparencyLoggingPreference": options.get(
                    "CertificateTransparencyLoggingPreference", "ENABLED"
                ),
                **({"Export": export} if export else {}),
            },
        )

    def _validations(
        self,
        ctx: CallContext,
        requested: RequestedNames,
        validation_domains: Mapping[str, str],
        method: str,
        *,
        failed: bool,
        persist_account: str | None = None,
    ) -> list[DomainValidation]:
        validations = []
        for name in requested.names:
            # Email-validated names have no record: the approval mails are their challenge.
            # The acme issuer's record delegates the ACME challenge (docs/acme-issuer.md).
            derive = (
                acme_validation_record
                if self.acme.public_issuer(ctx.region) == "acme"
                else validation_record
            )
            shown: tuple[str, str] | None = None
            if method == "DNS" and persist_account is not None:
                # dns-persist-01 (docs/acme-issuer.md): the persistent TXT replaces the CNAME.
                record = dns_persist_record(
                    self.acme.dns_persist_issuer, persist_account, name, requested.names
                )
                shown = (record.name, record.value)
            elif method == "DNS":
                record = derive(self.validation_key, ctx.account_id, name, self.validation.zone)
                shown = (record.name, record.value)
            elif method == HTTP:  # kept where DNS keeps its CNAME
                redirect = acme_http_redirect(
                    self.validation_key, ctx.account_id, name, self.http_base_url
                )
                shown = (redirect.redirect_from, redirect.redirect_to)
            validations.append(
                DomainValidation(
                    domain_name=name,
                    validation_domain=validation_domains.get(name, name),
                    validation_method=method,
                    status="FAILED" if failed else PENDING,
                    record_name=shown[0] if shown else None,
                    record_value=shown[1] if shown else None,
                )
            )
        return validations

    # -- ListCertificateDomainValidations ---------------------------------------------------

    def list_certificate_domain_validations(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        arn = params["CertificateArn"]
        limit = params.get("MaxItems") or LIST_DEFAULT_MAX_ITEMS
        digest = query_digest_of(params, exclude=("NextToken", "MaxItems"))
        offset = 0
        if params.get("NextToken"):
            (offset,) = read_page_token(params["NextToken"], digest, InvalidArgsError, (int,))
        with self.db.read() as conn:
            record = self.certificates.load(conn, ctx, arn, "ListCertificateDomainValidations")
            validations = ValidationStore(conn).list(record.arn)
            email_names = EmailStore(conn).names(record.arn)
        page = validations[offset : offset + limit]
        result: dict[str, Any] = {
            "DomainValidationSummaryList": [
                email_validation_summary(v, email_names[v.domain_name])
                if v.domain_name in email_names
                else _validation_summary(v)
                for v in page
            ]
        }
        if offset + limit < len(validations):
            result["NextToken"] = make_page_token([offset + limit], digest)
        return result


def _validation_summary(validation: DomainValidation) -> dict[str, Any]:
    challenge: dict[str, Any] = {}
    # ValidationChallenge has no HTTP member: the redirect is in DescribeCertificate only.
    if validation.validation_method == "DNS" and validation.record_name and validation.record_value:
        challenge = {
            "DnsValidationChallenge": {
                "ResourceRecord": {
                    "Name": validation.record_name,
                    "Type": record_type(validation.record_name),
                    "Value": validation.record_value,
                }
            }
        }
    return {
        "DomainName": validation.domain_name,
        "ActiveValidationConfiguration": {
            "ValidationMethod": validation.validation_method,
            "ValidationChallenge": challenge or None,
            "ValidationStatus": validation.status,
        },
    }
