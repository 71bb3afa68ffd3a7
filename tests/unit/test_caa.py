"""CAA evaluation (RFC 8659 §4, inventory §3.4): which record sets let our CA issue."""

from __future__ import annotations

import pytest

from openacm.domain.caa import CaaRecord, caa_permits, issuer_domain

OURS = ("amazon.com", "amazontrust.com")


def issue(value: str, flags: int = 0) -> CaaRecord:
    return CaaRecord(flags, "issue", value)


def issuewild(value: str, flags: int = 0) -> CaaRecord:
    return CaaRecord(flags, "issuewild", value)


def allowed(*records: CaaRecord, wildcard: bool = False) -> bool:
    return caa_permits(records, ca_identities=OURS, wildcard=wildcard).allowed


def test_no_records_allow_any_ca() -> None:
    decision = caa_permits([], ca_identities=OURS, wildcard=False)
    assert decision.allowed
    assert "no CAA records" in decision.reason


def test_issue_naming_us_allows() -> None:
    assert allowed(issue("amazon.com"))


def test_issue_naming_only_another_ca_denies_with_a_reason() -> None:
    decision = caa_permits([issue("letsencrypt.org")], ca_identities=OURS, wildcard=False)
    assert not decision.allowed
    assert "letsencrypt.org" in decision.reason
    assert "amazon.com" in decision.reason


def test_any_of_several_issue_records_naming_us_is_enough() -> None:
    assert allowed(issue("letsencrypt.org"), issue("amazontrust.com"))


def test_semicolon_alone_denies() -> None:
    assert not allowed(issue(";"))


def test_semicolon_does_not_cancel_a_record_naming_us() -> None:
    assert allowed(issue(";"), issue("amazon.com"))


def test_only_iodef_and_issuewild_leave_plain_names_unrestricted() -> None:
    records = (CaaRecord(0, "iodef", "mailto:security@example.com"), issuewild(";"))
    assert allowed(*records)


def test_issuewild_without_our_ca_blocks_every_wildcard() -> None:
    records = (issue("amazon.com"), issuewild("letsencrypt.org"))
    assert not allowed(*records, wildcard=True)
    # ...but not the plain names: issuewild never applies to them.
    assert allowed(*records, wildcard=False)


def test_issuewild_naming_us_allows_a_wildcard_even_when_issue_does_not() -> None:
    assert allowed(issue("letsencrypt.org"), issuewild("amazon.com"), wildcard=True)


def test_no_issuewild_but_issue_names_us_allows_a_wildcard() -> None:
    assert allowed(issue("amazon.com"), wildcard=True)


def test_no_issuewild_and_issue_not_naming_us_denies_a_wildcard() -> None:
    assert not allowed(issue("letsencrypt.org"), wildcard=True)


def test_critical_unknown_tag_denies_even_when_issue_names_us() -> None:
    decision = caa_permits(
        [issue("amazon.com"), CaaRecord(128, "tbs", "unknown")], ca_identities=OURS, wildcard=False
    )
    assert not decision.allowed
    assert "critical" in decision.reason
    assert "tbs" in decision.reason


def test_non_critical_unknown_tag_is_ignored() -> None:
    assert allowed(issue("amazon.com"), CaaRecord(0, "tbs", "unknown"))
    assert allowed(CaaRecord(0, "contactemail", "admin@example.com"))


def test_critical_known_tags_are_honoured_not_refused() -> None:
    assert allowed(issue("amazon.com", flags=128), CaaRecord(128, "iodef", "mailto:x@example.com"))


def test_reserved_flag_bits_do_not_make_a_record_critical() -> None:
    assert allowed(issue("amazon.com"), CaaRecord(1, "tbs", "unknown"))


def test_tags_compare_case_insensitively() -> None:
    assert not allowed(CaaRecord(0, "ISSUE", "letsencrypt.org"))
    assert allowed(CaaRecord(0, "Issue", "amazon.com"))
    assert not allowed(CaaRecord(0, "IssueWild", ";"), issue("amazon.com"), wildcard=True)


def test_issuer_names_compare_case_insensitively() -> None:
    assert allowed(issue("Amazon.COM"))
    assert caa_permits([issue("amazon.com")], ca_identities=["AMAZON.com."], wildcard=False).allowed


@pytest.mark.parametrize(
    "value",
    [
        "amazon.com; account=123",
        "amazon.com;account=123",
        "  amazon.com ;  account = 123 ;policy=ev  ",
        "amazon.com;",
        "amazon.com; validationmethods=dns-01",
        "amazon.com\t;\taccount=",
    ],
)
def test_parameters_after_the_issuer_are_accepted(value: str) -> None:
    assert issuer_domain(value) == "amazon.com"
    assert allowed(issue(value))


@pytest.mark.parametrize(
    "value",
    [
        "amazon.com account=123",  # parameters need the ";"
        "amazon.com; account",  # a parameter needs "="
        "amazon.com; account=1 2",  # values hold no spaces
        "amazon.com; account=1;",  # RFC 8659 grammar: no ";" after the last parameter
        "amazon.com.",  # issuer-domain-name has no trailing dot
        "-amazon.com",
        "amazon..com",
        "amazon_com",
        "amazon.com/path",
        "amazon.com\ufffd",  # bytes that were not UTF-8
    ],
)
def test_malformed_value_grants_nothing(value: str) -> None:
    assert issuer_domain(value) is None
    assert not allowed(issue(value))


def test_malformed_record_does_not_hide_a_well_formed_one() -> None:
    assert allowed(issue("amazon.com account=1"), issue("amazon.com"))


@pytest.mark.parametrize("value", [";", " ; ", "", "; account=1"])
def test_values_naming_no_issuer(value: str) -> None:
    assert issuer_domain(value) is None


def test_issuer_of_another_ca_with_a_hyphenated_label() -> None:
    assert issuer_domain("sectigo-ca.example--x.com; id=1") == "sectigo-ca.example--x.com"


def test_no_identities_means_nothing_is_authorized() -> None:
    assert not caa_permits([issue("amazon.com")], ca_identities=[], wildcard=False).allowed
