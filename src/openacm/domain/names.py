"""The domain-name rules of RequestCertificate (inventory §1.1, §3.3, §4.3; seeds delta item 4).

Two kinds of outcome:

* refusals, raised as `ApiError`s before anything is stored (`check_requested_names`,
  `NamePolicy.validation_domains`);
* failures, returned as a `FailureReason` (`NamePolicy.failure_reason`): real ACM creates the
  certificate and leaves it FAILED for a name it will not validate (inventory §2.2).

The protocol layer already enforces the model's DomainNameString pattern (anchored), its
1..253 length and the list sizes; the syntax checks here repeat them so the module is safe
when called from elsewhere, and add what the model cannot say: the 64-octet common name, the
punycode rules, the per-certificate name quota, public suffixes and forbidden suffixes.

Names are compared and kept in lower case: ACM lowercases DomainName and
SubjectAlternativeNames (a live request for "CdkrdHunt-0714-Probe.Example.Com" is described
back as "cdkrdhunt-0714-probe.example.com", go-to-k/cdk-real-drift#1620), and DNS names are
case-insensitive anyway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import idna

from openacm.domain.errors import (
    InvalidDomainValidationOptionsError,
    LimitExceededError,
    ValidationError,
)

WILDCARD_PREFIX: Final = "*."
WWW_PREFIX: Final = "www."
ACE_PREFIX: Final = "xn--"

# RFC 5280's ub-common-name; ACM puts DomainName in the subject CN (API reference, DomainName).
MAX_COMMON_NAME_OCTETS: Final = 64
MAX_NAME_OCTETS: Final = 253

INVALID_PUBLIC_DOMAIN: Final = "INVALID_PUBLIC_DOMAIN"
DOMAIN_NOT_ALLOWED: Final = "DOMAIN_NOT_ALLOWED"

# The model's DomainNameString pattern, applied to the lower-cased name with fullmatch: an
# optional "*." and at least two LDH labels, none starting or ending with "-", each at most
# 63 characters, the last at least 2.
_NAME_SYNTAX: Final = re.compile(
    r"(\*\.)?((?!-)[a-z0-9-]{0,62}[a-z0-9]\.)+(?!-)[a-z0-9-]{1,62}[a-z0-9]"
)

# Real ACM texts (both seen as answers to RequestCertificate):
# InvalidDomainValidationOptionsException, convox/rack#2818 and others;
# LimitExceededException, hashicorp/terraform-provider-aws#35825.
_COMMON_NAME_TOO_LONG: Final = "The first domain name can be no longer than 64 characters."
_TOO_MANY_NAMES: Final = "Certificate has too many domains."


@dataclass(frozen=True)
class RequestedNames:
    domain_name: str  # as the certificate's CN
    names: tuple[str, ...]  # DomainName first, then SANs; duplicates removed, order kept


class PublicSuffixes(Protocol):
    """The Public Suffix List look-ups the rules need; `publicsuffixlist.PublicSuffixList`
    satisfies it (each method returns None for a name the list cannot place)."""

    def publicsuffix(self, domain: str, accept_unknown: bool | None = ...) -> str | None: ...

    def privatesuffix(self, domain: str, accept_unknown: bool | None = ...) -> str | None: ...


def is_wildcard(name: str) -> bool:
    return name.startswith(WILDCARD_PREFIX)


def base_name(name: str) -> str:
    """The name without a leading "*." (what a wildcard covers one level below)."""
    return name[len(WILDCARD_PREFIX) :] if is_wildcard(name) else name


def email_validation_domain(name: str) -> str:
    """The domain whose admin addresses receive validation mail for `name`: ACM strips one
    leading "*." or "www." (inventory §3.3: www.example.com -> admin@example.com)."""
    for prefix in (WILDCARD_PREFIX, WWW_PREFIX):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def is_same_or_subdomain(name: str, ancestor: str) -> bool:
    return name == ancestor or name.endswith("." + ancestor)


def check_requested_names(
    domain_name: str, subject_alternative_names: Sequence[str] | None, *, max_names: int
) -> RequestedNames:
    """The certificate's names, lower-cased and de-duplicated, or the ApiError ACM answers."""
    requested = [
        _checked_syntax(domain_name),
        *map(_checked_syntax, subject_alternative_names or ()),
    ]
    if len(requested[0]) > MAX_COMMON_NAME_OCTETS:
        raise InvalidDomainValidationOptionsError(_COMMON_NAME_TOO_LONG)
    for name in requested:
        _check_punycode(name)
    names = tuple(dict.fromkeys(requested))
    if len(names) > max_names:
        raise LimitExceededError(_TOO_MANY_NAMES)
    return RequestedNames(domain_name=names[0], names=names)


