"""Revocation data for the builtin CAs: CRLs (RFC 5280) and OCSP responses (RFC 6960).

Everything is signed through a `CaSigner`, so the same code serves software keys and keys held in
a PKCS#11 token. Each issuing CA signs its own OCSP responses (no delegated responder
certificate to manage and rotate). Nothing here touches storage: callers pass the revoked
serials to `build_crl` and a status lookup to `OcspResponder.respond`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, rsa
from cryptography.x509 import ocsp

from openacm.adapters.ca.signer import CaPublicKey
from openacm.domain.issuance import authority_key_identifier

__all__ = [
    "BR_SUBSCRIBER_CRL_REASONS",
    "REVOCATION_REASONS",
    "OcspResponder",
    "RevocationSigner",
    "RevokedSerial",
    "SerialStatus",
    "build_crl",
    "ocsp_request_from_get_path",
]

log = logging.getLogger(__name__)

IssuerPublicKey = (
    CaPublicKey | mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey
)


class RevocationSigner(Protocol):
    """What CRLs and OCSP responses need of a CA's key: every `CaSigner` (builtin CAs, RSA and
    EC private CAs) and also an ML-DSA private CA's `PrivateCaSigner`."""

    @property
    def public_key(self) -> IssuerPublicKey: ...

    def sign_crl(
        self, builder: x509.CertificateRevocationListBuilder
    ) -> x509.CertificateRevocationList: ...

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse: ...


# --- Revocation reasons -----------------------------------------------------------------------

# The RevocationReason enums of ACM (RevokeCertificate) and ACM-PCA, merged. They differ: ACM says
# CA_COMPROMISE where ACM-PCA says CERTIFICATE_AUTHORITY_COMPROMISE, ACM lists both SUPERCEDED (sic)
# and SUPERSEDED where ACM-PCA has only the latter, and only ACM lists CERTIFICATE_HOLD and
# REMOVE_FROM_CRL.
REVOCATION_REASONS: Mapping[str, x509.ReasonFlags] = {
    "UNSPECIFIED": x509.ReasonFlags.unspecified,
    "KEY_COMPROMISE": x509.ReasonFlags.key_compromise,
    "CA_COMPROMISE": x509.ReasonFlags.ca_compromise,
    "CERTIFICATE_AUTHORITY_COMPROMISE": x509.ReasonFlags.ca_compromise,
    "AFFILIATION_CHANGED": x509.ReasonFlags.affiliation_changed,
    "SUPERCEDED": x509.ReasonFlags.superseded,
    "SUPERSEDED": x509.ReasonFlags.superseded,
    "CESSATION_OF_OPERATION": x509.ReasonFlags.cessation_of_operation,
    "CERTIFICATE_HOLD": x509.ReasonFlags.certificate_hold,
    "REMOVE_FROM_CRL": x509.ReasonFlags.remove_from_crl,
    "PRIVILEGE_WITHDRAWN": x509.ReasonFlags.privilege_withdrawn,
    "A_A_COMPROMISE": x509.ReasonFlags.aa_compromise,
}

# BR 7.2.2.1: the only reasons a CRL entry for a TLS subscriber certificate may carry (besides
# omitting the reason, which means unspecified). certificateHold is forbidden outright, and
# removeFromCRL only means something in delta CRLs, which the builtin CA does not publish; a
# service revoking a public certificate should refuse the other API values.
BR_SUBSCRIBER_CRL_REASONS: frozenset[x509.ReasonFlags] = frozenset(
    {
        x509.ReasonFlags.unspecified,
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.affiliation_changed,
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.privilege_withdrawn,
    }
)


def _reason_to_publish(reason: x509.ReasonFlags | None) -> x509.ReasonFlags | None:
    # RFC 5280 5.3.1 (and BR 7.2.2.1) say to omit the reason rather than state "unspecified".
    return None if reason is x509.ReasonFlags.unspecified else reason


