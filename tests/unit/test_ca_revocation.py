"""Tests for openacm.adapters.ca.revocation: CRLs and the OCSP responder.

A real hierarchy is made once per module. CRLs and OCSP responses are checked with the openssl
CLI (`openssl crl`, `openssl verify -crl_check`, `openssl ocsp`), which also builds the OCSP
requests, and with pkilint's CRL and OCSP linters.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import botocore.loaders
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp

from openacm.adapters.ca.hierarchy import BuiltinHierarchy, CaMaterial, create_builtin_hierarchy
from openacm.adapters.ca.revocation import (
    BR_SUBSCRIBER_CRL_REASONS,
    REVOCATION_REASONS,
    OcspResponder,
    RevokedSerial,
    SerialStatus,
    build_crl,
    ocsp_request_from_get_path,
)
from openacm.adapters.ca.signer import SoftwareSigner
from openacm.domain.issuance import CaUrls, leaf_builder, new_serial_number, public_validity_window

NOW = datetime(2026, 11, 23, 17, 0, 0, tzinfo=UTC)
LEAF_URLS = CaUrls(
    crl_url="http://pki.example.com/issuing.crl",
    ocsp_url="http://pki.example.com/ocsp",
    ca_issuers_url="http://pki.example.com/issuing.cer",
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- Fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def hierarchy() -> BuiltinHierarchy:
    return create_builtin_hierarchy(now=NOW)


def issue_leaf(issuing_ca: CaMaterial) -> x509.Certificate:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if isinstance(issuing_ca.private_key, rsa.RSAPrivateKey):
        key = rsa.generate_private_key(65537, 2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = public_validity_window(NOW)
    builder = leaf_builder(
        common_name="example.com",
        names=["example.com"],
        public_key=key.public_key(),
        issuer=issuing_ca.certificate,
        serial_number=new_serial_number(),
        not_before=not_before,
        not_after=not_after,
        urls=LEAF_URLS,
    )
    return SoftwareSigner(issuing_ca.private_key).sign_certificate(builder)


def write_pem(path: Path, document: x509.Certificate | x509.CertificateRevocationList) -> Path:
    path.write_bytes(document.public_bytes(serialization.Encoding.PEM))
    return path


def seconds_since_now_and_a_day() -> int:
    """`openssl ocsp` checks a response's thisUpdate/nextUpdate against the wall clock whatever
    `-attime` says; this tolerance keeps responses made at the fixed NOW valid on later dates."""
    return int((datetime.now(UTC) - NOW).total_seconds()) + 86_400


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def pkilint_findings(script: str, *args: str | Path) -> list[tuple[str, str]]:
    """(severity, code) of the WARNING-or-worse findings of a pkilint linter, run in-process
    through its console script's `main`."""
    try:
        main = importlib.import_module(f"pkilint.bin.{script}").main
    except ImportError:
        if IN_CI:
            pytest.fail("pkilint is not installed")
        pytest.skip("pkilint is not installed")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        main(["lint", "-s", "WARNING", "-f", "JSON", *map(str, args)])
    return [
        (finding["severity"], finding["code"])
        for result in json.loads(output.getvalue())["results"]
        for finding in result["finding_descriptions"]
    ]


# --- Revocation reasons -----------------------------------------------------------------------


@pytest.mark.parametrize("service", ["acm", "acm-pca"])
def test_every_api_revocation_reason_is_mapped(service: str) -> None:
    model = botocore.loaders.Loader().load_service_model(service, "service-2")
    api_reasons = model["shapes"]["RevocationReason"]["enum"]
    assert set(api_reasons) <= set(REVOCATION_REASONS)
    assert REVOCATION_REASONS["SUPERCEDED"] is x509.ReasonFlags.superseded
    assert REVOCATION_REASONS["A_A_COMPROMISE"] is x509.ReasonFlags.aa_compromise


def test_br_subscriber_reasons_exclude_hold_and_ca_reasons() -> None:
    assert x509.ReasonFlags.certificate_hold not in BR_SUBSCRIBER_CRL_REASONS
    assert x509.ReasonFlags.ca_compromise not in BR_SUBSCRIBER_CRL_REASONS
    assert set(REVOCATION_REASONS.values()) >= BR_SUBSCRIBER_CRL_REASONS


# --- CRL --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrlCase:
    issuing_ca: CaMaterial
    revoked_leaf: x509.Certificate
    good_leaf: x509.Certificate
    crl: x509.CertificateRevocationList


