"""RevokeCertificate, and what the builtin CA publishes about it: OCSP answers and CRLs.

Certificates are issued for real (DNS validation against the test BIND server), revoked through
the API, and the revocation is checked the way relying parties check it: `openssl ocsp` (POST
with a nonce, and the GET form of RFC 6960 A.1), `openssl crl` and `openssl verify -crl_check`.
The certificates carry a public-looking host in their CRL and OCSP links (see conftest's
PKI_PUBLIC_URL); the tests keep each link's path and send it to the server's own address.

Only exportable public certificates can be revoked (the API reference: "You can only revoke
certificates that have been previously exported"); openacm takes Options.Export=ENABLED at
request time as that permission. Every refusal is checked to leave the certificate as it was.

The last tests run a server with four worker processes (one process answers one call at a
time): revocations at the same moment, and OCSP answers cached in several processes.
"""

from __future__ import annotations

import base64
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from tests.conftest import Tenant
from tests.support import pki
from tests.support.acm_flow import (
    describe,
    publish_records,
    request,
    request_and_issue,
    unique_domain,
    wait_for_status,
)
from tests.support.bind import BindServer
from tests.support.server import NO_RETRIES, OpenAcmServer

EXPORTABLE = {"Options": {"Export": "ENABLED"}}
OCSP_CONTENT_TYPE = "application/ocsp-response"


# -- the PKI around one issued certificate --------------------------------------------------


def _link_path(url: str) -> str:
    """The path of a link in a certificate (its host is a public-looking name)."""
    return urlsplit(url).path


def _aia_path(certificate: x509.Certificate, method: x509.ObjectIdentifier) -> str:
    aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    (url,) = [d.access_location.value for d in aia if d.access_method == method]
    return _link_path(str(url))


def _ocsp_path(certificate: x509.Certificate) -> str:
    return _aia_path(certificate, AuthorityInformationAccessOID.OCSP)


def _ca_issuers_path(certificate: x509.Certificate) -> str:
    return _aia_path(certificate, AuthorityInformationAccessOID.CA_ISSUERS)


def _crl_path(certificate: x509.Certificate) -> str:
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (point,) = points
    assert point.full_name is not None
    (name,) = point.full_name
    return _link_path(str(name.value))


