"""RenewCertificate: a renewal on demand (the ACM user guide's "Force certificate renewal").

ACM renews on demand the certificates exported since their issuance or last renewal. The call
only records the request (RenewalSummary PENDING_AUTO_RENEWAL) and queues the certificate;
the validation worker renews it (services/acm/private_issuance.py): same ARN, new key pair,
RenewalSummary SUCCESS, or FAILED with the CA's PCA_* reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.work import VALIDATE_WORK, WORK_SCHEDULED, WorkQueue
from openacm.domain.errors import RequestInProgressError, ValidationError
from openacm.protocol.errors import NotImplementedOperationError
from openacm.services.acm.certificates import CertificateOperations
from openacm.services.acm.private_issuance import RENEWAL_PENDING
from openacm.services.context import CallContext


class RenewalOperations:
    def __init__(self, db: Database, certificates_ops: CertificateOperations) -> None:
        self.db = db
        self.certificates = certificates_ops

    def renew_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params["CertificateArn"]
        with self.db.write() as conn:
            record = self.certificates.load(conn, ctx, arn, "RenewCertificate")
            if record.type == "AMAZON_ISSUED" and record.export_option == "ENABLED":
                raise NotImplementedOperationError(
                    "openacm does not renew exportable public certificates on demand yet."
                )
            if record.type != "PRIVATE":
                raise ValidationError(
                    f"Certificate {arn} cannot be renewed: only private certificates and "
                    "exportable public certificates can be renewed on demand."
                )
            status = record.status_at(ctx.now)
            if status == "PENDING_VALIDATION" or record.renewal_status == RENEWAL_PENDING:
                raise RequestInProgressError(
                    f"Certificate {arn} is being issued or renewed; try again when it is done."
                )
            if status != "ISSUED":
                raise ValidationError(
                    f"Certificate {arn} cannot be renewed: its status is {status}."
                )
            if not record.exported:
                raise ValidationError(
                    f"Certificate {arn} cannot be renewed: it has not been exported since it "
                    "was issued or last renewed."
                )
            if not CertificateStore(conn).set_renewal(
                arn, RENEWAL_PENDING, None, ctx.now, row_version=record.row_version
            ):
                raise RequestInProgressError(f"Certificate {arn} changed; try again.")
            WorkQueue(conn).schedule(
                VALIDATE_WORK, arn, due_at=ctx.now, deadline_at=None, now=ctx.now
            )
        WORK_SCHEDULED.notify()
        return {}