@pytest.fixture(scope="module", params=["rsa", "ecdsa"])
def crl_case(request: pytest.FixtureRequest, hierarchy: BuiltinHierarchy) -> CrlCase:
    issuing_ca = (
        hierarchy.rsa_intermediate if request.param == "rsa" else hierarchy.ecdsa_intermediate
    )
    revoked_leaf, good_leaf = issue_leaf(issuing_ca), issue_leaf(issuing_ca)
    revoked = [
        RevokedSerial(revoked_leaf.serial_number, NOW, x509.ReasonFlags.key_compromise),
        RevokedSerial(1001, NOW - timedelta(days=1), x509.ReasonFlags.unspecified),
        RevokedSerial(1002, NOW - timedelta(days=2), None),
        RevokedSerial(1003, NOW - timedelta(days=3), x509.ReasonFlags.superseded),
    ]
    crl = build_crl(
        SoftwareSigner(issuing_ca.private_key),
        issuing_ca.certificate,
        revoked,
        crl_number=42,
        this_update=NOW,
        next_update=NOW + timedelta(days=7),
    )
    return CrlCase(issuing_ca, revoked_leaf, good_leaf, crl)


def test_crl_contents(crl_case: CrlCase) -> None:
    crl = crl_case.crl
    issuer = crl_case.issuing_ca.certificate
    assert crl.issuer == issuer.subject
    assert crl.last_update_utc == NOW and crl.next_update_utc == NOW + timedelta(days=7)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == issuer_ski.digest
    assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]

    def reason_of(serial: int) -> x509.ReasonFlags | None:
        entry = crl.get_revoked_certificate_by_serial_number(serial)
        assert entry is not None
        try:
            return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            return None

    assert reason_of(crl_case.revoked_leaf.serial_number) is x509.ReasonFlags.key_compromise
    assert reason_of(1001) is None  # unspecified is left out (RFC 5280 5.3.1)
    assert reason_of(1002) is None
    assert reason_of(1003) is x509.ReasonFlags.superseded
    assert crl.get_revoked_certificate_by_serial_number(crl_case.good_leaf.serial_number) is None


def test_crl_verifies_with_openssl(crl_case: CrlCase, tmp_path: Path) -> None:
    issuer = write_pem(tmp_path / "issuer.pem", crl_case.issuing_ca.certificate)
    crl = write_pem(tmp_path / "crl.pem", crl_case.crl)
    result = openssl("crl", "-in", crl, "-CAfile", issuer, "-noout")
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stdout + result.stderr


def test_openssl_crl_check_rejects_only_the_revoked_leaf(
    crl_case: CrlCase, hierarchy: BuiltinHierarchy, tmp_path: Path
) -> None:
    root = write_pem(tmp_path / "root.pem", hierarchy.root.certificate)
    issuer = write_pem(tmp_path / "issuer.pem", crl_case.issuing_ca.certificate)
    crl = write_pem(tmp_path / "crl.pem", crl_case.crl)
    attime = str(int((NOW + timedelta(hours=1)).timestamp()))

    def verify(leaf: x509.Certificate) -> subprocess.CompletedProcess[str]:
        path = write_pem(tmp_path / "leaf.pem", leaf)
        return openssl(
            "verify", "-attime", attime, "-crl_check", "-CRLfile", crl,
            "-CAfile", root, "-untrusted", issuer, path,
        )  # fmt: skip

    revoked = verify(crl_case.revoked_leaf)
    assert revoked.returncode != 0
    assert "certificate revoked" in revoked.stdout + revoked.stderr
    good = verify(crl_case.good_leaf)
    assert good.returncode == 0, good.stdout + good.stderr


def test_crl_passes_br_linter(crl_case: CrlCase, tmp_path: Path) -> None:
    path = tmp_path / "crl.der"
    path.write_bytes(crl_case.crl.public_bytes(serialization.Encoding.DER))
    assert pkilint_findings("lint_crl", "-t", "CRL", "-p", "BR", path) == []


def test_empty_crl_passes_br_linter(hierarchy: BuiltinHierarchy, tmp_path: Path) -> None:
    issuing_ca = hierarchy.rsa_intermediate
    crl = build_crl(
        SoftwareSigner(issuing_ca.private_key),
        issuing_ca.certificate,
        [],
        crl_number=1,
        this_update=NOW,
        next_update=NOW + timedelta(days=7),
    )
    assert len(crl) == 0
    path = tmp_path / "crl.der"
    path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    assert pkilint_findings("lint_crl", "-t", "CRL", "-p", "BR", path) == []


# --- OCSP -------------------------------------------------------------------------------------


