"""A CA key in a real PKCS#11 token (SoftHSM2) signs certificates, CRLs and OCSP responses that
OpenSSL and cryptography both accept, and the key itself cannot be read out of the token."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import SignatureAlgorithmOID
from pkcs11 import Attribute, ObjectClass

from openacm.adapters.ca.lint import throwaway_signed
from openacm.adapters.ca.pkcs11 import Pkcs11Config, Pkcs11Error, Pkcs11Signer, Pkcs11Token
from openacm.adapters.ca.signer import CaPublicKey
from tests.conftest import IN_CI
from tests.support import pki
from tests.support.softhsm import create_throwaway_token, softhsm_unavailable

_unavailable = softhsm_unavailable()
if _unavailable:
    if IN_CI:
        pytest.fail(f"CI must run the PKCS#11 tests: {_unavailable}", pytrace=False)
    pytest.skip(_unavailable, allow_module_level=True)

ALGORITHMS = ("RSA_2048", "EC_secp384r1")
EXPECTED_SIGNATURE_ALGORITHM = {
    "RSA_2048": SignatureAlgorithmOID.RSA_WITH_SHA256,
    "EC_secp384r1": SignatureAlgorithmOID.ECDSA_WITH_SHA384,
}


def key_label(algorithm: str) -> str:
    return f"ca-{algorithm}"


@dataclass(frozen=True)
class TokenCa:
    algorithm: str
    signer: Pkcs11Signer
    certificate: x509.Certificate


@pytest.fixture(scope="module")
def token_config(tmp_path_factory: pytest.TempPathFactory) -> Pkcs11Config:
    return create_throwaway_token(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture(scope="module")
def token(token_config: Pkcs11Config) -> Iterator[Pkcs11Token]:
    with Pkcs11Token(token_config) as opened:
        for algorithm in ALGORITHMS:
            opened.generate_key(key_label(algorithm), algorithm)
        yield opened


@pytest.fixture(scope="module", params=ALGORITHMS)
def ca(request: pytest.FixtureRequest, token: Pkcs11Token) -> TokenCa:
    signer = token.signer(key_label(request.param))
    root = signer.sign_certificate(root_builder(signer.public_key))
    return TokenCa(request.param, signer, root)


def root_builder(public_key: CaPublicKey) -> x509.CertificateBuilder:
    subject = pki.name("openacm PKCS#11 test root", organization="openacm tests")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.now() - dt.timedelta(minutes=5))
        .not_valid_after(pki.now() + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def leaf_builder(
    issuer: x509.Certificate, domain: str = "pkcs11.example.com"
) -> x509.CertificateBuilder:
    leaf_key = pki.shared_key("EC_prime256v1")
    return (
        x509.CertificateBuilder()
        .subject_name(pki.name(domain))
        .issuer_name(issuer.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.now() - dt.timedelta(minutes=5))
        .not_valid_after(pki.now() + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(), critical=True)
        .add_extension(_aki(issuer), critical=False)
    )


def _key_usage(key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not key_cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def write_pem(path: Path, document: x509.Certificate | x509.CertificateRevocationList) -> Path:
    path.write_bytes(document.public_bytes(serialization.Encoding.PEM))
    return path


def openssl(*args: str | Path) -> str:
    """Run openssl; returns stdout and stderr together (openssl reports on either)."""
    done = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def verify_signature(public_key: CaPublicKey, signature: bytes, data: bytes) -> None:
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA384()))


# --- signatures that verify ------------------------------------------------------------------


def test_self_signed_root_verifies(ca: TokenCa, tmp_path: Path) -> None:
    root = ca.certificate
    root.verify_directly_issued_by(root)
    assert root.public_key() == ca.signer.public_key
    assert root.signature_algorithm_oid == EXPECTED_SIGNATURE_ALGORITHM[ca.algorithm]
    root_pem = write_pem(tmp_path / "root.pem", root)
    assert "root.pem: OK" in openssl("verify", "-CAfile", root_pem, root_pem)


def test_leaf_verifies(ca: TokenCa, tmp_path: Path) -> None:
    leaf = ca.signer.sign_certificate(leaf_builder(ca.certificate))
    leaf.verify_directly_issued_by(ca.certificate)
    root_pem = write_pem(tmp_path / "root.pem", ca.certificate)
    leaf_pem = write_pem(tmp_path / "leaf.pem", leaf)
    assert "leaf.pem: OK" in openssl("verify", "-CAfile", root_pem, leaf_pem)


def test_crl_verifies(ca: TokenCa, tmp_path: Path) -> None:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(pki.now())
        .next_update(pki.now() + dt.timedelta(days=7))
        .add_extension(x509.CRLNumber(7), critical=False)
        .add_extension(_aki(ca.certificate), critical=False)
    )
    for serial in (0x1234, 0x5678):
        revoked = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(pki.now())
        builder = builder.add_revoked_certificate(revoked.build())
    crl = ca.signer.sign_crl(builder)
    assert crl.is_signature_valid(ca.certificate.public_key())  # type: ignore[arg-type]
    assert len(crl) == 2
    root_pem = write_pem(tmp_path / "root.pem", ca.certificate)
    crl_pem = write_pem(tmp_path / "crl.pem", crl)
    assert "verify OK" in openssl("crl", "-in", crl_pem, "-CAfile", root_pem, "-noout")


@pytest.mark.parametrize("encoding", list(ocsp.OCSPResponderEncoding))
def test_ocsp_response_verifies(
    ca: TokenCa, encoding: ocsp.OCSPResponderEncoding, tmp_path: Path
) -> None:
    leaf = ca.signer.sign_certificate(leaf_builder(ca.certificate))
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf,
            issuer=ca.certificate,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.REVOKED,
            this_update=pki.now(),
            next_update=pki.now() + dt.timedelta(hours=12),
            revocation_time=pki.now() - dt.timedelta(hours=1),
            revocation_reason=x509.ReasonFlags.key_compromise,
        )
        .responder_id(encoding, ca.certificate)
        .certificates([ca.certificate])
    )
    response = ca.signer.sign_ocsp_response(builder)

    verify_signature(ca.signer.public_key, response.signature, response.tbs_response_bytes)
    assert response.certificates == [ca.certificate]
    if encoding is ocsp.OCSPResponderEncoding.HASH:
        key_hash = x509.SubjectKeyIdentifier.from_public_key(ca.signer.public_key).digest
        assert response.responder_key_hash == key_hash
    else:
        assert response.responder_name == ca.certificate.subject
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED

    respin = tmp_path / "response.der"
    respin.write_bytes(response.public_bytes(serialization.Encoding.DER))
    root_pem = write_pem(tmp_path / "root.pem", ca.certificate)
    leaf_pem = write_pem(tmp_path / "leaf.pem", leaf)
    report = openssl(
        *("ocsp", "-respin", respin, "-VAfile", root_pem),
        *("-issuer", root_pem, "-cert", leaf_pem),
    )
    assert "Response verify OK" in report
    assert "leaf.pem: revoked" in report


def test_ocsp_response_for_another_responder_is_refused(ca: TokenCa) -> None:
    """Like cryptography with a software key: the responder certificate must be the
    signer's."""
    other = pki.issue("other-responder.example.com").certificate
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=other,
            issuer=other,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=pki.now(),
            next_update=None,
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, other)
    )
    with pytest.raises(ValueError, match="do not match"):
        ca.signer.sign_ocsp_response(builder)


