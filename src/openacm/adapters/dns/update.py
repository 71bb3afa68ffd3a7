"""Writing records into a zone with RFC 2136 dynamic updates, signed with TSIG (RFC 8945)."""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update

from openacm.adapters.dns.resolver import Nameserver

DEFAULT_TSIG_ALGORITHM = "hmac-sha256"


class DnsUpdateError(Exception):
    """The update was not applied; the message says what the server answered."""


@dataclass(frozen=True)
class TsigKey:
    name: str
    secret_b64: str
    algorithm: str = DEFAULT_TSIG_ALGORITHM

    def to_dnspython(self) -> dns.tsig.Key:
        try:
            return dns.tsig.Key(self.name, self.secret_b64, self.algorithm)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"TSIG key {self.name!r}: secret is not valid base64") from exc


class DnsUpdater:
    """Changes records in one zone on its primary server.

    Updates go over TCP: they are small, but TCP gives a reliable answer and no spoofing.
    """

    def __init__(
        self, server: Nameserver, zone: str, key: TsigKey | None, *, timeout: float = 5.0
    ) -> None:
        self.server = server
        self.zone = dns.name.from_text(zone, origin=dns.name.root)
        self.key = key
        self._tsig = key.to_dnspython() if key else None
        self.timeout = timeout

    def upsert_cname(self, name: str, target: str, ttl: int = 300) -> None:
        """Make `name` a CNAME to `target`, replacing any CNAME already there.

        RFC 2136 §3.4.2.2: a server silently ignores a CNAME added where other record types
        exist, so the caller cannot rely on this for a name that holds other data.
        """
        if ttl < 0:
            raise ValueError(f"TTL must not be negative, got {ttl}")
        owner = self._inside_zone(name)
        update = self._new_update()
        absolute_target = dns.name.from_text(target, origin=dns.name.root)
        update.replace(owner, ttl, dns.rdatatype.CNAME, absolute_target.to_text())
        self._send(update, f"set {owner} CNAME {absolute_target}")

    def add_txt(self, name: str, values: Sequence[str], ttl: int = 60) -> None:
        """Add TXT records at `name`, beside any already there (ACME DNS-01 answers: a name
        and its wildcard share one owner, and so do two orders for one name)."""
        owner = self._inside_zone(name)
        update = self._new_update()
        for value in values:
            update.add(owner, ttl, _txt(value))
        self._send(update, f"add {owner} TXT ({len(values)} values)")

    def remove_txt(self, name: str, values: Sequence[str]) -> None:
        """Remove these TXT records from `name`, leaving any others; absent ones are no error."""
        owner = self._inside_zone(name)
        update = self._new_update()
        for value in values:
            update.delete(owner, _txt(value))
        self._send(update, f"remove {owner} TXT ({len(values)} values)")

    def delete(self, name: str, rdtype: str = "CNAME") -> None:
        """Remove every record of `rdtype` at `name`; nothing there is not an error."""
        owner = self._inside_zone(name)
        update = self._new_update()
        update.delete(owner, dns.rdatatype.from_text(rdtype))
        self._send(update, f"delete {owner} {rdtype.upper()}")

    def _inside_zone(self, name: str) -> dns.name.Name:
        owner = dns.name.from_text(name, origin=dns.name.root)
        if not owner.is_subdomain(self.zone):
            raise DnsUpdateError(f"{owner} is not in zone {self.zone}")
        return owner

    def _new_update(self) -> dns.update.UpdateMessage:
        if self._tsig is None:
            return dns.update.UpdateMessage(self.zone)
        return dns.update.UpdateMessage(
            self.zone, keyring=self._tsig, keyalgorithm=self._tsig.algorithm
        )

    def _send(self, update: dns.update.UpdateMessage, action: str) -> None:
        where = f"{action} in zone {self.zone} at {self.server}"
        try:
            response = dns.query.tcp(
                update, self.server.address, timeout=self.timeout, port=self.server.port
            )
        except dns.tsig.PeerError as exc:
            raise DnsUpdateError(f"{where}: server rejected our TSIG: {_tsig_error(exc)}") from exc
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsUpdateError(f"{where}: {_describe(exc)}") from exc
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise DnsUpdateError(f"{where}: server answered {dns.rcode.to_text(rcode)}")


def _txt(value: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, _quoted(value))


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tsig_error(exc: dns.tsig.PeerError) -> str:
    if isinstance(exc, dns.tsig.PeerBadKey):
        return "BADKEY (it does not know this key name and algorithm)"
    if isinstance(exc, dns.tsig.PeerBadSignature):
        return "BADSIG (wrong secret)"
    if isinstance(exc, dns.tsig.PeerBadTime):
        return "BADTIME (clocks differ too much)"
    return str(exc) or type(exc).__name__


def _describe(exc: BaseException) -> str:
    if isinstance(exc, dns.exception.Timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