# --- CRL --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevokedSerial:
    serial_number: int
    revoked_at: datetime
    reason: x509.ReasonFlags | None


def _revoked_certificate(entry: RevokedSerial) -> x509.RevokedCertificate:
    builder = (
        x509.RevokedCertificateBuilder()
        .serial_number(entry.serial_number)
        .revocation_date(entry.revoked_at)
    )
    reason = _reason_to_publish(entry.reason)
    if reason is not None:
        builder = builder.add_extension(x509.CRLReason(reason), critical=False)
    return builder.build()


def build_crl(
    signer: RevocationSigner,
    issuer: x509.Certificate,
    revoked: Iterable[RevokedSerial],
    *,
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
    partition_url: str | None = None,
) -> x509.CertificateRevocationList:
    """A v2 CRL of `issuer`, signed by `signer` (the issuer's key).

    `crl_number` must increase with every CRL the issuer publishes (RFC 5280 5.2.3). BR 4.9.7
    limits nextUpdate to 10 days after thisUpdate for subscriber CRLs and 12 months for CRLs
    about CA certificates; choosing the dates is the caller's job.

    `partition_url` makes it one partition of a partitioned CRL (AWS Private CA's
    CrlType PARTITIONED): a critical issuingDistributionPoint naming the URL that the covered
    certificates carry in their CRL distribution point, so a relying party can tell that it
    fetched the right partition (RFC 5280 5.2.5).
    """
    # The entries go to the constructor in one list: `add_revoked_certificate` returns a new
    # builder holding a copy of every entry so far, which makes n entries cost O(n²) (about 20 s
    # for 100,000 serials, against half a second this way).
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=issuer.subject,
        last_update=this_update,
        next_update=next_update,
        extensions=[],
        revoked_certificates=[_revoked_certificate(entry) for entry in revoked],
    )
    builder = builder.add_extension(x509.CRLNumber(crl_number), critical=False).add_extension(
        authority_key_identifier(issuer), critical=False
    )
    if partition_url is not None:
        builder = builder.add_extension(_partition_point(partition_url), critical=True)
    return signer.sign_crl(builder)


def _partition_point(url: str) -> x509.IssuingDistributionPoint:
    return x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None,
        only_contains_user_certs=False,
        only_contains_ca_certs=False,
        only_some_reasons=None,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )


# --- OCSP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SerialStatus:
    """What the CA knows about a serial number: issued and not revoked ("good"), revoked, or not
    issued by this CA ("unknown")."""

    state: Literal["good", "revoked", "unknown"]
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


# BR 4.9.10 wants responses valid for at least eight hours (and at most ten days).
DEFAULT_OCSP_VALIDITY = timedelta(hours=8)
# BR 4.9.10: a response valid for sixteen hours or more must be replaced within four days.
_MAX_RESPONSE_REUSE = timedelta(days=4)
# Relying parties with clocks slightly behind must not see a thisUpdate in the future.
_THIS_UPDATE_BACKDATING = timedelta(minutes=5)
# RFC 9654 2.1: Nonce ::= OCTET STRING (SIZE(1..128)); other lengths are malformed requests.
_MAX_NONCE_OCTETS = 128
# Beyond this many cached responses, expired ones are swept out before adding another.
_CACHE_SWEEP_THRESHOLD = 10_000

# CertID hash algorithms accepted: SHA-1 is what nearly every client sends (RFC 5019); the SHA-2
# family for clients that have moved on.
_CERT_ID_HASHES: tuple[hashes.HashAlgorithm, ...] = (
    hashes.SHA1(),
    hashes.SHA256(),
    hashes.SHA384(),
    hashes.SHA512(),
)


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    response = ocsp.OCSPResponseBuilder.build_unsuccessful(status)
    return response.public_bytes(serialization.Encoding.DER)


_MALFORMED_REQUEST = _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
_UNAUTHORIZED = _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
_INTERNAL_ERROR = _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)


class _MalformedRequest(Exception):
    """The request cannot be understood (RFC 6960 malformedRequest)."""


