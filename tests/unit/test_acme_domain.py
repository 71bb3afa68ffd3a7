"""The pure RFC 8555 rules: identifiers, dns-01 values, the finalize CSR check, problems."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from openacm.domain.acme_endpoints import normalise_authority
from openacm.domain.acme_server import (
    AcmeProblem,
    check_csr,
    dns01_record_name,
    dns01_txt_value,
    order_identifiers,
)
from openacm.domain.errors import ValidationError

ALL = ("RSA_2048", "EC_prime256v1", "EC_secp384r1")


def csr(key: object, names: list[str], common_name: str | None = None) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    signed = builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]
    return signed.public_bytes(serialization.Encoding.DER)


def kind_of(call: object) -> str:
    with pytest.raises(AcmeProblem) as raised:
        call()  # type: ignore[operator]
    return raised.value.kind


def test_order_identifiers() -> None:
    payload = {
        "identifiers": [
            {"type": "dns", "value": "WWW.Example.com."},
            {"type": "dns", "value": "www.example.com"},
            {"type": "dns", "value": "*.example.com"},
        ]
    }
    assert order_identifiers(payload) == ("www.example.com", "*.example.com")
    assert kind_of(lambda: order_identifiers({"identifiers": []})) == "malformed"
    assert kind_of(lambda: order_identifiers({})) == "malformed"
    ip = {"identifiers": [{"type": "ip", "value": "192.0.2.1"}]}
    assert kind_of(lambda: order_identifiers(ip)) == "unsupportedIdentifier"


def test_dns01_value_is_rfc_8555_section_8_4() -> None:
    expected = hashlib.sha256(b"tok.thumb").digest()
    assert (
        dns01_txt_value("tok", "thumb") == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    )
    assert dns01_record_name("*.example.com") == "_acme-challenge.example.com"
    assert dns01_record_name("a.example.com") == "_acme-challenge.a.example.com"


def test_csr_must_name_exactly_the_identifiers() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    names = ("a.example.com", "b.example.com")
    checked = check_csr(csr(key, list(names), "a.example.com"), names, ALL)
    assert checked.key_algorithm == "EC_prime256v1"
    assert set(checked.names) == set(names)
    assert kind_of(lambda: check_csr(csr(key, ["a.example.com"]), names, ALL)) == "badCSR"
    extra = csr(key, [*names, "c.example.com"])
    assert kind_of(lambda: check_csr(extra, names, ALL)) == "badCSR"
    other_cn = csr(key, list(names), "c.example.com")
    assert kind_of(lambda: check_csr(other_cn, names, ALL)) == "badCSR"
    assert kind_of(lambda: check_csr(b"garbage", names, ALL)) == "badCSR"


def test_csr_key_must_be_allowed() -> None:
    names = ("a.example.com",)
    rsa_csr = csr(rsa.generate_private_key(65537, 2048), list(names))
    assert check_csr(rsa_csr, names, ALL).key_algorithm == "RSA_2048"
    assert kind_of(lambda: check_csr(rsa_csr, names, ("EC_prime256v1",))) == "badPublicKey"
    p521 = csr(ec.generate_private_key(ec.SECP521R1()), list(names))
    assert kind_of(lambda: check_csr(p521, names, ALL)) == "badPublicKey"


def test_problem_document() -> None:
    problem = AcmeProblem("badNonce", "stale", extra={"algorithms": ["ES256"]})
    assert problem.document() == {
        "type": "urn:ietf:params:acme:error:badNonce",
        "detail": "stale",
        "status": 400,
        "algorithms": ["ES256"],
    }


def test_certificate_authority_union() -> None:
    assert normalise_authority({"PublicCertificateAuthority": {}}) == {
        "PublicCertificateAuthority": {"AllowedKeyAlgorithms": list(ALL)}
    }
    doubled = {"PublicCertificateAuthority": {"AllowedKeyAlgorithms": ["RSA_2048", "RSA_2048"]}}
    assert normalise_authority(doubled) == {
        "PublicCertificateAuthority": {"AllowedKeyAlgorithms": ["RSA_2048"]}
    }
    with pytest.raises(ValidationError):
        normalise_authority({})
