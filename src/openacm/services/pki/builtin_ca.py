"""openacm's own public CA: one root, an RSA and an ECDSA issuing CA, created on first start.

The keys are sealed in the store like every other key (or generated inside a PKCS#11 token
when `[issuance] ca_key_storage = "pkcs11"`), and the certificates carry CRL, OCSP and
CA-issuer links to this server. Every process loads the same hierarchy from the store.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from openacm.adapters.ca.algorithms import load_private_key
from openacm.adapters.ca.hierarchy import (
    ca_subject,
    create_builtin_hierarchy,
    intermediate_certificate_builder,
    root_certificate_builder,
)
from openacm.adapters.ca.revocation import OcspResponder
from openacm.adapters.ca.signer import CaPrivateKey, CaSigner, SoftwareSigner
from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import AuthorityStore, StoredCa
from openacm.config import IssuanceSettings, Settings
from openacm.domain.issuance import CaUrls
from openacm.services.pki.leaf_keys import private_key_der

if TYPE_CHECKING:
    from openacm.adapters.ca.pkcs11 import Pkcs11Config

ISSUER = "builtin"
ORGANIZATION = "openacm"
ROOT, RSA, ECDSA = "root", "rsa", "ecdsa"
PG_CA_CREATION_LOCK_ID = 0x0A_C0_0002


def public_base_url(settings: Settings) -> str:
    """Where certificates point for CRLs, OCSP and CA certificates."""
    if settings.issuance.public_url:
        return settings.issuance.public_url.rstrip("/")
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    # CRLs and OCSP are fetched over plain HTTP (CA/B BR 7.1.2.11.2): the PKI port when there
    # is one, else the API port.
    port = settings.pki_port if settings.pki_port is not None else settings.port
    return f"http://{host}:{port}"


def ca_urls(base_url: str, ca_id: str) -> CaUrls:
    """The links a certificate signed by `ca_id` carries."""
    return CaUrls(
        crl_url=f"{base_url}/crl/{ca_id}.crl",
        ocsp_url=f"{base_url}/ocsp/{ca_id}",
        ca_issuers_url=f"{base_url}/ca/{ca_id}.cer",
    )


def _sealed_context(ca_id: str) -> str:
    return f"ca-key:{ca_id}"


@dataclass
class LoadedCa:
    ca_id: str
    role: str
    certificate: x509.Certificate
    signer: CaSigner
    # Links put into the certificates this CA signs.
    urls: CaUrls
    ocsp: OcspResponder

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


SignerFactory = Callable[[StoredCa], CaSigner]


class BuiltinCa:
    def __init__(self, cas: dict[str, LoadedCa]) -> None:
        self.by_id = cas
        self.by_role = {ca.role: ca for ca in cas.values()}

    @property
    def root(self) -> LoadedCa:
        return self.by_role[ROOT]

    def intermediate_for(self, key_algorithm: str) -> LoadedCa:
        """RSA leaves are signed by the RSA issuing CA, EC leaves by the ECDSA one."""
        return self.by_role[ECDSA if key_algorithm.startswith("EC_") else RSA]

    def chain_pem(self, issuing: LoadedCa) -> str:
        """GetCertificate's CertificateChain: the issuing CA, then the root."""
        return issuing.certificate_pem + self.root.certificate_pem

    def roots_pem(self) -> str:
        return self.root.certificate_pem

    # -- loading and creating ---------------------------------------------------------------

    @classmethod
    def load(cls, db: Database, signer_for: SignerFactory, base_url: str) -> BuiltinCa:
        with db.read() as conn:
            stored = AuthorityStore(conn).cas(ISSUER)
        if {ca.role for ca in stored} != {ROOT, RSA, ECDSA}:
            raise RuntimeError("the builtin CA has not been created; start `openacm serve` once")
        loaded: dict[str, LoadedCa] = {}
        for ca in stored:
            certificate = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
            signer = signer_for(ca)
            loaded[ca.ca_id] = LoadedCa(
                ca_id=ca.ca_id,
                role=ca.role,
                certificate=certificate,
                signer=signer,
                urls=ca_urls(base_url, ca.ca_id),
                ocsp=OcspResponder(certificate, signer),
            )
        return cls(loaded)

    @staticmethod
    def ensure_created(
        db: Database, cipher: EnvelopeCipher, settings: Settings, *, now: float
    ) -> bool:
        """Create the hierarchy if the store has none; True when this call created it."""
        with db.read() as conn:
            if AuthorityStore(conn).cas(ISSUER):
                return False
        label = secrets.token_hex(4)
        ids = {role: f"{ISSUER}-{role}-{label}" for role in (ROOT, RSA, ECDSA)}
        base_url = public_base_url(settings)
        if settings.issuance.ca_key_storage == "pkcs11":
            rows = _pkcs11_hierarchy(settings.issuance, ids, base_url, now, label)
        else:
            rows = _envelope_hierarchy(cipher, ids, base_url, now, label)
        with db.write() as conn:
            if not db.is_sqlite:
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_CA_CREATION_LOCK_ID}
                )
            store = AuthorityStore(conn)
            if store.cas(ISSUER):
                return False  # another process won the race; its hierarchy stands
            for row in rows:
                store.insert_ca(row, now)
        return True


