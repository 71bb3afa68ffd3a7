"""RequestCertificate's domain-name rules."""

from __future__ import annotations

import pytest
from publicsuffixlist import PublicSuffixList

from openacm.domain.errors import (
    InvalidDomainValidationOptionsError,
    LimitExceededError,
    ValidationError,
)
from openacm.domain.names import (
    DOMAIN_NOT_ALLOWED,
    INVALID_PUBLIC_DOMAIN,
    NamePolicy,
    RequestedNames,
    base_name,
    check_requested_names,
    email_validation_domain,
    is_wildcard,
)

AMAZON_SUFFIXES = ("amazonaws.com", "cloudfront.net", "elasticbeanstalk.com")
ICANN_SUFFIXES = PublicSuffixList(only_icann=True)


@pytest.fixture(scope="module")
def policy() -> NamePolicy:
    return NamePolicy(ICANN_SUFFIXES, AMAZON_SUFFIXES)


def check(*names: str, max_names: int = 10) -> RequestedNames:
    return check_requested_names(names[0], list(names[1:]), max_names=max_names)


def name_of_length(length: int) -> str:
    """A valid name under example.com of exactly `length` octets, in labels of at most 63."""
    suffix = "example.com"
    labels = []
    remaining = length - len(suffix)  # each label takes its size plus a dot
    while remaining > 0:
        size = min(63, remaining - 1)
        if remaining - (size + 1) == 1:  # would leave room for a dot but no label
            size -= 1
        labels.append("a" * size)
        remaining -= size + 1
    name = "".join(label + "." for label in labels) + suffix
    assert len(name) == length
    return name


# --- check_requested_names: syntax ------------------------------------------------------


def test_names_are_lowercased_deduplicated_and_kept_in_order() -> None:
    requested = check(
        "WWW.Example.COM", "b.example.com", "www.example.com", "A.example.com", "b.EXAMPLE.com"
    )
    assert requested == RequestedNames(
        domain_name="www.example.com",
        names=("www.example.com", "b.example.com", "a.example.com"),
    )


def test_no_subject_alternative_names() -> None:
    requested = check_requested_names("example.com", None, max_names=10)
    assert requested.names == ("example.com",)


@pytest.mark.parametrize("name", ["例え.jp", "exampl\u212a.com", "xn--xyz.com\u200b"])
def test_unicode_is_refused(name: str) -> None:
    # U+212A (Kelvin sign) lowercases to an ASCII "k"; it must not slip through as "example.com".
    with pytest.raises(ValidationError, match="not ASCII"):
        check(name)
    with pytest.raises(ValidationError, match="not ASCII"):
        check("example.com", name)


@pytest.mark.parametrize("name", ["*.example.com", "*.a.b.example.com"])
def test_wildcard_as_the_whole_left_most_label_is_accepted(name: str) -> None:
    assert check(name).names == (name,)


@pytest.mark.parametrize(
    "name", ["*example.com", "a*.example.com", "a.*.example.com", "*.*.example.com", "example.*"]
)
def test_wildcard_anywhere_else_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="wildcard"):
        check(name)


@pytest.mark.parametrize(
    "name",
    [
        "example",  # a single label
        "example.com.",  # the model has no trailing dot
        "a..example.com",
        "-a.example.com",
        "a-.example.com",
        "a_b.example.com",
        "a b.example.com",
        "example.c",  # the model's last label has at least two characters
        "*.",
        "*",
        "",
        "a" * 64 + ".example.com",  # a label longer than 63
    ],
)
def test_names_the_model_refuses_are_refused_here_too(name: str) -> None:
    with pytest.raises(ValidationError):
        check(name)


def test_a_63_character_label_is_accepted() -> None:
    name = "a" * 63 + ".com"
    assert check("example.com", name).names[1] == name


# --- check_requested_names: lengths -----------------------------------------------------


def test_common_name_may_have_64_octets_but_not_65() -> None:
    assert check(name_of_length(64)).domain_name == name_of_length(64)
    assert check("*." + name_of_length(62)).domain_name == "*." + name_of_length(62)
    with pytest.raises(InvalidDomainValidationOptionsError) as refused:
        check(name_of_length(65))
    assert refused.value.message == "The first domain name can be no longer than 64 characters."


def test_a_long_name_fits_as_a_subject_alternative_name() -> None:
    assert check("example.com", name_of_length(65)).names[1] == name_of_length(65)


def test_each_name_may_have_253_octets_but_not_254() -> None:
    assert check("example.com", name_of_length(253)).names[1] == name_of_length(253)
    with pytest.raises(ValidationError, match="longer than 253"):
        check("example.com", name_of_length(254))


# --- check_requested_names: quota -------------------------------------------------------


def test_ten_names_fit_the_default_quota_and_eleven_do_not() -> None:
    ten = [f"n{i}.example.com" for i in range(10)]
    assert len(check(*ten).names) == 10
    with pytest.raises(LimitExceededError) as refused:
        check(*ten, "one-more.example.com")
    assert refused.value.message == "Certificate has too many domains."


