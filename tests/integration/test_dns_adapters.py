"""The DNS adapters against a real, non-recursive BIND 9: CNAME chains, the CAA climb, updates."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable

import pytest

from openacm.adapters.dns.resolver import (
    MAX_CAA_ALIAS_LINKS,
    CaaAnswer,
    DnsChecker,
    DnsLookupError,
    Nameserver,
)
from openacm.adapters.dns.update import DnsUpdateError, DnsUpdater, TsigKey
from openacm.domain.caa import CaaRecord
from tests.support.bind import BindServer, free_udp_and_tcp_port

# The session fixture, until conftest provides it to every module.

ZONE = "openacm-test.com"
OTHER_ZONE = "other-test.net"


@pytest.fixture
def label() -> str:
    """A label no other test uses: every test of a worker shares the server's zones."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def base(label: str) -> str:
    return f"{label}.{ZONE}"


@pytest.fixture
def other_base(label: str) -> str:
    return f"{label}.{OTHER_ZONE}"


@pytest.fixture
def nameserver(bind_server: BindServer) -> Nameserver:
    return Nameserver.parse(bind_server.nameserver_spec)


@pytest.fixture
def checker(nameserver: Nameserver) -> DnsChecker:
    return DnsChecker([nameserver], timeout=2.0)


@pytest.fixture
def updater(bind_server: BindServer, nameserver: Nameserver) -> DnsUpdater:
    key = TsigKey(
        bind_server.tsig_key_name, bind_server.tsig_secret_b64, bind_server.tsig_algorithm
    )
    return DnsUpdater(nameserver, ZONE, key)


def make_chain(server: BindServer, names: list[str]) -> None:
    """names[0] CNAME names[1] CNAME ... names[-1]."""
    for name, target in itertools.pairwise(names):
        server.add_cname(name, target)


def dead_nameserver() -> Nameserver:
    return Nameserver("127.0.0.1", free_udp_and_tcp_port())


# -- Nameserver.parse -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", Nameserver("127.0.0.1", 53)),
        ("127.0.0.1:5353", Nameserver("127.0.0.1", 5353)),
        (" 127.0.0.1:5353 ", Nameserver("127.0.0.1", 5353)),
        ("[::1]:53", Nameserver("::1", 53)),
        ("[::1]", Nameserver("::1", 53)),
        ("::1", Nameserver("::1", 53)),
        ("2001:db8::1", Nameserver("2001:db8::1", 53)),
    ],
)
def test_nameserver_parse(text: str, expected: Nameserver) -> None:
    assert Nameserver.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "ns1.example.com", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:0", "[::1]x", "[::1"]
)
def test_nameserver_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        Nameserver.parse(text)


def test_nameserver_text_round_trips() -> None:
    for text in ("127.0.0.1:5353", "[::1]:53"):
        assert str(Nameserver.parse(text)) == text


# -- cname_chain ------------------------------------------------------------------------


def test_one_link(bind_server: BindServer, checker: DnsChecker, base: str) -> None:
    bind_server.add_cname(f"_tok.{base}", "_val.acm-validations.openacm-test.com")
    chain = checker.cname_chain(f"_TOK.{base}.")
    assert chain.targets == ("_val.acm-validations.openacm-test.com",)
    assert not chain.too_long
    assert chain.final_target == "_val.acm-validations.openacm-test.com"


def test_five_links_are_allowed(bind_server: BindServer, checker: DnsChecker, base: str) -> None:
    names = [f"n{i}.{base}" for i in range(6)]
    make_chain(bind_server, names)
    chain = checker.cname_chain(names[0])
    assert chain.targets == tuple(names[1:])
    assert not chain.too_long


def test_six_links_are_too_long(bind_server: BindServer, checker: DnsChecker, base: str) -> None:
    names = [f"n{i}.{base}" for i in range(7)]
    make_chain(bind_server, names)
    chain = checker.cname_chain(names[0])
    assert chain.too_long
    assert chain.targets == tuple(names[1:6])
    # The limit is the caller's to choose.
    assert not checker.cname_chain(names[0], max_links=6).too_long


def test_loop_is_too_long(bind_server: BindServer, checker: DnsChecker, base: str) -> None:
    make_chain(bind_server, [f"a.{base}", f"b.{base}", f"a.{base}"])
    assert checker.cname_chain(f"a.{base}").too_long


def test_missing_name_and_name_without_cname_give_empty_chains(
    bind_server: BindServer,
    checker: DnsChecker,
    base: str,
) -> None:
    bind_server.add_txt(f"txt.{base}", "not an alias")
    assert checker.cname_chain(f"absent.{base}").targets == ()
    assert checker.cname_chain(f"txt.{base}").targets == ()


def test_chain_across_zones(
    bind_server: BindServer,
    checker: DnsChecker,
    base: str,
    other_base: str,
) -> None:
    make_chain(bind_server, [f"_tok.{base}", f"hop.{other_base}", f"end.{base}"])
    assert checker.cname_chain(f"_tok.{base}").targets == (f"hop.{other_base}", f"end.{base}")


