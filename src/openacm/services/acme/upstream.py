"""The acme public issuer's side of openacm: its ACME account (generated once, sealed in the
store, registered on first use) and one issuance through the CNAME delegation model.

Names are proven with DNS-01 through a one-time CNAME the user creates,
`_acme-challenge.<name>. CNAME <token>.<validation zone>.` (domain/validation.py): the CA
follows it, so openacm answers by writing TXT records under `<token>.<validation zone>`: with
RFC 2136 updates to that zone's server (the `[[dns_zones]]` entry containing the zone), or,
without such an entry, into the store for openacm's own responder (`serve --dns-listen`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from josepy.jwk import JWKEC

from openacm.adapters.acme.client import (
    DNS_PERSIST01,
    HTTP01,
    AcmeClient,
    AcmeFailure,
    Challenge,
    new_account_key,
)
from openacm.adapters.ca.revocation import REVOCATION_REASONS
from openacm.adapters.dns.resolver import Nameserver
from openacm.adapters.dns.update import DnsUpdateError, DnsUpdater, TsigKey
from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.acme import AcmeAccountStore, AcmeDnsAnswers, AcmeHttpAnswers
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.config import AcmeCa, AcmeSettings, DnsZone, Settings
from openacm.domain.acme import ACME_ISSUER_ID, acme_issuer_id, ari_certificate_id
from openacm.domain.certificates import CertificateRecord
from openacm.domain.validation import (
    HTTP,
    HTTP01_PROBE,
    acme_http_label,
    acme_validation_record,
    base_name,
)
from openacm.services.pki.builtin_ca import public_base_url
from openacm.services.pki.leaf_keys import LeafPrivateKey, private_key_der

log = logging.getLogger("openacm.acme")
TXT_TTL = 60


def acme_http_base_url(settings: Settings) -> str:
    """The base of HTTP validation's RedirectTo: `[acme] http_url`, else the server's
    plain-HTTP public URL (CAs follow a redirect to http on port 80 or https on 443)."""
    return settings.acme.http_url.rstrip("/") or public_base_url(settings)


@dataclass(frozen=True)
class AcmeIssued:
    certificate: x509.Certificate
    chain_pem: str  # the CA's intermediates, as the upstream sent them
    issuer_id: str = ACME_ISSUER_ID  # which CA: `issuer_ca_id` of the certificate
    renewal_info: bool = False  # whether that CA offers ACME Renewal Information


@dataclass(frozen=True)
class RenewalTime:
    renew_at: float | None
    next_check_at: float


class AcmeUpstream:
    def __init__(
        self,
        db: Database,
        cipher: EnvelopeCipher,
        settings: AcmeSettings,
        validation_key: bytes,
        validation_zone: str,
        dns_zones: Sequence[DnsZone],
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.settings = settings
        self.validation_key = validation_key
        self.validation_zone = validation_zone
        self.dns_zones = tuple(dns_zones)
        self._clients: dict[str, AcmeClient] = {}  # by directory URL
        self._lock = threading.Lock()

    def handles(self, record: CertificateRecord) -> bool:
        """Whether this certificate's region takes its public certificates from the ACME CA."""
        return record.type == "AMAZON_ISSUED" and (
            self.settings.public_issuer(record.region) == "acme"
        )

    def try_issue(
        self,
        record: CertificateRecord,
        key: LeafPrivateKey,
        *,
        now: float,
        must_end_by: float | None = None,
        persist: bool = False,
    ) -> AcmeIssued | AcmeFailure:
        """`issue` for a certificate record at the configured CAs in order of preference:
        a CA that is down or refuses for a passing reason hands the order to the next (no
        new order starts that could end after `must_end_by`, a `time.monotonic()`); a refusal
        of the names is final. A failure is returned, for the caller to map. Names proven
        by their dns-persist-01 record (`persist`) go to the first CA only: the record names
        its issuer and the account there."""
        failures: list[AcmeFailure] = []
        cas = self.settings.cas()
        for ca in cas[:1] if persist else cas:
            if (
                failures
                and must_end_by is not None
                and (time.monotonic() + self.settings.order_timeout > must_end_by)
            ):
                break
            outcome = self._try_at(ca, record, key, now, persist)
            if isinstance(outcome, AcmeIssued) or not outcome.transient:
                return outcome
            failures.append(outcome)
        return _soonest_retry(failures)

    def _try_at(
        self, ca: AcmeCa, record: CertificateRecord, key: LeafPrivateKey, now: float, persist: bool
    ) -> AcmeIssued | AcmeFailure:
        try:
            return self.issue(
                record.account_id, record.names, key, now=now, ca=ca,
                method=record.validation_method or "DNS", replaces=self._replaces(record, ca),
                persist=persist,
            )  # fmt: skip
        except AcmeFailure as failure:
            log.info(
                "ACME order failed",
                extra={"arn": record.arn, "directory": ca.directory_url, "error": str(failure)},
            )
            return failure
        except DnsUpdateError as exc:
            # The validation zone's server refused or is down: passing, in all likelihood.
            log.warning("DNS-01 answer not published", extra={"arn": record.arn, "error": str(exc)})
            return AcmeFailure(str(exc), transient=True)

    def _replaces(self, record: CertificateRecord, ca: AcmeCa) -> str:
        """For a renewal at the CA that issued the current certificate: that certificate's
        ARI identifier, which the new order names (RFC 9773 §5)."""
        if record.status != "ISSUED" or record.issuer_ca_id != acme_issuer_id(ca.directory_url):
            return ""
        with self.db.read() as conn:
            current = CertificateStore(conn).get(record.arn, with_bodies=True)
        if current is None or current.certificate_pem is None:
            return ""
        return ari_certificate_id(x509.load_pem_x509_certificate(current.certificate_pem.encode()))

    def renewal_time(self, certificate_pem: str, issuer_id: str, *, now: float) -> RenewalTime:
        """ACME Renewal Information of a certificate, on openacm's clock: when the CA would
        have it renewed (None: it has no opinion) and when to ask again."""
        when, next_check = self.client(now, self._ca_of(issuer_id)).renewal_time(certificate_pem)
        offset = now - time.time()  # the dev clock may run ahead of the wall clock
        return RenewalTime(
            renew_at=when.timestamp() + offset if when is not None else None,
            next_check_at=next_check.timestamp() + offset,
        )

    def sealed_key(self, key: LeafPrivateKey, arn: str) -> bytes:
        """The certificate's key as the store keeps every leaf key (sealed, ARN as context)."""
        return self.cipher.seal(private_key_der(key), arn)

    def revoke(
        self, certificate_pem: str, reason: str, *, now: float, issuer_id: str = ACME_ISSUER_ID
    ) -> None:
        """RevokeCertificate forwarded to the CA that issued it (ACM's reason names)."""
        flag = REVOCATION_REASONS[reason]
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        self.client(now, self._ca_of(issuer_id)).revoke(certificate, _RFC5280_CODES[flag])

    def _ca_of(self, issuer_id: str) -> AcmeCa:
        cas = self.settings.cas()
        for ca in cas:
            if acme_issuer_id(ca.directory_url) == issuer_id:
                return ca
        if issuer_id == ACME_ISSUER_ID:  # issued before several CAs could be configured
            return cas[0]
        raise AcmeFailure("the ACME CA that issued it is no longer configured", transient=False)

    # -- the accounts (one per CA) ------------------------------------------------------------

    def client(self, now: float, ca: AcmeCa | None = None) -> AcmeClient:
        """The registered client of `ca` (the first CA by default), made on first use: the
        key is generated and sealed in the store before it is registered, so a crash in
        between only re-registers the same key (the CA answers with the existing account)."""
        ca = ca or self.settings.cas()[0]
        # Several orders of a batch may ask at once. The lock is not held over the network (a
        # CA that times out would hold up every order): two first uses may both make a client,
        # registering the same stored key twice, which the CA answers with the one account.
        with self._lock:
            made = self._clients.get(ca.directory_url)
        if made is not None:
            return made
        fresh = self._registered_client(ca, now)
        with self._lock:
            return self._clients.setdefault(ca.directory_url, fresh)

    def _registered_client(self, ca: AcmeCa, now: float) -> AcmeClient:
        url = ca.directory_url
        # Read first: the account exists after the first order, and RevokeCertificate asks
        # for it from inside its own write transaction.
        with self.db.read() as conn:
            stored = AcmeAccountStore(conn).get(url)
        if stored is None:
            with self.db.write() as conn:
                accounts = AcmeAccountStore(conn)
                stored = accounts.get(url)  # another process may have made it meanwhile
                if stored is None:
                    sealed = self.cipher.seal(_key_der(new_account_key()), url)
                    accounts.create(url, sealed, now)
                    stored = accounts.get(url)
        assert stored is not None
        key = JWKEC(key=serialization.load_der_private_key(
            self.cipher.open(stored.key_sealed, url), password=None))  # fmt: skip
        account_url = stored.account_url
        client = AcmeClient(url, key, account_url, ca_bundle=ca.ca_bundle)
        if account_url is None:
            registered = client.register(self.settings.contact, ca.eab_key_id, ca.eab_hmac_key)
            with self.db.write() as conn:
                AcmeAccountStore(conn).set_account_url(url, registered, now)
            log.info("ACME account registered", extra={"directory": url, "account": registered})
        return client

    # -- issuance ---------------------------------------------------------------------------

    def issue(
        self,
        account_id: str,
        names: Sequence[str],
        key: LeafPrivateKey,
        *,
        now: float,
        ca: AcmeCa | None = None,
        method: str = "DNS",
        replaces: str = "",
        persist: bool = False,
    ) -> AcmeIssued:
        """One certificate for `names` (the first is the subject's CN) on `key`, through the
        full order flow at `ca` (the first CA by default), proven by dns-01, by dns-persist-01
        for names whose record is the persistent TXT (`persist`), or, for HTTP validation,
        http-01. Raises AcmeFailure (with the problem type) or DnsUpdateError."""
        ca = ca or self.settings.cas()[0]
        csr = _csr(names, key)
        client = self.client(now, ca)
        timeout = self.settings.order_timeout
        options = {**self._order_options(ca), "replaces": replaces}
        if method == HTTP:
            pem = self._order_http(client, csr, account_id, names, now, timeout, options)
        elif persist:
            pem = self._order_persist(client, csr, timeout, options)
        else:
            pem = self._order_dns(client, csr, account_id, names, now, timeout, options)
        issued = _issued(pem, acme_issuer_id(ca.directory_url))
        return replace(issued, renewal_info=client.offers_renewal_info)

    def _order_dns(
        self,
        client: AcmeClient,
        csr: bytes,
        account_id: str,
        names: Sequence[str],
        now: float,
        timeout: float,
        options: dict[str, str],
    ) -> str:
        """dns-01 through the CNAME delegation: TXT answers under `<token>.<validation zone>`."""
        # Keyed as authorizations name them: `*.example.com` is authorized as `example.com`.
        tokens = {
            base_name(name).lower(): acme_validation_record(
                self.validation_key, account_id, name, self.validation_zone
            ).value
            for name in names
        }
        published: dict[str, list[str]] = {}

        def answer(challenges: Sequence[Challenge]) -> None:
            by_owner: dict[str, list[str]] = {}
            for challenge in challenges:
                owner = tokens[challenge.domain.lower()]
                by_owner.setdefault(owner, []).append(challenge.value)
            for owner, values in by_owner.items():
                self._publish(owner, values, now)
                published[owner] = values

        try:
            return client.issue(csr, answer, timeout=timeout, **options)
        finally:
            self._withdraw(published)

    def _order_persist(
        self, client: AcmeClient, csr: bytes, timeout: float, options: dict[str, str]
    ) -> str:
        """dns-persist-01: nothing to publish, the user's `_validation-persist` TXT (checked
        by the validation worker) is the proof; only the CA must be the one it names."""
        issuer = self.settings.dns_persist_issuer.lower().rstrip(".")

        def answer(challenges: Sequence[Challenge]) -> None:
            for challenge in challenges:
                offered = {name.lower().rstrip(".") for name in challenge.issuers}
                if issuer not in offered:
                    raise AcmeFailure(
                        f"the CA's dns-persist-01 for {challenge.domain} accepts records for "
                        f"{sorted(offered)}, not {issuer} ([acme] dns_persist_issuer)",
                        transient=False,
                    )

        return client.issue(csr, answer, timeout=timeout, challenge_type=DNS_PERSIST01, **options)

    def persist_account_url(self, now: float) -> str | None:
        """The account a dns-persist-01 record binds names to (the first CA's, registered
        on first use), or None: dns-persist-01 not enabled, or the CA unreachable for a
        first registration (the name then gets the CNAME, which any CA validates)."""
        if not self.settings.dns_persist_issuer:
            return None
        try:
            return self.client(now).account_url
        except AcmeFailure as failure:
            log.warning("ACME account not registered", extra={"error": str(failure)})
            return None

    def _order_http(
        self,
        client: AcmeClient,
        csr: bytes,
        account_id: str,
        names: Sequence[str],
        now: float,
        timeout: float,
        options: dict[str, str],
    ) -> str:
        """http-01: each key authorization is stored under the name's RedirectTo label,
        whence any process of the installation serves it (`http01_answer`)."""
        labels = {
            name.lower(): acme_http_label(self.validation_key, account_id, name) for name in names
        }
        published: list[tuple[str, str]] = []

        def answer(challenges: Sequence[Challenge]) -> None:
            with self.db.write() as conn:
                answers = AcmeHttpAnswers(conn)
                for challenge in challenges:
                    label = labels[challenge.domain.lower()]
                    answers.put(
                        label, challenge.token, challenge.value, now,
                        stale_before=now - 2 * self.settings.order_timeout,
                    )  # fmt: skip
                    published.append((label, challenge.token))

        try:
            return client.issue(csr, answer, timeout=timeout, challenge_type=HTTP01, **options)
        finally:
            if published:  # single-use, like the TXT answers
                with self.db.write() as conn:
                    for label, token in published:
                        AcmeHttpAnswers(conn).delete(label, token)

    def _order_options(self, ca: AcmeCa) -> dict[str, str]:
        """The chain and profile to ask `ca` for: its own, else the `[acme]` ones."""
        return {
            "profile": ca.profile or self.settings.profile,
            "preferred_chain": ca.preferred_chain or self.settings.preferred_chain,
        }

    def _publish(self, owner: str, values: Sequence[str], now: float) -> None:
        """Through RFC 2136 where a `[[dns_zones]]` entry holds the validation zone, else into
        the store, whence openacm's own responder (`serve --dns-listen`) serves it. Added
        beside other values: another order for the same name (another process) may be
        answering at the same owner, and the CA accepts any value that matches."""
        # Every value is also kept in the store, so that one a crashed order left behind is
        # found and removed by the next order for the name (its lease long expired).
        with self.db.write() as conn:
            stale = AcmeDnsAnswers(conn).add(
                owner, values, now, stale_before=now - 2 * self.settings.order_timeout
            )
        updater = self._updater_for(owner)
        if updater is not None:
            if stale:
                updater.remove_txt(owner, stale)
            updater.add_txt(owner, values, TXT_TTL)

    def _withdraw(self, published: Mapping[str, Sequence[str]]) -> None:
        """The answers are single-use: remove this order's values (a failure only leaves a
        stale TXT), not another order's."""
        for owner, values in published.items():
            try:
                updater = self._updater_for(owner)
                if updater is not None:
                    updater.remove_txt(owner, values)
                with self.db.write() as conn:
                    AcmeDnsAnswers(conn).remove(owner, values)
            except DnsUpdateError:
                log.warning("could not remove a DNS-01 answer", extra={"name": owner})

    def _updater_for(self, owner: str) -> DnsUpdater | None:
        zones = [zone for zone in self.dns_zones if zone.contains(owner)]
        if not zones:
            return None
        zone = max(zones, key=lambda z: len(z.zone))
        return DnsUpdater(
            Nameserver.parse(zone.server),
            zone.zone,
            TsigKey(zone.tsig_key_name, zone.tsig_secret, zone.tsig_algorithm),
        )


