"""The shortest path a user takes: import a certificate, read it back, delete it."""

from __future__ import annotations

from tests.conftest import Tenant
from tests.support import pki


def test_import_describe_delete(tenant: Tenant) -> None:
    issued = pki.issue("smoke.example.com", sans=["smoke.example.com"])
    arn = tenant.acm.import_certificate(**issued.import_args())["CertificateArn"]
    assert arn.startswith(f"arn:aws:acm:us-east-1:{tenant.account_id}:certificate/")
    detail = tenant.acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["Status"] == "ISSUED"
    tenant.acm.delete_certificate(CertificateArn=arn)
    assert tenant.acm.list_certificates()["CertificateSummaryList"] == []