def test_duplicates_and_case_variants_count_once() -> None:
    ten = [f"n{i}.example.com" for i in range(10)]
    assert len(check(*ten, "N0.EXAMPLE.COM", "n9.example.com").names) == 10


def test_wildcard_and_its_base_are_two_names() -> None:
    with pytest.raises(LimitExceededError):
        check("example.com", "*.example.com", max_names=1)


def test_the_quota_is_configurable_up_to_a_hundred() -> None:
    hundred = [f"n{i}.example.com" for i in range(100)]
    assert len(check(*hundred, max_names=100).names) == 100
    with pytest.raises(LimitExceededError):
        check(*hundred, "n100.example.com", max_names=100)


# --- check_requested_names: punycode ----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "example.com",
        "a--example.com",
        "abc--example.com",
        "xn--xyz.com",  # 简.com
        "XN--XYZ.com",
        "www.xn--0zwm56d.com",  # 测试 in an inner label
        "example.xn--p1ai",  # .рф
        "*.xn--xyz.com",
        "a-b--c.example.com",  # "--" but not in the 3rd-4th positions
    ],
)
def test_names_the_punycode_rules_accept(name: str) -> None:
    assert check(name).domain_name == name.lower()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ab--example.com", "only Punycode labels"),
        ("xn--example.com", "not a valid Punycode"),  # decodes to a capital omega: not IDNA 2008
        ("xn--zz.com", "not a valid Punycode"),  # not Punycode at all
        ("xn---bbk.com", "not a valid Punycode"),  # a non-canonical spelling of xn--bbk
        # Every label is checked, not only the first (the stricter reading of the guide).
        ("www.ab--example.com", "only Punycode labels"),
        ("www.xn--example.com", "not a valid Punycode"),
        ("*.ab--example.com", "only Punycode labels"),
        ("example.xn--zz", "not a valid Punycode"),
    ],
)
def test_names_the_punycode_rules_refuse(name: str, message: str) -> None:
    with pytest.raises(InvalidDomainValidationOptionsError, match=message):
        check(name)
    with pytest.raises(InvalidDomainValidationOptionsError, match=message):
        check("example.com", name)


# --- helpers ----------------------------------------------------------------------------


def test_wildcard_helpers() -> None:
    assert is_wildcard("*.example.com")
    assert not is_wildcard("example.com")
    assert base_name("*.test.example.com") == "test.example.com"
    assert base_name("www.example.com") == "www.example.com"


@pytest.mark.parametrize(
    ("name", "mailed"),
    [
        ("www.example.com", "example.com"),
        ("*.test.example.com", "test.example.com"),
        ("*.www.example.com", "www.example.com"),  # one prefix only
        ("wwwx.example.com", "wwwx.example.com"),
        ("example.com", "example.com"),
    ],
)
def test_email_validation_domain_strips_one_leading_www_or_wildcard(name: str, mailed: str) -> None:
    assert email_validation_domain(name) == mailed


# --- NamePolicy: failure reasons --------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        ["example.com", "*.example.com", "www.example.co.uk"],
        ["example.xn--p1ai"],
        ["notamazonaws.com"],  # a suffix matches whole labels only
        ["amazonaws.com.example.com"],
        ["github.io"],  # a private-section suffix is a registrable domain under the ICANN list
    ],
)
def test_names_that_can_be_validated_have_no_failure_reason(
    policy: NamePolicy, names: list[str]
) -> None:
    assert policy.failure_reason(names) is None


@pytest.mark.parametrize(
    "name",
    [
        "example.invalidpublicdomain",  # the guide's example
        "host.local",
        "host.internal",
        "example.test",
        "1.2.3.4",
        "co.uk",  # a public suffix itself: nobody can validate it
        "*.co.uk",  # a wildcard over a public suffix (Baseline Requirements §3.2.2.6)
    ],
)
def test_a_name_outside_the_public_suffixes_fails_invalid_public_domain(
    policy: NamePolicy, name: str
) -> None:
    assert policy.failure_reason(["example.com", name]) == INVALID_PUBLIC_DOMAIN


@pytest.mark.parametrize(
    "name",
    [
        "amazonaws.com",
        "bucket.s3.amazonaws.com",
        "*.cloudfront.net",
        "App.ElasticBeanstalk.com",
    ],
)
def test_a_name_at_or_under_a_forbidden_suffix_fails_domain_not_allowed(
    policy: NamePolicy, name: str
) -> None:
    assert policy.failure_reason(["example.com", name]) == DOMAIN_NOT_ALLOWED


def test_a_forbidden_suffix_is_reported_before_an_invalid_public_domain(
    policy: NamePolicy,
) -> None:
    assert policy.failure_reason(["host.local", "x.cloudfront.net"]) == DOMAIN_NOT_ALLOWED


def test_forbidden_suffixes_come_from_configuration() -> None:
    policy = NamePolicy(ICANN_SUFFIXES, [".Corp.Example.", "internal"])
    assert policy.failure_reason(["a.corp.example"]) == DOMAIN_NOT_ALLOWED
    assert policy.failure_reason(["a.internal"]) == DOMAIN_NOT_ALLOWED
    assert policy.failure_reason(["x.amazonaws.com"]) is None