def checked_name(name: str) -> str:
    """One name in lower case, once it meets ACM's syntax rules (ASCII, length, labels, a
    wildcard only as the whole left-most label, valid punycode), or the ApiError ACM answers."""
    checked = _checked_syntax(name)
    _check_punycode(checked)
    return checked


def _checked_syntax(name: str) -> str:
    """The name in lower case, once it meets the model's constraints (repeated here so this
    module is safe on its own; wording ours)."""
    name = _ascii_lower(name)
    if len(name) > MAX_NAME_OCTETS:
        raise ValidationError(
            f"The domain name '{name}' is longer than {MAX_NAME_OCTETS} characters."
        )
    if "*" in base_name(name):
        raise ValidationError(
            f"The domain name '{name}' is not valid: a wildcard (*) is allowed only as the "
            "whole left-most label, as in *.example.com."
        )
    if _NAME_SYNTAX.fullmatch(name) is None:
        raise ValidationError(
            f"The domain name '{name}' is not a valid fully qualified domain name."
        )
    return name


def _ascii_lower(name: str) -> str:
    # Checked before lowering: str.lower() maps some non-ASCII letters to ASCII ones (the
    # Kelvin sign U+212A becomes "k"), which would let a Unicode name through as another name.
    if not name.isascii():
        # Seeds delta item 4: ACM takes only ASCII and "does not accept Unicode input (u-labels)".
        raise ValidationError(
            f"The domain name '{name}' is not ASCII. Unicode (u-label) input is not accepted; "
            "give internationalized names in their Punycode (xn--) form."
        )
    return name.lower()


def _check_punycode(name: str) -> None:
    """A label with "--" as its 3rd-4th characters must start with "xn--", and an "xn--" label
    must be a valid A-label (inventory §4.3: a--example.com and abc--example.com pass,
    ab--example.com and xn--example.com do not).

    The guide words the rule for the start of the name; it is applied to every label, the
    stricter reading, because RFC 5891 §4.2.3.1 reserves that position in every label and an
    invalid A-label in any position makes the name an invalid IDN all the same.

    The code is our inference: the one other rule on a name's content that the model does
    not express (the 64-octet common name) is answered with
    InvalidDomainValidationOptionsException by real ACM. Wording ours.
    """
    for label in base_name(name).split("."):
        if label[2:4] != "--":
            continue
        if not label.startswith(ACE_PREFIX):
            raise InvalidDomainValidationOptionsError(
                f"The domain name '{name}' is not valid: the label '{label}' has '--' as its "
                "third and fourth characters, which only Punycode labels (xn--) may have."
            )
        if not _is_a_label(label):
            raise InvalidDomainValidationOptionsError(
                f"The domain name '{name}' is not valid: the label '{label}' is not a valid "
                "Punycode (IDNA) label."
            )


def _is_a_label(label: str) -> bool:
    # idna.ulabel applies IDNA 2008 and refuses a non-canonical encoding (RFC 5891 §5.3).
    try:
        idna.ulabel(label)
    except idna.IDNAError:
        return False
    return True