def _stored(ca_id: str, role: str, certificate: x509.Certificate, **key: object) -> StoredCa:
    return StoredCa(
        ca_id=ca_id,
        issuer=ISSUER,
        role=role,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        key_storage=str(key.get("key_storage", "envelope")),
        key_sealed=key.get("key_sealed"),  # type: ignore[arg-type]
        key_label=key.get("key_label"),  # type: ignore[arg-type]
        crl_number=0,
        crl_der=None,
        crl_next_update=None,
    )


def _envelope_hierarchy(
    cipher: EnvelopeCipher, ids: dict[str, str], base_url: str, now: float, label: str
) -> list[StoredCa]:
    hierarchy = create_builtin_hierarchy(
        now=datetime.fromtimestamp(now, UTC),
        installation_label=label,
        root_urls=ca_urls(base_url, ids[ROOT]),
    )
    rows = []
    for role, material in (
        (ROOT, hierarchy.root),
        (RSA, hierarchy.rsa_intermediate),
        (ECDSA, hierarchy.ecdsa_intermediate),
    ):
        sealed = cipher.seal(private_key_der(material.private_key), _sealed_context(ids[role]))
        rows.append(_stored(ids[role], role, material.certificate, key_sealed=sealed))
    return rows


def _pkcs11_hierarchy(
    issuance: IssuanceSettings, ids: dict[str, str], base_url: str, now: float, label: str
) -> list[StoredCa]:
    """The same hierarchy with keys generated inside the token (never outside it)."""
    from openacm.adapters.ca.pkcs11 import Pkcs11Token

    token = Pkcs11Token(pkcs11_config(issuance))
    try:
        when = datetime.fromtimestamp(now, UTC)
        algorithms = {ROOT: "RSA_4096", RSA: "RSA_3072", ECDSA: "EC_secp384r1"}
        subjects = {
            ROOT: ca_subject(f"{ORGANIZATION} Root CA {label}", ORGANIZATION),
            RSA: ca_subject(f"{ORGANIZATION} RSA Issuing CA {label}", ORGANIZATION),
            ECDSA: ca_subject(f"{ORGANIZATION} ECDSA Issuing CA {label}", ORGANIZATION),
        }
        for role, algorithm in algorithms.items():
            token.generate_key(_token_label(ids[role]), algorithm)
        root_signer = token.signer(_token_label(ids[ROOT]))
        root = root_signer.sign_certificate(
            root_certificate_builder(root_signer.public_key, subjects[ROOT], when)
        )
        certificates = {ROOT: root}
        for role in (RSA, ECDSA):
            builder = intermediate_certificate_builder(
                token.signer(_token_label(ids[role])).public_key,
                subjects[role],
                root,
                when,
                ca_urls(base_url, ids[ROOT]),
            )
            certificates[role] = root_signer.sign_certificate(builder)
        return [
            _stored(
                ids[role],
                role,
                certificate,
                key_storage="pkcs11",
                key_label=_token_label(ids[role]),
            )
            for role, certificate in certificates.items()
        ]
    finally:
        token.close()


def _token_label(ca_id: str) -> str:
    return f"openacm-{ca_id}"


def pkcs11_config(issuance: IssuanceSettings) -> Pkcs11Config:
    from openacm.adapters.ca.pkcs11 import Pkcs11Config  # python-pkcs11 only when configured

    if not (issuance.pkcs11_module and issuance.pkcs11_token_label):
        raise ValueError(
            "ca_key_storage = pkcs11 needs [issuance] pkcs11_module and pkcs11_token_label"
        )
    return Pkcs11Config(
        module_path=issuance.pkcs11_module,
        token_label=issuance.pkcs11_token_label,
        pin=issuance.pkcs11_pin,
    )


def signer_factory(cipher: EnvelopeCipher, issuance: IssuanceSettings) -> SignerFactory:
    """How this process opens each CA's key: unseal it, or find it in the token."""
    tokens: list[object] = []

    def signer_for(ca: StoredCa) -> CaSigner:
        if ca.key_storage == "pkcs11":
            from openacm.adapters.ca.pkcs11 import Pkcs11Token

            if not tokens:
                tokens.append(Pkcs11Token(pkcs11_config(issuance)))
            token = tokens[0]
            assert isinstance(token, Pkcs11Token)
            return token.signer(ca.key_label or _token_label(ca.ca_id))
        assert ca.key_sealed is not None
        key = load_private_key(cipher.open(ca.key_sealed, _sealed_context(ca.ca_id)))
        assert isinstance(key, CaPrivateKey)
        return SoftwareSigner(key)

    return signer_for
