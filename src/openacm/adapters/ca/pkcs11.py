"""A CA key that lives in a PKCS#11 token (an HSM, or SoftHSM2 in tests) and never leaves it.

cryptography's builders only sign with cryptography's own private-key objects, so a token key
signs by *re-signing*: the builder is signed with a throwaway software key of the same family
(RSA, or EC on the same curve) and the same digest, which yields exactly the DER the CA wants
except for the signature, because the signatureAlgorithm identifier depends only on family and
digest. The to-be-signed bytes are then signed in the token and the signature BIT STRING is
swapped in. Every result is verified against the token's public key before it is handed out, so
a bug here can never emit a certificate, CRL or OCSP response with a bad signature.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Final

import pkcs11
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509 import ocsp
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.exceptions import PKCS11Error, SessionHandleInvalid, UserAlreadyLoggedIn
from pkcs11.util.ec import encode_named_curve_parameters
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import namedtype, univ
from pyasn1_alt_modules import rfc2986, rfc5280, rfc6960

from openacm.adapters.ca.algorithms import ClassicCaSigner
from openacm.adapters.ca.lint import throwaway_key_for
from openacm.adapters.ca.signer import CaPublicKey, signature_hash_for

# Key algorithms named as ACM names them; the value is what the token generates.
_RSA_KEY_BITS: Final = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_EC_CURVE_NAMES: Final = {
    "EC_prime256v1": "secp256r1",
    "EC_secp384r1": "secp384r1",
    "EC_secp521r1": "secp521r1",
}
KEY_ALGORITHMS: Final = (*_RSA_KEY_BITS, *_EC_CURVE_NAMES)

_RSA_MECHANISMS: Final = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
# The digests a token key signs with: RSA PKCS#1 v1.5 or ECDSA over one of these.
TokenDigest = hashes.SHA256 | hashes.SHA384 | hashes.SHA512

# A function that signs to-be-signed DER in the token and returns the signature exactly as it
# goes into an X.509 signature BIT STRING (PKCS#1 v1.5 bytes, or a DER ECDSA-Sig-Value).
SignTbs = Callable[[bytes], bytes]


class Pkcs11Error(Exception):
    """A token refused or failed an operation. Messages name the token and key, never the PIN."""


@dataclass(frozen=True)
class Pkcs11Config:
    module_path: str
    token_label: str
    # repr=False: a config that ends up in a log line or a traceback must not show the PIN.
    pin: str = field(repr=False)


class Pkcs11Token:
    """One logged-in session on one token, shared by every signer made from it.

    python-pkcs11 sessions are not thread-safe, so every use of the session holds `_lock`.
    """

    def __init__(self, config: Pkcs11Config) -> None:
        self._config = config
        self._lock = threading.Lock()
        with self._token_errors(f"load the module {config.module_path!r}"):
            module = pkcs11.lib(config.module_path)
        with self._token_errors("find the token"):
            token = module.get_token(token_label=config.token_label)
        with self._token_errors("log in"):
            self._session: pkcs11.Session | None = _logged_in_session(token, config.pin)

    def generate_key(self, label: str, algorithm: str) -> None:
        """Make a signing key pair on the token; the private half is sensitive and
        non-extractable, so not even this process can read it back."""
        if algorithm not in KEY_ALGORITHMS:
            raise ValueError(f"unsupported key algorithm {algorithm!r}")
        with self._lock, self._token_errors("generate a key", label):
            session = self._open_session()
            if self._find_key(session, ObjectClass.PRIVATE_KEY, label) is not None:
                raise Pkcs11Error(self._describe(f"a key labelled {label!r} already exists"))
            _generate_key_pair(session, label, algorithm)

    def has_key(self, label: str) -> bool:
        with self._lock, self._token_errors("look up a key", label):
            session = self._open_session()
            return self._find_key(session, ObjectClass.PRIVATE_KEY, label) is not None

    def destroy_key(self, label: str) -> bool:
        """Remove the key pair labelled `label` from the token; False when there is none."""
        with self._lock, self._token_errors("destroy a key", label):
            session = self._open_session()
            found = [
                self._find_key(session, object_class, label)
                for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
            ]
            for key_object in found:
                if key_object is not None:
                    key_object.destroy()
            return any(key_object is not None for key_object in found)

    def signer(self, label: str, digest: TokenDigest | None = None) -> Pkcs11Signer:
        """A `CaSigner` for the existing key pair labelled `label`, signing with `digest`
        (by default the one `signature_hash_for` picks for the key)."""
        with self._lock, self._token_errors("open a key", label):
            session = self._open_session()
            private_key = self._find_key(session, ObjectClass.PRIVATE_KEY, label)
            public_key_object = self._find_key(session, ObjectClass.PUBLIC_KEY, label)
            if private_key is None or public_key_object is None:
                raise Pkcs11Error(self._describe(f"no key pair labelled {label!r}"))
            if not isinstance(private_key, pkcs11.SignMixin):
                raise Pkcs11Error(self._describe(f"key {label!r} cannot sign"))
            public_key = _public_key_from_token(public_key_object)
        if public_key is None:
            raise Pkcs11Error(self._describe(f"key {label!r} is neither RSA nor EC"))
        digest = digest or signature_hash_for(public_key)
        sign_tbs = functools.partial(self._sign_tbs, private_key, public_key, label, digest)
        return Pkcs11Signer(public_key, sign_tbs, self._describe(f"key {label!r}"), digest)

    def close(self) -> None:
        with self._lock:
            if self._session is None:
                return
            session, self._session = self._session, None
            with self._token_errors("close the session"), suppress(SessionHandleInvalid):
                # An invalid handle means the session is already gone (the module was
                # finalised): what close() is for has happened.
                session.close()

    def __enter__(self) -> Pkcs11Token:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _sign_tbs(
        self,
        private_key: pkcs11.SignMixin,
        public_key: CaPublicKey,
        label: str,
        digest: TokenDigest,
        tbs: bytes,
    ) -> bytes:
        if isinstance(public_key, rsa.RSAPublicKey):
            return self._sign_in_token(private_key, label, tbs, _RSA_MECHANISMS[digest.name])
        # Raw CKM_ECDSA over a digest computed here: SoftHSM2 (and some HSMs) lack the
        # CKM_ECDSA_SHA* combinations.
        raw_signature = self._sign_in_token(
            private_key, label, _digest(digest, tbs), Mechanism.ECDSA
        )
        return _ecdsa_sig_value(raw_signature)

    def _sign_in_token(
        self, private_key: pkcs11.SignMixin, label: str, data: bytes, mechanism: Mechanism
    ) -> bytes:
        with self._lock, self._token_errors("sign", label):
            self._open_session()  # a closed token must not sign through a stale key handle
            return private_key.sign(data, mechanism=mechanism)

    def _open_session(self) -> pkcs11.Session:
        if self._session is None:
            raise Pkcs11Error(self._describe("the token has been closed"))
        return self._session

    def _find_key(
        self, session: pkcs11.Session, object_class: ObjectClass, label: str
    ) -> pkcs11.Object | None:
        found = list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label}))
        if len(found) > 1:
            raise Pkcs11Error(self._describe(f"more than one {object_class.name} {label!r}"))
        return found[0] if found else None

    def _describe(self, problem: str) -> str:
        return f"PKCS#11 token {self._config.token_label!r}: {problem}"

    @contextmanager
    def _token_errors(self, action: str, label: str | None = None) -> Iterator[None]:
        """Turn python-pkcs11's exceptions into `Pkcs11Error`. Only the exception's class name
        is kept (PinIncorrect, NoSuchToken, ...): it says what went wrong without echoing
        whatever the library put in its message."""
        try:
            yield
        except PKCS11Error as error:
            key = f" key {label!r}" if label is not None else ""
            raise Pkcs11Error(
                self._describe(f"could not {action}{key}: {type(error).__name__}")
            ) from None


class Pkcs11Signer:
    """A `CaSigner` whose private key stays in a token; see the module docstring."""

    def __init__(
        self,
        public_key: CaPublicKey,
        sign_tbs: SignTbs,
        description: str,
        digest: TokenDigest | None = None,
    ) -> None:
        self._public_key = public_key
        self._sign_tbs = sign_tbs
        self._description = description  # names the token and key in errors
        self._hash: TokenDigest = digest or signature_hash_for(public_key)

    @property
    def public_key(self) -> CaPublicKey:
        return self._public_key

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        draft = builder.sign(throwaway_key_for(self._public_key), self._hash)
        signed = x509.load_der_x509_certificate(self._resign_envelope(draft))
        self._verify(signed.signature, signed.tbs_certificate_bytes)
        return signed

    def sign_crl(
        self, builder: x509.CertificateRevocationListBuilder
    ) -> x509.CertificateRevocationList:
        draft = builder.sign(throwaway_key_for(self._public_key), self._hash)
        signed = x509.load_der_x509_crl(self._resign_envelope(draft))
        self._verify(signed.signature, signed.tbs_certlist_bytes)
        return signed

    def sign_csr(
        self, builder: x509.CertificateSigningRequestBuilder
    ) -> x509.CertificateSigningRequest:
        """A CSR signed in the token: a private CA's own request (GetCertificateAuthorityCsr).
        A CSR carries the signing key's public key, so besides the signature the draft's
        subjectPKInfo (the throwaway key's) is replaced with the token key's before the
        to-be-signed bytes are signed."""
        draft = builder.sign(throwaway_key_for(self._public_key), self._hash)
        request, _ = decoder.decode(
            draft.public_bytes(serialization.Encoding.DER),
            asn1Spec=rfc2986.CertificationRequest(),
        )
        info = request["certificationRequestInfo"]
        token_key_info, _ = decoder.decode(
            self._public_key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            asn1Spec=type(info["subjectPKInfo"])(),
        )
        info["subjectPKInfo"] = token_key_info
        request["signature"] = univ.BitString.fromOctetString(
            self._sign_tbs(bytes(encoder.encode(info)))
        )
        signed = x509.load_der_x509_csr(bytes(encoder.encode(request)))
        self._verify(signed.signature, signed.tbs_certrequest_bytes)
        if signed.public_key() != self._public_key:
            raise Pkcs11Error(f"{self._description}: the re-signed request lost its key")
        return signed

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        responder_cert, encoding = _responder_of(builder)
        if responder_cert.public_key() != self._public_key:
            # The same refusal SoftwareSigner gets from cryptography for a mismatched key.
            raise ValueError("Certificate public key and provided private key do not match")
        draft = _with_responder(builder, _throwaway_responder(responder_cert), encoding).sign(
            throwaway_key_for(self._public_key), self._hash
        )
        der = _resign_ocsp_response(draft, _responder_id(responder_cert, encoding), self._sign_tbs)
        signed = ocsp.load_der_ocsp_response(der)
        self._verify(signed.signature, signed.tbs_response_bytes)
        if not _names_responder(signed, responder_cert, encoding):
            raise Pkcs11Error(f"{self._description}: the re-signed response lost its responder")
        return signed

    def _resign_envelope(self, draft: x509.Certificate | x509.CertificateRevocationList) -> bytes:
        envelope, _ = decoder.decode(
            draft.public_bytes(serialization.Encoding.DER), asn1Spec=_SignedEnvelope()
        )
        envelope["signature"] = univ.BitString.fromOctetString(
            self._sign_tbs(bytes(envelope["toBeSigned"]))
        )
        return bytes(encoder.encode(envelope))

    def _verify(self, signature: bytes, tbs: bytes) -> None:
        """The last line of defence: never hand out something the CA key did not sign."""
        try:
            if isinstance(self._public_key, rsa.RSAPublicKey):
                self._public_key.verify(signature, tbs, padding.PKCS1v15(), self._hash)
            else:
                self._public_key.verify(signature, tbs, ec.ECDSA(self._hash))
        except InvalidSignature:
            raise Pkcs11Error(
                f"{self._description}: the token's signature does not verify"
            ) from None


class _SignedEnvelope(univ.Sequence):  # type: ignore[misc]
    """X.509's SIGNED{} shape (Certificate, CertificateList): the to-be-signed part is kept as
    raw DER (`Any`), so a CRL with a hundred thousand entries costs a copy, not a parse, and
    the bytes signed are byte-for-byte the ones cryptography produced."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("toBeSigned", univ.Any()),
        namedtype.NamedType("signatureAlgorithm", univ.Any()),
        namedtype.NamedType("signature", univ.BitString()),
    )