def test_concurrent_signing_through_one_session(ca: TokenCa) -> None:
    def sign_one(index: int) -> x509.Certificate:
        return ca.signer.sign_certificate(leaf_builder(ca.certificate, f"t{index}.example.com"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        leaves = list(pool.map(sign_one, range(24)))
    for leaf in leaves:
        leaf.verify_directly_issued_by(ca.certificate)


def test_issued_tbs_is_the_planned_tbs(ca: TokenCa) -> None:
    """What the issuer stores (and lints) before signing is exactly what the token signs."""
    builder = leaf_builder(ca.certificate)
    planned = throwaway_signed(builder, ca.signer.public_key)
    assert ca.signer.sign_certificate(builder).tbs_certificate_bytes == (
        planned.tbs_certificate_bytes
    )


def test_a_signature_that_does_not_verify_is_never_returned(ca: TokenCa) -> None:
    impostor = pki.new_key("EC_secp384r1")
    assert isinstance(impostor, ec.EllipticCurvePrivateKey)

    def sign_with_the_wrong_key(tbs: bytes) -> bytes:
        return impostor.sign(tbs, ec.ECDSA(hashes.SHA384()))

    broken = Pkcs11Signer(ca.signer.public_key, sign_with_the_wrong_key, "test signer")
    with pytest.raises(Pkcs11Error, match="test signer: the token's signature does not verify"):
        broken.sign_certificate(leaf_builder(ca.certificate))


# --- the key stays in the token ----------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_private_key_cannot_leave_the_token(
    token: Pkcs11Token, token_config: Pkcs11Config, algorithm: str
) -> None:
    secret = Attribute.VALUE if algorithm.startswith("EC") else Attribute.PRIVATE_EXPONENT
    hsm = pkcs11.lib(token_config.module_path).get_token(token_label=token_config.token_label)
    # No PIN here: PKCS#11 login state is per application, and the `token` fixture is logged in.
    with hsm.open() as session:
        private_key = session.get_key(ObjectClass.PRIVATE_KEY, label=key_label(algorithm))
        assert private_key[Attribute.EXTRACTABLE] is False
        assert private_key[Attribute.NEVER_EXTRACTABLE] is True
        assert private_key[Attribute.SENSITIVE] is True
        assert private_key[Attribute.TOKEN] is True
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            private_key[secret]


def test_pkcs11_tool_sees_sign_only_never_extractable_keys(
    token: Pkcs11Token, token_config: Pkcs11Config
) -> None:
    """The same, seen from another process through another PKCS#11 client (pkcs11-tool cannot
    even try to read a private key's value, so its attribute listing is what it can tell)."""
    listing = subprocess.run(
        [
            *("pkcs11-tool", "--module", token_config.module_path),
            *("--token-label", token_config.token_label, "--login", "--pin", token_config.pin),
            *("--list-objects", "--type", "privkey"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    objects = listing.split("Private Key Object")[1:]
    for algorithm in ALGORITHMS:
        (described,) = [o for o in objects if f"label:      {key_label(algorithm)}\n" in o]
        assert "Usage:      sign\n" in described
        assert "Access:     sensitive, always sensitive, never extractable, local" in described


# --- errors ---------------------------------------------------------------------------------


def test_missing_key_is_named(token: Pkcs11Token, token_config: Pkcs11Config) -> None:
    assert token.has_key(key_label("RSA_2048"))
    assert not token.has_key("no-such-key")
    with pytest.raises(Pkcs11Error, match="no-such-key") as raised:
        token.signer("no-such-key")
    assert token_config.token_label in str(raised.value)


def test_duplicate_label_is_refused(token: Pkcs11Token) -> None:
    with pytest.raises(Pkcs11Error, match="already exists"):
        token.generate_key(key_label("RSA_2048"), "RSA_2048")


def test_unknown_algorithm_is_refused(token: Pkcs11Token) -> None:
    with pytest.raises(ValueError, match="unsupported key algorithm"):
        token.generate_key("dsa-key", "DSA_1024")


def test_unknown_token_is_named(token_config: Pkcs11Config) -> None:
    missing = Pkcs11Config(token_config.module_path, "no-such-token", token_config.pin)
    with pytest.raises(Pkcs11Error, match=r"'no-such-token'.*NoSuchToken"):
        Pkcs11Token(missing)


def test_missing_module_is_named() -> None:
    with pytest.raises(Pkcs11Error, match=r"could not load the module '/nonexistent/pkcs11\.so'"):
        Pkcs11Token(Pkcs11Config("/nonexistent/pkcs11.so", "any-token", "0000"))


def test_wrong_pin_names_the_token_not_the_pin(token_config: Pkcs11Config) -> None:
    # In a fresh process: in this one the token is already logged in (PKCS#11 login state is
    # per application), so no PIN would be checked.
    wrong_pin = "987654"
    script = (
        "import sys\n"
        "from openacm.adapters.ca.pkcs11 import Pkcs11Config, Pkcs11Error, Pkcs11Token\n"
        "try:\n"
        "    Pkcs11Token(Pkcs11Config(*sys.argv[1:4]))\n"
        "except Pkcs11Error as error:\n"
        "    print(error)\n"
    )
    arguments = [token_config.module_path, token_config.token_label, wrong_pin]
    done = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    assert "could not log in: PinIncorrect" in done.stdout
    assert token_config.token_label in done.stdout
    assert wrong_pin not in done.stdout + done.stderr


def test_pin_is_not_in_the_config_repr(token_config: Pkcs11Config) -> None:
    assert token_config.pin not in repr(token_config)


def test_closed_token_refuses_to_sign(token_config: Pkcs11Config) -> None:
    token = Pkcs11Token(token_config)
    signer = token.signer(key_label("EC_secp384r1"))
    token.close()
    token.close()  # closing twice is harmless
    with pytest.raises(Pkcs11Error, match="closed"):
        signer.sign_certificate(root_builder(signer.public_key))
