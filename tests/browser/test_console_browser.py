"""The console in a real browser: Debian's chromium driven by Playwright against a real
`openacm serve --dev`. Each step leaves a screenshot in the test's output directory."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import Tenant
from tests.integration.test_associations import LB, openacm_client
from tests.integration.test_pca_sharing import policy_for
from tests.integration.test_private_certificates import make_root_ca
from tests.support import pki
from tests.support.acm_flow import describe, publish_records, unique_domain
from tests.support.acme_client import AcmeTestClient
from tests.support.bind import BindServer
from tests.support.server import OpenAcmServer

CHROMIUM = "/usr/bin/chromium"
playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed (.ci/run does)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_sync.Browser]:
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: playwright_sync.Browser) -> Iterator[playwright_sync.Page]:
    context = browser.new_context(accept_downloads=True)
    opened = context.new_page()
    yield opened
    context.close()


def shot(page: playwright_sync.Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_dev_mode_signs_in_with_one_click_and_out_again(
    sqlite_server: OpenAcmServer, page: playwright_sync.Page, tmp_path: Path
) -> None:
    page.goto(f"{sqlite_server.endpoint}/console/certificates")
    # Signed out: the browser lands on the sign-in page.
    assert page.url.endswith("/console/sign-in")
    shot(page, tmp_path, "sign-in")
    page.get_by_role("button", name="Sign in as the dev key").click()
    playwright_sync.expect(page.get_by_role("heading", name="Certificates")).to_be_visible()
    playwright_sync.expect(page.get_by_text("test · us-east-1")).to_be_visible()
    shot(page, tmp_path, "signed-in")
    page.get_by_role("link", name="Dashboard").click()
    expect = playwright_sync.expect
    expect(page.get_by_role("heading", name="Expiry dates over the next year")).to_be_visible()
    expect(page.get_by_role("img", name="Expiry dates over the next year")).to_be_visible()
    shot(page, tmp_path, "dashboard")
    page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/console/sign-in")
    page.goto(f"{sqlite_server.endpoint}/console/certificates")
    assert page.url.endswith("/console/sign-in")


def test_request_list_detail_tag_delete(
    sqlite_tenant: Tenant, page: playwright_sync.Page, tmp_path: Path
) -> None:
    expect = playwright_sync.expect
    page.goto(f"{sqlite_tenant.server.endpoint}/console/")
    page.get_by_label("Access key ID").fill(sqlite_tenant.key[0])
    page.get_by_label("Secret access key").fill(sqlite_tenant.key[1])
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Certificates")).to_be_visible()

    page.get_by_role("link", name="Request a certificate").click()
    page.get_by_label("Domain names").fill("browser.example.com\nwww.browser.example.com")
    page.get_by_label("DNS").check()
    shot(page, tmp_path, "request")
    page.get_by_role("button", name="Request").click()
    expect(page.get_by_role("status")).to_contain_text("Requested certificate")
    expect(page.get_by_role("heading", name="browser.example.com")).to_be_visible()
    expect(page.get_by_role("link", name="Export to CSV")).to_be_visible()
    shot(page, tmp_path, "detail")

    page.get_by_role("link", name="Certificates", exact=True).first.click()
    row = page.get_by_role("row").filter(has_text="browser.example.com")
    expect(row).to_contain_text("AMAZON_ISSUED")
    expect(row).to_contain_text("PENDING_VALIDATION")
    shot(page, tmp_path, "list")
    row.get_by_role("link", name="browser.example.com").click()

    page.get_by_label("Key", exact=True).fill("Name")
    page.get_by_label("Value", exact=True).fill("from-the-browser")
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_role("status")).to_contain_text("Tag saved.")
    expect(page.get_by_role("cell", name="from-the-browser")).to_be_visible()
    shot(page, tmp_path, "tagged")
    (summary,) = sqlite_tenant.acm.list_certificates()["CertificateSummaryList"]
    tags = sqlite_tenant.acm.list_tags_for_certificate(CertificateArn=summary["CertificateArn"])
    assert tags["Tags"] == [{"Key": "Name", "Value": "from-the-browser"}]

    page.get_by_label("I want to delete this certificate").check()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Certificate deleted.")
    expect(page.get_by_text("No certificates.")).to_be_visible()
    shot(page, tmp_path, "deleted")
    assert sqlite_tenant.acm.list_certificates()["CertificateSummaryList"] == []


def _pem_blocks(text: str, label: str) -> list[bytes]:
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    blocks = []
    for part in text.split(begin)[1:]:
        blocks.append(f"{begin}{part.split(end, 1)[0]}{end}\n".encode())
    return blocks


def test_private_certificate_issue_export_and_in_use_refusal(
    sqlite_tenant: Tenant, page: playwright_sync.Page, tmp_path: Path
) -> None:
    expect = playwright_sync.expect
    ca_arn, _ = make_root_ca(sqlite_tenant)
    page.goto(f"{sqlite_tenant.server.endpoint}/console/sign-in")
    page.get_by_label("Access key ID").fill(sqlite_tenant.key[0])
    page.get_by_label("Secret access key").fill(sqlite_tenant.key[1])
    page.get_by_role("button", name="Sign in", exact=True).click()

    page.get_by_role("link", name="Private CAs").click()
    expect(page.get_by_role("row").filter(has_text="ROOT")).to_contain_text("ACTIVE")
    page.get_by_role("row").filter(has_text="ROOT").get_by_role("link").click()
    expect(page.get_by_text(ca_arn)).to_be_visible()
    shot(page, tmp_path, "private-ca")

    page.goto(f"{sqlite_tenant.server.endpoint}/console/certificates/request")
    page.get_by_role("radio", name="Private").check()
    page.get_by_label("Domain names").fill("svc.internal.example")
    page.get_by_label("Certificate authority (private)").select_option(ca_arn)
    page.get_by_role("button", name="Request").click()
    expect(page.get_by_role("status")).to_contain_text("Requested certificate")
    for _ in range(100):  # issued by the background work, in well under a few seconds
        if page.get_by_text("The certificate was issued at").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(page.get_by_text("The certificate was issued at")).to_be_visible()
    expect(page.get_by_text(ca_arn)).to_be_visible()
    shot(page, tmp_path, "private-issued")

    page.get_by_label("Passphrase for the private key").fill("correct horse")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export").click()
    downloaded = Path(download_info.value.path()).read_text()
    (key_pem,) = _pem_blocks(downloaded, "ENCRYPTED PRIVATE KEY")
    key = serialization.load_pem_private_key(key_pem, password=b"correct horse")
    leaf = x509.load_pem_x509_certificate(_pem_blocks(downloaded, "CERTIFICATE")[0])
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]

    arn = page.url.split("arn=", 1)[1]
    oacm = openacm_client(sqlite_tenant.server, sqlite_tenant.key)
    oacm.associate_certificate(CertificateArn=unquote(arn), ResourceArn=LB)
    page.reload()
    page.get_by_label("I want to delete this certificate").check()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("alert")).to_contain_text("ResourceInUseException")
    expect(page.get_by_role("alert")).to_contain_text("remove it from the resources")
    shot(page, tmp_path, "in-use-refusal")
    assert sqlite_tenant.acm.describe_certificate(CertificateArn=unquote(arn))["Certificate"]
    # The refusal names the resource; disassociating it lets the delete through.
    expect(page.get_by_role("cell", name=LB, exact=True)).to_be_visible()
    page.get_by_role("button", name=f"Disassociate {LB}").click()
    expect(page.get_by_role("status")).to_contain_text("Association removed.")
    expect(page.get_by_text("No resource uses this certificate.")).to_be_visible()
    page.get_by_label("I want to delete this certificate").check()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Certificate deleted.")


def sign_in(page: playwright_sync.Page, tenant: Tenant) -> None:
    page.goto(f"{tenant.server.endpoint}/console/sign-in")
    page.get_by_label("Access key ID").fill(tenant.key[0])
    page.get_by_label("Secret access key").fill(tenant.key[1])
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_import_uploaded_files_checked_first_then_tags_edited_in_place(
    sqlite_tenant: Tenant, page: playwright_sync.Page, tmp_path: Path
) -> None:
    expect = playwright_sync.expect
    leaf = pki.issue("imported.example.com", sans=["imported.example.com"])
    files = {
        "cert.pem": leaf.cert_pem,
        "key.pem": leaf.key_pem,
        "other-key.pem": pki.key_pem(ec.generate_private_key(ec.SECP256R1())),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    sign_in(page, sqlite_tenant)
    page.get_by_role("link", name="Import a certificate").click()
    # Files uploaded with a key that is not the certificate's: Check explains the refusal
    # (ImportCertificate's own rule and words), and nothing is imported.
    page.get_by_label("or upload the certificate file").set_input_files(tmp_path / "cert.pem")
    page.get_by_label("or upload the key file").set_input_files(tmp_path / "other-key.pem")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("alert")).to_contain_text("does not match")
    shot(page, tmp_path, "import-check-refused")
    assert sqlite_tenant.acm.list_certificates()["CertificateSummaryList"] == []
    # The right key: Check shows what would be imported; the uploads are now in the fields.
    page.get_by_label("Certificate private key").fill("")
    page.get_by_label("or upload the key file").set_input_files(tmp_path / "key.pem")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("status")).to_contain_text("meet the import rules")
    expect(page.get_by_label("Certificate body")).to_contain_text("BEGIN CERTIFICATE")
    shot(page, tmp_path, "import-checked")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status")).to_contain_text("Certificate imported.")
    expect(page.get_by_role("heading", name="imported.example.com")).to_be_visible()
    expect(page.get_by_text("IMPORTED", exact=True)).to_be_visible()
    event = page.get_by_role("row").filter(has_text="ACM Certificate Available")
    expect(event).to_contain_text("IMPORT;")  # its event, in the certificate's history
    page.get_by_label("Key", exact=True).fill("team")
    page.get_by_label("Value", exact=True).fill("platform")
    page.get_by_role("button", name="Add tag").click()
    # Edited in its row: the value, then the key.
    page.get_by_label("Value of tag team").fill("payments")
    page.get_by_role("button", name="Save tag team").click()
    expect(page.get_by_role("status")).to_contain_text("Tag saved.")
    page.get_by_label("Key of tag team").fill("owner")
    page.get_by_role("button", name="Save tag team").click()
    expect(page.get_by_label("Value of tag owner")).to_have_value("payments")
    shot(page, tmp_path, "tag-edited")
    (summary,) = sqlite_tenant.acm.list_certificates()["CertificateSummaryList"]
    arn = summary["CertificateArn"]
    tags = sqlite_tenant.acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
    assert tags == [{"Key": "owner", "Value": "payments"}]
    page.get_by_role("button", name="Remove tag owner").click()
    expect(page.get_by_text("No tags.")).to_be_visible()


def test_private_ca_permission_and_policy(
    sqlite_tenant: Tenant, page: playwright_sync.Page, tmp_path: Path
) -> None:
    expect = playwright_sync.expect
    ca_arn, _ = make_root_ca(sqlite_tenant, permit_acm=False)
    sign_in(page, sqlite_tenant)
    page.goto(f"{sqlite_tenant.server.endpoint}/console/private-cas/detail?arn={ca_arn}")
    page.get_by_role("button", name="Grant permission").click()
    expect(page.get_by_role("status")).to_contain_text("Permission granted.")
    expect(page.get_by_role("row").filter(has_text="acm.amazonaws.com")).to_contain_text(
        "IssueCertificate"
    )
    page.get_by_label("Policy (JSON)").fill(policy_for(ca_arn, "111122223333"))
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("status")).to_contain_text("Policy saved.")
    expect(page.get_by_role("button", name="Delete policy")).to_be_visible()
    shot(page, tmp_path, "ca-permission-policy")
    pca = sqlite_tenant.client("acm-pca")
    assert pca.list_permissions(CertificateAuthorityArn=ca_arn)["Permissions"]
    assert "111122223333" in pca.get_policy(ResourceArn=ca_arn)["Policy"]


def test_acme_endpoint_create_and_access_key_secret_shown_once(
    sqlite_tenant: Tenant, page: playwright_sync.Page, tmp_path: Path
) -> None:
    expect = playwright_sync.expect
    sign_in(page, sqlite_tenant)
    page.get_by_role("link", name="ACME").click()
    page.get_by_role("link", name="Create an ACME endpoint").click()
    page.get_by_label("RSA_2048").check()
    page.get_by_label("Tags put on every certificate").fill("issued-by=acme")
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.get_by_role("status")).to_contain_text("ACME endpoint created.")
    (endpoint,) = sqlite_tenant.acm.list_acme_endpoints()["AcmeEndpoints"]
    expect(page.get_by_text(endpoint["EndpointUrl"])).to_be_visible()
    expect(page.get_by_text("No ACME accounts registered yet.")).to_be_visible()
    shot(page, tmp_path, "acme-endpoint")

    page.get_by_role("link", name="Access keys").click()
    page.get_by_label("User name").fill("deployer")
    page.get_by_role("button", name="Create access key").click()
    expect(page.get_by_role("status")).to_contain_text("shown only this once")
    key_id = page.locator("dt:has-text('Access key ID') + dd").inner_text()
    secret = page.locator("dt:has-text('Secret access key') + dd").inner_text()
    shot(page, tmp_path, "access-key-created")
    client = sqlite_tenant.server.client(key=(key_id, secret))
    assert client.list_certificates()["CertificateSummaryList"] == []
    # The list again: the key is there, its secret is not.
    page.goto(f"{sqlite_tenant.server.endpoint}/console/access-keys")
    expect(page.get_by_text(key_id)).to_be_visible()
    assert secret not in page.content()
    page.get_by_role("button", name=f"Delete {key_id}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Access key {key_id} deleted.")
    expect(page.get_by_role("cell", name=key_id)).to_have_count(0)


def test_acme_binding_credentials_shown_once_and_domain_validation(
    sqlite_tenant: Tenant, page: playwright_sync.Page, tmp_path: Path
) -> None:
    expect = playwright_sync.expect
    acm = sqlite_tenant.acm
    arn = acm.create_acme_endpoint(
        AuthorizationBehavior="PRE_APPROVED",
        CertificateAuthority={"PublicCertificateAuthority": {}},
    )["AcmeEndpointArn"]
    sign_in(page, sqlite_tenant)
    page.goto(f"{sqlite_tenant.server.endpoint}/console/acme-endpoints/detail?arn={arn}")
    page.get_by_label("Role ARN").fill(f"arn:aws:iam::{sqlite_tenant.account_id}:role/web")
    page.get_by_label("Expires after").fill("30")
    page.get_by_role("button", name="Create binding").click()
    expect(page.get_by_role("status")).to_contain_text("Binding created.")
    (binding,) = acm.list_acme_external_account_bindings(AcmeEndpointArn=arn)[
        "ExternalAccountBindings"
    ]
    binding_id = binding["AcmeExternalAccountBindingArn"].rsplit("/", 1)[-1]
    page.get_by_role("button", name=f"Get credentials of binding {binding_id}").click()
    expect(page.get_by_role("status")).to_contain_text("Give these to the ACME client now")
    kid = page.locator("#eab-kid").inner_text()
    hmac = page.locator("#eab-hmac").inner_text()
    shot(page, tmp_path, "acme-binding-credentials")
    url = acm.describe_acme_endpoint(AcmeEndpointArn=arn)["AcmeEndpoint"]["EndpointUrl"]
    registered = AcmeTestClient(url, eab=(kid, hmac)).new_account(termsOfServiceAgreed=True)
    assert registered.status_code == 201
    # The endpoint's page again: the account is listed, the MAC key is not shown.
    page.goto(f"{sqlite_tenant.server.endpoint}/console/acme-endpoints/detail?arn={arn}")
    expect(page.get_by_text(registered.headers["location"])).to_be_visible()
    assert hmac not in page.content()
    page.get_by_label("Domain name").fill("browser.example.com")
    page.get_by_role("button", name="Create domain validation").click()
    expect(page.get_by_role("status")).to_contain_text("publish its CNAME record")
    (validation,) = acm.list_acme_domain_validations(AcmeEndpointArn=arn)["AcmeDomainValidations"]
    record = validation["PrevalidationDetails"]["DnsPrevalidation"]["ResourceRecord"]
    row = page.get_by_role("row").filter(has_text="browser.example.com")
    expect(row).to_contain_text(record["Name"])
    expect(row).to_contain_text(record["Value"])
    shot(page, tmp_path, "acme-domain-validation")


def test_public_dns_certificate_followed_to_issued_then_revoked(
    pki_tenant: Tenant, bind_server: BindServer, page: playwright_sync.Page, tmp_path: Path
) -> None:
    expect = playwright_sync.expect
    domain = unique_domain("console")
    page.goto(f"{pki_tenant.server.endpoint}/console/sign-in")
    page.get_by_label("Access key ID").fill(pki_tenant.key[0])
    page.get_by_label("Secret access key").fill(pki_tenant.key[1])
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("link", name="Request a certificate").click()
    page.get_by_label("Domain names").fill(domain)
    page.get_by_label("Allow export").check()
    page.get_by_role("button", name="Request").click()
    expect(page.get_by_role("link", name="Export to CSV")).to_be_visible()
    arn = unquote(page.url.split("arn=", 1)[1])
    # The record the page shows is the one to create.
    record = describe(pki_tenant.acm, arn)["DomainValidationOptions"][0]["ResourceRecord"]
    expect(page.get_by_role("cell", name=record["Name"])).to_be_visible()
    publish_records(bind_server, describe(pki_tenant.acm, arn))
    for _ in range(150):
        if page.get_by_text("The certificate was issued at").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(page.get_by_text("The certificate was issued at")).to_be_visible()
    shot(page, tmp_path, "public-issued")

    page.get_by_label("Revocation reason").select_option("KEY_COMPROMISE")
    page.get_by_label("I want to revoke this certificate").check()
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("Certificate revoked.")
    shot(page, tmp_path, "revoked")
    described = describe(pki_tenant.acm, arn)
    assert described["Status"] == "REVOKED"
    assert described["RevocationReason"] == "KEY_COMPROMISE"