@dataclass
class IssuedPki:
    """An issued certificate with its issuing CA and root, written out for openssl."""

    tenant: Tenant
    arn: str
    workdir: Path
    leaf: x509.Certificate
    issuer: x509.Certificate
    root: x509.Certificate

    @property
    def endpoint(self) -> str:
        return self.tenant.server.endpoint

    @property
    def ocsp_url(self) -> str:
        return self.endpoint + _ocsp_path(self.leaf)

    @property
    def ca_id(self) -> str:
        return _ocsp_path(self.leaf).rsplit("/", 1)[1]

    @property
    def crl_url(self) -> str:
        return self.endpoint + _crl_path(self.leaf)

    @property
    def serial_hex(self) -> str:
        return format(self.leaf.serial_number, "X")

    def openssl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["openssl", *args], cwd=self.workdir, capture_output=True, text=True, timeout=30
        )
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    # -- OCSP ---------------------------------------------------------------------------------

    def ocsp_post(self, *extra: str) -> str:
        """`openssl ocsp` against the responder (POST, with a nonce unless told otherwise):
        its output, once the response verified to the root and the nonce matched."""
        done = self.openssl(
            "ocsp",
            "-issuer", "issuer.pem",
            "-cert", "leaf.pem",
            "-url", self.ocsp_url,
            "-CAfile", "root.pem",
            "-resp_text",
            *extra,
        )  # fmt: skip
        assert "Response verify OK" in done.stderr, done.stderr
        assert "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr
        return done.stdout

    def ocsp_request(self, name: str, *, nonce: bool) -> bytes:
        """A request about the leaf written by openssl (`-reqout`), as DER."""
        self.openssl(
            "ocsp",
            "-issuer", "issuer.pem",
            "-cert", "leaf.pem",
            "-reqout", name,
            *(() if nonce else ("-no_nonce",)),
        )  # fmt: skip
        return (self.workdir / name).read_bytes()

    def ocsp_get(self, request_der: bytes) -> httpx.Response:
        encoded = quote(base64.b64encode(request_der).decode(), safe="")
        response = httpx.get(f"{self.ocsp_url}/{encoded}", timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == OCSP_CONTENT_TYPE
        return response

    def ocsp_check_response(self, response_der: bytes, name: str) -> str:
        """`openssl ocsp -respin` on a response fetched otherwise: its verified status text."""
        (self.workdir / name).write_bytes(response_der)
        done = self.openssl(
            "ocsp",
            "-issuer", "issuer.pem",
            "-cert", "leaf.pem",
            "-respin", name,
            "-CAfile", "root.pem",
            "-no_nonce",
            "-resp_text",
        )  # fmt: skip
        assert "Response verify OK" in done.stderr, done.stderr
        return done.stdout

    # -- CRL ----------------------------------------------------------------------------------

    def crl(self, name: str) -> x509.CertificateRevocationList:
        """The issuing CA's current CRL, saved as `name` (DER) and `name`.pem, checked by
        `openssl crl` against the root and the issuing CA."""
        response = httpx.get(self.crl_url, timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pkix-crl"
        (self.workdir / name).write_bytes(response.content)
        done = self.openssl("crl", "-inform", "DER", "-in", name, "-CAfile", "cas.pem", "-noout")
        assert "verify OK" in done.stderr, done.stderr
        crl = x509.load_der_x509_crl(response.content)
        (self.workdir / f"{name}.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return crl

    def crl_text(self, name: str) -> str:
        return self.openssl("crl", "-inform", "DER", "-in", name, "-noout", "-text").stdout

    def verify_with_crl(self, crl_pem: str) -> subprocess.CompletedProcess[str]:
        return self.openssl(
            "verify",
            "-crl_check",
            "-CRLfile", crl_pem,
            "-CAfile", "root.pem",
            "-untrusted", "issuer.pem",
            "leaf.pem",
            check=False,
        )  # fmt: skip


def _roots(endpoint: str) -> x509.Certificate:
    response = httpx.get(f"{endpoint}/ca/roots.pem", timeout=10)
    response.raise_for_status()
    (root,) = x509.load_pem_x509_certificates(response.content)
    return root


def issued_pki(tenant: Tenant, arn: str, workdir: Path) -> IssuedPki:
    got = tenant.acm.get_certificate(CertificateArn=arn)
    leaf = x509.load_pem_x509_certificate(got["Certificate"].encode())
    issuer, chain_root = x509.load_pem_x509_certificates(got["CertificateChain"].encode())
    root = _roots(tenant.server.endpoint)
    assert chain_root == root
    workdir.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    (workdir / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (workdir / "issuer.pem").write_bytes(issuer.public_bytes(pem))
    (workdir / "root.pem").write_bytes(root.public_bytes(pem))
    (workdir / "cas.pem").write_bytes(root.public_bytes(pem) + issuer.public_bytes(pem))
    return IssuedPki(tenant, arn, workdir, leaf, issuer, root)


def _status_line(output: str, name: str = "leaf.pem") -> str:
    match = re.search(rf"^{re.escape(name)}: (\w+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def _nonce(extensions: x509.Extensions) -> bytes | None:
    try:
        return extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def _ocsp_status(response_der: bytes) -> ocsp.OCSPResponse:
    response = ocsp.load_der_ocsp_response(response_der)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return response


# -- refusals -------------------------------------------------------------------------------


def refused(call: Callable[[], Any], code: str, *, contains: str = "") -> str:
    """Run an API call that must fail with `code` and HTTP 400; the error's message."""
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == code, caught.value.response
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = str(error.get("Message", ""))
    assert message, caught.value.response
    assert contains in message, message
    for marker in ("Traceback", "sqlalchemy", "openacm/"):
        assert marker not in message
    return message


def _state(tenant: Tenant, arn: str) -> dict[str, Any]:
    """What a refusal must not change: the details, and the bodies once issued."""
    detail = describe(tenant.acm, arn)
    state: dict[str, Any] = {"detail": detail}
    if detail["Status"] == "ISSUED":
        state["body"] = tenant.acm.get_certificate(CertificateArn=arn)["Certificate"]
    return state


# -- tests ----------------------------------------------------------------------------------


def test_revocation_is_published_in_ocsp_and_crl(
    pki_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    acm = pki_tenant.acm
    arn = request_and_issue(acm, bind_server, unique_domain("rv"), **EXPORTABLE)
    issued = pki_tenant.acm.get_certificate(CertificateArn=arn)
    ca = issued_pki(pki_tenant, arn, tmp_path)
    assert describe(acm, arn)["Serial"].replace(":", "").upper() == ca.serial_hex.zfill(32)

    # Before: OCSP says good, by POST and by GET, and the CRL does not list the serial.
    before = ca.ocsp_post()
    assert _status_line(before) == "good"
    assert "OCSP Nonce" in before  # the request's nonce came back (openssl compared them)
    get_request = ca.ocsp_request("get-request.der", nonce=False)
    cached_good = ca.ocsp_get(get_request)
    assert _status_line(ca.ocsp_check_response(cached_good.content, "good.der")) == "good"
    crl_before = ca.crl("before.crl")
    assert crl_before.get_revoked_certificate_by_serial_number(ca.leaf.serial_number) is None
    assert ca.serial_hex not in ca.crl_text("before.crl").replace(":", "")
    verified = ca.verify_with_crl("before.crl.pem")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    answer = acm.revoke_certificate(CertificateArn=arn, RevocationReason="KEY_COMPROMISE")
    assert answer["CertificateArn"] == arn

    detail = describe(acm, arn)
    assert detail["Status"] == "REVOKED"
    assert detail["RevocationReason"] == "KEY_COMPROMISE"
    assert detail["RevokedAt"] >= detail["IssuedAt"]
    # ACM keeps handing out a revoked certificate (GetCertificate has no status condition).
    after_get = acm.get_certificate(CertificateArn=arn)
    assert (after_get["Certificate"], after_get["CertificateChain"]) == (
        issued["Certificate"],
        issued["CertificateChain"],
    )
    listed = acm.list_certificates(CertificateStatuses=["REVOKED"])["CertificateSummaryList"]
    assert [(s["CertificateArn"], s["Status"]) for s in listed] == [(arn, "REVOKED")]

    # After: OCSP says revoked with the reason, by POST (nonce echoed) ...
    after = ca.ocsp_post()
    assert _status_line(after) == "revoked"
    assert re.search(r"Reason: keyCompromise", after), after
    assert "OCSP Nonce" in after
    # ... and by GET, without a nonce (the cached "good" answer is gone) and with one.
    revoked_der = ca.ocsp_get(get_request).content
    assert revoked_der != cached_good.content
    assert _status_line(ca.ocsp_check_response(revoked_der, "revoked.der")) == "revoked"
    single = _ocsp_status(revoked_der)
    assert single.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert single.revocation_reason == x509.ReasonFlags.key_compromise
    assert single.serial_number == ca.leaf.serial_number
    assert _nonce(single.extensions) is None
    with_nonce = ca.ocsp_request("nonce-request.der", nonce=True)
    sent_nonce = _nonce(ocsp.load_der_ocsp_request(with_nonce).extensions)
    assert sent_nonce
    echoed = _ocsp_status(ca.ocsp_get(with_nonce).content)
    assert _nonce(echoed.extensions) == sent_nonce
    assert echoed.certificate_status == ocsp.OCSPCertStatus.REVOKED
    # The GET path may also come unescaped ("/" and "+" as they are), as many clients send it.
    raw = base64.b64encode(with_nonce).decode()
    unescaped = httpx.get(f"{ca.ocsp_url}/{raw}", timeout=10)
    assert _nonce(_ocsp_status(unescaped.content).extensions) == sent_nonce

    # The CRL lists the serial with its reason, under a higher CRL number, and verifies.
    crl_after = ca.crl("after.crl")
    entry = crl_after.get_revoked_certificate_by_serial_number(ca.leaf.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise
    assert abs(entry.revocation_date_utc.timestamp() - detail["RevokedAt"].timestamp()) < 1.5
    assert _crl_number(crl_after) > _crl_number(crl_before)
    text = ca.crl_text("after.crl")
    assert ca.serial_hex in text.replace(":", "").upper()
    assert "Key Compromise" in text
    verified = ca.verify_with_crl("after.crl.pem")
    assert verified.returncode != 0
    assert "certificate revoked" in verified.stdout + verified.stderr

    # Revoking again is a conflict and changes nothing, the CRL included.
    state = _state(pki_tenant, arn)
    refused(
        lambda: acm.revoke_certificate(CertificateArn=arn, RevocationReason="SUPERSEDED"),
        "ConflictException",
        contains="already revoked",
    )
    assert _state(pki_tenant, arn) == state
    again = ca.crl("again.crl")
    assert _crl_number(again) == _crl_number(crl_after)
    assert _status_line(ca.ocsp_post()) == "revoked"


def test_reasons_as_published_and_the_aws_cli(
    pki_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    """UNSPECIFIED is published without a reason code (RFC 5280 5.3.1); SUPERCEDED, ACM's
    misspelling, as superseded. The second revocation goes through the aws CLI."""
    acm = pki_tenant.acm
    domain = unique_domain("rr")
    arns = [request(acm, f"{label}.{domain}", **EXPORTABLE) for label in ("a", "b")]
    for arn in arns:
        publish_records(bind_server, describe(acm, arn))
    for arn in arns:
        assert wait_for_status(acm, arn)["Status"] == "ISSUED"
    unspecified = issued_pki(pki_tenant, arns[0], tmp_path / "a")
    superseded = issued_pki(pki_tenant, arns[1], tmp_path / "b")

    acm.revoke_certificate(CertificateArn=arns[0], RevocationReason="UNSPECIFIED")
    answer = pki_tenant.aws_json(
        "acm",
        "revoke-certificate",
        "--certificate-arn", arns[1],
        "--revocation-reason", "SUPERCEDED",
    )  # fmt: skip
    assert answer == {"CertificateArn": arns[1]}
    assert describe(acm, arns[0])["RevocationReason"] == "UNSPECIFIED"
    assert describe(acm, arns[1])["RevocationReason"] == "SUPERCEDED"

    first = unspecified.ocsp_post()
    assert _status_line(first) == "revoked"
    assert "Reason:" not in first
    second = superseded.ocsp_post()
    assert _status_line(second) == "revoked"
    assert "Reason: superseded" in second

    crl = unspecified.crl("both.crl")  # both leaves have one issuing CA
    assert unspecified.crl_url == superseded.crl_url
    entry = crl.get_revoked_certificate_by_serial_number(unspecified.leaf.serial_number)
    assert entry is not None and len(entry.extensions) == 0
    entry = crl.get_revoked_certificate_by_serial_number(superseded.leaf.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.superseded


def test_ocsp_unknown_serial_other_ca_and_bad_requests(
    pki_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    arn = request_and_issue(pki_tenant.acm, bind_server, unique_domain("oc"))
    ca = issued_pki(pki_tenant, arn, tmp_path)

    # A serial the CA never issued: "unknown" (RFC 6960 2.2), signed and verifiable.
    done = ca.openssl(
        "ocsp",
        "-issuer", "issuer.pem",
        "-serial", "0x0123456789ABCDEF",
        "-url", ca.ocsp_url,
        "-CAfile", "root.pem",
    )  # fmt: skip
    assert "Response verify OK" in done.stderr, done.stderr
    assert "0x0123456789ABCDEF: unknown" in done.stdout, done.stdout

    # A CA id the server does not have: 404 for every PKI path.
    bogus = ca.ca_id + "x"
    request_der = ca.ocsp_request("request.der", nonce=True)
    for response in (
        httpx.post(f"{ca.endpoint}/ocsp/{bogus}", content=request_der, timeout=10),
        httpx.get(
            f"{ca.endpoint}/ocsp/{bogus}/{quote(base64.b64encode(request_der).decode(), safe='')}",
            timeout=10,
        ),
        httpx.get(f"{ca.endpoint}/crl/{bogus}.crl", timeout=10),
        httpx.get(f"{ca.endpoint}/ca/{bogus}.cer", timeout=10),
    ):
        assert response.status_code == 404, (response.request.url, response.text)

    # Another real CA of the server (the root) does not answer for the issuing CA's leaves.
    root_id = _ca_issuers_path(ca.issuer).rsplit("/", 1)[1].removesuffix(".cer")
    assert root_id != ca.ca_id
    root_der = httpx.get(f"{ca.endpoint}/ca/{root_id}.cer", timeout=10)
    assert x509.load_der_x509_certificate(root_der.content) == ca.root
    other = httpx.post(f"{ca.endpoint}/ocsp/{root_id}", content=request_der, timeout=10)
    assert other.status_code == 200
    assert ocsp.load_der_ocsp_response(other.content).response_status == (
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    )

    # Requests that are not OCSP requests: malformedRequest, in DER, with HTTP 200 (RFC 6960
    # 2.3 answers errors inside the protocol).
    headers = {"Content-Type": "application/ocsp-request"}
    for body in (b"garbage", b"", b"\x30\x03\x02\x01\x01", b"\x30" * 20_000):
        response = httpx.post(ca.ocsp_url, content=body, headers=headers, timeout=10)
        assert response.status_code == 200, body[:20]
        assert response.headers["content-type"] == OCSP_CONTENT_TYPE
        parsed = ocsp.load_der_ocsp_response(response.content)
        assert parsed.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST, body[:20]
    for path in ("not-base64!!", "%00%01", quote(base64.b64encode(b"garbage").decode(), safe="")):
        response = httpx.get(f"{ca.ocsp_url}/{path}", timeout=10)
        assert response.status_code == 200, path
        parsed = ocsp.load_der_ocsp_response(response.content)
        assert parsed.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST, path

    # A CertID hashed with SHA-256 is answered in kind.
    built = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(ca.leaf, ca.issuer, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    answer = _ocsp_status(
        httpx.post(ca.ocsp_url, content=built, headers=headers, timeout=10).content
    )
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert isinstance(answer.hash_algorithm, hashes.SHA256)


def test_refusals_leave_the_certificate_unchanged(
    pki_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    acm = pki_tenant.acm
    domain = unique_domain("rf")
    exportable = request(acm, f"e.{domain}", **EXPORTABLE)
    not_exportable = request(acm, f"n.{domain}")
    disabled = request(acm, f"d.{domain}", Options={"Export": "DISABLED"})
    for arn in (exportable, not_exportable, disabled):
        publish_records(bind_server, describe(acm, arn))
    pending = request(acm, unique_domain("rf-pending"), **EXPORTABLE)  # no records published
    imported = acm.import_certificate(**pki.issue("imported.example.com").import_args())[
        "CertificateArn"
    ]
    for arn in (exportable, not_exportable, disabled):
        assert wait_for_status(acm, arn)["Status"] == "ISSUED"
    ca = issued_pki(pki_tenant, exportable, tmp_path)
    crl_number = _crl_number(ca.crl("start.crl"))

    def revoke(arn: str, reason: str = "KEY_COMPROMISE") -> Callable[[], Any]:
        return lambda: acm.revoke_certificate(CertificateArn=arn, RevocationReason=reason)

    refusals: list[tuple[str, Callable[[], Any], str, str]] = [
        (not_exportable, revoke(not_exportable), "ValidationException", "exportable"),
        (disabled, revoke(disabled), "ValidationException", "exportable"),
        (pending, revoke(pending), "ValidationException", "issued"),
        (imported, revoke(imported), "ValidationException", "issued"),
        # The Baseline Requirements forbid certificateHold; a revocation is permanent.
        (exportable, revoke(exportable, "CERTIFICATE_HOLD"), "ValidationException", "HOLD"),
        (exportable, revoke(exportable, "REMOVE_FROM_CRL"), "ValidationException", "REMOVE"),
    ]
    for arn, call, code, contains in refusals:
        state = _state(pki_tenant, arn)
        refused(call, code, contains=contains)
        assert _state(pki_tenant, arn) == state, (arn, code)
        assert state["detail"]["Status"] != "REVOKED"

    # A reason outside the model's enum (the server's own check, boto3's validation off).
    loose = _loose_client(pki_tenant)
    state = _state(pki_tenant, exportable)
    message = refused(revoke_with(loose, exportable, "FOR_FUN"), "ValidationException")
    assert "Member must satisfy enum value set" in message
    assert _state(pki_tenant, exportable) == state

    # An ARN of no certificate, and one that is no ARN.
    missing = exportable.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    refused(revoke(missing), "ResourceNotFoundException", contains=missing)
    refused(revoke(f"arn:aws:acm:us-east-1:{pki_tenant.account_id}:thing/x"), "InvalidArnException")

    # Nothing reached the CA: the exportable certificate is still good and unlisted.
    assert _status_line(ca.ocsp_post()) == "good"
    crl = ca.crl("end.crl")
    assert crl.get_revoked_certificate_by_serial_number(ca.leaf.serial_number) is None
    assert _crl_number(crl) == crl_number
    listed = acm.list_certificates(CertificateStatuses=["REVOKED"])["CertificateSummaryList"]
    assert listed == []


def _loose_client(tenant: Tenant) -> Any:
    """A boto3 client that sends what it is given (no client-side validation)."""
    return boto3.session.Session().client(
        "acm",
        endpoint_url=tenant.server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=tenant.key[0],
        aws_secret_access_key=tenant.key[1],
        config=NO_RETRIES.merge(Config(parameter_validation=False)),
    )


def revoke_with(client: Any, arn: str, reason: str) -> Callable[[], Any]:
    return lambda: client.revoke_certificate(CertificateArn=arn, RevocationReason=reason)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def workers_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    bind_server: BindServer,
) -> Iterator[OpenAcmServer]:
    """A server with four worker processes: one process answers one call at a time, so only
    several processes can revoke at the same moment."""
    from tests.conftest import finish_server, pki_env, start_server

    server = start_server(
        tmp_path_factory.mktemp("openacm-workers"),
        request.param,
        env=pki_env(bind_server, OPENACM_WORKERS="4"),
    )
    yield server
    finish_server(server)


@pytest.fixture
def workers_tenant(workers_server: OpenAcmServer) -> Tenant:
    account_id, key = workers_server.new_account()
    return Tenant(workers_server, account_id, key, workers_server.client(key=key))


def test_every_worker_process_answers_revoked_at_once(
    workers_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    """Each worker process keeps its own cache of signed OCSP answers; the revocation,
    handled by one of them, must not leave another serving "good"."""
    tenant = workers_tenant
    # An EC leaf: its CA's ECDSA signatures differ every time, so two distinct cached
    # answers come from two processes.
    arn = request_and_issue(
        tenant.acm, bind_server, unique_domain("rw"), KeyAlgorithm="EC_prime256v1", **EXPORTABLE
    )
    ca = issued_pki(tenant, arn, tmp_path)
    get_request = ca.ocsp_request("request.der", nonce=False)
    url = f"{ca.ocsp_url}/{quote(base64.b64encode(get_request).decode(), safe='')}"
    cached = set()
    for _ in range(200):
        response = httpx.get(url, headers={"Connection": "close"}, timeout=10)
        assert _ocsp_status(response.content).certificate_status == ocsp.OCSPCertStatus.GOOD
        cached.add(response.content)
        if len(cached) >= 2:
            break
    assert len(cached) >= 2, "the answers did not come from two processes"

    tenant.acm.revoke_certificate(CertificateArn=arn, RevocationReason="KEY_COMPROMISE")
    statuses = set()
    for _ in range(40):
        response = httpx.get(url, headers={"Connection": "close"}, timeout=10)
        statuses.add(_ocsp_status(response.content).certificate_status)
    assert statuses == {ocsp.OCSPCertStatus.REVOKED}


def _issue_exportable(tenant: Tenant, dns: BindServer, count: int) -> list[str]:
    domain = unique_domain("rc")
    arns = [request(tenant.acm, f"c{i}.{domain}", **EXPORTABLE) for i in range(count)]
    for arn in arns:
        publish_records(dns, describe(tenant.acm, arn))
    for arn in arns:
        assert wait_for_status(tenant.acm, arn)["Status"] == "ISSUED"
    return arns


def test_concurrent_revocations_of_one_certificate(
    workers_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    """Six callers at once: one revocation succeeds, the others are conflicts, and the reason
    and time described are the ones published."""
    (target,) = _issue_exportable(workers_tenant, bind_server, 1)
    clients = [workers_tenant.client() for _ in range(6)]
    reasons = ["KEY_COMPROMISE", "SUPERSEDED", "AFFILIATION_CHANGED", "PRIVILEGE_WITHDRAWN"]
    barrier = threading.Barrier(len(clients))

    def revoke(index: int) -> str:
        barrier.wait()
        reason = reasons[index % len(reasons)]
        try:
            clients[index].revoke_certificate(CertificateArn=target, RevocationReason=reason)
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return reason

    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(revoke, range(len(clients))))
    winners = [r for r in results if r in reasons]
    assert len(winners) == 1, results
    assert sorted(r for r in results if r not in reasons) == ["ConflictException"] * 5
    detail = describe(workers_tenant.acm, target)
    assert detail["RevocationReason"] == winners[0]
    ca = issued_pki(workers_tenant, target, tmp_path)
    entry = ca.crl("one.crl").get_revoked_certificate_by_serial_number(ca.leaf.serial_number)
    assert entry is not None
    published = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert published.name.replace("_", "").upper() == winners[0].replace("_", "")
    assert abs(entry.revocation_date_utc.timestamp() - detail["RevokedAt"].timestamp()) < 1.5


def test_concurrent_revocations_all_reach_the_newest_crl(
    workers_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    """Certificates of one issuing CA revoked at once, each by its own caller, in rounds of
    six: after each round the CRL with the highest number lists every one of them."""
    rounds, per_round = 5, 6
    arns = _issue_exportable(workers_tenant, bind_server, rounds * per_round)
    clients = [workers_tenant.client() for _ in range(per_round)]
    ca = issued_pki(workers_tenant, arns[0], tmp_path)
    revoked: set[int] = set()
    for number in range(rounds):
        batch = arns[number * per_round : (number + 1) * per_round]
        barrier = threading.Barrier(per_round)

        def revoke(
            index: int, batch: list[str] = batch, barrier: threading.Barrier = barrier
        ) -> None:
            barrier.wait()
            clients[index].revoke_certificate(
                CertificateArn=batch[index], RevocationReason="UNSPECIFIED"
            )

        with ThreadPoolExecutor(per_round) as pool:
            list(pool.map(revoke, range(per_round)))
        revoked |= {
            int(describe(workers_tenant.acm, arn)["Serial"].replace(":", ""), 16) for arn in batch
        }
        listed = {entry.serial_number for entry in ca.crl(f"round-{number}.crl")}
        assert revoked <= listed, (
            f"round {number}: missing from the newest CRL: {sorted(revoked - listed)}"
        )
