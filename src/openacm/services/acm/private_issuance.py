"""Private certificates requested through ACM: issued and renewed by the validation worker
from the ACM-PCA CA the request named.

A private request needs no validation, but it goes through the same work queue as a public
one: the CA may refuse (not ACTIVE, no permission for ACM, key family, duration, quota), an
RSA key takes tens of milliseconds, and the lease makes a certificate issued once with
several processes on one database. For each leased certificate, one write transaction reads
the CA, decides (domain/private_requests.py), and either fails the certificate with ACM's
PCA_* reason or signs it through ACM-PCA's own issuance path (services/pca/issuance.py:
recorded as an issued serial of the CA, so RevokeCertificate, CRLs and OCSP see it) and
stores it ISSUED with its sealed key, all only while the lease is held.

A renewal (RenewCertificate, later the managed-renewal scheduler) is the same with the
certificate ISSUED and RenewalStatus PENDING_AUTO_RENEWAL: a new key pair, a new serial, the
same ARN; RenewalSummary SUCCESS or FAILED with the reason, and Exported reset, since the new
key has not left.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Connection

from openacm.adapters.ca.private_issuance import PrivateCertificateRequest
from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.pca import PrivateCaRecord, PrivateCaStore
from openacm.adapters.store.work import WorkItem, WorkQueue
from openacm.config import Quotas
from openacm.domain import pca
from openacm.domain.certificates import CertificateRecord
from openacm.domain.pca_templates import template_arn
from openacm.domain.pca_validity import (
    ACM_PRIVATE_CERTIFICATE_VALIDITY,
)
from openacm.domain.policy import Request
from openacm.domain.private_requests import (
    ACM_PERMISSION_ACTIONS,
    SHARED_CA_ACTIONS,
    IssuingCa,
    issuing_ca_in_scope,
    private_issuance_refusal,
)
from openacm.services.acm.renewal_events import notify_refused, notify_renewed
from openacm.services.events import emit_available
from openacm.services.iam.authorizer import account_principal_ids, resource_policy_refusal
from openacm.services.pca.issuance import PrivateCertificateIssuer, validity_window
from openacm.services.pki.leaf_issuer import LeafIssuer, with_certificate
from openacm.services.pki.leaf_keys import LeafPrivateKey, private_key_der

log = logging.getLogger("openacm.private")

ACM_PRINCIPAL = "acm.amazonaws.com"


def _service_linked_role(account_id: str) -> str:
    """The role ACM acts as with another account's CA (inventory §12)."""
    return (
        f"arn:aws:iam::{account_id}:role/aws-service-role/acm.amazonaws.com/"
        "AWSServiceRoleForCertificateManager"
    )


RENEWAL_PENDING = "PENDING_AUTO_RENEWAL"
# ACM's private certificates: an end-entity certificate for TLS servers and clients.
END_ENTITY_TEMPLATE = "EndEntityCertificate/V1"
COMMON_NAME_MAX = 64


def is_private_work(record: CertificateRecord) -> bool:
    """A private certificate waiting for its first issuance or for a renewal."""
    if record.type != "PRIVATE":
        return False
    return record.status == "PENDING_VALIDATION" or (
        record.status == "ISSUED" and record.renewal_status == RENEWAL_PENDING
    )


