"""ExportCertificate: exportable certificates leave with their key encrypted under the
caller's passphrase, in the form `openssl pkcs8` reads; nothing else leaves."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from openacm.adapters.store.schema import audit_events
from tests.conftest import Tenant
from tests.support import pki
from tests.support.acm_flow import request, request_and_issue, unique_domain
from tests.support.bind import BindServer

PASSPHRASE = b"correct horse battery staple"


def _exportable(tenant: Tenant, dns: BindServer, key_algorithm: str = "EC_prime256v1") -> str:
    return request_and_issue(
        tenant.acm,
        dns,
        unique_domain("exp"),
        KeyAlgorithm=key_algorithm,
        Options={"Export": "ENABLED"},
    )


def _error(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error: dict[str, Any] = caught.value.response["Error"]
    error["Status"] = caught.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return error


def _exported(tenant: Tenant, arn: str) -> bool:
    """`Exported` of the certificate's summary (DescribeCertificate does not carry it)."""
    pages = tenant.acm.get_paginator("list_certificates").paginate(
        Includes={"keyTypes": ["RSA_2048", "EC_prime256v1", "EC_secp384r1"]}
    )
    for page in pages:
        for summary in page["CertificateSummaryList"]:
            if summary["CertificateArn"] == arn:
                return bool(summary["Exported"])
    raise AssertionError(f"{arn} not listed")


def _openssl_pkcs8(
    key_pem: str, passphrase: bytes, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    key_file, pass_file = tmp_path / "key.pem", tmp_path / "pass"
    key_file.write_text(key_pem)
    pass_file.write_bytes(passphrase)
    return subprocess.run(
        ["openssl", "pkcs8", "-in", str(key_file), "-passin", f"file:{pass_file}"],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("key_algorithm", ["EC_prime256v1", "RSA_2048"])
def test_exported_key_decrypts_with_openssl_and_matches(
    pki_tenant: Tenant, bind_server: BindServer, tmp_path: Path, key_algorithm: str
) -> None:
    arn = _exportable(pki_tenant, bind_server, key_algorithm)
    assert _exported(pki_tenant, arn) is False
    exported = pki_tenant.acm.export_certificate(CertificateArn=arn, Passphrase=PASSPHRASE)
    assert exported["PrivateKey"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    got = pki_tenant.acm.get_certificate(CertificateArn=arn)
    assert exported["Certificate"] == got["Certificate"]
    assert exported["CertificateChain"] == got["CertificateChain"]

    parsed = subprocess.run(
        ["openssl", "asn1parse"], input=exported["PrivateKey"], capture_output=True,
        text=True, check=True,
    ).stdout  # fmt: skip
    for algorithm in ("PBES2", "PBKDF2", "aes-256-cbc"):
        assert f":{algorithm}" in parsed

    opened = _openssl_pkcs8(exported["PrivateKey"], PASSPHRASE, tmp_path)
    assert opened.returncode == 0, opened.stderr
    key = serialization.load_pem_private_key(opened.stdout.encode(), password=None)
    certificate = x509.load_pem_x509_certificate(exported["Certificate"].encode())
    assert key.public_key() == certificate.public_key()
    assert _openssl_pkcs8(exported["PrivateKey"], b"wrong passphrase", tmp_path).returncode != 0

    assert _exported(pki_tenant, arn) is True


def test_passphrase_rules(pki_tenant: Tenant, bind_server: BindServer) -> None:
    arn = _exportable(pki_tenant, bind_server)
    for bad in (b"ab#cd", b"ab$cd", b"ab%cd", "pässword".encode()):
        error = _error(pki_tenant.acm.export_certificate, CertificateArn=arn, Passphrase=bad)
        assert (error["Code"], error["Status"]) == ("ValidationException", 400), bad
        assert "ASCII character except #, $, or %" in error["Message"]
    for wrong_size in (b"abc", b"a" * 129):
        error = _error(pki_tenant.acm.export_certificate, CertificateArn=arn, Passphrase=wrong_size)
        assert (error["Code"], error["Status"]) == ("ValidationException", 400)
        assert "passphrase" in error["Message"]
    # Refusals record nothing.
    assert _exported(pki_tenant, arn) is False
    # Any other ASCII, a trailing newline included, is a passphrase like any other.
    exported = pki_tenant.acm.export_certificate(CertificateArn=arn, Passphrase=b"p&ss\n ~!")
    assert exported["PrivateKey"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_only_exportable_issued_certificates_leave(
    pki_tenant: Tenant, bind_server: BindServer
) -> None:
    not_exportable = request_and_issue(pki_tenant.acm, bind_server, unique_domain("noexp"))
    error = _error(
        pki_tenant.acm.export_certificate, CertificateArn=not_exportable, Passphrase=PASSPHRASE
    )
    assert (error["Code"], error["Status"]) == ("ValidationException", 400)
    assert "Export ENABLED" in error["Message"]

    leaf = pki.issue(unique_domain("imp"))
    imported = pki_tenant.acm.import_certificate(**leaf.import_args())["CertificateArn"]
    error = _error(
        pki_tenant.acm.export_certificate, CertificateArn=imported, Passphrase=PASSPHRASE
    )
    assert error["Code"] == "ValidationException"

    pending = request(pki_tenant.acm, unique_domain("pend"), Options={"Export": "ENABLED"})
    error = _error(pki_tenant.acm.export_certificate, CertificateArn=pending, Passphrase=PASSPHRASE)
    assert (error["Code"], error["Status"]) == ("RequestInProgressException", 400)

    revoked = _exportable(pki_tenant, bind_server)
    pki_tenant.acm.revoke_certificate(CertificateArn=revoked, RevocationReason="SUPERSEDED")
    error = _error(pki_tenant.acm.export_certificate, CertificateArn=revoked, Passphrase=PASSPHRASE)
    assert error["Code"] == "ValidationException"
    assert "REVOKED" in error["Message"]

    missing = not_exportable[:-12] + "000000000000"
    error = _error(pki_tenant.acm.export_certificate, CertificateArn=missing, Passphrase=PASSPHRASE)
    assert error["Code"] == "ResourceNotFoundException"
    error = _error(
        pki_tenant.acm.export_certificate,
        CertificateArn=f"arn:aws:acm:us-east-1:{pki_tenant.account_id}:xertificate/x",
        Passphrase=PASSPHRASE,
    )
    assert error["Code"] == "InvalidArnException"


def test_aws_cli_export_and_the_audit_record_keeps_no_secret(
    pki_tenant: Tenant, bind_server: BindServer, tmp_path: Path
) -> None:
    arn = _exportable(pki_tenant, bind_server)
    pass_file = tmp_path / "passphrase"
    pass_file.write_bytes(PASSPHRASE)  # no trailing newline, as the user guide says
    exported = pki_tenant.aws_json(
        "acm", "export-certificate", "--certificate-arn", arn,
        "--passphrase", f"fileb://{pass_file}",
    )  # fmt: skip
    assert _openssl_pkcs8(exported["PrivateKey"], PASSPHRASE, tmp_path).returncode == 0

    records: list[str] = []
    deadline = time.monotonic() + 10
    while not records and time.monotonic() < deadline:
        records = [
            row.record_json
            for row in pki_tenant.server.query(
                select(audit_events.c.record_json).where(
                    audit_events.c.event_name == "ExportCertificate",
                    audit_events.c.resource_arn == arn,
                )
            )
        ]
    assert records
    for record in records:
        assert "PRIVATE KEY" not in record
        assert PASSPHRASE.decode() not in record