class NamePolicy:
    """The rules that need the Public Suffix List or the deployment's configuration.

    Which PSL sections count is the caller's choice of `suffixes`; the intended one is the
    ICANN section only (`PublicSuffixList(only_icann=True)`), as the CA/Browser Forum Baseline
    Requirements §3.2.2.6 advise a CA. With the private section too, `github.io` itself would
    be refused and `example.github.io` would bound its own validation domains.
    """

    def __init__(self, suffixes: PublicSuffixes, forbidden_suffixes: Sequence[str]) -> None:
        self._suffixes = suffixes
        self._forbidden = tuple(suffix.strip(".").lower() for suffix in forbidden_suffixes)

    def failure_reason(self, names: Sequence[str]) -> str | None:
        """The FailureReason a request for `names` ends in, or None when ACM would go on.

        A forbidden suffix is reported first when a request has both kinds of name: it is the
        operator's explicit refusal, and the more useful of the two to read.
        """
        if any(self.is_forbidden(name) for name in names):
            return DOMAIN_NOT_ALLOWED
        if any(self.registrable_domain(name) is None for name in names):
            return INVALID_PUBLIC_DOMAIN
        return None

    def is_forbidden(self, name: str) -> bool:
        """Whether the name is, or is under, a suffix the deployment refuses (Amazon's own
        domains on real ACM, inventory §1.1)."""
        base = base_name(name.lower())
        return any(is_same_or_subdomain(base, suffix) for suffix in self._forbidden)

    def registrable_domain(self, name: str) -> str | None:
        """The public suffix plus one label ("example.co.uk" for "*.a.example.co.uk").

        None when the name's TLD is not in the list, or when the name (wildcard stripped) is
        itself a public suffix: both are INVALID_PUBLIC_DOMAIN. Nobody can validate "co.uk",
        and "*.co.uk" is the wildcard the Baseline Requirements (§3.2.2.6) forbid.
        """
        return self._suffixes.privatesuffix(base_name(name.lower()), accept_unknown=False)

    def validation_domains(
        self, names: Sequence[str], options: Sequence[Mapping[str, str]] | None
    ) -> dict[str, str]:
        """Each name's ValidationDomain: the one DomainValidationOptions gives, else the name.

        Raises InvalidDomainValidationOptionsError for an option naming a domain that was not
        requested, a domain named twice, or a ValidationDomain that is neither the name nor a
        superdomain of it within its registrable domain (inventory §3.3). Wording ours.
        """
        chosen = {name.lower(): name.lower() for name in names}
        seen: set[str] = set()
        for option in options or ():
            domain, validation_domain = _option_members(option)
            if domain not in chosen:
                raise InvalidDomainValidationOptionsError(
                    f"The DomainValidationOptions entry for '{domain}' does not name one of "
                    "the domain names requested."
                )
            if domain in seen:
                raise InvalidDomainValidationOptionsError(
                    f"DomainValidationOptions names '{domain}' more than once."
                )
            seen.add(domain)
            self._check_validation_domain(domain, validation_domain)
            chosen[domain] = validation_domain
        return chosen

    def _check_validation_domain(self, name: str, validation_domain: str) -> None:
        if validation_domain == name or self._may_validate(name, validation_domain):
            return
        raise InvalidDomainValidationOptionsError(
            f"The validation domain '{validation_domain}' for '{name}' must be the domain name "
            "itself or one of its superdomains, no higher than its registered domain."
        )

    def _may_validate(self, name: str, validation_domain: str) -> bool:
        if not is_same_or_subdomain(base_name(name), validation_domain):
            return False
        registrable = self.registrable_domain(name)
        # A name with no registrable domain fails INVALID_PUBLIC_DOMAIN whatever mailbox is
        # chosen; refusing its options here would turn that failure into a refusal.
        return registrable is None or is_same_or_subdomain(validation_domain, registrable)


def _option_members(option: Mapping[str, str]) -> tuple[str, str]:
    """DomainName and ValidationDomain of one option, lower-cased. Both are required by the
    model, which the protocol layer enforces; a missing one here is the same refusal."""
    domain = option.get("DomainName")
    validation_domain = option.get("ValidationDomain")
    if domain is None or validation_domain is None:
        raise ValidationError(
            "Each DomainValidationOptions entry needs a DomainName and a ValidationDomain."
        )
    return _ascii_lower(domain), _ascii_lower(validation_domain)