def test_with_the_private_section_a_private_suffix_itself_is_not_public() -> None:
    policy = NamePolicy(PublicSuffixList(), AMAZON_SUFFIXES)
    assert policy.failure_reason(["github.io"]) == INVALID_PUBLIC_DOMAIN
    assert policy.registrable_domain("a.b.github.io") == "b.github.io"


@pytest.mark.parametrize(
    ("name", "registrable"),
    [
        ("example.com", "example.com"),
        ("*.a.example.co.uk", "example.co.uk"),
        ("WWW.Example.COM", "example.com"),
        ("a.b.github.io", "github.io"),
        ("co.uk", None),
        ("*.co.uk", None),
        ("host.local", None),
    ],
)
def test_registrable_domain(policy: NamePolicy, name: str, registrable: str | None) -> None:
    assert policy.registrable_domain(name) == registrable


# --- NamePolicy: validation domains -----------------------------------------------------


def option(domain: str, validation_domain: str) -> dict[str, str]:
    return {"DomainName": domain, "ValidationDomain": validation_domain}


NAMES = ("www.example.com", "*.test.example.com", "a.b.example.co.uk")


def test_without_options_each_name_validates_as_itself(policy: NamePolicy) -> None:
    expected = {name: name for name in NAMES}
    assert policy.validation_domains(NAMES, None) == expected
    assert policy.validation_domains(NAMES, []) == expected


@pytest.mark.parametrize(
    ("domain", "validation_domain"),
    [
        ("www.example.com", "www.example.com"),  # itself
        ("www.example.com", "example.com"),  # the registrable domain
        ("a.b.example.co.uk", "b.example.co.uk"),  # a parent below the registrable domain
        ("a.b.example.co.uk", "example.co.uk"),
        ("*.test.example.com", "*.test.example.com"),  # itself, wildcard and all
        ("*.test.example.com", "test.example.com"),  # the wildcard stripped
        ("*.test.example.com", "example.com"),
    ],
)
def test_accepted_validation_domains(
    policy: NamePolicy, domain: str, validation_domain: str
) -> None:
    chosen = policy.validation_domains(NAMES, [option(domain, validation_domain)])
    assert chosen[domain] == validation_domain
    assert all(chosen[name] == name for name in NAMES if name != domain)


@pytest.mark.parametrize(
    ("domain", "validation_domain"),
    [
        ("www.example.com", "com"),  # above the registrable domain
        ("a.b.example.co.uk", "co.uk"),
        ("www.example.com", "example.net"),  # unrelated
        ("www.example.com", "ample.com"),  # a suffix, but not on a label boundary
        ("www.example.com", "a.www.example.com"),  # a subdomain, not a superdomain
        ("*.test.example.com", "*.example.com"),  # a wildcard is no mailbox domain
        ("*.test.example.com", "a.test.example.com"),
    ],
)
def test_refused_validation_domains(
    policy: NamePolicy, domain: str, validation_domain: str
) -> None:
    with pytest.raises(InvalidDomainValidationOptionsError, match="superdomains"):
        policy.validation_domains(NAMES, [option(domain, validation_domain)])


def test_an_option_for_a_name_not_requested_is_refused(policy: NamePolicy) -> None:
    with pytest.raises(InvalidDomainValidationOptionsError, match="not name one of"):
        policy.validation_domains(NAMES, [option("example.com", "example.com")])
    # The wildcard and its base are different names.
    with pytest.raises(InvalidDomainValidationOptionsError, match="not name one of"):
        policy.validation_domains(NAMES, [option("test.example.com", "example.com")])


def test_an_option_given_twice_is_refused(policy: NamePolicy) -> None:
    twice = [option("www.example.com", "example.com"), option("WWW.example.com", "example.com")]
    with pytest.raises(InvalidDomainValidationOptionsError, match="more than once"):
        policy.validation_domains(NAMES, twice)


def test_options_match_case_insensitively_and_are_lowercased(policy: NamePolicy) -> None:
    chosen = policy.validation_domains(NAMES, [option("WWW.Example.com", "Example.COM")])
    assert chosen["www.example.com"] == "example.com"


def test_an_option_missing_a_member_is_refused(policy: NamePolicy) -> None:
    with pytest.raises(ValidationError):
        policy.validation_domains(NAMES, [{"DomainName": "www.example.com"}])


def test_a_unicode_validation_domain_is_refused(policy: NamePolicy) -> None:
    with pytest.raises(ValidationError, match="not ASCII"):
        policy.validation_domains(NAMES, [option("www.example.com", "exampl\u212a.com")])


def test_a_name_with_no_registrable_domain_may_use_any_superdomain(policy: NamePolicy) -> None:
    # The request fails INVALID_PUBLIC_DOMAIN anyway; the option must not turn that into a
    # refusal.
    chosen = policy.validation_domains(["a.b.host.local"], [option("a.b.host.local", "host.local")])
    assert chosen == {"a.b.host.local": "host.local"}
