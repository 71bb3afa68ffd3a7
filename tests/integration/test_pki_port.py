"""The links issued certificates carry work as written: with the API on HTTPS, CRLs, OCSP and
CA certificates are served over plain HTTP on `--pki-port`, and the certificate says so."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from tests.conftest import finish_server, pki_env, start_server
from tests.support.acm_flow import request_and_issue, unique_domain
from tests.support.bind import BindServer
from tests.support.server import free_port


def test_links_in_certificates_answer_over_plain_http(
    tmp_path: Path, bind_server: BindServer
) -> None:
    pki_port = free_port()
    env = pki_env(bind_server, OPENACM_ISSUANCE_PUBLIC_URL="")
    server = start_server(
        tmp_path,
        "sqlite",
        env=env,
        extra_args=["--pki-port", str(pki_port)],
    )
    try:
        acm = server.client()
        arn = request_and_issue(acm, bind_server, unique_domain(), KeyAlgorithm="EC_prime256v1")
        issued = acm.get_certificate(CertificateArn=arn)
        leaf = x509.load_pem_x509_certificate(issued["Certificate"].encode())
        crl_point = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crl_url = crl_point[0].full_name[0].value  # type: ignore[index]
        access = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        urls = {d.access_method: d.access_location.value for d in access}
        ocsp_url = urls[AuthorityInformationAccessOID.OCSP]
        issuer_url = urls[AuthorityInformationAccessOID.CA_ISSUERS]
        for url in (crl_url, ocsp_url, issuer_url):
            assert url.startswith(f"http://127.0.0.1:{pki_port}/"), url

        # The CA-issuer link gives the issuing CA (DER), the CRL link a CRL it signed.
        issuer = x509.load_der_x509_certificate(httpx.get(issuer_url, timeout=10).content)
        crl = x509.load_der_x509_crl(httpx.get(crl_url, timeout=10).content)
        assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
        # The API itself is not on the PKI port.
        assert httpx.post(f"http://127.0.0.1:{pki_port}/", timeout=10).status_code == 404

        roots = httpx.get(f"http://127.0.0.1:{pki_port}/ca/roots.pem", timeout=10).content
        (tmp_path / "root.pem").write_bytes(roots)
        (tmp_path / "issuer.pem").write_text(issued["CertificateChain"])
        (tmp_path / "leaf.pem").write_text(issued["Certificate"])
        # openssl follows the link exactly as a relying party would.
        answer = subprocess.run(
            [
                *("openssl", "ocsp", "-issuer", "issuer.pem", "-cert", "leaf.pem"),
                *("-url", ocsp_url, "-CAfile", "root.pem"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "leaf.pem: good" in answer.stdout, answer.stdout + answer.stderr
        assert "Response verify OK" in answer.stderr
    finally:
        finish_server(server)