@dataclass
class StatusBook:
    """What `status_of` answers, and how often it was asked."""

    statuses: dict[int, SerialStatus] = field(default_factory=dict)
    lookups: int = 0

    def __call__(self, serial_number: int) -> SerialStatus:
        self.lookups += 1
        return self.statuses.get(serial_number, SerialStatus("unknown"))


@dataclass
class OcspSetup:
    hierarchy: BuiltinHierarchy
    issuing_ca: CaMaterial
    leaf: x509.Certificate
    responder: OcspResponder
    book: StatusBook
    directory: Path

    @property
    def root_pem(self) -> Path:
        return write_pem(self.directory / "root.pem", self.hierarchy.root.certificate)

    @property
    def issuer_pem(self) -> Path:
        return write_pem(self.directory / "issuer.pem", self.issuing_ca.certificate)

    @property
    def leaf_pem(self) -> Path:
        return write_pem(self.directory / "leaf.pem", self.leaf)

    def request(self, *options: str, name: str = "req.der") -> bytes:
        """A request `openssl ocsp` makes about the leaf (with a nonce unless -no_nonce)."""
        path = self.directory / name
        result = openssl(
            "ocsp", "-issuer", self.issuer_pem, *options, "-cert", self.leaf_pem, "-reqout", path
        )
        assert result.returncode == 0, result.stderr
        return path.read_bytes()

    def respond(self, request: bytes, now: datetime = NOW) -> bytes:
        return self.responder.respond(request, self.book, now)

    def openssl_status(self, response: bytes) -> str:
        """What `openssl ocsp` makes of `response` about the leaf, after verifying it against
        the root (the responder is the issuing CA itself)."""
        path = self.directory / "resp.der"
        path.write_bytes(response)
        result = openssl(
            "ocsp", "-respin", path, "-issuer", self.issuer_pem, "-cert", self.leaf_pem,
            "-CAfile", self.root_pem, "-no_nonce", "-attime", str(int(NOW.timestamp())),
            "-validity_period", str(seconds_since_now_and_a_day()),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Response verify OK" in result.stderr
        return result.stdout


@pytest.fixture(params=["rsa", "ecdsa"])
def setup(request: pytest.FixtureRequest, hierarchy: BuiltinHierarchy, tmp_path: Path) -> OcspSetup:
    issuing_ca = (
        hierarchy.rsa_intermediate if request.param == "rsa" else hierarchy.ecdsa_intermediate
    )
    leaf = issue_leaf(issuing_ca)
    responder = OcspResponder(issuing_ca.certificate, SoftwareSigner(issuing_ca.private_key))
    book = StatusBook({leaf.serial_number: SerialStatus("good")})
    return OcspSetup(hierarchy, issuing_ca, leaf, responder, book, tmp_path)


def load_response(der: bytes) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(der)


def test_good_certificate(setup: OcspSetup) -> None:
    response_der = setup.respond(setup.request("-no_nonce"))
    assert f"{setup.leaf_pem}: good" in setup.openssl_status(response_der)
    response = load_response(response_der)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == setup.leaf.serial_number
    assert response.this_update_utc <= NOW
    assert response.next_update_utc == NOW + timedelta(hours=8)
    assert response.certificates == []  # signed by the issuing CA itself: nothing to include
    issuer_ski = setup.issuing_ca.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    )
    assert response.responder_key_hash == issuer_ski.value.digest


def test_revoked_at_once_despite_a_cached_good(setup: OcspSetup) -> None:
    request = setup.request("-no_nonce")
    assert f"{setup.leaf_pem}: good" in setup.openssl_status(setup.respond(request))
    revoked_at = NOW - timedelta(minutes=10)
    # Another process revoked it: the status store changed, nobody called invalidate().
    setup.book.statuses[setup.leaf.serial_number] = SerialStatus(
        "revoked", revoked_at, x509.ReasonFlags.key_compromise
    )
    status = setup.openssl_status(setup.respond(request))
    assert f"{setup.leaf_pem}: revoked" in status
    assert "Reason: keyCompromise" in status
    response = load_response(setup.respond(request))
    assert response.revocation_time_utc == revoked_at
    assert response.revocation_reason is x509.ReasonFlags.key_compromise


def test_revoked_without_reason_omits_it(setup: OcspSetup) -> None:
    setup.book.statuses[setup.leaf.serial_number] = SerialStatus(
        "revoked", NOW, x509.ReasonFlags.unspecified
    )
    response = load_response(setup.respond(setup.request("-no_nonce")))
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason is None


