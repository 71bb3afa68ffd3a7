"""RenewalEligibility (inventory §9, PRODUCT.md decision 5): managed certificates that are
issued and in use or exported are renewed; nothing else is."""

from __future__ import annotations

import pytest

from openacm.domain.certificates import CertificateRecord
from openacm.domain.renewal import ELIGIBLE, INELIGIBLE, renewal_eligibility

STATUSES = (
    "PENDING_VALIDATION",
    "ISSUED",
    "INACTIVE",
    "EXPIRED",
    "VALIDATION_TIMED_OUT",
    "REVOKED",
    "FAILED",
)


@pytest.mark.parametrize("certificate_type", ["AMAZON_ISSUED", "PRIVATE"])
def test_issued_managed_certificates_need_use_or_export(certificate_type: str) -> None:
    def eligibility(in_use: bool, exported: bool) -> str:
        return renewal_eligibility(certificate_type, "ISSUED", in_use=in_use, exported=exported)

    assert eligibility(in_use=False, exported=False) == INELIGIBLE
    assert eligibility(in_use=True, exported=False) == ELIGIBLE
    assert eligibility(in_use=False, exported=True) == ELIGIBLE
    assert eligibility(in_use=True, exported=True) == ELIGIBLE


@pytest.mark.parametrize("status", [s for s in STATUSES if s != "ISSUED"])
@pytest.mark.parametrize("certificate_type", ["AMAZON_ISSUED", "PRIVATE"])
def test_only_issued_certificates_are_eligible(certificate_type: str, status: str) -> None:
    assert renewal_eligibility(certificate_type, status, in_use=True, exported=True) == INELIGIBLE


@pytest.mark.parametrize("status", STATUSES)
def test_imported_certificates_never_are(status: str) -> None:
    assert renewal_eligibility("IMPORTED", status, in_use=True, exported=True) == INELIGIBLE


def _record(**changes: object) -> CertificateRecord:
    values: dict[str, object] = {
        "arn": "arn:aws:acm:us-east-1:111122223333:certificate/1",
        "certificate_id": "1",
        "account_id": "111122223333",
        "region": "us-east-1",
        "type": "AMAZON_ISSUED",
        "status": "ISSUED",
        "domain_name": "example.com",
        "names": ("example.com",),
        "key_algorithm": "RSA_2048",
        "key_usages": (),
        "extended_key_usages": (),
        "serial": "01",
        "not_before": 1_000.0,
        "not_after": 2_000.0,
        "created_at": 1_000.0,
        "certificate_pem": None,
        "chain_pem": None,
        "facts": {},
    }
    values.update(changes)
    return CertificateRecord(**values)  # type: ignore[arg-type]


def test_views_show_the_rule_at_the_time_asked() -> None:
    """In use through the stored flag (listings) or the loaded consumers (Describe); an
    issued certificate past NotAfter is EXPIRED, hence INELIGIBLE, with no write needed."""
    listed = _record(associated=True)
    described = _record(in_use_by=("arn:aws:cloudfront::111122223333:distribution/E1",))
    for record in (listed, described):
        assert record.summary(1_500.0)["InUse"] is True
        assert record.summary(1_500.0)["RenewalEligibility"] == ELIGIBLE
        assert record.detail(1_500.0)["RenewalEligibility"] == ELIGIBLE
        meta = record.search_result(1_500.0)["CertificateMetadata"]["AcmCertificateMetadata"]
        assert meta["RenewalEligibility"] == ELIGIBLE
        assert record.detail(2_500.0)["Status"] == "EXPIRED"
        assert record.detail(2_500.0)["RenewalEligibility"] == INELIGIBLE
    assert described.detail(1_500.0)["InUseBy"] == list(described.in_use_by)
    idle = _record()
    assert idle.summary(1_500.0)["InUse"] is False
    assert idle.detail(1_500.0)["RenewalEligibility"] == INELIGIBLE
    assert _record(exported=True).detail(1_500.0)["RenewalEligibility"] == ELIGIBLE
