"""CAA answers are reused for their TTL, as a recursive resolver would; CNAMEs never are."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import pytest

from openacm.adapters.dns import resolver
from openacm.adapters.dns.resolver import DnsChecker, Nameserver


def _query(name: str, rdtype: str) -> dns.message.Message:
    return dns.message.make_query(dns.name.from_text(name), rdtype)


def with_caa(name: str, ttl: int) -> dns.message.Message:
    response = dns.message.make_response(_query(name, "CAA"))
    response.answer.append(dns.rrset.from_text(name + ".", ttl, "IN", "CAA", '0 issue "ca.test"'))
    return _as_received(response)


def without_records(name: str, soa_ttl: int, minimum: int) -> dns.message.Message:
    response = dns.message.make_response(_query(name, "CAA"))
    soa = f"ns1.example.com. hostmaster.example.com. 1 3600 600 86400 {minimum}"
    response.authority.append(dns.rrset.from_text("example.com.", soa_ttl, "IN", "SOA", soa))
    return _as_received(response)


def _as_received(response: dns.message.Message) -> dns.message.Message:
    """Through the wire format, as the network would give it (sections indexed)."""
    return dns.message.from_wire(response.to_wire())


def test_reuse_time_is_the_answer_ttl_or_the_negative_caching_ttl() -> None:
    assert resolver._response_ttl(with_caa("example.com", 300)) == 300
    # RFC 2308 §5: the smaller of the SOA's own TTL and its MINIMUM field.
    assert resolver._response_ttl(without_records("a.example.com", 900, 60)) == 60
    assert resolver._response_ttl(without_records("a.example.com", 30, 60)) == 30
    bare = dns.message.make_response(_query("a.example.com", "CAA"))
    assert resolver._response_ttl(bare) == 0


class CountingChecker(DnsChecker):
    """Answers from a script instead of the network, counting what reaches the network."""

    def __init__(self, answers: dict[tuple[str, int], dns.message.Message]) -> None:
        super().__init__([Nameserver("192.0.2.1")])
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    def _ask_nameservers(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.message.Message:
        key = (name.to_text(omit_final_dot=True), int(rdtype))
        self.asked.append(key)
        return self.answers[key]


def test_caa_is_asked_once_per_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(resolver.time, "monotonic", lambda: clock[0])
    caa = int(dns.rdatatype.CAA)
    checker = CountingChecker(
        {
            ("a.example.com", caa): without_records("a.example.com", 5, 5),
            ("b.example.com", caa): without_records("b.example.com", 5, 5),
            ("example.com", caa): with_caa("example.com", 10),
        }
    )
    assert checker.caa_records("a.example.com").found_at == "example.com"
    assert checker.caa_records("b.example.com").found_at == "example.com"
    # The parent's answer served the sibling too.
    assert checker.asked.count(("example.com", caa)) == 1
    clock[0] += 11
    checker.caa_records("a.example.com")
    assert checker.asked.count(("example.com", caa)) == 2
    assert checker.asked.count(("a.example.com", caa)) == 2


def test_cache_can_be_turned_off_and_never_holds_cnames() -> None:
    caa, cname = int(dns.rdatatype.CAA), int(dns.rdatatype.CNAME)
    answers = {
        ("example.com", caa): with_caa("example.com", 300),
        ("_tok.example.com", cname): dns.message.make_response(_query("_tok.example.com", "CNAME")),
    }
    checker = CountingChecker(answers)
    checker.cname_chain("_tok.example.com")
    checker.cname_chain("_tok.example.com")
    assert checker.asked.count(("_tok.example.com", cname)) == 2
    uncached = CountingChecker(answers)
    uncached._caa_cache = None
    uncached.caa_records("example.com")
    uncached.caa_records("example.com")
    assert uncached.asked.count(("example.com", caa)) == 2
