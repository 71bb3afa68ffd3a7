"""The ACME server (RFC 8555) of an ACM ACME endpoint: accounts (bound by external account
bindings, key rollover), orders (names pre-approved by domain validations, or challenged as
the installation allows), authorizations, finalize, certificate download, revocation and
RFC 9773 renewal information.

The protocol layer (protocol/acme.py) has verified the JWS and its nonce and URL before any
of these run; they get the endpoint, the account (or the new account's key) and the payload,
and return resource documents or raise `AcmeProblem`. Certificates are signed by the builtin
CA through `LeafIssuer`, or by the endpoint's private CA through ACM's private issuance,
stored as ACM certificates with key pair origin ACME (the key stays with the client: nothing
to export), counted in ACM's quotas and announced like any other issuance.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection

from openacm.adapters.dns.resolver import DnsChecker
from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.acme_endpoints import AcmeEndpointStore
from openacm.adapters.store.acme_resources import BindingStore, DomainValidationStore
from openacm.adapters.store.acme_server import (
    AcmeAccount,
    AcmeAuthorization,
    AcmeOrder,
    AcmeStateStore,
)
from openacm.adapters.store.certificates import CertificateStore, TagStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import AuthorityStore
from openacm.adapters.store.pca import IssuedCertificateStore, PrivateCaStore
from openacm.config import Quotas
from openacm.domain.acme_endpoints import ACTIVE, AcmeEndpointRecord
from openacm.domain.acme_resources import uncovered
from openacm.domain.acme_server import (
    ERROR_NAMESPACE,
    NONCE_LIFETIME_SECONDS,
    ORDER_LIFETIME_SECONDS,
    AcmeProblem,
    b64url,
    b64url_decode,
    check_csr,
    malformed,
    order_identifiers,
)
from openacm.domain.arn import certificate_arn
from openacm.domain.certificates import CertificateRecord
from openacm.domain.errors import ApiError, LimitExceededError
from openacm.domain.renewal import renewal_due_at
from openacm.services.acm.certificates import check_certificate_quotas
from openacm.services.acm.private_issuance import AcmPrivateIssuer
from openacm.services.acm.revocation import revoke_issued
from openacm.services.acme.challenges import DNS01, ChallengeChecker, ChallengePorts
from openacm.services.context import CallContext
from openacm.services.events import emit_available
from openacm.services.iam.authorizer import Authorizer
from openacm.services.pca.revocation import PrivateCaRevocation, crl_enabled
from openacm.services.pki.builtin_ca import LoadedCa
from openacm.services.pki.leaf_issuer import IssuanceRefused, LeafIssuer, serial_hex

log = logging.getLogger("openacm.acme")
MAX_LISTED_ORDERS = 1000
# The challenge type of an authorization a domain validation gave (it has no challenge).
PRE_APPROVED = "pre-approved"


@dataclass(frozen=True)
class Urls:
    """The URLs of one endpoint's resources, as its directory gives them out."""

    base: str  # http(s)://host:port/acme/<endpoint-id>

    def of(self, kind: str, ident: str = "") -> str:
        return f"{self.base}/{kind}/{ident}" if ident else f"{self.base}/{kind}"

    def directory(self) -> dict[str, Any]:
        return {
            "newNonce": self.of("new-nonce"),
            "newAccount": self.of("new-account"),
            "newOrder": self.of("new-order"),
            "revokeCert": self.of("revoke-cert"),
            "keyChange": self.of("key-change"),
            "renewalInfo": self.of("renewal-info"),
            "meta": {"externalAccountRequired": True},
        }


class BindingProof(Protocol):
    """newAccount's externalAccountBinding as the protocol layer parsed it."""

    @property
    def kid(self) -> str: ...

    def verify(self, mac_key: bytes) -> None: ...


@dataclass(frozen=True)
class Answer:
    """A resource document and how to answer with it."""

    body: dict[str, Any]
    status: int = 200
    location: str | None = None
    links: tuple[tuple[str, str], ...] = ()  # (url, rel) Link headers


