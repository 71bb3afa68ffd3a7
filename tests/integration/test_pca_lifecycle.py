"""AWS Private CA: a CA's life through boto3 and the aws CLI, on SQLite and PostgreSQL.

A ROOT CA's certificate comes, in AWS, from IssueCertificate with RootCACertificate/V1
(test_pca_issue.py does it that way); here, to test the import's checks with certificates the
API would never make, it is built in-process with the CA's own key, read back through the
store API the issuance side uses (`PrivateCaStore.get` + `open_signer`).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID
from sqlalchemy import select, update

from openacm.adapters.store.pca import PrivateCaStore, open_signer
from openacm.adapters.store.schema import audit_events, private_cas
from tests.conftest import Tenant
from tests.support.server import OpenAcmServer

SUBJECT = {"CommonName": "Example Root", "Organization": "Example", "Country": "US"}


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    error: dict[str, Any] = raised.value.response["Error"]
    error["Status"] = raised.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return error


def create_ca(
    client: Any,
    ca_type: str = "ROOT",
    key: str = "EC_prime256v1",
    signing: str = "SHA256WITHECDSA",
    subject: dict[str, Any] | None = None,
    csr_extensions: dict[str, Any] | None = None,
    **extra: Any,
) -> str:
    configuration: dict[str, Any] = {
        "KeyAlgorithm": key,
        "SigningAlgorithm": signing,
        "Subject": subject or SUBJECT,
    }
    if csr_extensions:
        configuration["CsrExtensions"] = csr_extensions
    response = client.create_certificate_authority(
        CertificateAuthorityConfiguration=configuration, CertificateAuthorityType=ca_type, **extra
    )
    arn: str = response["CertificateAuthorityArn"]
    return arn


def status_of(client: Any, arn: str) -> str:
    status: str = client.describe_certificate_authority(CertificateAuthorityArn=arn)[
        "CertificateAuthority"
    ]["Status"]
    return status


def csr_of(client: Any, arn: str) -> x509.CertificateSigningRequest:
    pem = client.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    return x509.load_pem_x509_csr(pem.encode())


def ca_builder(
    csr: x509.CertificateSigningRequest, issuer: x509.Name, *, path_length: int | None = None
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
    )


def self_signed_root(server: OpenAcmServer, client: Any, arn: str) -> x509.Certificate:
    """The root certificate IssueCertificate would make, signed by the CA's own key."""
    csr = csr_of(client, arn)
    runtime = server._runtime()
    with runtime.db.read() as conn:
        record = PrivateCaStore(conn).get(arn)
    assert record is not None
    return open_signer(record, runtime.cipher).sign_certificate(ca_builder(csr, csr.subject))


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


class OfflineRoot:
    """A test root made with cryptography, signing subordinate CAs' certificates."""

    def __init__(self, path_length: int | None = None) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root")])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def sign(self, csr: x509.CertificateSigningRequest, **kwargs: Any) -> x509.Certificate:
        builder = ca_builder(csr, self.certificate.subject, **kwargs)
        return builder.sign(self.key, hashes.SHA256())


def activate_root(server: OpenAcmServer, client: Any, arn: str) -> x509.Certificate:
    certificate = self_signed_root(server, client, arn)
    client.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn, Certificate=pem(certificate)
    )
    return certificate


# == create → CSR → import → ACTIVE, for several algorithm pairs ===============================

ALGORITHMS = [
    ("RSA_2048", "SHA256WITHRSA", SignatureAlgorithmOID.RSA_WITH_SHA256),
    ("RSA_2048", "SHA384WITHRSA_PSS", SignatureAlgorithmOID.RSASSA_PSS),
    ("EC_prime256v1", "SHA256WITHECDSA", SignatureAlgorithmOID.ECDSA_WITH_SHA256),
    ("EC_secp384r1", "SHA384WITHECDSA", SignatureAlgorithmOID.ECDSA_WITH_SHA384),
    ("EC_secp521r1", "SHA512WITHECDSA", SignatureAlgorithmOID.ECDSA_WITH_SHA512),
    ("ML_DSA_44", "ML_DSA_44", SignatureAlgorithmOID.ML_DSA_44),
    ("ML_DSA_65", "ML_DSA_65", SignatureAlgorithmOID.ML_DSA_65),
]


