"""The console over HTTP: sign-in, the session, CSRF refusal, the security headers, and that
its actions are the API's (same errors, same audit)."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
from sqlalchemy import select

from openacm.adapters.store import schema
from tests.conftest import Tenant, finish_server, start_server
from tests.integration.test_private_certificates import make_root_ca
from tests.support import pki
from tests.support.console import ConsoleVisitor
from tests.support.server import DEV_KEY, OpenAcmServer


def test_signed_out_browser_gets_the_sign_in_page(sqlite_server: OpenAcmServer) -> None:
    visitor = ConsoleVisitor(sqlite_server)
    assert visitor.get("/console").headers["location"] == "/console/"
    for path in (
        "/console/",
        "/console/certificates",
        "/console/certificates/detail?arn=x",
        "/console/certificates/request",
        "/console/certificates/validation.csv?arn=x",
        "/console/private-cas",
        "/console/private-cas/detail?arn=x",
        "/console/private-cas/create",
        "/console/certificates/import",
        "/console/account",
        "/console/dashboard",
    ):
        answer = visitor.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/sign-in"
    page = visitor.get("/console/sign-in")
    assert page.status_code == 200
    assert "Secret access key" in page.text
    # An unknown or forged session id is no session.
    visitor.cookies["openacm_console"] = "forged"
    assert visitor.get("/console/certificates").status_code == 303


def test_pages_carry_a_strict_csp_and_secure_cookies(sqlite_tenant: Tenant) -> None:
    visitor = ConsoleVisitor(sqlite_tenant.server)
    page = visitor.get("/console/sign-in")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # no script at all: default-src 'none' forbids it
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    signed_in = visitor.sign_in(sqlite_tenant.key)
    assert signed_in.status_code == 303, signed_in.text
    cookie = next(
        c for c in signed_in.headers.get_list("set-cookie") if c.startswith("openacm_console=")
    )
    lowered = cookie.lower()
    assert "httponly" in lowered and "secure" in lowered and "samesite=strict" in lowered
    listing = visitor.get("/console/certificates")
    assert listing.status_code == 200
    assert listing.headers["content-security-policy"] == csp
    # The secret is nowhere in what the browser holds.
    assert sqlite_tenant.key[1] not in listing.text
    assert all(sqlite_tenant.key[1] not in v for v in visitor.cookies.values())


def test_sign_in_with_a_wrong_secret_is_refused(sqlite_tenant: Tenant) -> None:
    visitor = ConsoleVisitor(sqlite_tenant.server)
    answer = visitor.sign_in((sqlite_tenant.key[0], "not-the-secret"))
    assert answer.status_code == 401
    assert "wrong" in answer.text
    assert "openacm_console" not in visitor.cookies
    assert visitor.get("/console/certificates").status_code == 303


def test_sign_in_form_without_its_csrf_value_is_refused(sqlite_tenant: Tenant) -> None:
    visitor = ConsoleVisitor(sqlite_tenant.server)
    visitor.get("/console/sign-in")
    key_id, secret = sqlite_tenant.key
    answer = visitor.post(
        "/console/sign-in",
        {"csrf": "guess", "access_key_id": key_id, "secret_access_key": secret},
    )
    assert answer.status_code == 403
    assert "openacm_console" not in visitor.cookies


def test_form_posts_without_a_valid_csrf_token_are_refused(sqlite_tenant: Tenant) -> None:
    visitor = ConsoleVisitor(sqlite_tenant.server)
    assert visitor.sign_in(sqlite_tenant.key).status_code == 303
    form = {"names": "forged.example.com", "method": "DNS", "kind": "public"}
    for token in (None, "", "0" * 43):
        data = dict(form) if token is None else {**form, "csrf": token}
        answer = visitor.post("/console/certificates/request", data)
        assert answer.status_code == 403
    # Nothing was requested.
    assert sqlite_tenant.acm.list_certificates()["CertificateSummaryList"] == []
    # With the page's token the same post goes through.
    page = visitor.get("/console/certificates/request")
    answer = visitor.post("/console/certificates/request", {**form, "csrf": visitor.csrf_of(page)})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/certificates/detail?arn=")


def test_actions_are_api_calls_audited_as_the_key(sqlite_tenant: Tenant) -> None:
    visitor = ConsoleVisitor(sqlite_tenant.server)
    assert visitor.sign_in(sqlite_tenant.key).status_code == 303
    page = visitor.get("/console/certificates/request")
    visitor.post(
        "/console/certificates/request",
        {
            "csrf": visitor.csrf_of(page),
            "names": "console.example.com\nwww.console.example.com",
            "method": "DNS",
            "kind": "public",
        },
    )
    (summary,) = sqlite_tenant.acm.list_certificates()["CertificateSummaryList"]
    arn = summary["CertificateArn"]
    detail = visitor.get(f"/console/certificates/detail?arn={quote(arn)}")
    assert detail.status_code == 200
    assert "console.example.com" in detail.text
    visitor.post(
        "/console/certificates/tags",
        {"csrf": visitor.csrf_of(detail), "arn": arn, "key": "Name", "value": "web"},
    )
    tags = sqlite_tenant.acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
    assert tags == [{"Key": "Name", "Value": "web"}]
    listing = visitor.get("/console/certificates?column=name_tag&column=names")
    assert "web" in listing.text and "www.console.example.com" in listing.text
    table = schema.audit_events
    records = sqlite_tenant.server.query(
        select(table.c.access_key_id, table.c.record_json).where(
            table.c.event_name == "AddTagsToCertificate", table.c.resource_arn == arn
        )
    )
    assert [key for key, _ in records] == [sqlite_tenant.key[0]]
    assert "openacm-console" in records[0][1]  # the userAgent says it came through the console


def test_validation_records_export_to_csv(sqlite_tenant: Tenant) -> None:
    arn = sqlite_tenant.acm.request_certificate(
        DomainName="csv.example.com", ValidationMethod="DNS"
    )["CertificateArn"]
    visitor = ConsoleVisitor(sqlite_tenant.server)
    visitor.sign_in(sqlite_tenant.key)
    answer = visitor.get(f"/console/certificates/validation.csv?arn={quote(arn)}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    lines = answer.text.splitlines()
    assert lines[0] == "Domain Name,Record Name,Record Type,Record Value"
    assert lines[1].startswith("csv.example.com,_") and ",CNAME," in lines[1]


def test_sign_out_ends_the_session(sqlite_tenant: Tenant) -> None:
    visitor = ConsoleVisitor(sqlite_tenant.server)
    visitor.sign_in(sqlite_tenant.key)
    page = visitor.get("/console/certificates")
    session = visitor.cookies["openacm_console"]
    answer = visitor.post("/console/sign-out", {"csrf": visitor.csrf_of(page)})
    assert answer.status_code == 303
    visitor.cookies["openacm_console"] = session  # a copy of the old cookie is worthless
    assert visitor.get("/console/certificates").status_code == 303


def test_private_ca_pages_and_lifecycle(sqlite_tenant: Tenant) -> None:
    ca_arn, _ = make_root_ca(sqlite_tenant)
    pca = sqlite_tenant.client("acm-pca")

    def status() -> str:
        described = pca.describe_certificate_authority(CertificateAuthorityArn=ca_arn)
        return str(described["CertificateAuthority"]["Status"])

    visitor = ConsoleVisitor(sqlite_tenant.server)
    visitor.sign_in(sqlite_tenant.key)
    listing = visitor.get("/console/private-cas")
    assert ca_arn.rsplit("/", 1)[-1] in listing.text
    detail_path = f"/console/private-cas/detail?arn={quote(ca_arn)}"

    def change(action: str, **extra: str) -> str:
        page = visitor.get(detail_path)
        assert page.status_code == 200
        answer = visitor.post(
            "/console/private-cas/change",
            {"csrf": visitor.csrf_of(page), "arn": ca_arn, "action": action, **extra},
        )
        assert answer.status_code == 303
        return visitor.get(detail_path).text

    # An active CA cannot be deleted: the API's refusal is shown, nothing changes.
    refused = change("delete", days="7")
    assert "InvalidStateException" in refused
    assert status() == "ACTIVE"
    assert "CA disabled." in change("DISABLED")
    assert status() == "DISABLED"
    assert "CA enabled." in change("ACTIVE")
    assert status() == "ACTIVE"
    change("DISABLED")
    assert "CA scheduled for deletion." in change("delete", days="7")
    assert status() == "DELETED"
    assert "CA restored." in change("restore")
    assert status() == "DISABLED"


def test_account_configuration_and_region_switch(sqlite_tenant: Tenant) -> None:
    arn = sqlite_tenant.acm.request_certificate(
        DomainName="region.example.com", ValidationMethod="DNS"
    )["CertificateArn"]
    visitor = ConsoleVisitor(sqlite_tenant.server)
    assert visitor.sign_in(sqlite_tenant.key, region="nowhere-1").status_code == 400
    visitor.sign_in(sqlite_tenant.key)
    page = visitor.get("/console/account")
    assert 'value="45"' in page.text  # ACM's default DaysBeforeExpiry
    visitor.post("/console/account", {"csrf": visitor.csrf_of(page), "days": "30"})
    configured = sqlite_tenant.acm.get_account_configuration()["ExpiryEvents"]
    assert configured["DaysBeforeExpiry"] == 30
    refused = visitor.post("/console/account", {"csrf": visitor.csrf_of(page), "days": "91"})
    assert refused.status_code == 303
    assert "ValidationException" in visitor.get("/console/account").text
    assert arn.rsplit("/", 1)[-1] in visitor.get("/console/certificates").text

    visitor.post("/console/account/region", {"csrf": visitor.csrf_of(page), "region": "mars-1"})
    assert "mars-1 is not a region." in visitor.get("/console/account").text
    visitor.post("/console/account/region", {"csrf": visitor.csrf_of(page), "region": "eu-west-1"})
    listing = visitor.get("/console/certificates")
    assert "eu-west-1" in listing.text
    assert arn.rsplit("/", 1)[-1] not in listing.text  # that certificate is in us-east-1


def test_create_a_root_and_a_subordinate_ca_and_install_their_certificates(
    sqlite_tenant: Tenant,
) -> None:
    pca = sqlite_tenant.client("acm-pca")
    visitor = ConsoleVisitor(sqlite_tenant.server)
    visitor.sign_in(sqlite_tenant.key)

    def create(kind: str, name: str) -> str:
        page = visitor.get("/console/private-cas/create")
        answer = visitor.post(
            "/console/private-cas/create",
            {
                "csrf": visitor.csrf_of(page),
                "type": kind,
                "common_name": name,
                "organization": "Console",
                "key_algorithm": "EC_prime256v1",
            },
        )
        assert answer.status_code == 303
        return unquote(answer.headers["location"].split("arn=", 1)[1])

    def install(arn: str, **extra: str) -> str:
        deadline = time.monotonic() + 60
        while status(arn) == "CREATING":  # the key is made in the background
            assert time.monotonic() < deadline
            time.sleep(0.1)
        page = visitor.get(f"/console/private-cas/detail?arn={quote(arn)}")
        assert "Install CA certificate" in page.text
        visitor.post(
            "/console/private-cas/install",
            {"csrf": visitor.csrf_of(page), "arn": arn, "years": "5", **extra},
        )
        return visitor.get(f"/console/private-cas/detail?arn={quote(arn)}").text

    def status(arn: str) -> str:
        described = pca.describe_certificate_authority(CertificateAuthorityArn=arn)
        return str(described["CertificateAuthority"]["Status"])

    root = create("ROOT", "Console root")
    assert "CA certificate installed." in install(root)
    assert status(root) == "ACTIVE"
    sub = create("SUBORDINATE", "Console issuing")
    page = install(sub, parent=root, years="2")
    assert "CA certificate installed." in page, page[page.find("flash") :][:300]
    assert status(sub) == "ACTIVE"
    chain = pca.get_certificate_authority_certificate(CertificateAuthorityArn=sub)
    root_pem = pca.get_certificate_authority_certificate(CertificateAuthorityArn=root)
    assert chain["CertificateChain"].strip() == root_pem["Certificate"].strip()


def test_a_session_holds_across_the_workers_of_a_server(tmp_path: Path) -> None:
    server = start_server(tmp_path, "sqlite", extra_args=["--workers", "2"])
    try:
        visitor = ConsoleVisitor(server)
        assert visitor.sign_in(DEV_KEY).status_code == 303
        # Connections land on either worker; every one knows the session.
        for _ in range(20):
            visitor.http.close()
            visitor.http = httpx.Client(base_url=server.endpoint, timeout=30)
            assert visitor.get("/console/certificates").status_code == 200
        assert not list((server.data_dir / "console-sessions").glob(".*"))
    finally:
        finish_server(server)


def test_list_search_sort_filter_and_page(sqlite_tenant: Tenant) -> None:
    acm = sqlite_tenant.acm
    # Imported, so each has an X.509 body to sort on (SearchCertificates sorts by its CN).
    for name in ("beta.example.com", "alpha.example.com", "gamma.example.net"):
        acm.import_certificate(**pki.issue(name, sans=[name, f"www.{name}"]).import_args())
    pending = acm.request_certificate(DomainName="delta.example.org", ValidationMethod="DNS")
    visitor = ConsoleVisitor(sqlite_tenant.server)
    visitor.sign_in(sqlite_tenant.key)

    def shown(query: str) -> list[str]:
        page = visitor.get(f"/console/certificates?{query}")
        assert page.status_code == 200
        return re.findall(r'detail\?arn=[^"]+">([^<]+)</a>', page.text)

    # Newest first by default (ListCertificates).
    assert shown("") == [
        "delta.example.org",
        "gamma.example.net",
        "alpha.example.com",
        "beta.example.com",
    ]
    # Sorted by name (SearchCertificates): the not yet issued one, without a CN, comes last.
    assert shown("sort=COMMON_NAME&order=ASCENDING") == [
        "alpha.example.com",
        "beta.example.com",
        "gamma.example.net",
        "delta.example.org",
    ]
    # The search covers every name of every certificate, not just the page shown.
    assert shown("search=www.gamma&size=10") == ["gamma.example.net"]
    assert shown("search=example.com&sort=COMMON_NAME&order=DESCENDING") == [
        "beta.example.com",
        "alpha.example.com",
    ]
    assert shown("search=example.com&status=PENDING_VALIDATION") == []
    assert shown("search=delta") == ["delta.example.org"]  # requested names count too
    assert shown("status=PENDING_VALIDATION") == ["delta.example.org"]
    assert (
        pending["CertificateArn"].rsplit("/", 1)[-1]
        in visitor.get("/console/certificates?status=PENDING_VALIDATION").text
    )
    # Pages of 10: the next-page link carries the filters along.
    page = visitor.get("/console/certificates?size=10&search=example&sort=COMMON_NAME")
    assert "Next page" not in page.text


def test_dashboard_for_an_empty_account_and_with_expiring_certificates(tenant: Tenant) -> None:
    """On SQLite and PostgreSQL: the chart's months are counted by one store query."""
    visitor = ConsoleVisitor(tenant.server)
    visitor.sign_in(tenant.key)
    empty = visitor.get("/console/dashboard")
    assert empty.status_code == 200
    assert "No certificate expires that soon." in empty.text
    assert "No renewal is waiting." in empty.text and "No failed validation." in empty.text
    assert "0 certificates expire in the next twelve months" in empty.text

    now = dt.datetime.now(dt.UTC)
    for name, days in (("soon", 10), ("later", 100), ("much-later", 200), ("beyond", 500)):
        leaf = pki.issue(f"{name}.example.com", not_after=now + dt.timedelta(days=days))
        tenant.acm.import_certificate(**leaf.import_args())
    page = visitor.get("/console/dashboard").text
    expiring = page[page.index("Expiring within 45 days") : page.index("renewals-h")]
    assert "soon.example.com" in expiring and "later.example.com" not in expiring
    assert "3 certificates expire in the next twelve months" in page
    counts = [int(n) for n in re.findall(r"<tr><td>\w+ \d\d</td><td>(\d+)</td></tr>", page)]
    assert len(counts) == 12 and sum(counts) == 3
    assert counts[0] == 1 and counts[3] == 1 and counts[6] == 1
