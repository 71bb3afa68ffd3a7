"""Lint before sign: a leaf certificate is checked against the CA/Browser Forum Baseline
Requirements *before* the CA key signs it (Boulder's approach), so a bad certificate is never
issued rather than found and revoked afterwards.

The linter needs DER, and DER needs a signature, so the builder is first signed with a
throwaway software key "of the issuer's type" (RSA, or EC on the issuer's curve) and the
issuer's digest. The signatureAlgorithm identifiers depend only on key family and digest, so the
throwaway-signed certificate is byte-for-byte the certificate the CA will sign except for the
signature value, which pkilint does not read: a single-certificate lint has no issuer to check
the signature or the authorityKeyIdentifier against. Nothing has to be filtered out for the
throwaway key's sake.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from openacm.adapters.ca.signer import CaPrivateKey, CaPublicKey, signature_hash_for

BLOCKING_SEVERITIES: Final = frozenset({"FATAL", "ERROR"})


@dataclass(frozen=True)
class LintFinding:
    severity: str  # pkilint's severity name: FATAL, ERROR, WARNING, NOTICE, INFO or DEBUG
    code: str  # pkilint's finding code, e.g. cabf.serverauth.certificate_validity_period_...
    message: str
    node_path: str  # where in the certificate, e.g. certificate.tbsCertificate.validity

    @property
    def blocks_signing(self) -> bool:
        return self.severity in BLOCKING_SEVERITIES

    def __str__(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"{self.severity} {self.code} @ {self.node_path}{detail}"


class LintRefusal(Exception):
    """The to-be-signed certificate breaks a CA/B Forum requirement; it was not signed."""

    def __init__(self, findings: Iterable[LintFinding]) -> None:
        self.findings = tuple(findings)
        super().__init__("refusing to sign: " + "; ".join(str(f) for f in self.findings))


def throwaway_key_for(public_key: CaPublicKey) -> CaPrivateKey:
    """A software key whose signatures carry the same algorithm identifier as `public_key`'s:
    any RSA key for RSA (the identifier names only the digest), a key on the same curve for EC.
    Its signatures are always thrown away, so one per process per curve is enough."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return _throwaway_rsa_key()
    return _throwaway_ec_key(type(public_key.curve))


def throwaway_signed(
    builder: x509.CertificateBuilder, issuer_public_key: CaPublicKey
) -> x509.Certificate:
    """The certificate `builder` describes, signed by a throwaway key: its
    tbs_certificate_bytes are exactly those the issuer's real signature will cover."""
    return builder.sign(throwaway_key_for(issuer_public_key), signature_hash_for(issuer_public_key))


def lint_leaf_before_signing(
    builder: x509.CertificateBuilder, issuer_public_key: CaPublicKey
) -> list[LintFinding]:
    """Every finding pkilint's CA/B Forum linter reports for the DV subscriber certificate
    `builder` describes, of every severity; the caller decides which ones matter."""
    return lint_dv_subscriber(throwaway_signed(builder, issuer_public_key))


def lint_dv_subscriber(certificate: x509.Certificate) -> list[LintFinding]:
    """Every finding for `certificate` read as a DV subscriber certificate: for a caller that
    already holds the throwaway-signed certificate (`throwaway_signed`) and so need not sign
    it twice."""
    return _lint_dv_subscriber_der(certificate.public_bytes(serialization.Encoding.DER))


def check_leaf_before_signing(
    builder: x509.CertificateBuilder, issuer_public_key: CaPublicKey
) -> None:
    """Raise `LintRefusal` if the certificate has any FATAL or ERROR finding."""
    blocking = [f for f in lint_leaf_before_signing(builder, issuer_public_key) if f.blocks_signing]
    if blocking:
        raise LintRefusal(blocking)


@functools.cache
def _throwaway_rsa_key() -> rsa.RSAPrivateKey:
    # The to-be-signed bytes do not depend on the key's size, only on the algorithm (RSA with
    # the issuer's hash); the smallest size cryptography allows signs about 10x faster than
    # a 3072-bit CA key, and this signature is thrown away.
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@functools.cache
def _throwaway_ec_key(curve_type: type[ec.EllipticCurve]) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve_type())


def _lint_dv_subscriber_der(der: bytes) -> list[LintFinding]:
    linter = _dv_subscriber_linter()
    document = linter.loader.load_der_document(der, "certificate")
    results = linter.validator.validate(document.root)
    # The same filtering the lint_cabf_serverauth_cert command applies by default: it drops
    # RFC 5280 findings that the Baseline Requirements override (e.g. the subscriber
    # subjectKeyIdentifier that RFC 5280 wants and the BRs discourage).
    kept, _ = linter.filter_results(linter.filters, results)
    return [
        LintFinding(
            severity=str(description.finding.severity),
            code=str(description.finding.code),
            message=str(description.message or ""),
            node_path=str(result.node.path),
        )
        for result in kept
        for description in result.finding_descriptions
    ]


@dataclass(frozen=True)
class _Linter:
    loader: Any
    validator: Any
    filters: Any
    filter_results: Any


_linter_lock = threading.Lock()


def _dv_subscriber_linter() -> _Linter:
    """pkilint's validator tree for a DV subscriber certificate, built once per process (it
    takes about 0.3 s) and shared by every thread: its validators keep no state between
    documents (per-certificate state lives on the decoded document)."""
    with _linter_lock:
        return _build_dv_subscriber_linter()


@functools.cache
def _build_dv_subscriber_linter() -> _Linter:
    # Imported here: pkilint takes about half a second to import, which only processes that
    # actually issue certificates should pay.
    from pkilint import finding_filter, loader
    from pkilint.cabf import serverauth
    from pkilint.cabf.serverauth import serverauth_constants
    from pkilint.pkix import certificate

    # openacm issues domain-validated certificates only, so the type is fixed rather than
    # detected: detection would lint a builder that wrongly says CA:TRUE as a CA certificate.
    dv_subscriber = serverauth_constants.CertificateType.DV_FINAL_CERTIFICATE
    return _Linter(
        loader=loader.RFC5280CertificateDocumentLoader(),
        validator=certificate.create_pkix_certificate_validator_container(
            serverauth.create_decoding_validators(), serverauth.create_validators(dv_subscriber)
        ),
        filters=serverauth.create_serverauth_finding_filters(dv_subscriber),
        filter_results=finding_filter.filter_results,
    )