# --- OCSP -----------------------------------------------------------------------------------
# OCSPResponseBuilder.sign() refuses a key that does not match the responder certificate, so
# the draft is built against a throwaway responder certificate (the real subject, the throwaway
# key) and the real responderID is written into the response before the token signs it. The
# builder keeps its parts in private attributes; cryptography is pinned to one major version
# (pyproject), and the round trip is checked after every signature.


def _responder_of(
    builder: ocsp.OCSPResponseBuilder,
) -> tuple[x509.Certificate, ocsp.OCSPResponderEncoding]:
    if builder._responder_id is None:
        raise ValueError("You must add a responder_id before signing")
    return builder._responder_id


def _with_responder(
    builder: ocsp.OCSPResponseBuilder,
    responder_cert: x509.Certificate,
    encoding: ocsp.OCSPResponderEncoding,
) -> ocsp.OCSPResponseBuilder:
    return ocsp.OCSPResponseBuilder(
        builder._response, (responder_cert, encoding), builder._certs, builder._extensions
    )


@functools.lru_cache(maxsize=16)
def _throwaway_responder(responder_cert: x509.Certificate) -> x509.Certificate:
    throwaway_key = throwaway_key_for(_ca_public_key(responder_cert))
    return (
        x509.CertificateBuilder()
        .subject_name(responder_cert.subject)
        .issuer_name(responder_cert.subject)
        .public_key(throwaway_key.public_key())
        .serial_number(1)
        .not_valid_before(responder_cert.not_valid_before_utc)
        .not_valid_after(responder_cert.not_valid_after_utc)
        .sign(throwaway_key, hashes.SHA256())
    )