@pytest.mark.parametrize(("key", "signing", "oid"), ALGORITHMS, ids=[a[1] for a in ALGORITHMS])
def test_root_ca_lifecycle_per_algorithm(
    tenant: Tenant, key: str, signing: str, oid: x509.ObjectIdentifier
) -> None:
    client = tenant.client("acm-pca")
    before = time.time()
    arn = create_ca(client, key=key, signing=signing)
    assert arn.startswith(f"arn:aws:acm-pca:us-east-1:{tenant.account_id}:certificate-authority/")
    described = client.describe_certificate_authority(CertificateAuthorityArn=arn)[
        "CertificateAuthority"
    ]
    assert described["Status"] == "PENDING_CERTIFICATE"
    assert described["Type"] == "ROOT"
    assert described["OwnerAccount"] == tenant.account_id
    assert described["KeyStorageSecurityStandard"] == "FIPS_140_2_LEVEL_3_OR_HIGHER"
    assert described["UsageMode"] == "GENERAL_PURPOSE"
    assert described["CertificateAuthorityConfiguration"]["SigningAlgorithm"] == signing
    assert described["CreatedAt"].timestamp() >= before - 1
    assert "Serial" not in described and "NotAfter" not in described
    assert "RevocationConfiguration" not in described  # none was given

    csr = csr_of(client, arn)
    assert csr.is_signature_valid
    assert csr.signature_algorithm_oid == oid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Example Root"
    basic = csr.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.value.ca and basic.critical
    usage = csr.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    # The CSR is made once, at creation: asking again gives the same request.
    assert csr_of(client, arn) == csr

    certificate = activate_root(tenant.server, client, arn)
    assert certificate.signature_algorithm_oid == oid
    described = client.describe_certificate_authority(CertificateAuthorityArn=arn)[
        "CertificateAuthority"
    ]
    assert described["Status"] == "ACTIVE"
    assert described["NotAfter"].timestamp() == pytest.approx(
        certificate.not_valid_after_utc.timestamp()
    )
    assert described["Serial"].replace(":", "") == f"{certificate.serial_number:x}".zfill(
        len(described["Serial"].replace(":", ""))
    )
    got = client.get_certificate_authority_certificate(CertificateAuthorityArn=arn)
    assert got["Certificate"].encode() == pem(certificate)
    assert "CertificateChain" not in got


def test_the_ca_key_is_sealed_to_its_arn(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client)
    runtime = tenant.server._runtime()
    with runtime.db.read() as conn:
        record = PrivateCaStore(conn).get(arn)
    assert record is not None
    assert b"PRIVATE KEY" not in record.key_sealed
    with pytest.raises(Exception, match="does not open"):
        runtime.cipher.open(record.key_sealed, arn + "x")


# == subordinate CAs ===========================================================================


def test_subordinate_ca_chain_verifies_with_openssl(tenant: Tenant, tmp_path: Path) -> None:
    client = tenant.client("acm-pca")
    root = OfflineRoot()
    arn = create_ca(client, "SUBORDINATE", "RSA_2048", "SHA256WITHRSA")
    certificate = root.sign(csr_of(client, arn), path_length=0)
    client.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn,
        Certificate=pem(certificate),
        CertificateChain=pem(root.certificate),
    )
    assert status_of(client, arn) == "ACTIVE"
    got = client.get_certificate_authority_certificate(CertificateAuthorityArn=arn)
    assert got["CertificateChain"].encode() == pem(root.certificate)
    (tmp_path / "root.pem").write_text(got["CertificateChain"])
    (tmp_path / "ca.pem").write_text(got["Certificate"])
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "ca.pem")],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
    assert "OK" in verified.stdout