class AcmPrivateIssuer:
    def __init__(
        self,
        db: Database,
        cipher: EnvelopeCipher,
        leaf_issuer: LeafIssuer,
        pca_issuer: PrivateCertificateIssuer,
        quotas: Quotas,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.leaf_issuer = leaf_issuer
        self.pca_issuer = pca_issuer
        self.quotas = quotas

    def issue_batch(
        self, leased: Sequence[tuple[WorkItem, CertificateRecord]], owner: str, now: float
    ) -> dict[int, str]:
        """Issue or renew each leased private certificate, or fail it; the outcome by work
        item id (issued | renewed | failed | lost_lease)."""
        if not leased:
            return {}
        # Keys first, outside any transaction: an RSA key takes tens of milliseconds.
        keys = self.leaf_issuer.keys_for([record for _, record in leased])
        outcomes: dict[int, str] = {}
        with self.db.write() as conn:
            queue = WorkQueue(conn)
            held = queue.held([item for item, _ in leased], owner, now)
            for (item, record), key in zip(leased, keys, strict=True):
                if item.item_id not in held:
                    outcomes[item.item_id] = "lost_lease"
                    continue
                outcomes[item.item_id] = self._one(conn, record, key, now)
                queue.finish(item, owner, now)
        return outcomes

    def _one(
        self, conn: Connection, record: CertificateRecord, key: LeafPrivateKey, now: float
    ) -> str:
        renewal = record.status == "ISSUED"
        ca_record, refusal = self._issuing_ca(conn, record, now)
        if refusal is None and ca_record is not None:
            try:
                # A savepoint: a failure halfway (the CA's serial recorded, the certificate
                # not) must leave nothing of the attempt in the batch's transaction.
                with conn.begin_nested():
                    return self._sign(conn, record, ca_record, key, now, renewal=renewal)
            except Exception:
                # The CA could not sign (a fault, not a refusal): ACM's PCA_REQUEST_FAILED.
                log.exception("private issuance failed", extra={"arn": record.arn})
                refusal = "PCA_REQUEST_FAILED"
        assert refusal is not None
        log.info("private CA refused", extra={"arn": record.arn, "reason": refusal})
        store = CertificateStore(conn)
        if renewal:  # the current certificate stays, with its key
            store.set_renewal(record.arn, "FAILED", refusal, now, row_version=record.row_version)
            notify_refused(conn, record, refusal, now)
        else:
            store.replace(replace(record, status="FAILED", failure_reason=refusal), None)
        return "failed"

    def _issuing_ca(
        self, conn: Connection, record: CertificateRecord, now: float
    ) -> tuple[PrivateCaRecord | None, str | None]:
        """The CA to sign with, or the FailureReason when it will not."""
        arn = record.certificate_authority_arn or ""
        if not issuing_ca_in_scope(arn, partition=_partition(record.arn), region=record.region):
            return None, "PCA_INVALID_ARN"
        store = PrivateCaStore(conn)
        ca_record = store.get(arn)
        if ca_record is None or pca.is_gone(ca_record.status, ca_record.restorable_until, now):
            return None, private_issuance_refusal(None, key_algorithm="", not_after=0)
        # ACM's private certificates are DAYS-valid (395 days: PRODUCT.md decision 6).
        not_after = now + ACM_PRIVATE_CERTIFICATE_VALIDITY.value * pca.DAY_SECONDS
        facts = IssuingCa(
            status=pca.effective_status(
                ca_record.status, ca_record.not_after, now, created_at=ca_record.created_at
            ),
            key_algorithm=ca_record.key_algorithm,
            not_after=ca_record.not_after,
            may_issue=self._acm_may_issue(store, ca_record, record.account_id),
            issued_count=self.pca_issuer.issued_count(conn, ca_record.arn),
            lifetime_quota=self.quotas.private_certificates_per_ca,
        )
        refusal = private_issuance_refusal(
            facts, key_algorithm=record.key_algorithm, not_after=not_after
        )
        return (ca_record, None) if refusal is None else (None, refusal)

    @staticmethod
    def _acm_may_issue(store: PrivateCaStore, ca_record: PrivateCaRecord, account_id: str) -> bool:
        if ca_record.account_id == account_id:
            permission = store.permission(ca_record.arn, ACM_PRINCIPAL)
            return permission is not None and set(permission.actions) >= ACM_PERMISSION_ACTIONS
        # A shared CA: its resource policy must grant the requesting account ACM's actions,
        # decided by the same policy engine as every call (docs/access-control.md).
        ids = account_principal_ids(account_id) | {_service_linked_role(account_id)}
        return all(
            resource_policy_refusal(
                ca_record.policy_text,
                Request(f"acm-pca:{action}", ca_record.arn, {}, ids, ACM_PRINCIPAL),
            )
            is None
            for action in SHARED_CA_ACTIONS
        )

    def _signed(
        self,
        conn: Connection,
        record: CertificateRecord,
        ca_record: PrivateCaRecord,
        csr_pem: bytes,
        now: float,
    ) -> CertificateRecord:
        """The record with the certificate the CA signed for `csr_pem`, ACM's way: the
        end-entity template, ACM's private validity."""
        template = template_arn(END_ENTITY_TEMPLATE, _partition(ca_record.arn))
        request = PrivateCertificateRequest(
            csr=csr_pem,
            validity=validity_window(
                ca_record, template, ACM_PRIVATE_CERTIFICATE_VALIDITY, None, now=now
            ),
            template_arn=template,
        )
        issued = self.pca_issuer.issue(
            conn, ca_record, request, signing_algorithm=ca_record.signing_algorithm, now=now
        )
        return with_certificate(record, issued.certificate, issued.chain_pem, now=now)

    def sign_request(
        self, conn: Connection, record: CertificateRecord, csr_pem: bytes, now: float
    ) -> CertificateRecord | str:
        """A certificate for a request whose key is not ACM's (an ACME client's CSR), from
        the record's CertificateAuthorityArn, under the same rules as ACM's own private
        certificates: the signed record, or the FailureReason (PCA_*) when the CA refuses."""
        ca_record, refusal = self._issuing_ca(conn, record, now)
        if refusal is not None or ca_record is None:
            return refusal or "PCA_INVALID_ARN"
        return self._signed(conn, record, ca_record, csr_pem, now)

    def _sign(
        self,
        conn: Connection,
        record: CertificateRecord,
        ca_record: PrivateCaRecord,
        key: LeafPrivateKey,
        now: float,
        *,
        renewal: bool,
    ) -> str:
        stored = self._signed(conn, record, ca_record, _csr_pem(record, key), now)
        if renewal:
            stored = replace(
                stored,
                exported=False,
                renewal_status="SUCCESS",
                renewal_status_reason=None,
                renewal_updated_at=now,
            )
        sealed = self.cipher.seal(private_key_der(key), record.arn)
        if not CertificateStore(conn).replace(stored, sealed):
            raise RuntimeError(f"{record.arn} changed while it was being issued")
        if renewal:
            notify_renewed(conn, record, stored, now)
        else:
            emit_available(conn, stored, "ISSUANCE", now)
        log.info("private certificate issued", extra={"arn": record.arn, "serial": stored.serial})
        return "renewed" if renewal else "issued"


def _csr_pem(record: CertificateRecord, key: LeafPrivateKey) -> bytes:
    """The request ACM makes for its own key: the first name as CN when it fits (RFC 5280's
    64-character limit), every name as a DNS SAN."""
    attributes = []
    if record.domain_name and len(record.domain_name) <= COMMON_NAME_MAX:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, record.domain_name))
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in record.names]),
            critical=not attributes,
        )
    )
    # The request's own signature only proves possession of the key: SHA-384 for the larger
    # curve (the pairing RFC 5480 recommends), SHA-256 otherwise.
    algorithm: hashes.SHA256 | hashes.SHA384 = hashes.SHA256()
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        algorithm = hashes.SHA384()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


def _partition(arn: str) -> str:
    return arn.split(":", 2)[1]
