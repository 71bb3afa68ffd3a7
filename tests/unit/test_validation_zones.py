"""Which configured zone a validation record is written into, and for whom."""

from __future__ import annotations

from openacm.config import DnsZone
from openacm.services.records import zone_for

ACCOUNT = "111111111111"
OTHER = "222222222222"


def zone(name: str, *accounts: str, key: str = "key") -> DnsZone:
    return DnsZone(name, "127.0.0.1", key, "c2VjcmV0", accounts=accounts)


def test_no_zone_holds_a_name_outside_every_configured_zone() -> None:
    zones = [zone("example.com", ACCOUNT)]
    assert zone_for("_abc.www.example.org.", zones, ACCOUNT) is None
    # A suffix that is not a label boundary is another domain.
    assert zone_for("_abc.badexample.com.", zones, ACCOUNT) is None


def test_names_match_without_regard_to_case_or_the_final_dot() -> None:
    zones = [zone("Example.COM.", ACCOUNT)]
    assert zone_for("_ABC.www.example.com.", zones, ACCOUNT) is zones[0]
    assert zone_for("example.com", zones, ACCOUNT) is zones[0]


def test_the_most_specific_zone_holds_the_name_even_when_closed_to_the_account() -> None:
    parent = zone("example.com", ACCOUNT)
    child = zone("dev.example.com", OTHER)
    zones = [parent, child]
    assert zone_for("_abc.api.dev.example.com.", zones, ACCOUNT) is child
    assert not child.allows(ACCOUNT)  # so the caller is told NOT_PERMITTED
    assert zone_for("_abc.www.example.com.", zones, ACCOUNT) is parent


def test_of_two_entries_for_one_zone_the_one_open_to_the_account_is_used() -> None:
    theirs = zone("example.com", OTHER, key="their-key")
    ours = zone("example.com", ACCOUNT, key="our-key")
    assert zone_for("_abc.example.com.", [theirs, ours], ACCOUNT) is ours
    assert zone_for("_abc.example.com.", [theirs, ours], OTHER) is theirs
    assert zone_for("_abc.example.com.", [theirs, ours], "333333333333") is theirs


def test_a_star_opens_a_zone_to_every_account_and_no_list_to_none() -> None:
    assert zone("example.com", "*").allows(ACCOUNT)
    assert not zone("example.com").allows(ACCOUNT)