def test_subordinate_import_refusals(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    root = OfflineRoot()
    arn = create_ca(client, "SUBORDINATE")
    csr = csr_of(client, arn)
    good = root.sign(csr)

    def importing(certificate: bytes, chain: bytes | None = None) -> dict[str, Any]:
        extra = {"CertificateChain": chain} if chain is not None else {}
        return error_of(
            lambda: client.import_certificate_authority_certificate(
                CertificateAuthorityArn=arn, Certificate=certificate, **extra
            )
        )

    assert importing(b"not a certificate", pem(root.certificate))["Code"] == (
        "MalformedCertificateException"
    )
    other = OfflineRoot()  # a certificate of another key
    error = importing(pem(other.certificate), pem(root.certificate))
    assert error["Code"] == "CertificateMismatchException"
    assert error["Status"] == 400
    error = importing(pem(good))
    assert error["Code"] == "InvalidRequestException"
    assert "chain" in error["Message"]
    error = importing(pem(good), pem(other.certificate))  # chain did not sign it
    assert error["Code"] == "InvalidRequestException"
    # An intermediate under a root with pathLen 0 may not sign another CA.
    limited = OfflineRoot(path_length=0)
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    intermediate_csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Intermediate")]))
        .sign(intermediate_key, hashes.SHA256())
    )
    intermediate = limited.sign(intermediate_csr)
    leaf_ca = ca_builder(csr, intermediate.subject).sign(intermediate_key, hashes.SHA256())
    error = importing(pem(leaf_ca), pem(intermediate) + pem(limited.certificate))
    assert error["Code"] == "InvalidRequestException"
    assert "path length" in error["Message"]
    # A chain that does not end at a self-signed root.
    error = importing(pem(leaf_ca), pem(intermediate))
    assert error["Code"] == "InvalidRequestException"
    # Not a CA certificate.
    not_ca = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(root.certificate.subject)
        .public_key(csr.public_key())
        .serial_number(7)
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .sign(root.key, hashes.SHA256())
    )
    assert importing(pem(not_ca), pem(root.certificate))["Code"] == "InvalidRequestException"
    # Nothing was half-written: still waiting for its certificate.
    assert status_of(client, arn) == "PENDING_CERTIFICATE"
    client.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn, Certificate=pem(good), CertificateChain=pem(root.certificate)
    )
    assert status_of(client, arn) == "ACTIVE"
    # Renewal: a new certificate for the same key, imported into the ACTIVE CA.
    renewed = root.sign(csr)
    client.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn,
        Certificate=pem(renewed),
        CertificateChain=pem(root.certificate),
    )
    got = client.get_certificate_authority_certificate(CertificateAuthorityArn=arn)
    assert got["Certificate"].encode() == pem(renewed)


def test_root_import_refusals(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client)
    root = OfflineRoot()
    signed_by_other = root.sign(csr_of(client, arn))
    error = error_of(
        lambda: client.import_certificate_authority_certificate(
            CertificateAuthorityArn=arn, Certificate=pem(signed_by_other)
        )
    )
    assert error["Code"] == "InvalidRequestException"
    assert "self-signed" in error["Message"]
    own = self_signed_root(tenant.server, client, arn)
    error = error_of(
        lambda: client.import_certificate_authority_certificate(
            CertificateAuthorityArn=arn,
            Certificate=pem(own),
            CertificateChain=pem(root.certificate),
        )
    )
    assert error["Code"] == "InvalidRequestException"


# == states ====================================================================================