# RFC 5280 §5.3.1 CRLReason codes (7 is unused).
_RFC5280_CODES = {
    x509.ReasonFlags.unspecified: 0,
    x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3,
    x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5,
    x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.remove_from_crl: 8,
    x509.ReasonFlags.privilege_withdrawn: 9,
    x509.ReasonFlags.aa_compromise: 10,
}


def http01_answer(db: Database, label: str, token: str) -> str | None:
    """What openacm answers at `<RedirectTo>/<token>`: the key authorization of a challenge
    under way, or, for the redirect check's probe, the label itself."""
    if token == HTTP01_PROBE:
        return label
    with db.read() as conn:
        return AcmeHttpAnswers(conn).get(label, token)


def _issued(pem: str, issuer_id: str) -> AcmeIssued:
    certificates = x509.load_pem_x509_certificates(pem.encode())
    chain = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates[1:])
    return AcmeIssued(certificates[0], chain, issuer_id)


def _soonest_retry(failures: Sequence[AcmeFailure]) -> AcmeFailure:
    """Every CA failed for a passing reason: the last failure, to be retried as soon as the
    first CA that named a time allows (at the worker's backoff if one named none)."""
    last = failures[-1]
    waits = [f.retry_after for f in failures]
    soonest = None if None in waits else min(w for w in waits if w is not None)
    return AcmeFailure(str(last), last.problem_type, transient=True, retry_after=soonest)


def _key_der(key: JWKEC) -> bytes:
    private = key.key
    return bytes(
        private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _csr(names: Sequence[str], key: LeafPrivateKey) -> bytes:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)