class AcmeServer:
    def __init__(
        self,
        db: Database,
        cipher: EnvelopeCipher,
        issuer: LeafIssuer,
        dns: DnsChecker,
        base_url: str,
        challenges: tuple[str, ...] = (),
        quotas: Quotas | None = None,
        ports: ChallengePorts | None = None,
        private: AcmPrivateIssuer | None = None,
        revocation: PrivateCaRevocation | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.db = db
        # The binding role's policies limit its ACME accounts' orders (docs/acme-server.md).
        self.authorizer = authorizer
        self.revocation = revocation
        self.private = private
        self.checker = ChallengeChecker(dns, ports or ChallengePorts())
        self.quotas = quotas or Quotas()
        self.cipher = cipher
        # Challenge types for names outside the endpoint's domain validations (beyond the
        # model's PRE_APPROVED; none by default).
        self.challenges = challenges
        self.issuer = issuer
        self.dns = dns
        self.base_url = base_url.rstrip("/")

    def urls(self, endpoint: AcmeEndpointRecord) -> Urls:
        return Urls(f"{self.base_url}/acme/{endpoint.endpoint_id}")

    # -- endpoints and nonces -------------------------------------------------------------

    def endpoint(self, endpoint_id: str) -> AcmeEndpointRecord:
        with self.db.read() as conn:
            record = AcmeEndpointStore(conn).by_id(endpoint_id)
        if record is None or record.status != ACTIVE:
            raise AcmeProblem("malformed", "no such ACME endpoint", status=404)
        return record

    def new_nonce(self, now: float) -> str:
        nonce = b64url(secrets.token_bytes(16))
        with self.db.write() as conn:
            store = AcmeStateStore(conn)
            store.forget_expired_nonces(now)
            store.add_nonce(nonce, now + NONCE_LIFETIME_SECONDS)
        return nonce

    def use_nonce(self, nonce: str, now: float) -> None:
        with self.db.write() as conn:
            if not AcmeStateStore(conn).use_nonce(nonce, now):
                raise AcmeProblem("badNonce", "the nonce is unknown, used or expired")

    def account_of(self, endpoint: AcmeEndpointRecord, kid: str) -> AcmeAccount:
        """The account a `kid` names (its account URL), valid (§6.2, §7.3.6)."""
        prefix = self.urls(endpoint).of("acct") + "/"
        account = None
        if kid.startswith(prefix):
            with self.db.read() as conn:
                account = AcmeStateStore(conn).account(endpoint.endpoint_id, kid[len(prefix) :])
        if account is None:
            raise AcmeProblem("accountDoesNotExist", "no account has this URL", status=400)
        if account.status != "valid":
            raise AcmeProblem("unauthorized", f"the account is {account.status}", status=403)
        return account

    # -- accounts -------------------------------------------------------------------------

    def new_account(
        self,
        endpoint: AcmeEndpointRecord,
        jwk: dict[str, Any],
        thumbprint: str,
        payload: Mapping[str, Any],
        now: float,
        binding: BindingProof | None = None,
    ) -> Answer:
        urls = self.urls(endpoint)
        with self.db.write() as conn:
            store = AcmeStateStore(conn)
            existing = store.account_by_key(endpoint.endpoint_id, thumbprint)
            if existing is not None:  # §7.3.1: the key's account, 200 and its URL
                return Answer(
                    _account_view(existing, urls), 200, urls.of("acct", existing.account_id)
                )
            if payload.get("onlyReturnExisting"):
                raise AcmeProblem("accountDoesNotExist", "no account has this key")
            contact = _contact(payload, required=endpoint.contact == "REQUIRED")
            binding_arn = self._bind(conn, endpoint, binding, now)
            account = AcmeAccount(
                account_id=str(uuid.uuid4()),
                endpoint_id=endpoint.endpoint_id,
                thumbprint=thumbprint,
                jwk=jwk,
                contact=contact,
                status="valid",
                created_at=now,
                external_account_binding_arn=binding_arn,
            )
            store.add_account(account)
        log.info("acme account created", extra={"endpoint": endpoint.arn})
        return Answer(_account_view(account, urls), 201, urls.of("acct", account.account_id))

    def _bind(
        self,
        conn: Connection,
        endpoint: AcmeEndpointRecord,
        proof: BindingProof | None,
        now: float,
    ) -> str:
        """The binding a new account is registered with (§7.3.4): every endpoint requires
        one, as ACM ties each ACME account to a binding's role. Its KeyId must name a binding
        of this endpoint that is neither revoked, expired nor deleted, and its MAC verify."""
        if proof is None:
            raise AcmeProblem(
                "externalAccountRequired",
                "this endpoint requires an external account binding (see "
                "GetAcmeExternalAccountBindingCredentials)",
            )
        store = BindingStore(conn)
        binding = store.by_key_id(proof.kid)
        if binding is None or binding.endpoint_arn != endpoint.arn:
            raise AcmeProblem("unauthorized", "no external account binding has this key id", 403)
        refusal = binding.refusal(now)
        if refusal is not None:
            raise AcmeProblem("unauthorized", refusal, 403)
        proof.verify(self.cipher.open(binding.mac_key_sealed, binding.arn))
        store.used(binding.arn, now)
        return binding.arn

    def update_account(
        self, endpoint: AcmeEndpointRecord, account: AcmeAccount, payload: Mapping[str, Any]
    ) -> Answer:
        """POST to the account URL: POST-as-GET, a contact change, or deactivation (§7.3.2,
        §7.3.6)."""
        contact, status = account.contact, account.status
        if "contact" in payload:
            contact = _contact(payload, required=endpoint.contact == "REQUIRED")
        if payload.get("status") == "deactivated":
            status = "deactivated"
        elif "status" in payload:
            raise malformed("an account's status can only be changed to deactivated")
        if (contact, status) != (account.contact, account.status):
            with self.db.write() as conn:
                AcmeStateStore(conn).update_account(
                    account.account_id, contact=contact, status=status
                )
        changed = replace(account, contact=contact, status=status)
        return Answer(
            _account_view(changed, self.urls(endpoint)),
            200,
            self.urls(endpoint).of("acct", account.account_id),
        )

    # -- orders ---------------------------------------------------------------------------

    def new_order(
        self,
        endpoint: AcmeEndpointRecord,
        account: AcmeAccount,
        payload: Mapping[str, Any],
        now: float,
    ) -> Answer:
        if "notBefore" in payload or "notAfter" in payload:
            raise malformed("this server does not accept notBefore or notAfter in orders")
        identifiers = order_identifiers(payload)
        self._check_binding_role(endpoint, account, identifiers)
        with self.db.read() as conn:
            validations = DomainValidationStore(conn).of_endpoint(endpoint.arn)
        outside = uncovered(identifiers, validations)
        refused = [name for name in outside if not self._challenge_types(name)]
        if refused:
            # PRE_APPROVED: only names a VALID domain validation covers, unless a challenge
            # allowed here can prove them (§7.4: one subproblem per refused identifier).
            raise AcmeProblem(
                "rejectedIdentifier",
                "no domain validation of this endpoint covers " + ", ".join(refused),
                subproblems=[
                    {
                        "type": ERROR_NAMESPACE + "rejectedIdentifier",
                        "detail": f"{name} is outside this endpoint's validated domains",
                        "identifier": {"type": "dns", "value": name},
                    }
                    for name in refused
                ],
            )
        expires_at = now + ORDER_LIFETIME_SECONDS
        order = AcmeOrder(
            order_id=str(uuid.uuid4()),
            endpoint_id=endpoint.endpoint_id,
            account_id=account.account_id,
            status="pending" if outside else "ready",
            identifiers=list(identifiers),
            expires_at=expires_at,
            certificate_arn=None,
            error=None,
            created_at=now,
        )
        authorizations = [
            self._new_authorization(order, name, pre_approved=name not in outside, now=now)
            for name in identifiers
        ]
        with self.db.write() as conn:
            AcmeStateStore(conn).add_order(order, authorizations)
        urls = self.urls(endpoint)
        return Answer(
            self._order_view(endpoint, order, authorizations), 201, urls.of("order", order.order_id)
        )

    def _check_binding_role(
        self, endpoint: AcmeEndpointRecord, account: AcmeAccount, names: Sequence[str]
    ) -> None:
        """An account registered through an external account binding orders only what the
        binding's role may request: acm:RequestCertificate with acm:DomainNames, as its
        policies decide (`unauthorized` with AWS's message otherwise)."""
        if self.authorizer is None or account.external_account_binding_arn is None:
            return
        with self.db.read() as conn:
            binding = BindingStore(conn).get(account.external_account_binding_arn)
        if binding is None:
            return
        partition = _partition(endpoint.arn)
        resource = f"arn:{partition}:acm:{endpoint.region}:{endpoint.account_id}:certificate/*"
        refusal = self.authorizer.role_refusal(
            binding.role_arn,
            endpoint.account_id,
            f"acme-{account.account_id}",
            "acm:RequestCertificate",
            resource,
            {"acm:DomainNames": list(names)},
        )
        if refusal is not None:
            raise AcmeProblem("unauthorized", refusal, status=403)

    def _new_authorization(
        self, order: AcmeOrder, name: str, *, pre_approved: bool, now: float
    ) -> AcmeAuthorization:
        """A name a domain validation covers is authorized already, without a challenge;
        another gets the challenge the installation allows."""
        return AcmeAuthorization(
            authz_id=str(uuid.uuid4()),
            order_id=order.order_id,
            endpoint_id=order.endpoint_id,
            account_id=order.account_id,
            identifier=name,
            status="valid" if pre_approved else "pending",
            expires_at=order.expires_at,
            challenge_type=PRE_APPROVED if pre_approved else self._challenge_types(name)[0],
            challenge_token="" if pre_approved else b64url(secrets.token_bytes(32)),
            challenge_status="valid" if pre_approved else "pending",
            challenge_validated_at=now if pre_approved else None,
            challenge_error=None,
        )

    def orders(self, endpoint: AcmeEndpointRecord, account: AcmeAccount, now: float) -> Answer:
        """The account's orders still pending or ready (§7.1.2.1: the server may leave out
        the others), newest first, at most MAX_LISTED_ORDERS."""
        with self.db.read() as conn:
            found = AcmeStateStore(conn).orders_of(account.account_id, limit=MAX_LISTED_ORDERS)
        urls = self.urls(endpoint)
        listed = [
            urls.of("order", order.order_id)
            for order in found
            if _order_at(order, now).status in ("pending", "ready")
        ]
        return Answer({"orders": listed})

    def order(
        self, endpoint: AcmeEndpointRecord, account: AcmeAccount, order_id: str, now: float
    ) -> Answer:
        with self.db.read() as conn:
            store = AcmeStateStore(conn)
            order = _own(store.order(endpoint.endpoint_id, order_id), account, "order")
            authorizations = [_authz_at(a, now) for a in store.authorizations(order.order_id)]
        return Answer(self._order_view(endpoint, _order_at(order, now), authorizations))

    def _order_view(
        self,
        endpoint: AcmeEndpointRecord,
        order: AcmeOrder,
        authorizations: list[AcmeAuthorization],
    ) -> dict[str, Any]:
        urls = self.urls(endpoint)
        view: dict[str, Any] = {
            "status": order.status,
            "expires": _time(order.expires_at),
            "identifiers": [{"type": "dns", "value": name} for name in order.identifiers],
            "authorizations": [urls.of("authz", a.authz_id) for a in authorizations],
            "finalize": urls.of("finalize", order.order_id),
        }
        if order.certificate_arn:
            view["certificate"] = urls.of("cert", order.order_id)
        if order.error:
            view["error"] = order.error
        return view

    # -- authorizations and challenges ----------------------------------------------------

    def authorization(
        self, endpoint: AcmeEndpointRecord, account: AcmeAccount, authz_id: str, now: float
    ) -> Answer:
        with self.db.read() as conn:
            authz = _own(
                AcmeStateStore(conn).authorization(endpoint.endpoint_id, authz_id),
                account,
                "authorization",
            )
        return Answer(self._authz_view(endpoint, _authz_at(authz, now)))

    def challenge(
        self,
        endpoint: AcmeEndpointRecord,
        account: AcmeAccount,
        authz_id: str,
        kind: str,
        now: float,
        *,
        answer: bool,
    ) -> Answer:
        """A challenge of an authorization: read (POST-as-GET), or answered, when the client
        says its response is in place (§7.5.1) and it is checked now, before the answer."""
        with self.db.read() as conn:
            authz = _own(
                AcmeStateStore(conn).authorization(endpoint.endpoint_id, authz_id),
                account,
                "challenge",
            )
        authz = _authz_at(authz, now)
        if authz.challenge_type == PRE_APPROVED or kind not in self._offered(authz):
            raise AcmeProblem("malformed", "this authorization has no such challenge", status=404)
        if answer and authz.status == "pending" and authz.challenge_status == "pending":
            authz = self._validate(replace(authz, challenge_type=kind), account, now)
        return Answer(_challenge_view(self.urls(endpoint), authz, kind))

    def _challenge_types(self, name: str) -> tuple[str, ...]:
        """The challenge types the installation allows that can prove `name`: a wildcard
        only dns-01 (RFC 8555 §7.1.3, RFC 8737 §3)."""
        if name.startswith("*."):
            return tuple(kind for kind in self.challenges if kind == DNS01)
        return self.challenges

    def _offered(self, authz: AcmeAuthorization) -> tuple[str, ...]:
        """The challenge types of a pending authorization: those allowed for its name (and
        the one it was answered with, should the configuration have changed since)."""
        allowed = self._challenge_types(authz.identifier)
        return tuple(dict.fromkeys((*allowed, authz.challenge_type)))

    def _validate(
        self, authz: AcmeAuthorization, account: AcmeAccount, now: float
    ) -> AcmeAuthorization:
        problem = self.checker.check(authz, account.thumbprint)
        if problem is None:
            done = replace(
                authz, status="valid", challenge_status="valid", challenge_validated_at=now
            )
        else:
            done = replace(
                authz,
                status="invalid",
                challenge_status="invalid",
                challenge_error=problem.document(),
            )
        with self.db.write() as conn:
            store = AcmeStateStore(conn)
            store.replace_authorization(done)
            self._settle_order(store, authz.order_id, now)
        log.info(
            "acme challenge",
            extra={
                "identifier": authz.identifier,
                "challenge": authz.challenge_type,
                "status": done.status,
            },
        )
        return done

    def _settle_order(self, store: AcmeStateStore, order_id: str, now: float) -> None:
        """A pending order becomes ready when every authorization is valid, invalid when one
        is invalid (§7.1.6)."""
        statuses = {a.status for a in store.authorizations(order_id)}
        if "invalid" in statuses:
            error = {
                "type": "urn:ietf:params:acme:error:unauthorized",
                "detail": "an authorization failed",
            }
            store.set_order(order_id, status="invalid", now=now, expect="pending", error=error)
        elif statuses == {"valid"}:
            store.set_order(order_id, status="ready", now=now, expect="pending")

    def _authz_view(self, endpoint: AcmeEndpointRecord, authz: AcmeAuthorization) -> dict[str, Any]:
        view: dict[str, Any] = {
            "identifier": {"type": "dns", "value": authz.identifier.removeprefix("*.")},
            "status": authz.status,
            "expires": _time(authz.expires_at),
            "challenges": (
                []
                if authz.challenge_type == PRE_APPROVED
                else [
                    _challenge_view(self.urls(endpoint), authz, kind)
                    for kind in self._offered(authz)
                ]
            ),
        }
        if authz.identifier.startswith("*."):
            view["wildcard"] = True
        return view

    # -- finalize and certificates --------------------------------------------------------

    def finalize(
        self,
        endpoint: AcmeEndpointRecord,
        account: AcmeAccount,
        order_id: str,
        payload: Mapping[str, Any],
        now: float,
    ) -> Answer:
        with self.db.read() as conn:
            order = _own(
                AcmeStateStore(conn).order(endpoint.endpoint_id, order_id), account, "order"
            )
        order = _order_at(order, now)
        if order.status != "ready":
            raise AcmeProblem(
                "orderNotReady", f"the order is {order.status}, not ready", status=403
            )
        self._still_covered(endpoint, order)
        csr_text = payload.get("csr")
        if not isinstance(csr_text, str):
            raise malformed("finalize needs a csr")
        csr = check_csr(b64url_decode(csr_text), order.identifiers, endpoint.allowed_key_algorithms)
        record = _acme_record(endpoint, account, order, csr.key_algorithm, csr.names, now)
        if endpoint.private_ca_arn:
            self._finalize_private(endpoint, order_id, record, b64url_decode(csr_text), now)
            return self.order(endpoint, account, order_id, now)
        try:
            leaf = self.issuer.prepare_for_public_key(record, csr.public_key, now=now)
        except IssuanceRefused as exc:
            raise AcmeProblem(
                "rejectedIdentifier", f"the CA refuses this certificate: {exc}"
            ) from exc
        with self.db.write() as conn:
            store = AcmeStateStore(conn)
            # Compare-and-set: of two finalize requests for one order, one issues.
            if not store.set_order(order_id, status="processing", now=now, expect="ready"):
                raise AcmeProblem("orderNotReady", "the order is already being finalized", 403)
            certificates = CertificateStore(conn)
            self._check_quotas(certificates, endpoint, now)
            certificates.insert(record, None)
            # Counted like RequestCertificate's public certificates: held, and per year.
            certificates.record_quota_use(
                endpoint.account_id, endpoint.region, "AMAZON_ISSUED", record.arn, now
            )
            TagStore(conn).put(record.arn, list(endpoint.certificate_tags))
            self.issuer.plan(conn, leaf, now=now)
        try:
            signed = self.issuer.sign(leaf, now=now)
        except Exception:
            with self.db.write() as conn:
                self.issuer.abandon(conn, leaf, now=now)
                AcmeStateStore(conn).set_order(
                    order_id,
                    status="invalid",
                    now=now,
                    expect="processing",
                    error=AcmeProblem("serverInternal", "signing failed", 500).document(),
                )
            raise
        with self.db.write() as conn:
            outcome = self.issuer.commit(conn, signed, now=now, still_mine=True)
            states = AcmeStateStore(conn)
            if outcome.issued:
                emit_available(conn, signed.issued, "ISSUANCE", now)
                states.set_order(
                    order_id,
                    status="valid",
                    now=now,
                    expect="processing",
                    certificate_arn=record.arn,
                )
            else:
                # The certificate row changed under us (deleted through the API meanwhile):
                # the serial is abandoned, and the order must not stay processing for ever.
                error = AcmeProblem("serverInternal", "the certificate could not be stored", 500)
                states.set_order(
                    order_id, status="invalid", now=now, expect="processing", error=error.document()
                )
        log.info("acme finalize", extra={"arn": record.arn, "issued": outcome.issued})
        return self.order(endpoint, account, order_id, now)

    def _finalize_private(
        self,
        endpoint: AcmeEndpointRecord,
        order_id: str,
        record: CertificateRecord,
        csr_der: bytes,
        now: float,
    ) -> None:
        """A private-CA-backed endpoint: the CA signs the client's CSR through ACM's private
        issuance (the CA's status and ACM's permission checked, ACM's template and validity),
        in one transaction with the order's move; a refusal leaves the order ready."""
        if self.private is None:
            raise AcmeProblem("serverInternal", "private issuance is not available", 500)
        private = replace(
            record,
            type="PRIVATE",
            validation_method=None,
            certificate_authority_arn=endpoint.private_ca_arn,
        )
        csr_pem = x509.load_der_x509_csr(csr_der).public_bytes(serialization.Encoding.PEM)
        with self.db.write() as conn:
            states = AcmeStateStore(conn)
            if not states.set_order(order_id, status="processing", now=now, expect="ready"):
                raise AcmeProblem("orderNotReady", "the order is already being finalized", 403)
            try:
                signed = self.private.sign_request(conn, private, csr_pem, now)
            except ApiError as exc:
                raise AcmeProblem(
                    "badCSR", f"the private CA refuses the CSR: {exc.message}"
                ) from exc
            if isinstance(signed, str):
                raise AcmeProblem(
                    "unauthorized", f"the private CA does not issue for ACM: {signed}", 403
                )
            CertificateStore(conn).insert(signed, None)
            TagStore(conn).put(signed.arn, list(endpoint.certificate_tags))
            emit_available(conn, signed, "ISSUANCE", now)
            states.set_order(
                order_id, status="valid", now=now, expect="processing", certificate_arn=signed.arn
            )
        log.info("acme finalize", extra={"arn": signed.arn, "private_ca": endpoint.private_ca_arn})

    def _check_quotas(
        self, certificates: CertificateStore, endpoint: AcmeEndpointRecord, now: float
    ) -> None:
        """ACM's certificate quotas of the endpoint's account and region: an ACME certificate
        is an ACM certificate (rateLimited, §6.6, when one is reached)."""
        owner = CallContext(
            account_id=endpoint.account_id,
            region=endpoint.region,
            partition=_partition(endpoint.arn),
            access_key_id="",
            user_name="acme",
            request_id="",
            source_ip="",
            user_agent="",
            now=now,
            secure_transport=False,
        )
        try:
            check_certificate_quotas(
                certificates,
                owner,
                "AMAZON_ISSUED",
                held_limit=self.quotas.certificates,
                yearly_limit=self.quotas.certificates_per_year,
                held_noun="ACM certificates",
                yearly_noun="certificate requests",
            )
        except LimitExceededError as exc:
            raise AcmeProblem("rateLimited", exc.message, status=429) from exc

    def _still_covered(self, endpoint: AcmeEndpointRecord, order: AcmeOrder) -> None:
        """The names a domain validation authorized must still be covered at finalize: a
        deleted (or narrowed) domain validation stops issuance at once, as ACM says."""
        with self.db.read() as conn:
            pre_approved = [
                a.identifier
                for a in AcmeStateStore(conn).authorizations(order.order_id)
                if a.challenge_type == PRE_APPROVED
            ]
            validations = DomainValidationStore(conn).of_endpoint(endpoint.arn)
        outside = uncovered(pre_approved, validations)
        if outside:
            raise AcmeProblem(
                "unauthorized",
                "no domain validation of this endpoint covers " + ", ".join(outside) + " any more",
                status=403,
            )

    def certificate(self, endpoint: AcmeEndpointRecord, account: AcmeAccount, order_id: str) -> str:
        """The PEM chain (§7.4.2): the certificate, its issuing CA, the root."""
        with self.db.read() as conn:
            order = _own(
                AcmeStateStore(conn).order(endpoint.endpoint_id, order_id), account, "order"
            )
            stored = (
                CertificateStore(conn).get(order.certificate_arn, with_bodies=True)
                if order.certificate_arn
                else None
            )
        if stored is None or stored.certificate_pem is None:
            raise AcmeProblem("malformed", "this order has no certificate", status=404)
        return stored.certificate_pem + (stored.chain_pem or "")

    def revoke(
        self,
        endpoint: AcmeEndpointRecord,
        account: AcmeAccount | None,
        payload: Mapping[str, Any],
        now: float,
        *,
        certificate_key: Any = None,
    ) -> None:
        """revokeCert (§7.6), through the same revocation as RevokeCertificate: certificate,
        serial, CRL, OCSP. Signed by the account that ordered the certificate, or (`account`
        None) by the certificate's own key, `certificate_key`."""
        der = payload.get("certificate")
        if not isinstance(der, str):
            raise malformed("revokeCert needs a certificate")
        reason = _revocation_reason(payload.get("reason", 0))
        try:
            certificate = x509.load_der_x509_certificate(b64url_decode(der))
        except ValueError as exc:
            raise malformed("the certificate is not DER") from exc
        serial = serial_hex(certificate.serial_number)
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        with self.db.write() as conn:
            private = self._issued_privately(conn, endpoint, pem)
            if private is not None:
                self._check_revoker(private, account, certificate, certificate_key)
                self._revoke_private(conn, private, certificate, reason, now)
                return
            record, issuing = self._issued(conn, serial, certificate)
            if record.acme_endpoint_arn != endpoint.arn:
                raise AcmeProblem(
                    "unauthorized", "this endpoint did not issue this certificate", status=403
                )
            self._check_revoker(record, account, certificate, certificate_key)
            if record.status == "REVOKED" or not revoke_issued(
                conn, record, issuing, reason, self.issuer.issuance, now=now
            ):
                raise AcmeProblem("alreadyRevoked", "the certificate is already revoked")
        issuing.ocsp.invalidate(certificate.serial_number)
        log.info("acme certificate revoked", extra={"arn": record.arn, "reason": reason})

    @staticmethod
    def _check_revoker(
        record: CertificateRecord,
        account: AcmeAccount | None,
        certificate: x509.Certificate,
        certificate_key: Any,
    ) -> None:
        """§7.6: the account that ordered the certificate, or the certificate's own key."""
        if account is None:
            if not _same_key(certificate_key, certificate.public_key()):
                raise AcmeProblem(
                    "unauthorized", "the request is not signed by the certificate's key", 403
                )
        elif record.acme_account_id != account.account_id:
            raise AcmeProblem(
                "unauthorized", "this account did not order this certificate", status=403
            )

    def _issued_privately(
        self, conn: Connection, endpoint: AcmeEndpointRecord, pem: str
    ) -> CertificateRecord | None:
        arn = AcmeStateStore(conn).private_certificate_arn(
            endpoint.account_id, endpoint.region, endpoint.arn, pem
        )
        return None if arn is None else CertificateStore(conn).get(arn, with_bodies=True)

    def _revoke_private(
        self,
        conn: Connection,
        record: CertificateRecord,
        certificate: x509.Certificate,
        reason: str,
        now: float,
    ) -> None:
        """A certificate of a private CA: revoked at its CA (serial, CRL when the CA
        publishes one, OCSP) and in ACM, in one transaction, as ACM-PCA's RevokeCertificate
        does."""
        if self.revocation is None or record.certificate_authority_arn is None:
            raise AcmeProblem("serverInternal", "private revocation is not available", 500)
        ca = PrivateCaStore(conn).get(record.certificate_authority_arn)
        serial = serial_hex(certificate.serial_number)
        if record.status == "REVOKED" or ca is None:
            raise AcmeProblem("alreadyRevoked", "the certificate is already revoked")
        if not IssuedCertificateStore(conn).revoke(
            ca.arn, serial, _PCA_REASONS.get(reason, reason), now
        ):
            raise AcmeProblem("alreadyRevoked", "the certificate is already revoked")
        CertificateStore(conn).replace(
            replace(record, status="REVOKED", revoked_at=now, revocation_reason=reason),
            None,
        )
        if crl_enabled(ca):
            self.revocation.regenerate_crl(conn, ca, now=now)
        self.revocation.invalidate(ca.arn, certificate.serial_number)
        log.info("acme certificate revoked", extra={"arn": record.arn, "reason": reason})

    # -- key rollover and renewal information ---------------------------------------------

    def change_key(
        self,
        endpoint: AcmeEndpointRecord,
        account: AcmeAccount,
        jwk: dict[str, Any],
        thumbprint: str,
    ) -> Answer:
        """§7.3.5: the account's key becomes `jwk`, unless another account of the endpoint
        has it (409, with that account's URL)."""
        urls = self.urls(endpoint)
        with self.db.write() as conn:
            store = AcmeStateStore(conn)
            holder = store.account_by_key(endpoint.endpoint_id, thumbprint)
            if holder is not None:
                raise AcmeProblem(
                    "malformed",
                    "an account of this endpoint has this key already",
                    status=409,
                    location=urls.of("acct", holder.account_id),
                )
            store.change_key(account.account_id, jwk=jwk, thumbprint=thumbprint)
        log.info("acme account key changed", extra={"endpoint": endpoint.arn})
        changed = replace(account, jwk=jwk, thumbprint=thumbprint)
        return Answer(_account_view(changed, urls), 200, urls.of("acct", account.account_id))

    def renewal_info(self, endpoint: AcmeEndpointRecord, cert_id: str) -> dict[str, Any]:
        """RFC 9773: the suggested window to renew the certificate `cert_id` names
        (base64url(AKI keyIdentifier) "." base64url(serial)), from its managed renewal
        timing; a revoked certificate should be replaced now."""
        key_id_text, dot, serial_text = cert_id.partition(".")
        if not dot or not key_id_text or not serial_text:
            raise malformed("the CertID must be base64url(AKI).base64url(serial)")
        key_id, serial_bytes = b64url_decode(key_id_text), b64url_decode(serial_text)
        serial = serial_hex(int.from_bytes(serial_bytes, "big"))
        with self.db.read() as conn:
            record = None
            for issuing in self.issuer.ca.by_id.values():
                if _key_identifier(issuing.certificate) != key_id:
                    continue
                entry = AuthorityStore(conn).serial(issuing.ca_id, serial)
                if entry is not None:
                    record = CertificateStore(conn).get(entry.certificate_arn)
        if record is None or record.acme_endpoint_arn != endpoint.arn:
            raise AcmeProblem("malformed", "this endpoint did not issue this certificate", 404)
        assert record.not_before is not None and record.not_after is not None
        if record.status == "REVOKED":
            start, end = record.not_before, record.not_before + 1
        else:
            start = renewal_due_at(replace(record, status="ISSUED")) or record.not_after
            end = start + (record.not_after - start) / 2
        return {"suggestedWindow": {"start": _time(start), "end": _time(end)}}

    def _issued(
        self, conn: Connection, serial: str, certificate: x509.Certificate
    ) -> tuple[CertificateRecord, LoadedCa]:
        """The ACM certificate a DER certificate is, found through its issuing CA's serials."""
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        for issuing in self.issuer.ca.by_id.values():
            entry = AuthorityStore(conn).serial(issuing.ca_id, serial)
            if entry is None:
                continue
            record = CertificateStore(conn).get(entry.certificate_arn, with_bodies=True)
            if record is not None and record.certificate_pem == pem:
                return record, issuing
        raise AcmeProblem("malformed", "this server did not issue this certificate", status=404)


def _acme_record(
    endpoint: AcmeEndpointRecord,
    account: AcmeAccount,
    order: AcmeOrder,
    key_algorithm: str,
    names: tuple[str, ...],
    now: float,
) -> CertificateRecord:
    certificate_id = str(uuid.uuid4())
    # Order identifiers keep the client's order; the first is the common name.
    ordered = tuple(name for name in order.identifiers if name in names)
    return CertificateRecord(
        arn=certificate_arn(
            _partition(endpoint.arn), endpoint.region, endpoint.account_id, certificate_id
        ),
        certificate_id=certificate_id,
        account_id=endpoint.account_id,
        region=endpoint.region,
        type="AMAZON_ISSUED",
        status="PENDING_VALIDATION",
        domain_name=ordered[0],
        names=ordered,
        key_algorithm=key_algorithm,
        key_usages=(),
        extended_key_usages=(),
        serial=None,
        not_before=None,
        not_after=None,
        created_at=now,
        certificate_pem=None,
        chain_pem=None,
        facts={},
        key_pair_origin="ACME",
        validation_method="DNS",
        acme_endpoint_arn=endpoint.arn,
        acme_account_id=account.account_id,
    )


# RFC 5280 CRLReason codes (§7.6) and ACM's names for them. certificateHold (6) and
# removeFromCRL (8) are refused, as RevokeCertificate refuses them: revocation is permanent.
_REASONS = {
    0: "UNSPECIFIED",
    1: "KEY_COMPROMISE",
    2: "CA_COMPROMISE",
    3: "AFFILIATION_CHANGED",
    4: "SUPERSEDED",
    5: "CESSATION_OF_OPERATION",
    9: "PRIVILEGE_WITHDRAWN",
    10: "A_A_COMPROMISE",
}


def _same_key(jwk_key: Any, public_key: Any) -> bool:
    """Whether a JWS was signed by the certificate's key (§7.6)."""
    der = serialization.Encoding.DER
    info = serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        signer = jwk_key.public_key() if hasattr(jwk_key, "private_bytes") else jwk_key
        return bool(signer.public_bytes(der, info) == public_key.public_bytes(der, info))
    except (AttributeError, ValueError, TypeError):
        return False


def _key_identifier(ca: x509.Certificate) -> bytes:
    """The CA's subject key identifier: what its certificates' AKI names (RFC 9773 CertID)."""
    try:
        return ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest


# ACM-PCA's name of the one reason ACM names otherwise.
_PCA_REASONS = {"CA_COMPROMISE": "CERTIFICATE_AUTHORITY_COMPROMISE"}


def _revocation_reason(code: Any) -> str:
    if isinstance(code, bool) or not isinstance(code, int) or code not in _REASONS:
        raise AcmeProblem("badRevocationReason", f"reason {code!r} is not accepted")
    return _REASONS[code]


def _order_at(order: AcmeOrder, now: float) -> AcmeOrder:
    """The order as it stands at `now`: one not finalized before it expired is invalid
    (§7.1.6); stored rows are left as they are, the status is derived on every read."""
    if order.status in ("pending", "ready") and now >= order.expires_at:
        error = AcmeProblem("malformed", "the order expired before it was finalized")
        return replace(order, status="invalid", error=error.document())
    return order


def _authz_at(authz: AcmeAuthorization, now: float) -> AcmeAuthorization:
    """A pending authorization past its expiry is expired (§7.1.6) and can no longer be
    validated."""
    if authz.status == "pending" and now >= authz.expires_at:
        return replace(authz, status="expired")
    return authz


def _partition(arn: str) -> str:
    return arn.split(":", 2)[1]


def _own(resource: Any, account: AcmeAccount, what: str) -> Any:
    """A resource of the requesting account; another account's is as good as absent, but
    says so (§7.5: unauthorized)."""
    if resource is None:
        raise AcmeProblem("malformed", f"no such {what}", status=404)
    if resource.account_id != account.account_id:
        raise AcmeProblem("unauthorized", f"this {what} belongs to another account", status=403)
    return resource


def _contact(payload: Mapping[str, Any], *, required: bool) -> list[str]:
    contact = payload.get("contact") or []
    if not isinstance(contact, list) or not all(isinstance(c, str) for c in contact):
        raise malformed("contact must be a list of URLs")
    for url in contact:
        if not url.startswith("mailto:"):
            raise AcmeProblem("unsupportedContact", f"only mailto: contacts are supported: {url}")
        if "," in url or "@" not in url:
            raise AcmeProblem("invalidContact", f"not one email address: {url}")
    if required and not contact:
        raise AcmeProblem("invalidContact", "this endpoint requires a contact address")
    return list(contact)


def _account_view(account: AcmeAccount, urls: Urls) -> dict[str, Any]:
    return {
        "status": account.status,
        "contact": account.contact,
        "orders": urls.of("orders", account.account_id),
    }


def _challenge_view(urls: Urls, authz: AcmeAuthorization, kind: str) -> dict[str, Any]:
    """One challenge of an authorization: the one it was answered with carries the outcome,
    the others stay pending."""
    answered = kind == authz.challenge_type
    view: dict[str, Any] = {
        "type": kind,
        "url": urls.of("chall", f"{authz.authz_id}/{kind}"),
        "status": authz.challenge_status if answered else "pending",
        "token": authz.challenge_token,
    }
    if answered and authz.challenge_validated_at is not None:
        view["validated"] = _time(authz.challenge_validated_at)
    if answered and authz.challenge_error:
        view["error"] = authz.challenge_error

    return view


def _time(epoch: float) -> str:
    """RFC 3339, as ACME's timestamps are."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