def test_unknown_serial(setup: OcspSetup) -> None:
    setup.book.statuses.clear()
    assert f"{setup.leaf_pem}: unknown" in setup.openssl_status(
        setup.respond(setup.request("-no_nonce"))
    )


def test_sha256_cert_id(setup: OcspSetup) -> None:
    response = load_response(setup.respond(setup.request("-no_nonce", "-sha256")))
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert isinstance(response.hash_algorithm, hashes.SHA256)


def test_request_for_another_issuer_is_unauthorized(setup: OcspSetup) -> None:
    other = (
        setup.hierarchy.ecdsa_intermediate
        if setup.issuing_ca is setup.hierarchy.rsa_intermediate
        else setup.hierarchy.rsa_intermediate
    )
    foreign = OcspSetup(
        setup.hierarchy, other, issue_leaf(other), setup.responder, setup.book, setup.directory
    )
    response = load_response(setup.respond(foreign.request("-no_nonce")))
    assert response.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert setup.book.lookups == 0


@pytest.mark.parametrize(
    "garbage", [b"", b"\x00", b"not an ocsp request", b"\x30\x03\x02\x01\x01", b"\x30" * 5000]
)
def test_garbage_is_a_malformed_request(setup: OcspSetup, garbage: bytes) -> None:
    response = load_response(setup.respond(garbage))
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_truncated_request_is_malformed(setup: OcspSetup) -> None:
    request = setup.request("-no_nonce")
    response = load_response(setup.respond(request[:-3]))
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_several_certificates_in_one_request_are_malformed(setup: OcspSetup) -> None:
    leaf = setup.leaf_pem
    path = setup.directory / "multi.der"
    result = openssl(
        "ocsp", "-issuer", setup.issuer_pem, "-cert", leaf, "-cert", leaf, "-reqout", path
    )
    assert result.returncode == 0, result.stderr
    response = load_response(setup.respond(path.read_bytes()))
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_nonce_is_echoed_and_verified_by_openssl(setup: OcspSetup) -> None:
    request_der = setup.request()
    response_der = setup.respond(request_der)
    request_nonce = ocsp.load_der_ocsp_request(request_der).extensions.get_extension_for_class(
        x509.OCSPNonce
    )
    response_nonce = load_response(response_der).extensions.get_extension_for_class(x509.OCSPNonce)
    assert response_nonce.value == request_nonce.value
    response_path = setup.directory / "resp.der"
    response_path.write_bytes(response_der)
    matching = openssl(
        "ocsp", "-reqin", setup.directory / "req.der", "-respin", response_path,
        "-issuer", setup.issuer_pem, "-CAfile", setup.root_pem,
    )  # fmt: skip
    assert matching.returncode == 0, matching.stderr
    assert "Nonce Verify error" not in matching.stderr
    assert "Response verify OK" in matching.stderr
    setup.request(name="other-req.der")  # a different nonce
    mismatched = openssl(
        "ocsp", "-reqin", setup.directory / "other-req.der", "-respin", response_path,
        "-issuer", setup.issuer_pem, "-CAfile", setup.root_pem,
    )  # fmt: skip
    assert "Nonce Verify error" in mismatched.stderr


def request_with_nonce(setup: OcspSetup, nonce: bytes) -> bytes:
    builder = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(setup.leaf, setup.issuing_ca.certificate, hashes.SHA1())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
    )
    return builder.build().public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("length", [1, 16, 32, 128])
def test_nonces_of_1_to_128_octets_are_echoed(setup: OcspSetup, length: int) -> None:
    nonce = os.urandom(length)
    response = load_response(setup.respond(request_with_nonce(setup, nonce)))
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce


@pytest.mark.parametrize("length", [0, 129])
def test_nonces_outside_rfc9654_bounds_are_malformed(setup: OcspSetup, length: int) -> None:
    response = load_response(setup.respond(request_with_nonce(setup, b"\x07" * length)))
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_nonce_less_answers_are_cached_until_half_their_validity(setup: OcspSetup) -> None:
    request = setup.request("-no_nonce")
    first = setup.respond(request)
    # The status is read every time; the signature is what the cache saves.
    assert setup.respond(request, NOW + timedelta(hours=3, minutes=59)) == first
    assert setup.book.lookups == 2
    refreshed = setup.respond(request, NOW + timedelta(hours=4))
    assert refreshed != first
    assert setup.book.lookups == 3
    assert load_response(refreshed).this_update_utc > load_response(first).this_update_utc


