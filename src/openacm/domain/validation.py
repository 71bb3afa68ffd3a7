"""DNS validation, ACM's model: one CNAME per distinct name, the same for every certificate.

The record for a name is derived from (account, name without a leading `*.`) with a keyed
hash, so a record created once serves every later certificate, renewal and region of that
account (inventory §3.2), and nobody without the installation's key can predict another
account's record. `*.example.com` and `example.com` share one record.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from openacm.domain.errors import ValidationError

RECORD_TYPE = "CNAME"
# draft-ietf-acme-dns-persist: the persistent TXT record a CA offering dns-persist-01 reads
# (the acme issuer's record instead of the CNAME where enabled, docs/acme-issuer.md).
DNS_PERSIST_LABEL = "_validation-persist"
# ACM fails a chain longer than five links (inventory §3.2).
MAX_CNAME_LINKS = 5

PENDING = "PENDING_VALIDATION"
SUCCESS = "SUCCESS"
FAILED = "FAILED"


@dataclass(frozen=True)
class ValidationRecord:
    name: str  # "_<32 hex>.<name>."
    value: str  # "_<32 hex>.<validation zone>."
    type: str = RECORD_TYPE

    def to_api(self) -> dict[str, str]:
        return {"Name": self.name, "Type": self.type, "Value": self.value}


def record_type(record_name: str) -> str:
    """The type of a stored validation record: the persistent TXT of dns-persist-01 by its
    owner, else ACM's CNAME."""
    return "TXT" if is_dns_persist_owner(record_name) else RECORD_TYPE


def is_dns_persist_owner(record_name: str | None) -> bool:
    """Whether a name's validation record is dns-persist-01's TXT, not a CNAME."""
    return record_name is not None and record_name.startswith(f"{DNS_PERSIST_LABEL}.")


def base_name(name: str) -> str:
    """The name a wildcard covers the children of: `*.example.com` → `example.com`."""
    return name[2:] if name.startswith("*.") else name


def _label(key: bytes, purpose: bytes, account_id: str, name: str) -> str:
    message = b"\x00".join((purpose, account_id.encode(), base_name(name).lower().encode()))
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def validation_record(
    key: bytes, account_id: str, name: str, validation_zone: str
) -> ValidationRecord:
    """The CNAME that proves control of `name` for `account_id`."""
    zone = validation_zone.strip(".").lower()
    owner = base_name(name).lower().rstrip(".")
    return ValidationRecord(
        name=f"_{_label(key, b'name', account_id, name)}.{owner}.",
        value=f"_{_label(key, b'value', account_id, name)}.{zone}.",
    )


def _normalized_target(value: str) -> str:
    """A CNAME target as compared: lowercase, no trailing dot, no leading underscore (some
    DNS providers refuse underscores in values; ACM accepts the value without it)."""
    return value.strip().lower().rstrip(".").removeprefix("_")


def chain_proves(record: ValidationRecord, chain: Sequence[str], *, too_long: bool) -> bool:
    """Whether the CNAME chain found at `record.name` leads to the expected value.

    Any link may carry the value (the user may alias the record through their own names),
    but no further than MAX_CNAME_LINKS links; a longer chain fails as at ACM.
    """
    if too_long or len(chain) > MAX_CNAME_LINKS:
        return False
    expected = _normalized_target(record.value)
    return any(_normalized_target(target) == expected for target in chain)


ACME_CHALLENGE_LABEL = "_acme-challenge"


def acme_validation_record(
    key: bytes, account_id: str, name: str, validation_zone: str
) -> ValidationRecord:
    """The CNAME that delegates `name`'s ACME DNS-01 challenge to openacm's validation zone
    (acme issuer): `_acme-challenge.<name>. CNAME <token>.<zone>.`. The owner is fixed by
    RFC 8555 §8.4; the token is keyed like the builtin records (its own purpose, so the two
    kinds never share a value), hence stable per (account, name) and unguessable."""
    zone = validation_zone.strip(".").lower()
    owner = base_name(name).lower().rstrip(".")
    return ValidationRecord(
        name=f"{ACME_CHALLENGE_LABEL}.{owner}.",
        value=f"{_label(key, b'acme', account_id, name)}.{zone}.",
    )


HTTP = "HTTP"  # ValidationMethod of HTTP validation (acme issuer)


def check_http_names(names: Sequence[str]) -> None:
    """HTTP validation proves one host name: RFC 8555 §7.1.3 forbids http-01 for a wildcard."""
    wildcards = [name for name in names if name.startswith("*.")]
    if wildcards:
        raise ValidationError(
            f"HTTP validation cannot prove the wildcard name {wildcards[0]}: "
            "use ValidationMethod DNS."
        )


# RFC 8555 §8.3: where a CA fetches an http-01 key authorization, below the name's HTTP root.
HTTP01_PATH = "/.well-known/acme-challenge/"
# The path openacm's redirect check asks for under RedirectFrom: openacm answers it with the
# name's label, so a redirect in place is seen without asking the CA (no ACME token has a dot).
HTTP01_PROBE = "openacm.probe"


@dataclass(frozen=True)
class HttpRedirect:
    """HTTP validation (acme issuer): the user redirects every path under `redirect_from` to
    the same path under `redirect_to`, once; openacm serves the http-01 answers there."""

    redirect_from: str  # http://<name>/.well-known/acme-challenge/
    redirect_to: str  # <openacm's public URL>/.well-known/acme-challenge/<label>/

    def to_api(self) -> dict[str, str]:
        return {"RedirectFrom": self.redirect_from, "RedirectTo": self.redirect_to}


def acme_http_label(key: bytes, account_id: str, name: str) -> str:
    """The name's part of RedirectTo, keyed like the DNS records (its own purpose), hence
    stable per (account, name): one redirect serves every later certificate and renewal."""
    return _label(key, b"acme-http", account_id, name)


def acme_http_redirect(key: bytes, account_id: str, name: str, base_url: str) -> HttpRedirect:
    """The redirect that hands `name`'s ACME http-01 challenges to openacm."""
    label = acme_http_label(key, account_id, name)
    return HttpRedirect(
        redirect_from=f"http://{name.lower().rstrip('.')}{HTTP01_PATH}",
        redirect_to=f"{base_url.rstrip('/')}{HTTP01_PATH}{label}/",
    )