def _responder_id(responder_cert: x509.Certificate, encoding: ocsp.OCSPResponderEncoding) -> Any:
    """RFC 6960's ResponderID for the real responder: its subject exactly as encoded in its
    certificate, or the SHA-1 of its subjectPublicKey BIT STRING value."""
    tbs, _ = decoder.decode(responder_cert.tbs_certificate_bytes, asn1Spec=rfc5280.TBSCertificate())
    responder_id = rfc6960.ResponderID()
    if encoding is ocsp.OCSPResponderEncoding.HASH:
        key_bits = tbs["subjectPublicKeyInfo"]["subjectPublicKey"].asOctets()
        responder_id["byKey"] = hashlib.sha1(key_bits).digest()
    else:
        # Filled in place: the explicitly tagged [1] Name will not take the untagged one.
        responder_id["byName"]["rdnSequence"] = tbs["subject"]["rdnSequence"]
    return responder_id


def _resign_ocsp_response(draft: ocsp.OCSPResponse, responder_id: Any, sign_tbs: SignTbs) -> bytes:
    response, _ = decoder.decode(
        draft.public_bytes(serialization.Encoding.DER), asn1Spec=rfc6960.OCSPResponse()
    )
    basic, _ = decoder.decode(
        response["responseBytes"]["response"], asn1Spec=rfc6960.BasicOCSPResponse()
    )
    basic["tbsResponseData"]["responderID"] = responder_id
    tbs = encoder.encode(basic["tbsResponseData"])
    basic["signature"] = univ.BitString.fromOctetString(sign_tbs(tbs))
    response["responseBytes"]["response"] = encoder.encode(basic)
    return bytes(encoder.encode(response))