def test_cache_is_per_cert_id_hash(setup: OcspSetup) -> None:
    sha1_answer = load_response(setup.respond(setup.request("-no_nonce")))
    sha256_answer = load_response(setup.respond(setup.request("-no_nonce", "-sha256")))
    assert isinstance(sha1_answer.hash_algorithm, hashes.SHA1)
    assert isinstance(sha256_answer.hash_algorithm, hashes.SHA256)


def test_requests_with_nonces_are_signed_afresh(setup: OcspSetup) -> None:
    first = setup.respond(setup.request())
    second = setup.respond(setup.request())
    assert first != second
    assert setup.book.lookups == 2


def test_unknown_answers_are_not_cached(setup: OcspSetup) -> None:
    setup.book.statuses.clear()
    request = setup.request("-no_nonce")
    setup.respond(request)
    setup.book.statuses[setup.leaf.serial_number] = SerialStatus("good")
    assert load_response(setup.respond(request)).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_failing_status_lookup_is_an_internal_error(setup: OcspSetup) -> None:
    def broken(serial_number: int) -> SerialStatus:
        raise RuntimeError("database unavailable")

    response_der = setup.responder.respond(setup.request("-no_nonce"), broken, NOW)
    response = load_response(response_der)
    assert response.response_status is ocsp.OCSPResponseStatus.INTERNAL_ERROR


def test_responses_pass_ocsp_linter(setup: OcspSetup) -> None:
    path = setup.directory / "lint.der"
    answers = [setup.respond(setup.request())]
    setup.book.statuses[setup.leaf.serial_number] = SerialStatus(
        "revoked", NOW, x509.ReasonFlags.superseded
    )
    answers.append(setup.respond(setup.request()))
    answers.append(setup.respond(b"garbage"))
    for answer in answers:
        path.write_bytes(answer)
        assert pkilint_findings("lint_ocsp_response", path) == []


def test_concurrent_use(setup: OcspSetup) -> None:
    requests = [setup.request("-no_nonce"), setup.request()]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for round_number in range(10):
                response = load_response(setup.respond(requests[(index + round_number) % 2]))
                assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
                setup.responder.invalidate(setup.leaf.serial_number)
        except BaseException as error:  # re-raised in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def test_validity_must_be_positive(setup: OcspSetup) -> None:
    with pytest.raises(ValueError):
        OcspResponder(
            setup.issuing_ca.certificate,
            SoftwareSigner(setup.issuing_ca.private_key),
            validity=timedelta(0),
        )


# --- OCSP over GET ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_request(hierarchy: BuiltinHierarchy) -> bytes:
    leaf = issue_leaf(hierarchy.rsa_intermediate)
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        leaf, hierarchy.rsa_intermediate.certificate, hashes.SHA1()
    )
    return builder.build().public_bytes(serialization.Encoding.DER)


# Decodes to base64 "+/+/": prefixed to a request, it makes sure every encoding below meets both
# characters URL handling mangles (the decoder does not parse DER, so the prefix is harmless).
AWKWARD_BASE64_PREFIX = b"\xfb\xff\xbf\xfb\xff\xbf"


def encodings_of(der: bytes) -> Iterator[str]:
    standard = base64.b64encode(der).decode()
    yield quote(standard, safe="")  # RFC 6960 A.1: url-encoded base64
    yield standard  # "/" and "+" left as they are
    yield "/" + standard
    yield base64.urlsafe_b64encode(der).decode().rstrip("=")
    yield standard.replace("+", " ")  # "+" decoded to a space on the way
    yield quote(standard.rstrip("="), safe="")


def test_get_path_decodes_every_common_encoding(sample_request: bytes) -> None:
    payload = AWKWARD_BASE64_PREFIX + sample_request
    assert base64.b64encode(payload).startswith(b"+/+/")
    for encoded in encodings_of(payload):
        assert ocsp_request_from_get_path(encoded) == payload, encoded


@pytest.mark.parametrize("path", ["", "/", "!!!!", "MEow%ZZ", "a"])
def test_get_path_rejects_non_base64(path: str) -> None:
    with pytest.raises(ValueError):
        ocsp_request_from_get_path(path)


def test_get_path_feeds_the_responder(hierarchy: BuiltinHierarchy, sample_request: bytes) -> None:
    issuing_ca = hierarchy.rsa_intermediate
    responder = OcspResponder(issuing_ca.certificate, SoftwareSigner(issuing_ca.private_key))
    encoded = quote(base64.b64encode(sample_request).decode(), safe="")
    answer = load_response(
        responder.respond(ocsp_request_from_get_path(encoded), StatusBook(), NOW)
    )
    assert answer.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