def _subject_public_key_bits(public_key: IssuerPublicKey) -> bytes:
    # CertID's issuerKeyHash covers the subjectPublicKey BIT STRING's contents: the PKCS#1
    # RSAPublicKey for RSA, the raw key for ML-DSA (RFC 9881 4), the (uncompressed, as our CAs
    # encode it) point for EC.
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    hasher = hashes.Hash(algorithm)
    hasher.update(data)
    return hasher.finalize()


def _issuer_cert_ids(issuer: x509.Certificate, public_key: IssuerPublicKey) -> dict[str, bytes]:
    """name-hash + key-hash of `issuer` for each accepted algorithm, keyed by algorithm name."""
    name_der = issuer.subject.public_bytes()
    key_bits = _subject_public_key_bits(public_key)
    return {
        algorithm.name: _digest(algorithm, name_der) + _digest(algorithm, key_bits)
        for algorithm in _CERT_ID_HASHES
    }


def _load_request(request_der: bytes) -> ocsp.OCSPRequest:
    try:
        return ocsp.load_der_ocsp_request(request_der)
    except ValueError as error:  # not an OCSPRequest
        raise _MalformedRequest from error
    except NotImplementedError as error:
        # Several certificates in one request. RFC 5019 clients ask about one at a time, and
        # answering in bulk would let one request cost many signatures.
        raise _MalformedRequest from error


def _request_nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        nonce_extension = request.extensions.get_extension_for_class(x509.OCSPNonce)
    except x509.ExtensionNotFound:
        return None
    except ValueError as error:  # duplicate or undecodable extensions
        raise _MalformedRequest from error
    nonce = nonce_extension.value.nonce
    if not 1 <= len(nonce) <= _MAX_NONCE_OCTETS:
        raise _MalformedRequest
    return nonce


@dataclass(frozen=True)
class _CachedResponse:
    der: bytes
    signed_at: datetime
    fresh_until: datetime

    def is_fresh(self, now: datetime) -> bool:
        return self.signed_at <= now < self.fresh_until