def test_disable_delete_restore(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client)
    activate_root(tenant.server, client, arn)

    error = error_of(lambda: client.delete_certificate_authority(CertificateAuthorityArn=arn))
    assert error["Code"] == "InvalidStateException"
    assert error["Message"] == "The certificate authority is not in a valid state for deletion."
    error = error_of(
        lambda: client.update_certificate_authority(CertificateAuthorityArn=arn, Status="EXPIRED")
    )
    assert (error["Code"], error["Status"]) == ("InvalidArgsException", 400)
    client.update_certificate_authority(
        CertificateAuthorityArn=arn,
        RevocationConfiguration={"OcspConfiguration": {"Enabled": True}},
    )
    described = client.describe_certificate_authority(CertificateAuthorityArn=arn)[
        "CertificateAuthority"
    ]
    assert described["RevocationConfiguration"] == {"OcspConfiguration": {"Enabled": True}}
    assert described["Status"] == "ACTIVE"
    client.update_certificate_authority(CertificateAuthorityArn=arn, Status="DISABLED")
    assert status_of(client, arn) == "DISABLED"
    # A disabled CA's certificate cannot be replaced (AWS's status table).
    error = error_of(lambda: activate_root(tenant.server, client, arn))
    assert error["Code"] == "InvalidStateException"
    before = time.time()
    client.delete_certificate_authority(CertificateAuthorityArn=arn, PermanentDeletionTimeInDays=7)
    described = client.describe_certificate_authority(CertificateAuthorityArn=arn)[
        "CertificateAuthority"
    ]
    assert described["Status"] == "DELETED"
    assert described["RestorableUntil"].timestamp() == pytest.approx(before + 7 * 86400, abs=60)
    listed = client.list_certificate_authorities()["CertificateAuthorities"]
    assert [ca["Status"] for ca in listed] == ["DELETED"]

    for call in (
        lambda: client.get_certificate_authority_csr(CertificateAuthorityArn=arn),
        lambda: client.get_certificate_authority_certificate(CertificateAuthorityArn=arn),
        lambda: client.update_certificate_authority(CertificateAuthorityArn=arn, Status="ACTIVE"),
        lambda: client.delete_certificate_authority(CertificateAuthorityArn=arn),
        lambda: client.tag_certificate_authority(
            CertificateAuthorityArn=arn, Tags=[{"Key": "k", "Value": "v"}]
        ),
        lambda: client.list_tags(CertificateAuthorityArn=arn),
        lambda: client.untag_certificate_authority(
            CertificateAuthorityArn=arn, Tags=[{"Key": "k"}]
        ),
        lambda: client.list_permissions(CertificateAuthorityArn=arn),
        lambda: client.create_permission(
            CertificateAuthorityArn=arn, Principal="acm.amazonaws.com", Actions=["GetCertificate"]
        ),
        lambda: client.delete_permission(
            CertificateAuthorityArn=arn, Principal="acm.amazonaws.com"
        ),
        lambda: client.get_policy(ResourceArn=arn),
        lambda: client.put_policy(ResourceArn=arn, Policy='{"Statement": []}'),
        lambda: client.delete_policy(ResourceArn=arn),
        lambda: client.import_certificate_authority_certificate(
            CertificateAuthorityArn=arn, Certificate=b"x"
        ),
    ):
        assert error_of(call)["Code"] == "InvalidStateException"

    client.restore_certificate_authority(CertificateAuthorityArn=arn)
    described = client.describe_certificate_authority(CertificateAuthorityArn=arn)[
        "CertificateAuthority"
    ]
    assert described["Status"] == "DISABLED"  # the status it had before deletion
    assert "RestorableUntil" not in described
    error = error_of(lambda: client.restore_certificate_authority(CertificateAuthorityArn=arn))
    assert error["Code"] == "InvalidStateException"
    client.update_certificate_authority(CertificateAuthorityArn=arn, Status="ACTIVE")
    assert status_of(client, arn) == "ACTIVE"


