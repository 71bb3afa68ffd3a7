"""An RFC 8555 client for one upstream CA, on certbot's `acme` library (JWS, nonces, polling).

The caller provides the account key and, once known, the account URL; it decides where the
DNS-01 answers go (`answer` below), so this module knows nothing of openacm's store or DNS.
Every failure leaves as an `AcmeFailure` carrying the ACME problem type, if any, so the
caller maps it to a FailureReason (domain/acme.py) and decides whether to try again.
"""

from __future__ import annotations

import datetime
import email.utils
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import requests
from acme import challenges, crypto_util, errors, messages
from acme.client import ClientNetwork, ClientV2
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.json_util import field as jose_field
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from openacm.domain.acme import choose_chain, is_transient, order_profile, problem_code

USER_AGENT = "openacm"
NETWORK_TIMEOUT = 30


class AcmeFailure(Exception):
    """The CA refused, or could not be reached. `problem_type` is the RFC 8555 problem's
    type URN when the CA sent one; `transient` says whether trying later may succeed."""

    def __init__(
        self,
        message: str,
        problem_type: str | None = None,
        *,
        transient: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.problem_type = problem_type
        self.transient = transient
        # Seconds the CA asked us to wait (Retry-After of its error answer), if it did.
        self.retry_after = retry_after


DNS01 = "dns-01"
HTTP01 = "http-01"
# draft-ietf-acme-dns-persist: no token, nothing to publish per order; the CA reads the
# persistent TXT record, and the challenge lists the issuer domain names it accepts there.
DNS_PERSIST01 = "dns-persist-01"
_CHALLENGES: dict[str, type[challenges.KeyAuthorizationChallenge]] = {
    DNS01: challenges.DNS01,
    HTTP01: challenges.HTTP01,
}


@dataclass(frozen=True)
class Challenge:
    """One challenge to answer: the name authorized, the challenge's token and the value that
    proves it (dns-01: the TXT value; http-01: the key authorization served at the token;
    dns-persist-01: neither, but the CA's `issuer-domain-names`)."""

    domain: str  # as in the authorization: `example.com` also for `*.example.com`
    token: str
    value: str
    issuers: tuple[str, ...] = ()


class _ReplacingOrder(messages.NewOrder):
    """newOrder with `replaces` (RFC 9773 §5): the certificate a renewal replaces."""

    replaces: str = jose_field("replaces", omitempty=True)


def new_account_key() -> JWKEC:
    """A P-256 account key: small JWS signatures, accepted by every public ACME CA."""
    return JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


class AcmeClient:
    def __init__(
        self,
        directory_url: str,
        account_key: JWKEC,
        account_url: str | None = None,
        *,
        ca_bundle: str = "",
    ) -> None:
        # requests takes a CA file path where acme's signature says bool: a private ACME CA
        # (Pebble, step-ca) is trusted through its own bundle, not the system's store.
        verify = cast(bool, ca_bundle) if ca_bundle else True
        self.net = ClientNetwork(
            account_key, alg=ES256, verify_ssl=verify, user_agent=USER_AGENT,
            timeout=NETWORK_TIMEOUT,
        )  # fmt: skip
        if account_url:
            self.net.account = messages.RegistrationResource(
                uri=account_url, body=messages.Registration()
            )
        self.key = account_key
        # The library raises a problem without its response: keep the Retry-After of the last
        # error answer (rateLimited, serverInternal) so the caller can wait as long as asked;
        # per thread, as several orders may use one client at once.
        self._local = threading.local()
        self.net.session.hooks["response"].append(self._remember_retry_after)
        with self._failures("fetching the directory"):
            self.directory = ClientV2.get_directory(directory_url, self.net)
        self.client = ClientV2(self.directory, self.net)

    @property
    def last_retry_after(self) -> float | None:
        value: float | None = getattr(self._local, "retry_after", None)
        return value

    @last_retry_after.setter
    def last_retry_after(self, value: float | None) -> None:
        self._local.retry_after = value

    @property
    def account_url(self) -> str | None:
        return self.net.account.uri if self.net.account is not None else None

    def register(self, contact: Sequence[str], eab_key_id: str = "", eab_hmac_key: str = "") -> str:
        """Create the account (or find the one this key already has) and return its URL."""
        binding = None
        if eab_key_id:
            binding = messages.ExternalAccountBinding.from_data(
                self.key.public_key(), eab_key_id, eab_hmac_key, self.directory
            )
        registration = messages.NewRegistration.from_data(
            contact=tuple(contact), terms_of_service_agreed=True,
            external_account_binding=binding,
        )  # fmt: skip
        with self._failures("registering the account"):
            try:
                account = self.client.new_account(registration)
            except errors.ConflictError as existing:
                # The key is already registered (a crash after registering, before storing
                # the URL): adopt that account.
                account = messages.RegistrationResource(
                    uri=existing.location, body=messages.Registration()
                )
                self.net.account = account
        return str(account.uri)

    def issue(
        self,
        csr_pem: bytes,
        answer: Callable[[Sequence[Challenge]], None],
        *,
        timeout: float,
        challenge_type: str = DNS01,
        profile: str = "",
        preferred_chain: str = "",
        replaces: str = "",
    ) -> str:
        """The full order flow for the names of `csr_pem`: order (with `profile` where the
        CA offers it), answers of `challenge_type` published by `answer` before the CA is
        told to look, finalize, download (the alternate chain whose top is issued by
        `preferred_chain`, if the CA offers one). A renewal names the certificate it
        `replaces` (its ARI identifier) where the CA offers renewal information (RFC 9773
        §5). Returns the PEM chain."""
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
        with self._failures("ordering"):
            order = self._new_order(
                csr_pem,
                order_profile(self.profiles(), profile),
                replaces if self.offers_renewal_info else "",
            )
            pending = [
                (authz, _challenge(authz, challenge_type))
                for authz in order.authorizations
                if authz.body.status == messages.STATUS_PENDING
            ]
            answer([self._to_answer(authz, challenge) for authz, challenge in pending])
            for _, challenge in pending:
                self.client.answer_challenge(challenge, self._response(challenge))
            order = self._poll_authorizations(order, deadline)
            chains = self._finalize(order, deadline, alternates=bool(preferred_chain))
        return choose_chain(chains, preferred_chain)

    def _to_answer(
        self, authz: messages.AuthorizationResource, challenge: messages.ChallengeBody
    ) -> Challenge:
        domain = authz.body.identifier.value
        if isinstance(challenge.chall, challenges.UnrecognizedChallenge):  # dns-persist-01
            issuers = challenge.chall.jobj.get("issuer-domain-names") or []
            return Challenge(domain, "", "", tuple(str(issuer) for issuer in issuers))
        return Challenge(domain, challenge.chall.encode("token"), challenge.validation(self.key))

    def _response(self, challenge: messages.ChallengeBody) -> challenges.ChallengeResponse:
        if isinstance(challenge.chall, challenges.UnrecognizedChallenge):
            # dns-persist-01 is answered with an empty object: the record is the proof.
            return challenges.ChallengeResponse()
        response: challenges.ChallengeResponse = challenge.response(self.key)
        return response

    # The library polls every second; an order is mostly that wait. Polling starts sooner and
    # backs off (never sooner than a Retry-After the CA gives), which cuts a certificate's
    # time to about a third at a quick CA and asks no more often than once a second after
    # the first few looks.

    def _poll_authorizations(
        self, order: messages.OrderResource, deadline: datetime.datetime
    ) -> messages.OrderResource:
        """Until every authorization is no longer pending; ValidationError for a failed one."""
        done = []
        for url in order.body.authorizations:
            delay = POLL_FIRST
            while True:
                response = self.client._post_as_get(url)
                authz = self.client._authzr_from_response(response, uri=url)
                if authz.body.status != messages.STATUS_PENDING:
                    done.append(authz)
                    break
                delay = _wait(response, delay, deadline)
        failed = [
            authz
            for authz in done
            if authz.body.status != messages.STATUS_VALID
            and any(challenge.error is not None for challenge in authz.body.challenges)
        ]
        if failed:
            raise errors.ValidationError(failed)
        updated: messages.OrderResource = order.update(authorizations=done)
        return updated

    def _finalize(
        self, order: messages.OrderResource, deadline: datetime.datetime, *, alternates: bool
    ) -> list[str]:
        """Finalize with the order's CSR and download the chain (and, with `alternates`, the
        alternate chains the CA links): the default first."""
        try:
            self.client.begin_finalization(order)
        except messages.Error as error:
            if error.code != "orderNotReady":
                raise
        delay = POLL_FIRST
        while True:
            response = self.client._post_as_get(order.uri)
            body = messages.Order.from_json(response.json())
            if body.status == messages.STATUS_INVALID:
                if body.error is not None:
                    raise errors.IssuanceError(body.error)
                raise errors.Error("the CA abandoned the order without saying why")
            if body.status == messages.STATUS_READY:
                self.client.begin_finalization(order)
            elif body.status == messages.STATUS_VALID and body.certificate is not None:
                certificate = self.client._post_as_get(body.certificate)
                chains = [certificate.text]
                if alternates:
                    links = self.client._get_links(certificate, "alternate")
                    chains += [self.client._post_as_get(link).text for link in links]
                return chains
            delay = _wait(response, delay, deadline)

    @property
    def offers_renewal_info(self) -> bool:
        """Whether the directory has `renewalInfo` (ACME Renewal Information, RFC 9773)."""
        try:
            self.directory["renewalInfo"]
        except KeyError:
            return False
        return True

    def renewal_time(
        self, certificate_pem: str
    ) -> tuple[datetime.datetime | None, datetime.datetime]:
        """When to renew, by the CA's suggestedWindow (a random time within it, RFC 9773
        §4.2; None when the CA offers no renewal information), and when to ask again (its
        Retry-After, six hours by default). Naive local datetimes, as the library gives."""
        with self._failures("fetching renewal information"):
            try:
                when, next_check = self.client.renewal_time(certificate_pem.encode())
            except errors.ARIError as exc:
                raise AcmeFailure(f"fetching renewal information: {exc}", transient=True) from exc
        return when, next_check

    def _new_order(self, csr_pem: bytes, profile: str, replaces: str) -> messages.OrderResource:
        if not replaces:
            return self.client.new_order(csr_pem, profile=profile or None)
        # The library's newOrder has no `replaces`: the same request with it.
        csr = x509.load_pem_x509_csr(csr_pem)
        dns_names, _ = crypto_util.get_identifiers_from_x509(csr.subject, csr.extensions)
        body = _ReplacingOrder(
            identifiers=[
                messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name) for name in dns_names
            ],
            profile=profile,
            replaces=replaces,
        )
        response = self.client._post(self.directory["newOrder"], body)
        order = messages.Order.from_json(response.json())
        authorizations = [
            self.client._authzr_from_response(self.client._post_as_get(url), uri=url)
            for url in order.authorizations
        ]
        return messages.OrderResource(
            body=order, uri=response.headers.get("Location"),
            authorizations=authorizations, csr_pem=csr_pem,
        )  # fmt: skip

    def profiles(self) -> dict[str, str]:
        """The certificate profiles the CA's directory offers (draft-ietf-acme-profiles):
        name → description; none when the CA has no profiles."""
        meta = self.directory.meta
        return dict(meta.profiles or {}) if meta is not None else {}

    def revoke(self, certificate: x509.Certificate, reason_code: int) -> None:
        """Revoke a certificate this account ordered (RFC 8555 §7.6); one the CA already
        revoked counts as done, so a retry after a crash converges."""
        try:
            with self._failures("revoking"):
                self.client.revoke(certificate, reason_code)
        except AcmeFailure as failure:
            if problem_code(failure.problem_type) != "alreadyRevoked":
                raise

    def _remember_retry_after(self, response: requests.Response, *_: object, **__: object) -> None:
        if not response.ok:
            self.last_retry_after = retry_after_seconds(
                response.headers.get("Retry-After"), now=datetime.datetime.now(datetime.UTC)
            )

    def _failures(self, action: str) -> _Failures:
        self.last_retry_after = None
        return _Failures(action, self)