def test_chain_stops_at_the_validation_zone_without_asking_for_it(
    bind_server: BindServer,
    checker: DnsChecker,
    base: str,
) -> None:
    # The test server is not authoritative for this zone: asking it would be REFUSED.
    bind_server.add_cname(f"_tok.{base}", "_val.acm-validations.openacm.internal.")
    with pytest.raises(DnsLookupError, match="REFUSED"):
        checker.cname_chain(f"_tok.{base}")
    chain = checker.cname_chain(f"_tok.{base}", stop_under=["acm-validations.openacm.internal"])
    assert chain.targets == ("_val.acm-validations.openacm.internal",)


def test_deleted_link_disappears_at_once(
    bind_server: BindServer,
    checker: DnsChecker,
    base: str,
) -> None:
    bind_server.add_cname(f"_tok.{base}", f"x.{base}")
    assert checker.cname_chain(f"_tok.{base}").targets
    bind_server.delete(f"_tok.{base}")
    assert checker.cname_chain(f"_tok.{base}").targets == ()


# -- failures ---------------------------------------------------------------------------


def test_refused_everywhere_is_a_lookup_error(checker: DnsChecker) -> None:
    with pytest.raises(DnsLookupError, match="REFUSED"):
        checker.cname_chain("_tok.not-served.example.org")


def test_nothing_listening_is_a_lookup_error() -> None:
    checker = DnsChecker([dead_nameserver()], timeout=0.2)
    started = time.monotonic()
    with pytest.raises(DnsLookupError, match="timed out"):
        checker.cname_chain(f"_tok.{ZONE}")
    with pytest.raises(DnsLookupError):
        checker.caa_records(f"www.{ZONE}")
    assert time.monotonic() - started < 2


def test_next_nameserver_is_tried_when_one_is_down(
    bind_server: BindServer,
    nameserver: Nameserver,
    base: str,
) -> None:
    bind_server.add_cname(f"_tok.{base}", f"x.{base}")
    checker = DnsChecker([dead_nameserver(), nameserver], timeout=0.2)
    assert checker.cname_chain(f"_tok.{base}").targets == (f"x.{base}",)


# -- caa_records ------------------------------------------------------------------------


def test_no_caa_anywhere_is_empty(checker: DnsChecker, base: str) -> None:
    assert checker.caa_records(f"www.{base}") == CaaAnswer(())


def test_record_at_the_name_itself(
    bind_server: BindServer,
    checker: DnsChecker,
    base: str,
) -> None:
    bind_server.add_caa(f"www.{base}", 0, "issue", "amazon.com; account=1")
    bind_server.add_caa(f"www.{base}", 128, "iodef", "mailto:sec@example.com")
    answer = checker.caa_records(f"www.{base}")
    assert set(answer.records) == {
        CaaRecord(0, "issue", "amazon.com; account=1"),
        CaaRecord(128, "iodef", "mailto:sec@example.com"),
    }
    assert answer.found_at == answer.owner == f"www.{base}"


def test_climbs_to_the_closest_ancestor_with_records(
    bind_server: BindServer,
    checker: DnsChecker,
    base: str,
) -> None:
    bind_server.add_caa(base, 0, "issue", "top.example")
    bind_server.add_caa(f"mid.{base}", 0, "issue", "mid.example")
    answer = checker.caa_records(f"a.b.mid.{base}")
    assert answer.records == (CaaRecord(0, "issue", "mid.example"),)
    assert answer.found_at == f"mid.{base}"
    assert checker.caa_records(f"other.{base}").found_at == base


def test_wildcard_starts_at_the_name_under_the_star(
    bind_server: BindServer,
    checker: DnsChecker,
    base: str,
) -> None:
    bind_server.add_caa(f"sub.{base}", 0, "issuewild", ";")
    answer = checker.caa_records(f"*.sub.{base}")
    assert answer.found_at == f"sub.{base}"
    assert answer.records == (CaaRecord(0, "issuewild", ";"),)


def test_alias_uses_the_targets_records(
    bind_server: BindServer,
    checker: DnsChecker,
    base: str,
    other_base: str,
) -> None:
    bind_server.add_caa(base, 0, "issue", "parent.example")
    make_chain(bind_server, [f"www.{base}", f"cdn.{other_base}", f"edge.{other_base}"])
    bind_server.add_caa(f"edge.{other_base}", 0, "issue", "target.example")
    answer = checker.caa_records(f"www.{base}")
    assert answer.records == (CaaRecord(0, "issue", "target.example"),)
    assert answer.found_at == f"www.{base}"
    assert answer.owner == f"edge.{other_base}"


