"""ACME Renewal Information (RFC 9773) for certificates of upstream CAs that offer it.

Each certificate such a CA issues is tracked (table `acme_renewal_info`, written with the
certificate). Every server process sweeps the tracked certificates due for a look: it asks
the CA for the certificate's suggestedWindow, and when the renewal time the CA suggests comes
before ACM's own window, brings the certificate's `renewal_due_at` forward to it, so the
managed-renewal sweep (services/acm/renewal_scheduler.py) starts the renewal then, as for any
certificate: a CA that must revoke certificates early (an incident) gets them renewed in time.
The CA's Retry-After says when to ask again. ACM's window stays the latest start: a CA's later
window never delays a renewal.
"""

from __future__ import annotations

import logging

from openacm.adapters.acme.client import AcmeFailure
from openacm.adapters.store.acme import AcmeRenewalInfo
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.domain.acme import is_acme_issued
from openacm.services.acme.upstream import AcmeUpstream, RenewalTime
from openacm.services.clock import interval_passed

log = logging.getLogger("openacm.acme")
# A failed look is tried again this much later (RFC 9773 §4.3.3 suggests hours, not minutes).
RETRY_SECONDS = 3600.0


class RenewalInfoSweep:
    def __init__(
        self, db: Database, upstream: AcmeUpstream, *, interval: float = 60.0, batch: int = 50
    ) -> None:
        self.db = db
        self.upstream = upstream
        self.interval = interval
        self.batch = batch
        self._swept_at: float | None = None

    def run_once(self, now: float) -> list[str]:
        """Look at the tracked certificates due at `now` (every `interval` seconds at most);
        the ARNs whose renewal was brought forward."""
        if not interval_passed(self._swept_at, now, self.interval):
            return []
        self._swept_at = now
        with self.db.read() as conn:
            due = AcmeRenewalInfo(conn).due(now, self.batch)
        looks: list[tuple[str, RenewalTime | None]] = []
        for arn, issuer_id in due:  # network: outside any transaction
            looks.append((arn, self._look(arn, issuer_id, now)))
        moved = []
        with self.db.write() as conn:
            tracked = AcmeRenewalInfo(conn)
            for arn, look in looks:
                if look is None:
                    tracked.drop(arn)
                    continue
                tracked.checked(arn, look.next_check_at, look.renew_at)
                if look.renew_at is not None and tracked.bring_renewal_forward(arn, look.renew_at):
                    moved.append(arn)
        if moved:
            log.info("renewals brought forward by the CA", extra={"count": len(moved)})
        return moved

    def _look(self, arn: str, issuer_id: str, now: float) -> RenewalTime | None:
        """The CA's answer; None when there is nothing left to ask about (the certificate
        is gone, revoked, or no longer this CA's)."""
        with self.db.read() as conn:
            record = CertificateStore(conn).get(arn, with_bodies=True)
        if (
            record is None
            or record.status != "ISSUED"
            or record.issuer_ca_id != issuer_id
            or not is_acme_issued(record.issuer_ca_id)
            or record.certificate_pem is None
        ):
            return None
        try:
            return self.upstream.renewal_time(record.certificate_pem, issuer_id, now=now)
        except AcmeFailure as failure:
            if not failure.transient:
                return None
            log.info("renewal information not fetched", extra={"arn": arn, "error": str(failure)})
            return RenewalTime(renew_at=None, next_check_at=now + RETRY_SECONDS)