def _names_responder(
    response: ocsp.OCSPResponse,
    responder_cert: x509.Certificate,
    encoding: ocsp.OCSPResponderEncoding,
) -> bool:
    if encoding is ocsp.OCSPResponderEncoding.HASH:
        # RFC 5280's SKI method 1 is the same SHA-1 of the subjectPublicKey bits.
        expected = x509.SubjectKeyIdentifier.from_public_key(_ca_public_key(responder_cert))
        return response.responder_key_hash == expected.digest
    return response.responder_name == responder_cert.subject


# --- token helpers --------------------------------------------------------------------------


def _logged_in_session(token: pkcs11.Token, pin: str) -> pkcs11.Session:
    try:
        return token.open(rw=True, user_pin=pin)
    except UserAlreadyLoggedIn:
        # PKCS#11 login state belongs to the application, not the session: another
        # Pkcs11Token in this process is already logged in to this token.
        return token.open(rw=True)


def _generate_key_pair(session: pkcs11.Session, label: str, algorithm: str) -> None:
    private_template = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
    }
    common: dict[str, Any] = {
        "label": label,
        # One CKA_ID shared by both halves: the convention pkcs11-tool and OpenSSL's
        # providers use to pair them.
        "id": os.urandom(16),
        "store": True,
        "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,
        "private_template": private_template,
    }
    if algorithm in _RSA_KEY_BITS:
        session.generate_keypair(KeyType.RSA, _RSA_KEY_BITS[algorithm], **common)
    else:
        curve_parameters = encode_named_curve_parameters(_EC_CURVE_NAMES[algorithm])
        session.generate_keypair(
            KeyType.EC, public_template={Attribute.EC_PARAMS: curve_parameters}, **common
        )