def test_alias_without_records_climbs_from_the_original_name(
    bind_server: BindServer,
    checker: DnsChecker,
    base: str,
    other_base: str,
) -> None:
    # RFC 8659 §3: the target's parent (RFC 6844's rule) is not consulted.
    bind_server.add_cname(f"www.{base}", f"cdn.{other_base}")
    bind_server.add_caa(other_base, 0, "issue", "target-parent.example")
    bind_server.add_caa(base, 0, "issue", "parent.example")
    answer = checker.caa_records(f"www.{base}")
    assert answer.records == (CaaRecord(0, "issue", "parent.example"),)
    assert answer.found_at == base


def test_alias_loop_cannot_be_decided(
    bind_server: BindServer,
    checker: DnsChecker,
    base: str,
) -> None:
    make_chain(bind_server, [f"a.{base}", f"b.{base}", f"a.{base}"])
    # BIND chases in-zone aliases itself and answers SERVFAIL; a resolver could too.
    with pytest.raises(DnsLookupError):
        checker.caa_records(f"a.{base}")


def test_overlong_alias_chain_cannot_be_decided(
    bind_server: BindServer,
    checker: DnsChecker,
    base: str,
) -> None:
    names = [f"n{i}.{base}" for i in range(MAX_CAA_ALIAS_LINKS + 2)]
    make_chain(bind_server, names)
    bind_server.add_caa(names[-1], 0, "issue", "amazon.com")
    with pytest.raises(DnsLookupError, match="CNAME chain longer than"):
        checker.caa_records(names[0])
    # One link fewer is followed to the end.
    assert checker.caa_records(names[1]).owner == names[-1]


# -- DnsUpdater -------------------------------------------------------------------------


def test_upsert_replaces_and_delete_removes(
    updater: DnsUpdater, checker: DnsChecker, base: str
) -> None:
    name = f"_tok.{base}"
    updater.upsert_cname(name, "_one.acm-validations.openacm-test.com.")
    assert checker.cname_chain(name).targets == ("_one.acm-validations.openacm-test.com",)
    updater.upsert_cname(name, "_two.acm-validations.openacm-test.com")
    assert checker.cname_chain(name).targets == ("_two.acm-validations.openacm-test.com",)
    updater.delete(name)
    assert checker.cname_chain(name).targets == ()
    updater.delete(name)  # deleting what is not there is fine


def test_delete_of_another_type_keeps_the_cname(
    updater: DnsUpdater, checker: DnsChecker, base: str
) -> None:
    updater.upsert_cname(f"_tok.{base}", f"x.{base}")
    updater.delete(f"_tok.{base}", "TXT")
    assert checker.cname_chain(f"_tok.{base}").targets == (f"x.{base}",)


@pytest.mark.parametrize(
    ("make_key", "answer"),
    [
        (lambda s: TsigKey("unknown-key", s.tsig_secret_b64), "BADKEY"),
        (lambda s: TsigKey(s.tsig_key_name, "c2VjcmV0IHRoYXQgaXMgd3Jvbmc="), "BADSIG"),
        (lambda s: None, "REFUSED"),
    ],
    ids=["unknown-key", "wrong-secret", "unsigned"],
)
def test_update_without_the_right_key_is_refused(
    bind_server: BindServer,
    nameserver: Nameserver,
    checker: DnsChecker,
    base: str,
    make_key: Callable[[BindServer], TsigKey | None],
    answer: str,
) -> None:
    key = make_key(bind_server)
    updater = DnsUpdater(nameserver, ZONE, key)
    with pytest.raises(DnsUpdateError, match=answer):
        updater.upsert_cname(f"_tok.{base}", f"x.{base}")
    assert checker.cname_chain(f"_tok.{base}").targets == ()


def test_zone_the_server_does_not_serve_is_not_authoritative(
    bind_server: BindServer,
    nameserver: Nameserver,
) -> None:
    key = TsigKey(bind_server.tsig_key_name, bind_server.tsig_secret_b64)
    updater = DnsUpdater(nameserver, "not-served.example.org", key)
    with pytest.raises(DnsUpdateError, match="NOTAUTH"):
        updater.delete("_tok.not-served.example.org")


def test_name_outside_the_zone_is_refused_before_sending(base: str) -> None:
    updater = DnsUpdater(dead_nameserver(), ZONE, None, timeout=0.2)
    with pytest.raises(DnsUpdateError, match="not in zone"):
        updater.upsert_cname(f"_tok.{OTHER_ZONE}", f"x.{base}")
    with pytest.raises(DnsUpdateError, match="not in zone"):
        updater.delete(f"evil{ZONE}")


def test_unreachable_server_is_an_update_error(base: str) -> None:
    updater = DnsUpdater(dead_nameserver(), ZONE, None, timeout=0.5)
    with pytest.raises(DnsUpdateError, match="ConnectionRefused"):
        updater.delete(f"_tok.{base}")


def test_bad_secret_is_rejected_up_front() -> None:
    with pytest.raises(ValueError, match="base64"):
        DnsUpdater(Nameserver("127.0.0.1"), ZONE, TsigKey("k", "not base64!"))
