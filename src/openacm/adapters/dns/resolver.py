"""DNS lookups for validation and CAA against the configured nameservers.

The nameservers may be recursive resolvers or plain authoritative servers (tests use a
non-recursive BIND), so aliases are followed here, one query per link, never by asking the
server to recurse. Names come back lowercase, absolute and without the trailing dot.

CAA answers are cached for their TTL (RFC 2308's for "no records"), as a recursive
resolver would: certificates for sibling names climb through the same parents, and the
CA/Browser Forum lets a CA rely on a CAA answer for its TTL. Validation CNAMEs are never
cached: a record the customer deleted must stop issuance at once.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.CAA import CAA
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.TXT import TXT

from openacm.domain.caa import CaaRecord

DEFAULT_PORT = 53
# ACM: chains of more than 5 CNAME links make resolution fail (inventory §3.2).
MAX_CNAME_LINKS = 5
# RFC 8659 sets no limit on the aliases of a CAA lookup; this is the one of common recursive
# resolvers (Unbound), enough for real CDN chains while still stopping loops.
MAX_CAA_ALIAS_LINKS = 8
# However long the TTL, a cached CAA answer is asked again after this long, so that a record
# the customer just added takes effect within a minute.
CAA_CACHE_MAX_SECONDS = 60.0
_CAA_CACHE_ENTRIES = 4096


class DnsLookupError(Exception):
    """No nameserver gave an answer we can use (timeout, SERVFAIL, REFUSED...): we cannot
    tell whether the record exists."""


@dataclass(frozen=True)
class Nameserver:
    address: str
    port: int = DEFAULT_PORT

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        """`127.0.0.1`, `127.0.0.1:5353`, `::1`, `[::1]:5353`."""
        text = text.strip()
        host, port = _split_host_port(text)
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            raise ValueError(f"nameserver {text!r}: {host!r} is not an IP address") from None
        if not 0 < port < 65536:
            raise ValueError(f"nameserver {text!r}: port {port} is out of range")
        return cls(address, port)

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def _split_host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"nameserver {text!r}: expected [address]:port")
        return host, _port(text, rest[1:]) if rest else DEFAULT_PORT
    if text.count(":") == 1:
        host, _, port_text = text.partition(":")
        return host, _port(text, port_text)
    # No colon, or several: a bare IPv4 or IPv6 address on the default port.
    return text, DEFAULT_PORT


def _port(text: str, port_text: str) -> int:
    if not port_text.isdigit():
        raise ValueError(f"nameserver {text!r}: port {port_text!r} is not a number")
    return int(port_text)


@dataclass(frozen=True)
class CnameChain:
    """The targets of the CNAME links starting at a name, in order.

    `too_long` means the chain did not end within the allowed number of links; a loop never
    ends, so it is reported this way too. `targets` then holds the links followed so far.
    """

    targets: tuple[str, ...]
    too_long: bool = False

    @property
    def final_target(self) -> str | None:
        return self.targets[-1] if self.targets else None


@dataclass(frozen=True)
class CaaAnswer:
    """The relevant CAA RRset (RFC 8659 §3) for a name, or no records when there is none.

    `found_at` is the name on the climb whose set this is; `owner` holds the records, and
    differs from `found_at` when `found_at` is an alias.
    """

    records: tuple[CaaRecord, ...]
    found_at: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class _Answer:
    """What one name holds: records of the type asked for, or a CNAME target, or neither."""

    records: dns.rrset.RRset | None
    cname_target: dns.name.Name | None


class DnsChecker:
    def __init__(
        self, nameservers: Sequence[Nameserver], *, timeout: float = 3.0, cache_caa: bool = True
    ) -> None:
        if not nameservers:
            raise ValueError("at least one nameserver is needed")
        self.nameservers = tuple(nameservers)
        self.timeout = timeout
        self._caa_cache = _AnswerCache() if cache_caa else None

    def cname_chain(
        self, name: str, *, max_links: int = MAX_CNAME_LINKS, stop_under: Sequence[str] = ()
    ) -> CnameChain:
        """Follow CNAME links from `name`; an absent name or one without a CNAME gives an
        empty chain.

        A target at or under one of the `stop_under` zones ends the chain without being
        looked up: openacm's validation zone is such an end, and the user's nameservers may
        well refuse to answer for it.
        """
        final_zones = [_absolute(zone) for zone in stop_under]
        targets: list[str] = []
        current = _absolute(name)
        while True:
            target = self._lookup(current, dns.rdatatype.CNAME).cname_target
            if target is None:
                return CnameChain(tuple(targets))
            if len(targets) == max_links:
                return CnameChain(tuple(targets), too_long=True)
            targets.append(_text(target))
            if any(target.is_subdomain(zone) for zone in final_zones):
                return CnameChain(tuple(targets))
            current = target

    def txt_values(self, name: str, *, max_links: int = MAX_CNAME_LINKS) -> tuple[str, ...]:
        """The TXT strings at `name` (aliases followed, as ACME dns-01 delegation needs); each
        record's character-strings joined, as RFC 8555 §8.4 reads them."""
        records = self._following(name, dns.rdatatype.TXT, max_links)
        return tuple(
            b"".join(rdata.strings).decode("utf-8", "replace")
            for rdata in records
            if isinstance(rdata, TXT)
        )

    def addresses(self, name: str, *, max_links: int = MAX_CNAME_LINKS) -> tuple[str, ...]:
        """The IPv4 then IPv6 addresses of `name` (aliases followed): where openacm's ACME
        server connects for http-01 and tls-alpn-01 (RFC 8555 §8.3, RFC 8737), and where an
        upstream CA's http-01 request goes (the acme issuer's own check of the redirect)."""
        found: list[str] = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            found += [rdata.address for rdata in self._following(name, rdtype, max_links)]
        return tuple(found)

    def _following(self, name: str, rdtype: dns.rdatatype.RdataType, max_links: int) -> list[Any]:
        """The records of `rdtype` at `name` or at the end of its CNAME chain."""
        current = _absolute(name)
        for _ in range(max_links + 1):
            answer = self._lookup(current, rdtype)
            if answer.records is not None:
                return list(answer.records)
            if answer.cname_target is None:
                return []
            current = answer.cname_target
        raise DnsLookupError(
            f"{dns.rdatatype.to_text(rdtype)} lookup for {name}: CNAME chain longer than "
            f"{max_links} links"
        )

    def caa_records(self, name: str) -> CaaAnswer:
        """The relevant CAA RRset: the first non-empty set on the climb from `name` (or from
        `x.y` for `*.x.y`) towards the root, which is never queried."""
        current = _absolute(name.removeprefix("*."))
        while current != dns.name.root:
            found = self._caa_at(current)
            if found is not None:
                return found
            # RFC 8659 §3: after an alias, climb from the original name, not from its target.
            current = current.parent()
        return CaaAnswer(())

    def _caa_at(self, name: dns.name.Name) -> CaaAnswer | None:
        """CAA(name) of RFC 8659 §3, aliases followed: None when the set is empty."""
        current = name
        for _ in range(MAX_CAA_ALIAS_LINKS + 1):
            answer = self._lookup(current, dns.rdatatype.CAA)
            if answer.records is not None:
                records = tuple(
                    _caa_record(rdata) for rdata in answer.records if isinstance(rdata, CAA)
                )
                return CaaAnswer(records, found_at=_text(name), owner=_text(current))
            if answer.cname_target is None:
                return None
            current = answer.cname_target
        # A CA must not issue when it cannot complete the lookup (RFC 8659 §3).
        raise DnsLookupError(
            f"CAA lookup for {_text(name)}: CNAME chain longer than {MAX_CAA_ALIAS_LINKS} links"
        )

    def _lookup(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> _Answer:
        """Records of `rdtype` owned by `name` itself, or its CNAME target.

        Anything else in the answer (a chased chain) is ignored: each link is asked for in
        turn, which works the same with authoritative servers and recursive resolvers.
        """
        response = self._ask(name, rdtype)
        records = _owned(response, name, rdtype)
        if records is not None and rdtype != dns.rdatatype.CNAME:
            return _Answer(records, None)
        alias = _owned(response, name, dns.rdatatype.CNAME)
        targets = [rdata.target for rdata in alias or () if isinstance(rdata, CNAME)]
        return _Answer(None, targets[0] if targets else None)

    def _ask(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        """The first usable response (NOERROR or NXDOMAIN), nameservers tried in order; a CAA
        response from the cache while its TTL lasts."""
        cache = self._caa_cache if rdtype == dns.rdatatype.CAA else None
        cached = cache.get(name) if cache is not None else None
        if cached is not None:
            return cached
        response = self._ask_nameservers(name, rdtype)
        if cache is not None:
            cache.put(name, response)
        return response

    def _ask_nameservers(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.message.Message:
        failures = []
        for nameserver in self.nameservers:
            query = dns.message.make_query(name, rdtype)
            try:
                response = self._send(query, nameserver)
            except (dns.exception.DNSException, OSError) as exc:
                failures.append(f"{nameserver}: {_describe(exc)}")
                continue
            rcode = response.rcode()
            if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return response
            failures.append(f"{nameserver}: {dns.rcode.to_text(rcode)}")
        question = f"{_text(name)} {dns.rdatatype.to_text(rdtype)}"
        raise DnsLookupError(f"no nameserver answered {question}: {'; '.join(failures)}")

    def _send(self, query: dns.message.Message, nameserver: Nameserver) -> dns.message.Message:
        # TCP only when the UDP answer was truncated. Stray or garbled datagrams are skipped
        # rather than failing the lookup: the real answer may still arrive before the timeout.
        response, _used_tcp = dns.query.udp_with_fallback(
            query,
            nameserver.address,
            timeout=self.timeout,
            port=nameserver.port,
            ignore_unexpected=True,
            ignore_errors=True,
        )
        return response


class _AnswerCache:
    """Responses by name, each kept for its TTL (at most CAA_CACHE_MAX_SECONDS)."""

    def __init__(self) -> None:
        self._entries: dict[dns.name.Name, tuple[float, dns.message.Message]] = {}
        self._lock = threading.Lock()

    def get(self, name: dns.name.Name) -> dns.message.Message | None:
        with self._lock:
            entry = self._entries.get(name)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, name: dns.name.Name, response: dns.message.Message) -> None:
        ttl = min(_response_ttl(response), CAA_CACHE_MAX_SECONDS)
        if ttl <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._entries) >= _CAA_CACHE_ENTRIES:
                self._entries = {n: e for n, e in self._entries.items() if e[0] > now}
                if len(self._entries) >= _CAA_CACHE_ENTRIES:
                    self._entries.clear()
            self._entries[name] = (now + ttl, response)


def _response_ttl(response: dns.message.Message) -> float:
    """How long `response` may be reused: its answer's smallest TTL, or for an answer
    without records the SOA's negative-caching TTL (RFC 2308 §5); 0 when it has neither."""
    if response.answer:
        return float(min(rrset.ttl for rrset in response.answer))
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return float(min([rrset.ttl, *(rdata.minimum for rdata in rrset)]))
    return 0.0


def _owned(
    response: dns.message.Message, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> dns.rrset.RRset | None:
    try:
        return response.find_rrset(response.answer, name, dns.rdataclass.IN, rdtype)
    except KeyError:
        return None


def _caa_record(rdata: CAA) -> CaaRecord:
    # Undecodable bytes become U+FFFD, which the issue grammar rejects: such a value grants
    # nothing instead of crashing the check.
    tag = rdata.tag.decode("ascii", "replace")
    return CaaRecord(int(rdata.flags), tag, rdata.value.decode("utf-8", "replace"))


def _absolute(name: str) -> dns.name.Name:
    return dns.name.from_text(name, origin=dns.name.root)


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, dns.exception.Timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
