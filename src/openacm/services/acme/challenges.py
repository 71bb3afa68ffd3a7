"""The checks of the challenges an ACME endpoint may offer beyond PRE_APPROVED: dns-01
(RFC 8555 §8.4), http-01 (§8.3) and tls-alpn-01 (RFC 8737), made at once when the client
answers, against the installation's validation resolvers.
"""

from __future__ import annotations

from dataclasses import dataclass

from openacm.adapters.challenges import ChallengeFetchError, fetch_http01, fetch_tls_alpn01
from openacm.adapters.dns.resolver import DnsChecker, DnsLookupError
from openacm.adapters.store.acme_server import AcmeAuthorization
from openacm.domain.acme_server import (
    AcmeProblem,
    dns01_record_name,
    dns01_txt_value,
    key_authorization,
    tls_alpn01_refusal,
)

DNS01 = "dns-01"
HTTP01 = "http-01"
TLS_ALPN01 = "tls-alpn-01"
CHALLENGE_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ChallengePorts:
    """Where http-01 and tls-alpn-01 connect (80 and 443 unless configured otherwise)."""

    http01: int = 80
    tls_alpn01: int = 443


class ChallengeChecker:
    def __init__(self, dns: DnsChecker, ports: ChallengePorts) -> None:
        self.dns = dns
        self.ports = ports

    def check(self, authz: AcmeAuthorization, thumbprint: str) -> AcmeProblem | None:
        """None when the authorization's challenge is proven, else why not."""
        check = {
            DNS01: self._dns01,
            HTTP01: self._http01,
            TLS_ALPN01: self._tls_alpn01,
        }[authz.challenge_type]
        return check(authz, thumbprint)

    def _dns01(self, authz: AcmeAuthorization, thumbprint: str) -> AcmeProblem | None:
        """The TXT record at _acme-challenge.<name>, aliases followed (§8.4)."""
        expected = dns01_txt_value(authz.challenge_token, thumbprint)
        record_name = dns01_record_name(authz.identifier)
        try:
            found = self.dns.txt_values(record_name)
        except DnsLookupError as exc:
            return AcmeProblem("dns", f"TXT lookup of {record_name} failed: {exc}")
        if expected in found:
            return None
        return AcmeProblem(
            "incorrectResponse",
            f"no TXT record at {record_name} holds the expected value (found {len(found)})",
            status=403,
        )

    def _addresses(self, name: str) -> tuple[str, ...] | AcmeProblem:
        try:
            addresses = self.dns.addresses(name)
        except DnsLookupError as exc:
            return AcmeProblem("dns", f"address lookup of {name} failed: {exc}")
        return addresses or AcmeProblem("dns", f"{name} has no A or AAAA record")

    def _http01(self, authz: AcmeAuthorization, thumbprint: str) -> AcmeProblem | None:
        """http://<name>/.well-known/acme-challenge/<token> must hold the key authorization
        (§8.3), on the first address that answers."""
        if authz.identifier.startswith("*."):
            return AcmeProblem("malformed", "a wildcard name cannot be validated by http-01")
        addresses = self._addresses(authz.identifier)
        if isinstance(addresses, AcmeProblem):
            return addresses
        expected = key_authorization(authz.challenge_token, thumbprint)
        failure = ""
        for address in addresses:
            try:
                body = fetch_http01(
                    address, self.ports.http01, authz.identifier, authz.challenge_token,
                    timeout=CHALLENGE_TIMEOUT_SECONDS,
                )  # fmt: skip
            except ChallengeFetchError as exc:
                failure = str(exc)
                continue
            if body.strip() == expected:
                return None
            return AcmeProblem(
                "incorrectResponse", "the HTTP resource does not hold the key authorization", 403
            )
        return AcmeProblem("connection", f"no address of {authz.identifier} answered: {failure}")

    def _tls_alpn01(self, authz: AcmeAuthorization, thumbprint: str) -> AcmeProblem | None:
        """The certificate offered for <name> over acme-tls/1 must carry the key
        authorization's digest (RFC 8737)."""
        if authz.identifier.startswith("*."):
            return AcmeProblem("malformed", "a wildcard name cannot be validated by tls-alpn-01")
        addresses = self._addresses(authz.identifier)
        if isinstance(addresses, AcmeProblem):
            return addresses
        failure = ""
        for address in addresses:
            try:
                certificate = fetch_tls_alpn01(
                    address, self.ports.tls_alpn01, authz.identifier,
                    timeout=CHALLENGE_TIMEOUT_SECONDS,
                )  # fmt: skip
            except ChallengeFetchError as exc:
                failure = str(exc)
                continue
            refusal = tls_alpn01_refusal(
                certificate, authz.identifier, authz.challenge_token, thumbprint
            )
            return None if refusal is None else AcmeProblem("incorrectResponse", refusal, 403)
        return AcmeProblem("tls", f"no address of {authz.identifier} answered: {failure}")