def test_pending_ca_states_and_restore_window(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client)
    error = error_of(
        lambda: client.get_certificate_authority_certificate(CertificateAuthorityArn=arn)
    )
    assert error["Code"] == "InvalidStateException"
    error = error_of(
        lambda: client.update_certificate_authority(CertificateAuthorityArn=arn, Status="ACTIVE")
    )
    assert error["Code"] == "InvalidStateException"
    # A pending CA is deletable at once, with the default 30-day window.
    before = time.time()
    client.delete_certificate_authority(CertificateAuthorityArn=arn)
    described = client.describe_certificate_authority(CertificateAuthorityArn=arn)[
        "CertificateAuthority"
    ]
    assert described["RestorableUntil"].timestamp() == pytest.approx(before + 30 * 86400, abs=60)
    client.restore_certificate_authority(CertificateAuthorityArn=arn)
    assert status_of(client, arn) == "PENDING_CERTIFICATE"

    # Past its window the CA is gone for every call.
    client.delete_certificate_authority(CertificateAuthorityArn=arn)
    with tenant.server._runtime().db.write() as conn:
        conn.execute(
            update(private_cas)
            .where(private_cas.c.arn == arn)
            .values(restorable_until=time.time() - 1)
        )
    for call in (
        lambda: client.restore_certificate_authority(CertificateAuthorityArn=arn),
        lambda: client.describe_certificate_authority(CertificateAuthorityArn=arn),
    ):
        assert error_of(call)["Code"] == "ResourceNotFoundException"
    assert client.list_certificate_authorities()["CertificateAuthorities"] == []
    # Its row (and its tags) are reclaimed by the account's next creation.
    create_ca(client)
    rows = tenant.server.query(select(private_cas.c.arn).where(private_cas.c.arn == arn))
    assert rows == []


def test_expired_ca(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client)
    activate_root(tenant.server, client, arn)
    with tenant.server._runtime().db.write() as conn:
        conn.execute(
            update(private_cas).where(private_cas.c.arn == arn).values(not_after=time.time() - 1)
        )
    assert status_of(client, arn) == "EXPIRED"
    error = error_of(
        lambda: client.update_certificate_authority(CertificateAuthorityArn=arn, Status="DISABLED")
    )
    assert error["Code"] == "InvalidStateException"
    # A new certificate for the same key brings it back.
    activate_root(tenant.server, client, arn)
    assert status_of(client, arn) == "ACTIVE"


def test_ca_disabled_before_expiry_stays_disabled_after_renewal(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client)
    activate_root(tenant.server, client, arn)
    client.update_certificate_authority(CertificateAuthorityArn=arn, Status="DISABLED")
    with tenant.server._runtime().db.write() as conn:
        conn.execute(
            update(private_cas).where(private_cas.c.arn == arn).values(not_after=time.time() - 1)
        )
    assert status_of(client, arn) == "EXPIRED"
    activate_root(tenant.server, client, arn)
    assert status_of(client, arn) == "DISABLED"


