"""The console pages of issue 10's second part, over HTTP: import with the rules checked first
(pasted or uploaded), the certificate's events and renewal history, tags edited in place."""

from __future__ import annotations

import re
from html import unescape

from tests.conftest import Tenant
from tests.support import pki
from tests.support.console import ConsoleVisitor

IMPORT = "/console/certificates/import"


def signed_in(tenant: Tenant) -> ConsoleVisitor:
    visitor = ConsoleVisitor(tenant.server)
    assert visitor.sign_in(tenant.key).status_code == 303
    return visitor


def test_import_checks_the_rules_before_importing_uploaded_files(sqlite_tenant: Tenant) -> None:
    visitor = signed_in(sqlite_tenant)
    csrf = visitor.csrf_of(visitor.get(IMPORT))
    leaf = pki.issue("upload.example.com", sans=["upload.example.com"])
    other = pki.issue("other.example.com", algorithm="EC_prime256v1")

    def upload(step: str, key: bytes, **fields: str) -> str:
        answer = visitor.upload(
            IMPORT,
            {"csrf": csrf, "step": step, **fields},
            {
                "certificate_file": ("cert.pem", leaf.cert_pem),
                "private_key_file": ("key.pem", key),
            },
        )
        return f"{answer.status_code} {unescape(answer.text)}"

    # Checked with a key that is not the certificate's: ImportCertificate's own refusal, and
    # nothing imported.
    refused = upload("check", other.key_pem)
    assert refused.startswith("400") and "does not match" in refused
    assert sqlite_tenant.acm.list_certificates()["CertificateSummaryList"] == []
    # The right key: the rules are met, what would be imported is shown, and the uploaded
    # files are now in the form's fields (the Import button posts what was checked).
    checked = upload("check", leaf.key_pem)
    assert checked.startswith("200") and "meet the import rules" in checked
    assert "upload.example.com" in checked and "RSA_2048" in checked
    assert "-----BEGIN CERTIFICATE-----" in checked
    assert sqlite_tenant.acm.list_certificates()["CertificateSummaryList"] == []
    imported = visitor.upload(
        IMPORT,
        {"csrf": csrf, "step": "import", "certificate": leaf.cert_pem.decode()},
        {"private_key_file": ("key.pem", leaf.key_pem)},
    )
    assert imported.status_code == 303, imported.text
    (summary,) = sqlite_tenant.acm.list_certificates()["CertificateSummaryList"]
    arn = summary["CertificateArn"]
    # A reimport is checked against the certificate it replaces: another key algorithm is
    # refused by the reimport rules, before anything is submitted.
    reimport = upload("check", other.key_pem, arn=arn)
    assert reimport.startswith("400")
    ec_leaf = pki.issue("upload.example.com", algorithm="EC_prime256v1")
    answer = visitor.upload(
        IMPORT,
        {"csrf": csrf, "step": "check", "arn": arn},
        {
            "certificate_file": ("c.pem", ec_leaf.cert_pem),
            "private_key_file": ("k.pem", ec_leaf.key_pem),
        },
    )
    assert answer.status_code == 400
    assert "EC_prime256v1 which is different from RSA_2048" in unescape(answer.text)
    # The import page's multipart form is CSRF-checked like every other form.
    forged = visitor.upload(
        IMPORT, {"step": "import"}, {"certificate_file": ("c.pem", leaf.cert_pem)}
    )
    assert forged.status_code == 403


def test_detail_shows_events_and_edits_tags_in_place(sqlite_tenant: Tenant) -> None:
    leaf = pki.issue("events.example.com", sans=["events.example.com"])
    arn = sqlite_tenant.acm.import_certificate(**leaf.import_args())["CertificateArn"]
    sqlite_tenant.acm.import_certificate(**leaf.import_args(CertificateArn=arn))
    sqlite_tenant.acm.add_tags_to_certificate(
        CertificateArn=arn, Tags=[{"Key": "team", "Value": "web"}]
    )
    visitor = signed_in(sqlite_tenant)
    page = visitor.get("/console/certificates/detail", params={"arn": arn})
    assert page.status_code == 200
    events = page.text[page.text.index('id="events-h"') :]
    # The import and the reimport, newest first.
    assert re.search(r"ACM Certificate Available</td><td>REIMPORT.*IMPORT", events, re.S)
    assert "Not renewed yet." in page.text
    csrf = visitor.csrf_of(page)
    # The value edited in its row, then the key renamed: one tag throughout.
    edited = {"csrf": csrf, "arn": arn, "old_key": "team", "key": "team", "value": "api"}
    assert visitor.post("/console/certificates/tags", edited).status_code == 303
    assert sqlite_tenant.acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [
        {"Key": "team", "Value": "api"}
    ]
    renamed = {**edited, "key": "owner"}
    assert visitor.post("/console/certificates/tags", renamed).status_code == 303
    assert sqlite_tenant.acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [
        {"Key": "owner", "Value": "api"}
    ]
