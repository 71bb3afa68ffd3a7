"""Managed renewal: which certificates ACM keeps renewing.

Pure rules, no I/O. The renewal engine (issue 6) asks them before renewing; the API views
show their answer as RenewalEligibility.
"""

from __future__ import annotations

ELIGIBLE = "ELIGIBLE"
INELIGIBLE = "INELIGIBLE"
# Certificates ACM issued through RequestCertificate: public (AMAZON_ISSUED) and private
# ones. Imported certificates are never renewed (inventory §9); certificates a private CA
# issued through its own IssueCertificate are not ACM certificates at all.
MANAGED_TYPES = frozenset({"AMAZON_ISSUED", "PRIVATE"})


def renewal_eligibility(certificate_type: str, status: str, *, in_use: bool, exported: bool) -> str:
    """RenewalEligibility as ACM shows it (inventory §9, PRODUCT.md decision 5).

    A managed certificate is ELIGIBLE while it is ISSUED and either in use (it has an
    association) or exported since it was last issued: ACM renews only what something
    still relies on, and an exported key may be deployed anywhere. `status` is the status
    at the moment asked (an ISSUED certificate past NotAfter is EXPIRED, and expired,
    revoked, failed or pending certificates are INELIGIBLE). Names already obey the Punycode
    rules the seeds add: RequestCertificate refuses any other.
    """
    if certificate_type not in MANAGED_TYPES or status != "ISSUED":
        return INELIGIBLE
    return ELIGIBLE if in_use or exported else INELIGIBLE