def _public_key_from_token(public_key_object: pkcs11.Object) -> CaPublicKey | None:
    key_type = public_key_object[Attribute.KEY_TYPE]
    if key_type == KeyType.RSA:
        modulus = int.from_bytes(public_key_object[Attribute.MODULUS], "big")
        exponent = int.from_bytes(public_key_object[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    if key_type == KeyType.EC:
        curve = _curve_from_parameters(bytes(public_key_object[Attribute.EC_PARAMS]))
        point = _ec_point(bytes(public_key_object[Attribute.EC_POINT]), curve)
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    return None


def _curve_from_parameters(ec_params: bytes) -> ec.EllipticCurve:
    """CKA_EC_PARAMS holds the DER of the curve's OID (namedCurve)."""
    oid, _ = decoder.decode(ec_params, asn1Spec=univ.ObjectIdentifier())
    return ec.get_curve_for_oid(x509.ObjectIdentifier(str(oid)))()


def _ec_point(ec_point: bytes, curve: ec.EllipticCurve) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING around the uncompressed point (PKCS#11 2.40); some
    tokens return the bare point, which is one byte plus two coordinates long."""
    bare_length = 1 + 2 * ((curve.key_size + 7) // 8)
    if len(ec_point) == bare_length:
        return ec_point
    point, _ = decoder.decode(ec_point, asn1Spec=univ.OctetString())
    return bytes(point)


def _ecdsa_sig_value(raw_signature: bytes) -> bytes:
    """PKCS#11 returns r || s, each half the signature's length; X.509 wants ECDSA-Sig-Value."""
    half = len(raw_signature) // 2
    r = int.from_bytes(raw_signature[:half], "big")
    s = int.from_bytes(raw_signature[half:], "big")
    return encode_dss_signature(r, s)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    hasher = hashes.Hash(algorithm)
    hasher.update(data)
    return hasher.finalize()


def _ca_public_key(certificate: x509.Certificate) -> CaPublicKey:
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("a CA key must be RSA or EC")
    return public_key


class Pkcs11PrivateCaSigner(ClassicCaSigner):
    """A private CA (ACM-PCA) whose key lives in the token: a `ClassicCaSigner`, so issuance,
    the CRL builder and the OCSP responder take it like a software key. There is no software
    key behind it: every operation goes to the token signer, with the digest of the CA's
    SigningAlgorithm (RSA PKCS#1 v1.5 or ECDSA; `domain.pca.check_token_algorithms`)."""

    def __init__(self, token_signer: Pkcs11Signer, signing_algorithm: str) -> None:
        # Deliberately not ClassicCaSigner.__init__: that one holds a software key.
        self.signing_algorithm = signing_algorithm
        self._token_signer = token_signer

    @property
    def public_key(self) -> CaPublicKey:
        return self._token_signer.public_key

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return self._token_signer.sign_certificate(builder)

    def sign_crl(
        self, builder: x509.CertificateRevocationListBuilder
    ) -> x509.CertificateRevocationList:
        return self._token_signer.sign_crl(builder)

    def sign_csr(
        self, builder: x509.CertificateSigningRequestBuilder
    ) -> x509.CertificateSigningRequest:
        return self._token_signer.sign_csr(builder)

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        return self._token_signer.sign_ocsp_response(builder)
