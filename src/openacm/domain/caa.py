"""Whether a CAA record set lets our CA issue (RFC 8659 §4, inventory §3.4). Pure: no DNS.

Finding the relevant record set (climbing the tree, following aliases) is the resolver's job;
this module only judges the set it found.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# RFC 8659 §4.1: bit 0, the most significant bit of the flags octet.
CRITICAL_FLAG = 0x80
ISSUE = "issue"
ISSUEWILD = "issuewild"
IODEF = "iodef"
# Tags we understand; a critical record with any other tag forbids issuance (RFC 8659 §4.1).
KNOWN_TAGS = frozenset({ISSUE, ISSUEWILD, IODEF})

# RFC 8659 §4.2 grammar for the value of issue and issuewild.
_WSP = r"[ \t]*"
_LABEL = r"[A-Za-z0-9](?:-*[A-Za-z0-9])*"
_ISSUER_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_PARAMETER = rf"{_LABEL}{_WSP}={_WSP}[\x21-\x3a\x3c-\x7e]*"
_PARAMETERS = rf"{_PARAMETER}(?:{_WSP};{_WSP}{_PARAMETER})*"
_ISSUE_VALUE = re.compile(
    rf"{_WSP}(?P<issuer>{_ISSUER_DOMAIN})?{_WSP}(?:;{_WSP}(?:{_PARAMETERS}{_WSP})?)?"
)


@dataclass(frozen=True)
class CaaRecord:
    flags: int
    tag: str
    value: str

    @property
    def critical(self) -> bool:
        return bool(self.flags & CRITICAL_FLAG)

    def __str__(self) -> str:
        return f'{self.flags} {self.tag} "{self.value}"'


@dataclass(frozen=True)
class CaaDecision:
    allowed: bool
    reason: str


def issuer_domain(value: str) -> str | None:
    """The issuer a well-formed issue/issuewild value names, lowercased.

    None when the value names no issuer (`;`) or breaks the RFC 8659 §4.2 grammar: such a
    record authorizes nobody, so it can only take part in forbidding issuance.
    """
    match = _ISSUE_VALUE.fullmatch(value)
    if match is None or match["issuer"] is None:
        return None
    return match["issuer"].lower()


def caa_permits(
    records: Sequence[CaaRecord], *, ca_identities: Sequence[str], wildcard: bool
) -> CaaDecision:
    """Whether a CA known by `ca_identities` may issue for a name whose relevant CAA set is
    `records`; `wildcard` says the name requested is `*.something`."""
    if not records:
        return CaaDecision(True, "no CAA records: any CA may issue")
    critical = _unknown_critical(records)
    if critical:
        listed = ", ".join(str(record) for record in critical)
        return CaaDecision(
            False, f"CAA record set has a critical property we do not know: {listed}"
        )
    property_tag = _governing_tag(records, wildcard=wildcard)
    governing = [record for record in records if record.tag.lower() == property_tag]
    if not governing:
        return CaaDecision(True, f"no CAA {ISSUE} record: any CA may issue")
    return _judge_issuers(governing, property_tag, _normalized(ca_identities))


def _unknown_critical(records: Sequence[CaaRecord]) -> list[CaaRecord]:
    return [r for r in records if r.critical and r.tag.lower() not in KNOWN_TAGS]


def _governing_tag(records: Sequence[CaaRecord], *, wildcard: bool) -> str:
    """issuewild rules wildcard names when present; otherwise issue rules every name
    (RFC 8659 §4.3; issuewild never applies to a name that is not a wildcard)."""
    if wildcard and any(record.tag.lower() == ISSUEWILD for record in records):
        return ISSUEWILD
    return ISSUE


def _normalized(ca_identities: Sequence[str]) -> frozenset[str]:
    return frozenset(identity.strip().rstrip(".").lower() for identity in ca_identities)


def _judge_issuers(
    governing: Sequence[CaaRecord], property_tag: str, identities: frozenset[str]
) -> CaaDecision:
    # Authorizations are additive: one record naming us is enough, whatever the others say.
    for record in governing:
        issuer = issuer_domain(record.value)
        if issuer is not None and issuer in identities:
            return CaaDecision(True, f"CAA {property_tag} record {record} authorizes {issuer}")
    listed = ", ".join(str(record) for record in governing)
    ours = ", ".join(sorted(identities)) or "(none)"
    return CaaDecision(
        False, f"no CAA {property_tag} record authorizes any of {ours}; found: {listed}"
    )
