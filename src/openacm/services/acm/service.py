"""The ACM API: which handler answers which operation of the model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.database import Database
from openacm.config import Settings
from openacm.domain.names import NamePolicy
from openacm.protocol.errors import NotImplementedOperationError
from openacm.services.acm.account import AccountOperations
from openacm.services.acm.certificates import CertificateOperations
from openacm.services.acm.email_validation import EmailOperations
from openacm.services.acm.export import ExportOperations
from openacm.services.acm.renewal import RenewalOperations
from openacm.services.acm.requests import RequestOperations
from openacm.services.acm.revocation import RevocationOperations
from openacm.services.acm.tagging import TagOperations
from openacm.services.acm.validation_move import OptionOperations
from openacm.services.acme.accounts import AcmeAccountOperations
from openacm.services.acme.bindings import AcmeBindingOperations
from openacm.services.acme.endpoints import AcmeEndpointOperations
from openacm.services.acme.prevalidation import AcmeDomainValidationOperations
from openacm.services.acme.upstream import AcmeUpstream, acme_http_base_url
from openacm.services.context import CallContext
from openacm.services.pki.builtin_ca import BuiltinCa

Handler = Callable[[CallContext, Mapping[str, Any]], dict[str, Any]]


class AcmService:
    """Handlers keyed by operation name; an operation of the model without one is refused
    with NotImplementedException (never a fake success)."""

    service_name = "acm"

    def __init__(
        self,
        db: Database,
        cipher: EnvelopeCipher,
        settings: Settings,
        *,
        names: NamePolicy,
        validation_key: bytes,
        ca: BuiltinCa,
    ) -> None:
        certificates = CertificateOperations(db, cipher, settings.quotas)
        # Certificates of an upstream ACME CA are revoked by it (docs/acme-issuer.md).
        upstream = (
            AcmeUpstream(
                db, cipher, settings.acme, validation_key, settings.validation.zone,
                settings.dns_zones,
            )
            if settings.acme.directory_url
            else None
        )  # fmt: skip
        requests = RequestOperations(
            db, certificates, settings.quotas, settings.validation, names, validation_key,
            acme=settings.acme, http_base_url=acme_http_base_url(settings),
            persist_account=upstream.persist_account_url if upstream else None,
        )  # fmt: skip
        revocation = RevocationOperations(db, certificates, ca, settings.issuance, upstream)
        account = AccountOperations(db)
        export = ExportOperations(db, cipher, certificates)
        renewal = RenewalOperations(db, certificates)
        email = EmailOperations(db, certificates, names, settings.validation)
        options = OptionOperations(db, certificates, settings.validation, validation_key)
        acme = AcmeEndpointOperations(db, settings, certificates.tag_limits)
        acme_accounts = AcmeAccountOperations(db, acme)
        acme_validations = AcmeDomainValidationOperations(
            db,
            acme,
            settings.validation,
            validation_key,
            settings.acme_server.domain_validations_per_endpoint,
        )
        acme_bindings = AcmeBindingOperations(
            db, cipher, acme, settings.acme_server.bindings_per_endpoint
        )
        tagging = TagOperations(certificates, acme)
        self.handlers: dict[str, Handler] = {
            "RequestCertificate": requests.request_certificate,
            "ListCertificateDomainValidations": requests.list_certificate_domain_validations,
            "RevokeCertificate": revocation.revoke_certificate,
            "ImportCertificate": certificates.import_certificate,
            "DescribeCertificate": certificates.describe_certificate,
            "GetCertificate": certificates.get_certificate,
            "ExportCertificate": export.export_certificate,
            "RenewCertificate": renewal.renew_certificate,
            "DeleteCertificate": certificates.delete_certificate,
            "ListCertificates": certificates.list_certificates,
            "SearchCertificates": certificates.search_certificates,
            "AddTagsToCertificate": tagging.add_tags_to_certificate,
            "RemoveTagsFromCertificate": tagging.remove_tags_from_certificate,
            "ListTagsForCertificate": tagging.list_tags_for_certificate,
            "TagResource": tagging.tag_resource,
            "UntagResource": tagging.untag_resource,
            "ListTagsForResource": tagging.list_tags_for_resource,
            "GetAccountConfiguration": account.get_account_configuration,
            "PutAccountConfiguration": account.put_account_configuration,
            "ResendValidationEmail": email.resend_validation_email,
            "UpdateCertificateOptions": options.update_certificate_options,
            "CreateAcmeEndpoint": acme.create_acme_endpoint,
            "DescribeAcmeEndpoint": acme.describe_acme_endpoint,
            "ListAcmeEndpoints": acme.list_acme_endpoints,
            "UpdateAcmeEndpoint": acme.update_acme_endpoint,
            "DeleteAcmeEndpoint": acme.delete_acme_endpoint,
            "DescribeAcmeAccount": acme_accounts.describe_acme_account,
            "ListAcmeAccounts": acme_accounts.list_acme_accounts,
            "RevokeAcmeAccount": acme_accounts.revoke_acme_account,
            "CreateAcmeExternalAccountBinding": (
                acme_bindings.create_acme_external_account_binding
            ),
            "DescribeAcmeExternalAccountBinding": (
                acme_bindings.describe_acme_external_account_binding
            ),
            "ListAcmeExternalAccountBindings": acme_bindings.list_acme_external_account_bindings,
            "GetAcmeExternalAccountBindingCredentials": (
                acme_bindings.get_acme_external_account_binding_credentials
            ),
            "RevokeAcmeExternalAccountBinding": (
                acme_bindings.revoke_acme_external_account_binding
            ),
            "DeleteAcmeExternalAccountBinding": (
                acme_bindings.delete_acme_external_account_binding
            ),
            "CreateAcmeDomainValidation": acme_validations.create_acme_domain_validation,
            "DescribeAcmeDomainValidation": acme_validations.describe_acme_domain_validation,
            "ListAcmeDomainValidations": acme_validations.list_acme_domain_validations,
            "UpdateAcmeDomainValidation": acme_validations.update_acme_domain_validation,
            "DeleteAcmeDomainValidation": acme_validations.delete_acme_domain_validation,
        }

    def handler(self, operation: str) -> Handler:
        try:
            return self.handlers[operation]
        except KeyError:
            raise NotImplementedOperationError(
                f"openacm does not implement {operation} yet."
            ) from None
