"""ExportCertificate: the certificate, its chain and its private key under a passphrase.

Only certificates whose key may leave openacm are exported: private certificates, and
public ones requested with `Options.Export = ENABLED` (ACM's exportable public
certificates). The key is decrypted from the store and re-encrypted under the caller's
passphrase in the same transaction that records the export (`Exported`, which renewal
eligibility and RevokeCertificate read), so a recorded export always handed the key out
and a failure records nothing. The audit record redacts the passphrase and the key (the
model marks both sensitive).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization

from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.domain.certificates import CertificateRecord
from openacm.domain.errors import RequestInProgressError, ValidationError
from openacm.domain.key_export import check_export_passphrase, encrypted_private_key_pem
from openacm.services.acm.certificates import CertificateOperations
from openacm.services.context import CallContext


class ExportOperations:
    def __init__(
        self, db: Database, cipher: EnvelopeCipher, certificates_ops: CertificateOperations
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.certificates = certificates_ops

    def export_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["CertificateArn"]
        passphrase: bytes = params["Passphrase"]
        with self.db.write() as conn:
            record = self.certificates.load(conn, ctx, arn, "ExportCertificate", bodies=True)
            _check_exportable(record, ctx.now)
            store = CertificateStore(conn)
            sealed = store.sealed_private_key(record.arn)
            if sealed is None or record.certificate_pem is None:
                raise ValidationError(f"Certificate {arn} has no private key to export.")
            check_export_passphrase(passphrase)
            key = serialization.load_der_private_key(
                self.cipher.open(sealed, record.arn), password=None
            )
            private_key_pem = encrypted_private_key_pem(key, passphrase)
            store.mark_exported(record.arn)
        return {
            "Certificate": record.certificate_pem,
            "CertificateChain": record.chain_pem,
            "PrivateKey": private_key_pem,
        }


def _check_exportable(record: CertificateRecord, now: float) -> None:
    if not (record.type == "PRIVATE" or record.export_option == "ENABLED"):
        raise ValidationError(
            f"Certificate {record.arn} cannot be exported: only private certificates and "
            "public certificates requested with Export ENABLED can be exported."
        )
    status = record.status_at(now)
    if status == "PENDING_VALIDATION":
        raise RequestInProgressError(
            f"Certificate {record.arn} is still pending validation and has not been issued."
        )
    if status != "ISSUED":
        raise ValidationError(
            f"Certificate {record.arn} cannot be exported: its status is {status}."
        )