class OcspResponder:
    """Answers OCSP requests about certificates `issuer` issued, signing as `issuer` itself.

    Responses without a nonce are cached per serial number, CertID hash and status, and served again
    until half their validity has passed (at most four days), so popular certificates cost one
    signature per period; requests with a nonce always get a fresh signature that carries it.
    After revoking a certificate, call `invalidate` so the next answer says so. Safe to share
    between threads.
    """

    def __init__(
        self,
        issuer: x509.Certificate,
        signer: RevocationSigner,
        *,
        validity: timedelta = DEFAULT_OCSP_VALIDITY,
    ) -> None:
        if validity <= timedelta(0):
            raise ValueError("validity must be positive")
        self._issuer = issuer
        self._signer = signer
        self._validity = validity
        self._reuse_for = min(validity / 2, _MAX_RESPONSE_REUSE)
        self._issuer_cert_ids = _issuer_cert_ids(issuer, signer.public_key)
        self._cache: dict[tuple[int, str, str], _CachedResponse] = {}
        self._lock = threading.Lock()

    def respond(
        self, request_der: bytes, status_of: Callable[[int], SerialStatus], now: datetime
    ) -> bytes:
        """The DER OCSPResponse to `request_der`. Never raises: bad requests get malformedRequest,
        requests about another CA's certificates unauthorized, and failures (of `status_of` or
        of the signer) internalError."""
        try:
            return self._respond(request_der, status_of, now)
        except _MalformedRequest:
            return _MALFORMED_REQUEST
        except Exception:
            log.exception("OCSP response for %s failed", self._issuer.subject.rfc4514_string())
            return _INTERNAL_ERROR

    def invalidate(self, serial_number: int) -> None:
        """Forget cached responses about `serial_number` (after its status changed)."""
        with self._lock:
            for key in [key for key in self._cache if key[0] == serial_number]:
                del self._cache[key]

    def _respond(
        self, request_der: bytes, status_of: Callable[[int], SerialStatus], now: datetime
    ) -> bytes:
        request = _load_request(request_der)
        nonce = _request_nonce(request)
        algorithm = self._cert_id_algorithm(request)
        if algorithm is None:
            return _UNAUTHORIZED
        # The status is read every time (the store is the truth shared by every process); the
        # cache only saves the signature, and is keyed by the status, so a revocation made by
        # another process is never hidden behind a cached "good".
        status = status_of(request.serial_number)
        cache_key = (request.serial_number, algorithm.name, status.state)
        if nonce is None:
            cached = self._cached(cache_key, now)
            if cached is not None:
                return cached
        response = self._sign(request, algorithm, status, now, nonce)
        # "unknown" is not cached: the serial may be issued a moment later, and caching it would
        # let anyone fill memory with made-up serials.
        if nonce is None and status.state != "unknown":
            self._store(cache_key, _CachedResponse(response, now, now + self._reuse_for), now)
        return response

    def _cert_id_algorithm(self, request: ocsp.OCSPRequest) -> hashes.HashAlgorithm | None:
        """The request's CertID hash algorithm if the CertID names this issuer, else None."""
        try:
            algorithm = request.hash_algorithm
        except UnsupportedAlgorithm:
            return None
        expected = self._issuer_cert_ids.get(algorithm.name)
        if expected != request.issuer_name_hash + request.issuer_key_hash:
            return None
        return algorithm

    def _cached(self, key: tuple[int, str, str], now: datetime) -> bytes | None:
        with self._lock:
            entry = self._cache.get(key)
        if entry is None or not entry.is_fresh(now):
            return None
        return entry.der

    def _store(self, key: tuple[int, str, str], entry: _CachedResponse, now: datetime) -> None:
        with self._lock:
            if len(self._cache) >= _CACHE_SWEEP_THRESHOLD:
                for stale in [k for k, v in self._cache.items() if not v.is_fresh(now)]:
                    del self._cache[stale]
            self._cache[key] = entry

    def _sign(
        self,
        request: ocsp.OCSPRequest,
        algorithm: hashes.HashAlgorithm,
        status: SerialStatus,
        now: datetime,
        nonce: bytes | None,
    ) -> bytes:
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number,
                algorithm=algorithm,
                cert_status=_cert_status(status),
                this_update=now - _THIS_UPDATE_BACKDATING,
                next_update=now + self._validity,
                revocation_time=status.revoked_at if status.state == "revoked" else None,
                revocation_reason=(
                    _reason_to_publish(status.reason) if status.state == "revoked" else None
                ),
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, self._issuer)
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return self._signer.sign_ocsp_response(builder).public_bytes(serialization.Encoding.DER)


def _cert_status(status: SerialStatus) -> ocsp.OCSPCertStatus:
    if status.state == "good":
        return ocsp.OCSPCertStatus.GOOD
    if status.state == "revoked":
        if status.revoked_at is None:
            raise ValueError("a revoked serial needs its revocation time")
        return ocsp.OCSPCertStatus.REVOKED
    return ocsp.OCSPCertStatus.UNKNOWN


def ocsp_request_from_get_path(path_part: str) -> bytes:
    """The DER request carried in an OCSP GET URL (RFC 6960 A.1).

    `path_part` is everything after the responder's base path: the URL-encoded base64 of the
    request, which may itself contain "/" (many clients leave it unencoded), so it is not split.
    Also accepted: base64url, missing padding, and "+" turned into a space by an intermediary.
    Raises ValueError if it is not base64.
    """
    # A DER request starts with 0x30, "M" in base64, so a leading "/" is the path's, not data.
    text = unquote(path_part).lstrip("/").replace(" ", "+")
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        der = base64.b64decode(text, validate=True)
    except binascii.Error as error:
        raise ValueError("the OCSP GET path is not base64") from error
    if not der:
        raise ValueError("the OCSP GET path is empty")
    return der