def test_unknown_and_malformed_arns(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    missing = f"arn:aws:acm-pca:us-east-1:{tenant.account_id}:certificate-authority/" + "0" * 36
    error = error_of(lambda: client.describe_certificate_authority(CertificateAuthorityArn=missing))
    assert (error["Code"], error["Status"]) == ("ResourceNotFoundException", 400)
    bad = f"arn:aws:acm-pca:us-east-1:{tenant.account_id}:certificate/abc"
    error = error_of(lambda: client.describe_certificate_authority(CertificateAuthorityArn=bad))
    assert error["Code"] == "InvalidArnException"


# == validation on create ======================================================================


@pytest.mark.parametrize(
    ("configuration", "extra", "message"),
    [
        (
            {"KeyAlgorithm": "RSA_2048", "SigningAlgorithm": "SHA384WITHECDSA"},
            {},
            "Signing algorithm SHA384WITHECDSA cannot be used with key type RSA_2048. Valid "
            "signing algorithms are: SHA256WITHRSA, SHA384WITHRSA, SHA512WITHRSA, "
            "SHA256WITHRSA_PSS, SHA384WITHRSA_PSS, SHA512WITHRSA_PSS.",
        ),
        (
            {"KeyAlgorithm": "ML_DSA_44", "SigningAlgorithm": "ML_DSA_65"},
            {},
            "Signing algorithm ML_DSA_65 cannot be used with key type ML_DSA_44. Valid signing "
            "algorithms are: ML_DSA_44.",
        ),
        (
            {"KeyAlgorithm": "SM2", "SigningAlgorithm": "SM3WITHSM2"},
            {},
            "SM2 is not supported in the us-east-1 region.",
        ),
        (
            {
                "Subject": {
                    "CommonName": "x",
                    "CustomAttributes": [{"ObjectIdentifier": "2.5.4.3", "Value": "y"}],
                }
            },
            {},
            "Custom attributes cannot be used in combination with standard attributes.",
        ),
        (
            {"Subject": {}},
            {},
            "The certificate authority subject must contain at least one attribute.",
        ),
        (
            {},
            {
                "RevocationConfiguration": {
                    "CrlConfiguration": {"Enabled": False, "ExpirationInDays": 5}
                }
            },
            "CrlConfiguration must not include ExpirationInDays when Enabled is false.",
        ),
        (
            {},
            {
                "RevocationConfiguration": {
                    "CrlConfiguration": {"Enabled": True, "CustomCname": "https://crl.example.com"}
                }
            },
            'CustomCname must not be prefixed with "http://" or "https://".',
        ),
        (
            {},
            {
                "RevocationConfiguration": {
                    "OcspConfiguration": {"Enabled": False, "OcspCustomCname": "ocsp.example.com"}
                }
            },
            "OcspConfiguration must not include OcspCustomCname when Enabled is false.",
        ),
    ],
)
def test_create_refusals(
    tenant: Tenant, configuration: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    client = tenant.client("acm-pca")
    full = {
        "KeyAlgorithm": "EC_prime256v1",
        "SigningAlgorithm": "SHA256WITHECDSA",
        "Subject": SUBJECT,
    }
    full.update(configuration)
    error = error_of(
        lambda: client.create_certificate_authority(
            CertificateAuthorityConfiguration=full, CertificateAuthorityType="ROOT", **extra
        )
    )
    assert (error["Code"], error["Status"], error["Message"]) == (
        "InvalidArgsException",
        400,
        message,
    )
    assert client.list_certificate_authorities()["CertificateAuthorities"] == []


def test_create_with_every_option(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    revocation = {
        "CrlConfiguration": {
            "Enabled": True,
            "ExpirationInDays": 10,
            "CustomCname": "crl.example.com",
            "S3BucketName": "my-crl-bucket",
            "CrlDistributionPointExtensionConfiguration": {"OmitExtension": False},
            "CrlType": "PARTITIONED",
        },
        "OcspConfiguration": {"Enabled": True, "OcspCustomCname": "ocsp.example.com"},
    }
    extensions = {
        "KeyUsage": {"KeyCertSign": True, "CRLSign": True},
        "SubjectInformationAccess": [
            {
                "AccessMethod": {"AccessMethodType": "CA_REPOSITORY"},
                "AccessLocation": {"UniformResourceIdentifier": "http://repo.example.com"},
            }
        ],
    }
    arn = create_ca(
        client,
        "SUBORDINATE",
        subject={"CustomAttributes": [{"ObjectIdentifier": "2.5.4.3", "Value": "Custom CN"}]},
        csr_extensions=extensions,
        RevocationConfiguration=revocation,
        KeyStorageSecurityStandard="FIPS_140_2_LEVEL_2_OR_HIGHER",
        UsageMode="SHORT_LIVED_CERTIFICATE",
        Tags=[{"Key": "team", "Value": "pki"}],
    )
    described = client.describe_certificate_authority(CertificateAuthorityArn=arn)[
        "CertificateAuthority"
    ]
    assert described["KeyStorageSecurityStandard"] == "FIPS_140_2_LEVEL_2_OR_HIGHER"
    assert described["UsageMode"] == "SHORT_LIVED_CERTIFICATE"
    crl = described["RevocationConfiguration"]["CrlConfiguration"]
    assert crl["S3BucketName"] == "my-crl-bucket" and crl["S3ObjectAcl"] == "PUBLIC_READ"
    assert crl["CrlType"] == "PARTITIONED" and crl["ExpirationInDays"] == 10
    csr = csr_of(client, arn)
    assert csr.subject.rfc4514_string() == "CN=Custom CN"
    usage = csr.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and not usage.digital_signature
    sia = csr.extensions.get_extension_for_class(x509.SubjectInformationAccess).value
    assert sia[0].access_location.value == "http://repo.example.com"
    assert client.list_tags(CertificateAuthorityArn=arn)["Tags"] == [
        {"Key": "team", "Value": "pki"}
    ]

    # Only an ACTIVE or DISABLED CA can be updated.
    error = error_of(
        lambda: client.update_certificate_authority(
            CertificateAuthorityArn=arn,
            RevocationConfiguration={"CrlConfiguration": {"Enabled": False}},
        )
    )
    assert error["Code"] == "InvalidStateException"


def test_reserved_tag_on_create_creates_nothing(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    error = error_of(lambda: create_ca(client, Tags=[{"Key": "aws:owner", "Value": "x"}]))
    assert error["Code"] == "InvalidTagException"
    assert client.list_certificate_authorities()["CertificateAuthorities"] == []


# == listing and idempotency ===================================================================


def test_list_paging(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arns = [create_ca(client) for _ in range(5)]
    seen: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = client.list_certificate_authorities(MaxResults=2, **token)
        assert len(page["CertificateAuthorities"]) <= 2
        seen += [ca["Arn"] for ca in page["CertificateAuthorities"]]
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert seen == arns
    error = error_of(lambda: client.list_certificate_authorities(NextToken="bogus"))
    assert error["Code"] == "InvalidNextTokenException"
    other = tenant.server.client("acm-pca", key=tenant.server.new_account()[1])
    assert other.list_certificate_authorities()["CertificateAuthorities"] == []


def test_idempotency_token(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    first = create_ca(client, IdempotencyToken="token-1")
    assert create_ca(client, IdempotencyToken="token-1") == first
    # The token decides, as AWS documents it: one CA per token in 5 minutes.
    assert (
        create_ca(client, key="RSA_2048", signing="SHA256WITHRSA", IdempotencyToken="token-1")
        == first
    )
    assert create_ca(client, IdempotencyToken="token-2") != first
    assert len(client.list_certificate_authorities()["CertificateAuthorities"]) == 2


def test_idempotency_token_under_concurrent_calls(tenant: Tenant) -> None:
    """The token is checked again under the account's write lock: racing calls make one CA."""
    from concurrent.futures import ThreadPoolExecutor

    clients = [tenant.client("acm-pca") for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        arns = set(pool.map(lambda c: create_ca(c, IdempotencyToken="raced"), clients))
    assert len(arns) == 1
    listed = clients[0].list_certificate_authorities()["CertificateAuthorities"]
    assert [ca["Arn"] for ca in listed] == list(arns)


# == aws CLI ===================================================================================


def test_aws_cli_create_and_describe(tenant: Tenant, tmp_path: Path) -> None:
    configuration = tmp_path / "config.json"
    configuration.write_text(
        '{"KeyAlgorithm": "RSA_2048", "SigningAlgorithm": "SHA256WITHRSA_PSS",'
        ' "Subject": {"CommonName": "CLI CA"}}'
    )
    created = tenant.aws_json(
        "acm-pca",
        "create-certificate-authority",
        "--certificate-authority-configuration",
        f"file://{configuration}",
        "--certificate-authority-type",
        "ROOT",
    )
    arn = created["CertificateAuthorityArn"]
    described = tenant.aws_json(
        "acm-pca", "describe-certificate-authority", "--certificate-authority-arn", arn
    )
    assert described["CertificateAuthority"]["Status"] == "PENDING_CERTIFICATE"
    tenant.aws_json(
        "acm-pca",
        "create-certificate-authority",
        "--certificate-authority-configuration",
        f"file://{configuration}",
        "--certificate-authority-type",
        "SUBORDINATE",
    )
    # The CLI follows NextToken across pages of one.
    listed = tenant.aws_json("acm-pca", "list-certificate-authorities", "--page-size", "1")
    assert len(listed["CertificateAuthorities"]) == 2
    assert listed["CertificateAuthorities"][0]["Arn"] == arn
    csr = tenant.aws(
        "acm-pca",
        "get-certificate-authority-csr",
        "--certificate-authority-arn",
        arn,
        "--output",
        "text",
    ).stdout
    assert x509.load_pem_x509_csr(csr.strip().encode()).is_signature_valid
    failed = tenant.aws(
        "acm-pca",
        "delete-certificate-authority",
        "--certificate-authority-arn",
        arn,
        "--permanent-deletion-time-in-days",
        "3",
        check=False,
    )
    assert failed.returncode != 0
    assert "PermanentDeletionTimeInDays" in failed.stderr


def test_rsa_key_sizes(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client, key="RSA_3072", signing="SHA512WITHRSA")
    key = csr_of(client, arn).public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 3072


def test_quota_of_certificate_authorities(tmp_path: Path) -> None:
    from tests.conftest import finish_server, start_server

    server = start_server(
        tmp_path, "sqlite", env={"OPENACM_QUOTA_PRIVATE_CERTIFICATE_AUTHORITIES": "2"}
    )
    try:
        client = server.client("acm-pca", key=server.new_account()[1])
        first = create_ca(client)
        create_ca(client)
        error = error_of(lambda: create_ca(client))
        assert error["Code"] == "LimitExceededException"
        assert "(2)" in error["Message"]
        # A deleted CA in its restoration window still counts, as in AWS.
        client.delete_certificate_authority(CertificateAuthorityArn=first)
        assert error_of(lambda: create_ca(client))["Code"] == "LimitExceededException"
        assert len(client.list_certificate_authorities()["CertificateAuthorities"]) == 2
    finally:
        finish_server(server)


def test_creating_and_failed_states(tenant: Tenant) -> None:
    """CREATING lasts as long as key generation; a creation that never finished is FAILED."""
    client = tenant.client("acm-pca")
    creating, lost = create_ca(client), create_ca(client)
    with tenant.server._runtime().db.write() as conn:
        for arn, created_at in ((creating, time.time()), (lost, time.time() - 3600)):
            conn.execute(
                update(private_cas)
                .where(private_cas.c.arn == arn)
                .values(status="CREATING", created_at=created_at)
            )
    assert status_of(client, creating) == "CREATING"
    for call in (
        lambda: client.get_certificate_authority_csr(CertificateAuthorityArn=creating),
        lambda: client.import_certificate_authority_certificate(
            CertificateAuthorityArn=creating, Certificate=b"x"
        ),
    ):
        assert error_of(call)["Code"] == "RequestInProgressException"
    error = error_of(
        lambda: client.get_certificate_authority_certificate(CertificateAuthorityArn=creating)
    )
    assert error["Code"] == "InvalidStateException"

    described = client.describe_certificate_authority(CertificateAuthorityArn=lost)[
        "CertificateAuthority"
    ]
    assert (described["Status"], described["FailureReason"]) == ("FAILED", "REQUEST_TIMED_OUT")
    error = error_of(lambda: client.get_certificate_authority_csr(CertificateAuthorityArn=lost))
    assert error["Code"] == "InvalidStateException"
    # Both may be deleted, as AWS allows for CREATING and FAILED CAs.
    for arn in (creating, lost):
        client.delete_certificate_authority(CertificateAuthorityArn=arn)
        assert status_of(client, arn) == "DELETED"


def test_audit_records_name_the_ca(tenant: Tenant) -> None:
    client = tenant.client("acm-pca")
    arn = create_ca(client)
    client.tag_certificate_authority(CertificateAuthorityArn=arn, Tags=[{"Key": "k"}])
    rows = tenant.server.query(
        select(audit_events.c.event_name, audit_events.c.resource_arn, audit_events.c.record_json)
        .where(audit_events.c.account_id == tenant.account_id)
        .order_by(audit_events.c.event_time)
    )
    by_event = {row.event_name: row for row in rows}
    assert by_event["CreateCertificateAuthority"].resource_arn == arn
    assert by_event["TagCertificateAuthority"].resource_arn == arn
    assert '"eventSource":"acm-pca.amazonaws.com"' in by_event[
        "CreateCertificateAuthority"
    ].record_json.replace(" ", "")