POLL_FIRST = 0.1  # seconds before the first look again
POLL_MAX = 1.0


def _wait(response: requests.Response, delay: float, deadline: datetime.datetime) -> float:
    """Sleep before the next look: `delay`, or the CA's Retry-After if longer; TimeoutError
    past the deadline. Returns the next delay."""
    asked = retry_after_seconds(
        response.headers.get("Retry-After"), now=datetime.datetime.now(datetime.UTC)
    )
    wait = max(delay, asked or 0.0)
    if datetime.datetime.now() + datetime.timedelta(seconds=wait) > deadline:
        raise errors.TimeoutError()
    time.sleep(wait)
    return min(delay * 2, POLL_MAX)


def retry_after_seconds(value: str | None, *, now: datetime.datetime) -> float | None:
    """A Retry-After header (RFC 9110 §10.2.3: seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - now).total_seconds())


def _challenge(authz: messages.AuthorizationResource, kind: str) -> messages.ChallengeBody:
    for challenge in authz.body.challenges:
        if kind == DNS_PERSIST01:
            # The library knows no dns-persist-01: it keeps the challenge's JSON as it came.
            if (
                isinstance(challenge.chall, challenges.UnrecognizedChallenge)
                and challenge.chall.jobj.get("type") == DNS_PERSIST01
            ):
                return challenge
        elif isinstance(challenge.chall, _CHALLENGES[kind]):
            return challenge
    raise AcmeFailure(
        f"the CA offers no {kind} challenge for {authz.body.identifier.value}", transient=False
    )


class _Failures:
    """Turns the library's and the network's exceptions into AcmeFailure."""

    def __init__(self, action: str, client: AcmeClient) -> None:
        self.action = action
        self.client = client

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, AcmeFailure):
            return
        failure = self._failure(exc)
        if failure is not None:
            failure.retry_after = self.client.last_retry_after
            raise failure from exc

    def _failure(self, exc: BaseException) -> AcmeFailure | None:
        if isinstance(exc, messages.Error):
            return _from_problem(self.action, exc)
        if isinstance(exc, errors.ValidationError):
            problems = [
                challenge.error
                for authz in exc.failed_authzrs
                for challenge in authz.body.challenges
                if challenge.error is not None
            ]
            if problems:
                return _from_problem(self.action, problems[0])
        if isinstance(exc, errors.IssuanceError):
            return _from_problem(self.action, exc.error)
        if isinstance(exc, errors.TimeoutError | requests.RequestException | errors.ClientError):
            return AcmeFailure(f"{self.action}: {_describe(exc)}", transient=True)
        return None


def _from_problem(action: str, problem: messages.Error) -> AcmeFailure:
    return AcmeFailure(
        f"{action}: {problem.typ} {problem.detail or ''}".strip(),
        problem.typ,
        transient=is_transient(problem.typ),
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
