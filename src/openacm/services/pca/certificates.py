"""IssueCertificate, GetCertificate and RevokeCertificate of the ACM-PCA API.

Each handler takes the call context and the validated input (member names as in the model)
and returns the output members. One transaction per call; issuing signs inside it (a few
milliseconds, tens for RSA 4096), so the certificate, its serial and the quota counter are
committed together or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

import orjson
from cryptography import x509

from openacm.adapters.ca.private_issuance import PrivateCertificateRequest
from openacm.adapters.store.accounts import AccountStore, StoredToken
from openacm.adapters.store.pca import IssuedCertificate, IssuedCertificateStore, PrivateCaRecord
from openacm.domain import pca
from openacm.domain.arn import parse_arn
from openacm.domain.errors import InvalidArnError, ResourceNotFoundError
from openacm.domain.pca_templates import template_for_arn
from openacm.domain.pca_validity import ValidityPeriod, validity_period_from_wire
from openacm.services.context import CallContext
from openacm.services.pca.authorities import CertificateAuthorities
from openacm.services.pca.issuance import (
    PrivateCertificateIssuer,
    serial_of_certificate_arn,
    validity_window,
)
from openacm.services.pca.revocation import PrivateCaRevocation, crl_enabled

__all__ = ["CertificateOperations", "normalized_serial"]

_HEX: Final = frozenset("0123456789abcdef")


def normalized_serial(text: str) -> str | None:
    """A CertificateSerial as the store keys it (lowercase hex, no separators or leading
    zeros), from the forms people paste: `openssl x509 -serial` (hex), `-text` (colon-separated
    bytes), either case. None when it is not hexadecimal."""
    compact = text.strip().replace(":", "").lower()
    if not compact or not set(compact) <= _HEX:
        return None
    return compact.lstrip("0") or "0"


def _request_digest(params: Mapping[str, Any]) -> str:
    """What makes two IssueCertificate calls "the same request" for its IdempotencyToken."""
    relevant = {key: value for key, value in params.items() if key != "IdempotencyToken"}
    encoded = orjson.dumps(
        relevant,
        option=orjson.OPT_SORT_KEYS,
        default=lambda value: (
            hashlib.sha256(value).hexdigest() if isinstance(value, bytes) else str(value)
        ),
    )
    return hashlib.sha256(encoded).hexdigest()[:16]


class CertificateOperations:
    def __init__(
        self,
        authorities: CertificateAuthorities,
        issuer: PrivateCertificateIssuer,
        revocation: PrivateCaRevocation,
    ) -> None:
        self.cas = authorities
        self.db = authorities.db
        self.issuer = issuer
        self.revocation = revocation

    # -- IssueCertificate -----------------------------------------------------------------

    def issue_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        """Sign the CSR with the CA's key. The same IdempotencyToken with the same request
        within five minutes answers the first call's CertificateArn and issues nothing; with
        another request it is a new certificate ("if you change the idempotency token for each
        call, PCA recognizes that you are requesting multiple certificates")."""
        template_arn = params.get("TemplateArn")
        template = template_for_arn(template_arn)
        validity = validity_period_from_wire(params["Validity"], "Validity")
        not_before: ValidityPeriod | None = None
        if params.get("ValidityNotBefore") is not None:
            not_before = validity_period_from_wire(params["ValidityNotBefore"], "ValidityNotBefore")
        token = params.get("IdempotencyToken")
        digest = _request_digest(params)
        scope = (ctx.account_id, ctx.region, "IssueCertificate")
        with self.db.write() as conn:
            accounts = AccountStore(conn)
            earlier: StoredToken | None = None
            if token:
                # Two calls with one token must not both issue.
                accounts.lock_account(ctx.account_id)
                earlier = accounts.token(
                    scope, token, since=ctx.now - pca.IDEMPOTENCY_WINDOW_SECONDS
                )
                if earlier is not None and earlier.request_digest == digest:
                    answer: dict[str, Any] = orjson.loads(earlier.response_json)
                    return answer
            ca = self.cas.load(
                conn,
                ctx,
                params["CertificateAuthorityArn"],
                "IssueCertificate",
                shareable=True,
                state_rule=pca.ROOT_SELF_ISSUE if template.self_signed else None,
                params=params,
            )
            request = PrivateCertificateRequest(
                csr=params["Csr"],
                validity=validity_window(ca, template_arn, validity, not_before, now=ctx.now),
                template_arn=template_arn,
                api_passthrough=params.get("ApiPassthrough"),
            )
            issued = self.issuer.issue(
                conn, ca, request, signing_algorithm=params["SigningAlgorithm"], now=ctx.now
            )
            answer = {"CertificateArn": issued.certificate_arn}
            if token and earlier is None:
                accounts.put_token(
                    scope, token, StoredToken(digest, orjson.dumps(answer).decode(), ctx.now)
                )
        return answer

    # -- GetCertificate -------------------------------------------------------------------

    def get_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        """The certificate and the chain of the CA that issued it. Issuance is synchronous in
        openacm, so RequestInProgressException never answers a certificate (only a CA still
        CREATING, which has none)."""
        certificate_arn = params["CertificateArn"]
        _check_certificate_arn_shape(certificate_arn)
        with self.db.read() as conn:
            ca = self.cas.load(
                conn, ctx, params["CertificateAuthorityArn"], "GetCertificate", shareable=True
            )
            serial = serial_of_certificate_arn(ca.arn, certificate_arn)
            entry = None if serial is None else IssuedCertificateStore(conn).get(ca.arn, serial)
        if entry is None or entry.certificate_arn != certificate_arn:
            raise ResourceNotFoundError(f"Could not find certificate {certificate_arn}.")
        answer = {"Certificate": entry.certificate_pem}
        chain = _chain_for(ca, entry)
        if chain:
            answer["CertificateChain"] = chain
        return answer

    # -- RevokeCertificate ----------------------------------------------------------------

    def revoke_certificate(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        """Mark the serial revoked and, when the CA publishes CRLs, sign its new CRL in the
        same transaction; OCSP reads the store, so every process answers "revoked" at once."""
        serial = normalized_serial(params["CertificateSerial"])
        if serial is None:
            raise pca.InvalidRequestError(
                f"The certificate serial {params['CertificateSerial']} is not a hexadecimal "
                "serial number."
            )
        with self.db.write() as conn:
            ca = self.cas.load(
                conn, ctx, params["CertificateAuthorityArn"], "RevokeCertificate", shareable=True
            )
            store = IssuedCertificateStore(conn)
            entry = store.get(ca.arn, serial)
            if entry is None:
                raise ResourceNotFoundError(
                    f"Could not find certificate with serial {params['CertificateSerial']} "
                    f"issued by {ca.arn}."
                )
            if entry.revoked_at is not None:
                raise pca.RequestAlreadyProcessedError("The certificate is already revoked.")
            if ca.serial is not None and normalized_serial(ca.serial) == serial:
                raise pca.InvalidRequestError(
                    "The certificate authority's own certificate cannot be revoked."
                )
            store.revoke(ca.arn, serial, params["RevocationReason"], ctx.now)
            if crl_enabled(ca) and ca.certificate_pem is not None:
                self.revocation.regenerate_crl(conn, ca, now=ctx.now)
        self.revocation.invalidate(ca.arn, int(serial, 16))
        return {}


def _check_certificate_arn_shape(arn: str) -> None:
    parsed = parse_arn(arn)
    if (
        parsed.service != "acm-pca"
        or parsed.resource_type != "certificate-authority"
        or "/certificate/" not in arn
    ):
        raise InvalidArnError(f"String '{arn}' is not a valid ARN")


def _chain_for(ca: PrivateCaRecord, entry: IssuedCertificate) -> str:
    """The issuing CA's chain for an issued certificate; nothing for the CA's own
    self-signed certificate (RootCACertificate/V1), which is its whole chain."""
    certificate = x509.load_pem_x509_certificate(entry.certificate_pem.encode())
    if certificate.issuer == certificate.subject or ca.certificate_pem is None:
        return ""
    parts = [ca.certificate_pem, ca.chain_pem or ""]
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts if part)
