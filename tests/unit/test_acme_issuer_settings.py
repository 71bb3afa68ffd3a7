"""The acme issuer's settings, its CNAME records and the problem-to-FailureReason mapping."""

from __future__ import annotations

import pytest

from openacm.config import AcmeSettings, sections_from
from openacm.domain.acme import failure_reason, is_transient
from openacm.domain.validation import acme_validation_record, validation_record

KEY = b"k" * 32
ZONE = "acm-validations.openacm.internal"


def test_regions_choose_the_public_issuer() -> None:
    acme = AcmeSettings(directory_url="https://ca.example/dir", regions=("eu-west-1",))
    assert acme.public_issuer("eu-west-1") == "acme"
    assert acme.public_issuer("us-east-1") == "builtin"
    everywhere = AcmeSettings(directory_url="https://ca.example/dir", regions=("*",))
    assert everywhere.public_issuer("us-east-1") == "acme"
    assert AcmeSettings(regions=()).public_issuer("us-east-1") == "builtin"


def test_settings_from_file_and_environment() -> None:
    config = {"acme": {"directory_url": "https://ca.example/dir", "regions": ["us-east-1"]}}
    env = {"OPENACM_ACME_CONTACT": "mailto:a@example.com,mailto:b@example.com"}
    acme = sections_from(config, env)["acme"]
    assert acme.directory_url == "https://ca.example/dir"
    assert acme.contact == ("mailto:a@example.com", "mailto:b@example.com")
    assert acme.public_issuer("us-east-1") == "acme"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"regions": ["us-east-1"]}, "directory_url is not"),
        ({"directory_url": "https://ca.example/dir", "eab_key_id": "kid"}, "go together"),
        ({"directory_url": "ca.example"}, "http"),
    ],
)
def test_bad_settings_are_refused_at_start(table: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sections_from({"acme": table}, {})


def test_the_acme_record_is_stable_per_account_and_name() -> None:
    record = acme_validation_record(KEY, "111122223333", "www.Example.com", ZONE)
    assert record.name == "_acme-challenge.www.example.com."
    assert record.type == "CNAME"
    label, _, zone = record.value.partition(".")
    assert zone == ZONE + "." and len(label) == 32
    assert acme_validation_record(KEY, "111122223333", "www.example.com", ZONE) == record
    # A wildcard is validated at its base name's owner, as RFC 8555 says.
    assert acme_validation_record(KEY, "111122223333", "*.www.example.com", ZONE) == record
    assert acme_validation_record(KEY, "444455556666", "www.example.com", ZONE) != record
    # Never the builtin record's value.
    builtin = validation_record(KEY, "111122223333", "www.example.com", ZONE)
    assert builtin.value.lstrip("_") != record.value


@pytest.mark.parametrize(
    ("problem", "reason", "transient"),
    [
        ("urn:ietf:params:acme:error:rejectedIdentifier", "DOMAIN_NOT_ALLOWED", False),
        ("urn:ietf:params:acme:error:caa", "CAA_ERROR", False),
        ("urn:ietf:params:acme:error:unauthorized", "OTHER", False),
        ("urn:ietf:params:acme:error:rateLimited", "OTHER", True),
        (None, "OTHER", False),
    ],
)
def test_problems_map_to_failure_reasons(problem: str | None, reason: str, transient: bool) -> None:
    assert failure_reason(problem) == reason
    assert is_transient(problem) is transient
