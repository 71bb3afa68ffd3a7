"""The pure AWS Private CA rules of domain/pca.py and the signatures of adapters/ca/algorithms."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from openacm.adapters.ca.algorithms import (
    ClassicCaSigner,
    PrivateCaSigner,
    UnsupportedAlgorithmError,
    generate_private_key,
    private_ca_signer,
    public_key_der,
)
from openacm.adapters.ca.revocation import RevokedSerial, build_crl
from openacm.domain import pca
from openacm.domain.errors import InvalidArgsError, InvalidStateError, RequestInProgressError

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)

# == states ====================================================================================


@pytest.mark.parametrize(
    ("operation", "allowed"),
    [
        (
            "DeleteCertificateAuthority",
            {"PENDING_CERTIFICATE", "CREATING", "EXPIRED", "DISABLED", "FAILED"},
        ),
        ("RestoreCertificateAuthority", {"DELETED"}),
        ("GetCertificateAuthorityCertificate", {"ACTIVE", "DISABLED", "EXPIRED"}),
        ("ImportCertificateAuthorityCertificate", {"PENDING_CERTIFICATE", "ACTIVE", "EXPIRED"}),
        ("UpdateCertificateAuthority", {"ACTIVE", "DISABLED"}),
        ("GetCertificateAuthorityCsr", {"PENDING_CERTIFICATE", "ACTIVE", "DISABLED", "EXPIRED"}),
        (
            "TagCertificateAuthority",
            {"PENDING_CERTIFICATE", "ACTIVE", "DISABLED", "EXPIRED", "FAILED", "CREATING"},
        ),
    ],
)
def test_each_state_of_each_operation(operation: str, allowed: set[str]) -> None:
    states = {
        "CREATING",
        "PENDING_CERTIFICATE",
        "ACTIVE",
        "DISABLED",
        "EXPIRED",
        "FAILED",
        "DELETED",
    }
    for status in states:
        if status in allowed:
            pca.check_state(operation, status)
        else:
            with pytest.raises((InvalidStateError, RequestInProgressError)):
                pca.check_state(operation, status)


def test_creating_is_in_progress_for_csr_and_import() -> None:
    for operation in ("GetCertificateAuthorityCsr", "ImportCertificateAuthorityCertificate"):
        with pytest.raises(RequestInProgressError):
            pca.check_state(operation, "CREATING")
    with pytest.raises(InvalidStateError, match="not in a valid state for deletion"):
        pca.check_state("DeleteCertificateAuthority", "ACTIVE")


def test_describe_and_list_work_in_every_state() -> None:
    pca.check_state("DescribeCertificateAuthority", "DELETED")
    pca.check_state("ListCertificateAuthorities", "CREATING")


def test_expiry_and_status_changes() -> None:
    assert pca.effective_status("ACTIVE", 100.0, now=100.0) == "EXPIRED"
    assert pca.effective_status("ACTIVE", 101.0, now=100.0) == "ACTIVE"
    assert pca.effective_status("DISABLED", 1.0, now=100.0) == "EXPIRED"
    assert pca.effective_status("DISABLED", None, now=100.0) == "DISABLED"
    assert pca.effective_status("PENDING_CERTIFICATE", 1.0, now=100.0) == "PENDING_CERTIFICATE"
    assert pca.requested_status("DISABLED") == "DISABLED"
    assert pca.requested_status("ACTIVE") == "ACTIVE"
    for status in ("DELETED", "EXPIRED", "PENDING_CERTIFICATE", "CREATING", "FAILED"):
        with pytest.raises(InvalidArgsError):
            pca.requested_status(status)


def test_creation_that_never_finished_is_failed() -> None:
    timeout = pca.CREATION_TIMEOUT_SECONDS
    assert pca.effective_status("CREATING", None, now=timeout, created_at=0.0) == "CREATING"
    assert pca.effective_status("CREATING", None, now=timeout + 1, created_at=0.0) == "FAILED"
    assert pca.failure_reason("CREATING", None, "FAILED") == "REQUEST_TIMED_OUT"
    assert pca.failure_reason("FAILED", "UNSUPPORTED_ALGORITHM", "FAILED") == (
        "UNSUPPORTED_ALGORITHM"
    )
    assert pca.failure_reason("ACTIVE", None, "ACTIVE") is None


def test_deletion_window() -> None:
    assert pca.deletion_window(None, "DISABLED", 0.0) == 30 * 86400
    assert pca.deletion_window(7, "PENDING_CERTIFICATE", 10.0) == 10.0 + 7 * 86400
    with pytest.raises(InvalidStateError):
        pca.deletion_window(7, "ACTIVE", 0.0)
    assert pca.is_gone("DELETED", 5.0, now=5.0)
    assert not pca.is_gone("DELETED", 6.0, now=5.0)
    assert not pca.is_gone("ACTIVE", None, now=5.0)


# == algorithms ================================================================================


def test_every_key_algorithm_of_the_model_has_its_signing_algorithms() -> None:
    import botocore.loaders

    shapes = botocore.loaders.Loader().load_service_model("acm-pca", "service-2")["shapes"]
    assert set(pca.SIGNING_ALGORITHMS_FOR_KEY) == set(shapes["KeyAlgorithm"]["enum"])
    signing = {s for pair in pca.SIGNING_ALGORITHMS_FOR_KEY.values() for s in pair}
    assert signing == set(shapes["SigningAlgorithm"]["enum"])


def test_incompatible_and_china_only_algorithms() -> None:
    pca.check_algorithms("RSA_4096", "SHA512WITHRSA_PSS", "us-east-1")
    with pytest.raises(InvalidArgsError, match="cannot be used with key type EC_secp384r1"):
        pca.check_algorithms("EC_secp384r1", "SHA256WITHRSA", "us-east-1")
    with pytest.raises(InvalidArgsError, match="SM2 is not supported in the eu-west-1 region"):
        pca.check_algorithms("SM2", "SM3WITHSM2", "eu-west-1")
    with pytest.raises(InvalidArgsError, match="SM3WITHSM2"):
        pca.check_algorithms("RSA_2048", "SM3WITHSM2", "us-east-1")
    with pytest.raises(UnsupportedAlgorithmError):
        generate_private_key("SM2")


@pytest.mark.parametrize(
    ("key", "signing", "oid"),
    [
        ("RSA_2048", "SHA256WITHRSA_PSS", SignatureAlgorithmOID.RSASSA_PSS),
        ("RSA_2048", "SHA512WITHRSA", SignatureAlgorithmOID.RSA_WITH_SHA512),
        ("EC_secp521r1", "SHA384WITHECDSA", SignatureAlgorithmOID.ECDSA_WITH_SHA384),
        ("ML_DSA_87", "ML_DSA_87", SignatureAlgorithmOID.ML_DSA_87),
    ],
)
def test_signer_signs_certificates_and_crls(
    key: str, signing: str, oid: x509.ObjectIdentifier
) -> None:
    signer = PrivateCaSigner(generate_private_key(key), signing)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA")])
    certificate = signer.sign_certificate(
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(signer.public_key)
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
    )
    assert certificate.signature_algorithm_oid == oid
    certificate.verify_directly_issued_by(certificate)
    crl = signer.sign_crl(
        x509.CertificateRevocationListBuilder()
        .issuer_name(name)
        .last_update(NOW)
        .next_update(NOW + dt.timedelta(days=1))
    )
    assert crl.signature_algorithm_oid == oid
    assert crl.is_signature_valid(signer.public_key)
    response = signer.sign_ocsp_response(
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=certificate,
            issuer=certificate,
            algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=NOW,
            next_update=NOW + dt.timedelta(hours=1),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, certificate)
    )
    # PSS is the one scheme OCSP responses cannot carry: PKCS#1 v1.5, same digest.
    expected = (
        SignatureAlgorithmOID.RSA_WITH_SHA256 if oid == SignatureAlgorithmOID.RSASSA_PSS else oid
    )
    assert response.signature_algorithm_oid == expected


# == subject, revocation configuration, CSR ====================================================


def test_subject_name() -> None:
    name = pca.subject_name({"Country": "DE", "CommonName": "Root", "Organization": "Org"})
    assert name.rfc4514_string() == "CN=Root,O=Org,C=DE"
    custom = pca.subject_name({"CustomAttributes": [{"ObjectIdentifier": "1.2.3.4", "Value": "v"}]})
    assert custom.get_attributes_for_oid(x509.ObjectIdentifier("1.2.3.4"))[0].value == "v"
    with pytest.raises(InvalidArgsError, match="combination"):
        pca.subject_name(
            {"Title": "t", "CustomAttributes": [{"ObjectIdentifier": "1.2.3", "Value": "v"}]}
        )
    with pytest.raises(InvalidArgsError, match="subject is not valid"):
        pca.subject_name({"CustomAttributes": [{"ObjectIdentifier": "2.5.4.6", "Value": "USA"}]})
    with pytest.raises(InvalidArgsError, match="not a valid object identifier"):
        pca.object_identifier("1.2.99999999999999999999999999999999999999999999")
    with pytest.raises(InvalidArgsError, match="at least one"):
        pca.subject_name({"CommonName": ""})


def test_revocation_configuration_rules() -> None:
    configured = pca.revocation_configuration(
        {"CrlConfiguration": {"Enabled": True, "S3BucketName": "crl-bucket"}}
    )
    assert configured["CrlConfiguration"] == {
        "Enabled": True,
        "S3BucketName": "crl-bucket",
        "ExpirationInDays": 7,
        "CrlType": "COMPLETE",
        "S3ObjectAcl": "PUBLIC_READ",
    }
    assert pca.revocation_configuration(None) == {}
    with pytest.raises(InvalidArgsError, match="S3BucketName"):
        pca.revocation_configuration({"CrlConfiguration": {"Enabled": False, "S3BucketName": "b"}})
    with pytest.raises(InvalidArgsError, match="OmitExtension"):
        pca.revocation_configuration(
            {
                "CrlConfiguration": {
                    "Enabled": True,
                    "CustomCname": "crl.example.com",
                    "CrlDistributionPointExtensionConfiguration": {"OmitExtension": True},
                }
            }
        )
    for bucket in ("UpperCase", "a..b", "192.168.1.1", "-leading", "xn--bucket"):
        with pytest.raises(InvalidArgsError, match="naming rules"):
            pca.revocation_configuration(
                {"CrlConfiguration": {"Enabled": True, "S3BucketName": bucket}}
            )
    pca.revocation_configuration(
        {"CrlConfiguration": {"Enabled": True, "S3BucketName": "my.crl-bucket/path"}}
    )
    with pytest.raises(InvalidArgsError, match="prefixed"):
        pca.revocation_configuration(
            {"OcspConfiguration": {"Enabled": True, "OcspCustomCname": "http://ocsp.example.com"}}
        )


def test_csr_extensions() -> None:
    builder = pca.csr_builder(
        pca.subject_name({"CommonName": "CA"}),
        {
            "KeyUsage": {"KeyCertSign": True},
            "SubjectInformationAccess": [
                {
                    "AccessMethod": {"CustomObjectIdentifier": "1.3.6.1.5.5.7.48.99"},
                    "AccessLocation": {"IpAddress": "192.0.2.1"},
                }
            ],
        },
    )
    csr = builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    usage = csr.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and not usage.crl_sign
    sia = csr.extensions.get_extension_for_class(x509.SubjectInformationAccess).value
    assert str(sia[0].access_location.value) == "192.0.2.1"
    with pytest.raises(InvalidArgsError, match="AccessMethod must contain"):
        pca.csr_builder(
            pca.subject_name({"CommonName": "CA"}),
            {
                "SubjectInformationAccess": [
                    {"AccessMethod": {}, "AccessLocation": {"DnsName": "a.example"}}
                ]
            },
        )
    with pytest.raises(InvalidArgsError, match="does not support OtherName"):
        pca.general_name({"OtherName": {"TypeId": "1.2.3", "Value": "v"}})
    with pytest.raises(InvalidArgsError, match="KeyAgreement"):
        pca.key_usage({"EncipherOnly": True})
    with pytest.raises(InvalidArgsError, match="exactly one"):
        pca.general_name({"DnsName": "a.example", "Rfc822Name": "x@example.com"})
    with pytest.raises(InvalidArgsError, match=r"IpAddress 999\.1\.1\.1 is not valid"):
        pca.general_name({"IpAddress": "999.1.1.1"})
    with pytest.raises(InvalidArgsError, match="not valid"):
        pca.general_name({"DnsName": "bücher.example"})


# == importing a CA certificate ================================================================


def _ca(
    key: ec.EllipticCurvePrivateKey,
    subject: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: str,
    *,
    path_length: int | None = None,
    days: int = 10,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(0x0102)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(*certificates: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return b"".join(c.public_bytes(Encoding.PEM) for c in certificates)


def test_import_of_root_and_subordinate() -> None:
    root_key, sub_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    root = _ca(root_key, "Root", root_key, "Root", path_length=1)
    sub = _ca(sub_key, "Sub", root_key, "Root")
    imported = pca.parse_ca_import(
        pca.ImportRules("ROOT", public_key_der(root_key.public_key())), _pem(root), None, NOW
    )
    assert imported.serial == "01:02"
    assert imported.chain_pem is None
    imported = pca.parse_ca_import(
        pca.ImportRules("SUBORDINATE", public_key_der(sub_key.public_key())),
        _pem(sub),
        _pem(root),
        NOW,
    )
    assert imported.chain_pem == _pem(root).decode()
    with pytest.raises(pca.CertificateMismatchError):
        pca.parse_ca_import(
            pca.ImportRules("SUBORDINATE", public_key_der(root_key.public_key())),
            _pem(sub),
            _pem(root),
            NOW,
        )
    with pytest.raises(pca.InvalidRequestError, match="expired or not yet valid"):
        pca.parse_ca_import(
            pca.ImportRules("ROOT", public_key_der(root_key.public_key())),
            _pem(root),
            None,
            NOW + dt.timedelta(days=30),
        )
    too_long = _pem(*[root] * (pca.ImportRules.MAX_CHAIN + 1))
    with pytest.raises(pca.InvalidRequestError, match="more than 10 certificates"):
        pca.parse_ca_import(
            pca.ImportRules("SUBORDINATE", public_key_der(sub_key.public_key())),
            _pem(sub),
            too_long,
            NOW,
        )
    with pytest.raises(pca.MalformedCertificateError):
        pca.parse_ca_import(
            pca.ImportRules("ROOT", public_key_der(root_key.public_key())),
            _pem(root, root),
            None,
            NOW,
        )


# == policies ==================================================================================


def test_policy_grants() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["111122223333", "arn:aws:iam::444455556666:root"]},
                "Action": "acm-pca:IssueCertificate",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": "999999999999"},
                "Action": ["acm-pca:GetCertificate"],
            },
        ]
    }
    grants = pca.policy_grants(json.dumps(policy), owner_account="999999999999")
    assert grants == {
        "111122223333": {"acm-pca:IssueCertificate"},
        "444455556666": {"acm-pca:IssueCertificate"},
    }
    deny_other = {
        "Statement": [{"Effect": "Deny", "Principal": {"AWS": "111122223333"}, "Action": "*"}]
    }
    assert pca.policy_grants(json.dumps(deny_other), owner_account="999999999999") == {}
    deny_owner = {
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "acm-pca:PutPolicy"}]
    }
    with pytest.raises(pca.LockoutPreventedError):
        pca.policy_grants(json.dumps(deny_owner), owner_account="999999999999")
    with pytest.raises(pca.InvalidPolicyError):
        pca.policy_grants(
            '{"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "x"}]}', "1"
        )
    with pytest.raises(pca.InvalidPolicyError):
        pca.policy_grants(
            '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "x"}]}', "1"
        )


def test_rsa_and_ec_private_cas_sign_crls_with_the_builtin_crl_code() -> None:
    """`private_ca_signer` gives a `CaSigner` for RSA/EC: revocation.build_crl works as is."""
    signer = private_ca_signer(generate_private_key("RSA_2048"), "SHA384WITHRSA_PSS")
    assert isinstance(signer, ClassicCaSigner)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PSS CA")])
    issuer = signer.sign_certificate(
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(signer.public_key)
        .serial_number(5)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer.public_key), critical=False)
    )
    crl = build_crl(
        signer,
        issuer,
        [RevokedSerial(7, NOW, x509.ReasonFlags.key_compromise)],
        crl_number=1,
        this_update=NOW,
        next_update=NOW + dt.timedelta(days=1),
    )
    assert crl.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS
    assert crl.is_signature_valid(signer.public_key)
    assert crl.get_revoked_certificate_by_serial_number(7) is not None
    ml_dsa = private_ca_signer(generate_private_key("ML_DSA_44"), "ML_DSA_44")
    assert not isinstance(ml_dsa, ClassicCaSigner)
