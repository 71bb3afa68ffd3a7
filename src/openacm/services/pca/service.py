"""The ACM-PCA API (AWS Private CA): which handler answers which operation of the model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.database import Database
from openacm.config import Settings
from openacm.protocol.errors import NotImplementedOperationError
from openacm.services.context import CallContext
from openacm.services.pca.audit_reports import AuditReportOperations, AuditReports
from openacm.services.pca.authorities import CertificateAuthorities, LifecycleOperations
from openacm.services.pca.certificates import CertificateOperations
from openacm.services.pca.issuance import PrivateCertificateIssuer
from openacm.services.pca.keys import PrivateCaKeys
from openacm.services.pca.revocation import PrivateCaRevocation
from openacm.services.pca.sharing import SharingOperations
from openacm.services.pki.builtin_ca import public_base_url

Handler = Callable[[CallContext, Mapping[str, Any]], dict[str, Any]]


class PcaService:
    """Handlers keyed by operation name; an operation of the model without one is refused
    with NotImplementedException (never a fake success)."""

    service_name = "acm-pca"

    def __init__(self, db: Database, cipher: EnvelopeCipher, settings: Settings) -> None:
        self.db = db
        self.cipher = cipher
        self.settings = settings
        # One per service, so one per process: it keeps the CAs' unsealed keys.
        keys = PrivateCaKeys(cipher, settings.issuance)
        self.authorities = CertificateAuthorities(db, cipher, settings.quotas, keys)
        self.issuer = PrivateCertificateIssuer(
            keys,
            public_base_url(settings),
            certificates_per_ca=settings.quotas.private_certificates_per_ca,
        )
        # CRLs and OCSP of every private CA, also served by the PKI routes.
        self.revocation = PrivateCaRevocation(db, self.issuer)
        lifecycle = LifecycleOperations(self.authorities)
        sharing = SharingOperations(self.authorities)
        certificates = CertificateOperations(self.authorities, self.issuer, self.revocation)
        # Audit report files, also served by the PKI routes.
        self.audit_reports = AuditReports(db, settings.data_dir)
        audits = AuditReportOperations(self.authorities, self.audit_reports)
        self.handlers: dict[str, Handler] = {
            "CreateCertificateAuthority": lifecycle.create_certificate_authority,
            "GetCertificateAuthorityCsr": lifecycle.get_certificate_authority_csr,
            "ImportCertificateAuthorityCertificate": (
                lifecycle.import_certificate_authority_certificate
            ),
            "GetCertificateAuthorityCertificate": lifecycle.get_certificate_authority_certificate,
            "DescribeCertificateAuthority": lifecycle.describe_certificate_authority,
            "ListCertificateAuthorities": lifecycle.list_certificate_authorities,
            "UpdateCertificateAuthority": lifecycle.update_certificate_authority,
            "DeleteCertificateAuthority": lifecycle.delete_certificate_authority,
            "RestoreCertificateAuthority": lifecycle.restore_certificate_authority,
            "TagCertificateAuthority": sharing.tag_certificate_authority,
            "UntagCertificateAuthority": sharing.untag_certificate_authority,
            "ListTags": sharing.list_tags,
            "CreatePermission": sharing.create_permission,
            "DeletePermission": sharing.delete_permission,
            "ListPermissions": sharing.list_permissions,
            "PutPolicy": sharing.put_policy,
            "GetPolicy": sharing.get_policy,
            "DeletePolicy": sharing.delete_policy,
            "IssueCertificate": certificates.issue_certificate,
            "GetCertificate": certificates.get_certificate,
            "RevokeCertificate": certificates.revoke_certificate,
            "CreateCertificateAuthorityAuditReport": (
                audits.create_certificate_authority_audit_report
            ),
            "DescribeCertificateAuthorityAuditReport": (
                audits.describe_certificate_authority_audit_report
            ),
        }

    def handler(self, operation: str) -> Handler:
        try:
            return self.handlers[operation]
        except KeyError:
            raise NotImplementedOperationError(
                f"openacm does not implement {operation} yet."
            ) from None
