"""Tags (certificate and generic resource operations), account configuration, and the
isolation of regions, partitions and accounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import Tenant
from tests.support import pki
from tests.support.server import NO_RETRIES


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    error: dict[str, Any] = raised.value.response["Error"]
    return error


def new_certificate(acm: Any, name: str = "tags.example.com", **extra: Any) -> str:
    issued = pki.issue(name, sans=[name])
    arn: str = acm.import_certificate(**issued.import_args(**extra))["CertificateArn"]
    return arn


def tags_of(acm: Any, arn: str) -> list[dict[str, str]]:
    response = acm.list_tags_for_certificate(CertificateArn=arn)
    assert set(response) <= {"Tags", "ResponseMetadata"}
    tags: list[dict[str, str]] = response.get("Tags", [])
    return tags


def many(count: int, prefix: str = "k") -> list[dict[str, str]]:
    return [{"Key": f"{prefix}{i:02}", "Value": f"v{i}"} for i in range(count)]


# == AddTagsToCertificate / RemoveTagsFromCertificate / ListTagsForCertificate =================


def test_add_list_and_remove_tags(tenant: Tenant) -> None:
    acm = tenant.acm
    arn = new_certificate(acm, Tags=[{"Key": "Name", "Value": "web"}, {"Key": "bare"}])
    # Tags given at import, in the order given; a tag without a value has no Value member.
    assert tags_of(acm, arn) == [{"Key": "Name", "Value": "web"}, {"Key": "bare"}]

    response = acm.add_tags_to_certificate(
        CertificateArn=arn,
        Tags=[
            {"Key": "env", "Value": "prod"},
            {"Key": "team", "Value": "platform"},
            {"Key": "Env", "Value": "upper"},  # keys are case-sensitive: another tag
        ],
    )
    assert set(response) == {"ResponseMetadata"}
    assert tags_of(acm, arn) == [
        {"Key": "Name", "Value": "web"},
        {"Key": "bare"},
        {"Key": "env", "Value": "prod"},
        {"Key": "team", "Value": "platform"},
        {"Key": "Env", "Value": "upper"},
    ]

    # Adding an existing key overwrites its value in place; a value can be given to a bare tag.
    acm.add_tags_to_certificate(
        CertificateArn=arn,
        Tags=[{"Key": "env", "Value": "staging"}, {"Key": "bare", "Value": "now"}],
    )
    assert tags_of(acm, arn) == [
        {"Key": "Name", "Value": "web"},
        {"Key": "bare", "Value": "now"},
        {"Key": "env", "Value": "staging"},
        {"Key": "team", "Value": "platform"},
        {"Key": "Env", "Value": "upper"},
    ]

    # Remove by key and value: only when the value matches.
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    assert {"Key": "env", "Value": "staging"} in tags_of(acm, arn)
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "env", "Value": "staging"}])
    # Remove by key alone: whatever the value. Unknown keys are no error.
    response = acm.remove_tags_from_certificate(
        CertificateArn=arn, Tags=[{"Key": "team"}, {"Key": "no-such-key"}, {"Key": "env"}]
    )
    assert set(response) == {"ResponseMetadata"}
    assert tags_of(acm, arn) == [
        {"Key": "Name", "Value": "web"},
        {"Key": "bare", "Value": "now"},
        {"Key": "Env", "Value": "upper"},
    ]
    acm.remove_tags_from_certificate(
        CertificateArn=arn,
        Tags=[{"Key": "Name", "Value": "web"}, {"Key": "bare"}, {"Key": "Env", "Value": "upper"}],
    )
    assert tags_of(acm, arn) == []

    # A tag removed and added again goes to the end.
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "a", "Value": "1"}])
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "b"}])
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "a"}])
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "a", "Value": "2"}])
    assert tags_of(acm, arn) == [{"Key": "b"}, {"Key": "a", "Value": "2"}]

    # Tags belong to one certificate.
    other = new_certificate(acm, "other.example.com")
    assert tags_of(acm, other) == []

    # On a deleted certificate every tag call is ResourceNotFoundException.
    acm.delete_certificate(CertificateArn=arn)
    for call in (
        lambda: acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "x"}]),
        lambda: acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "x"}]),
        lambda: acm.list_tags_for_certificate(CertificateArn=arn),
    ):
        assert error_of(call)["Code"] == "ResourceNotFoundException"


def test_tag_count_limit(tenant: Tenant) -> None:
    acm = tenant.acm
    arn = new_certificate(acm)
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=many(50))
    assert tags_of(acm, arn) == many(50)

    error = error_of(lambda: acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "51"}]))
    assert error["Code"] == "TooManyTagsException"
    assert len(tags_of(acm, arn)) == 50
    # Overwriting existing keys does not add to the count.
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "k00", "Value": "changed"}])
    assert tags_of(acm, arn)[0] == {"Key": "k00", "Value": "changed"}
    # After a removal there is room again.
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "k49"}])
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "last"}])
    assert len(tags_of(acm, arn)) == 50
    assert tags_of(acm, arn)[-1] == {"Key": "last"}

    # A request of 51 tags breaks the model's own limit.
    fresh = new_certificate(acm, "fresh.example.com")
    error = error_of(lambda: acm.add_tags_to_certificate(CertificateArn=fresh, Tags=many(51)))
    assert error["Code"] == "ValidationException"
    assert tags_of(acm, fresh) == []
    # 30 and then 21 more: the service's limit.
    acm.add_tags_to_certificate(CertificateArn=fresh, Tags=many(30, "a"))
    error = error_of(lambda: acm.add_tags_to_certificate(CertificateArn=fresh, Tags=many(21, "b")))
    assert error["Code"] == "TooManyTagsException"
    assert tags_of(acm, fresh) == many(30, "a")  # nothing of the refused request was kept

    # At import time too.
    error = error_of(
        lambda: acm.import_certificate(**pki.issue("x.example.com").import_args(Tags=many(51)))
    )
    assert error["Code"] == "ValidationException"
    assert len(acm.list_certificates()["CertificateSummaryList"]) == 2


def test_tag_key_and_value_rules(tenant: Tenant) -> None:
    acm = tenant.acm
    arn = new_certificate(acm)

    # The lengths ACM allows: 127 for a key, 255 for a value.
    longest = [{"Key": "k" * 127, "Value": "v" * 255}]
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=longest)
    assert tags_of(acm, arn) == longest

    def refused(tags: list[dict[str, str]]) -> str:
        error = error_of(lambda: acm.add_tags_to_certificate(CertificateArn=arn, Tags=tags))
        code: str = error["Code"]
        return code

    # One more is ACM's rule (InvalidTagException); past the model's limit, a validation error.
    assert refused([{"Key": "k" * 128}]) == "InvalidTagException"
    assert refused([{"Key": "ok", "Value": "v" * 256}]) == "InvalidTagException"
    assert refused([{"Key": "k" * 129}]) == "ValidationException"
    assert refused([{"Key": "ok", "Value": "v" * 257}]) == "ValidationException"
    # The reserved prefix, on its own or among valid tags.
    assert refused([{"Key": "aws:owner", "Value": "me"}]) == "InvalidTagException"
    assert refused([{"Key": "fine"}, {"Key": "aws:x"}]) == "InvalidTagException"
    # Characters outside the model's pattern.
    assert refused([{"Key": "star*"}]) == "ValidationException"
    assert refused([{"Key": "ok", "Value": "semi;colon"}]) == "ValidationException"
    error = error_of(
        lambda: unvalidated_client(tenant).add_tags_to_certificate(
            CertificateArn=arn, Tags=[{"Key": ""}]
        )
    )
    assert error["Code"] == "ValidationException"
    # Every character class the pattern allows.
    allowed = [{"Key": "Ünïcode 名前 _.:/=+-@ 123", "Value": "Ünïcode 値 _.:/=+-@ 123"}]
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=allowed)
    assert tags_of(acm, arn) == longest + allowed

    error = error_of(
        lambda: acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "aws:x"}])
    )
    assert error["Code"] == "InvalidTagException"
    assert tags_of(acm, arn) == longest + allowed

    # The same rules at import time: refused, and nothing imported.
    error = error_of(
        lambda: acm.import_certificate(
            **pki.issue("x.example.com").import_args(Tags=[{"Key": "aws:cloudformation:x"}])
        )
    )
    assert error["Code"] == "InvalidTagException"
    error = error_of(
        lambda: acm.import_certificate(
            **pki.issue("x.example.com").import_args(Tags=[{"Key": "k" * 128}])
        )
    )
    assert error["Code"] == "InvalidTagException"
    assert [s["CertificateArn"] for s in acm.list_certificates()["CertificateSummaryList"]] == [arn]


def test_tags_cannot_be_given_on_reimport(tenant: Tenant) -> None:
    acm = tenant.acm
    arn = new_certificate(acm, "re.example.com", Tags=[{"Key": "kept", "Value": "yes"}])
    replacement = pki.issue("re.example.com", sans=["re.example.com"])
    error = error_of(
        lambda: acm.import_certificate(
            **replacement.import_args(CertificateArn=arn, Tags=[{"Key": "new"}])
        )
    )
    assert error["Code"] == "InvalidParameterException"
    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["Serial"] != pki.acm_serial(replacement.certificate)  # not re-imported
    # Without Tags the re-import goes through and the tags stay.
    acm.import_certificate(**replacement.import_args(CertificateArn=arn))
    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["Serial"] == pki.acm_serial(replacement.certificate)
    assert tags_of(acm, arn) == [{"Key": "kept", "Value": "yes"}]


# == TagResource / UntagResource / ListTagsForResource =========================================


def test_generic_tag_operations_on_a_certificate(tenant: Tenant) -> None:
    acm = tenant.acm
    arn = new_certificate(acm, Tags=[{"Key": "from-import", "Value": "1"}])

    response = acm.tag_resource(
        ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}, {"Key": "bare"}]
    )
    assert set(response) == {"ResponseMetadata"}
    expected = [
        {"Key": "from-import", "Value": "1"},
        {"Key": "env", "Value": "prod"},
        {"Key": "bare"},
    ]
    listed = acm.list_tags_for_resource(ResourceArn=arn)
    assert set(listed) == {"Tags", "ResponseMetadata"}
    assert listed["Tags"] == expected
    # One tag set, whichever family of operations reads or writes it.
    assert tags_of(acm, arn) == expected
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    assert acm.list_tags_for_resource(ResourceArn=arn)["Tags"][1] == {"Key": "env", "Value": "dev"}

    # UntagResource removes by key, whatever the value; unknown keys are no error.
    response = acm.untag_resource(ResourceArn=arn, TagKeys=["env", "missing"])
    assert set(response) == {"ResponseMetadata"}
    assert acm.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "from-import", "Value": "1"},
        {"Key": "bare"},
    ]

    # The count limit is ServiceQuotaExceededException here.
    acm.tag_resource(ResourceArn=arn, Tags=many(48))
    assert len(acm.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 50
    error = error_of(lambda: acm.tag_resource(ResourceArn=arn, Tags=[{"Key": "one-more"}]))
    assert error["Code"] == "ServiceQuotaExceededException"
    assert len(acm.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 50

    # The tag rules of the certificate operations hold here too (same error code).
    acm.untag_resource(ResourceArn=arn, TagKeys=["k00"])
    for bad in ({"Key": "aws:x"}, {"Key": "k" * 128}, {"Key": "ok", "Value": "v" * 256}):
        error = error_of(lambda bad=bad: acm.tag_resource(ResourceArn=arn, Tags=[bad]))
        assert error["Code"] == "InvalidTagException", bad
    error = error_of(lambda: acm.untag_resource(ResourceArn=arn, TagKeys=["aws:x"]))
    assert error["Code"] == "InvalidTagException"
    # Past the model's own limits: a validation error.
    error = error_of(lambda: acm.tag_resource(ResourceArn=arn, Tags=[{"Key": "k" * 129}]))
    assert error["Code"] == "ValidationException"
    error = error_of(lambda: acm.untag_resource(ResourceArn=arn, TagKeys=["bad*key"]))
    assert error["Code"] == "ValidationException"
    assert len(acm.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 49

    acm.delete_certificate(CertificateArn=arn)
    for call in (
        lambda: acm.tag_resource(ResourceArn=arn, Tags=[{"Key": "x"}]),
        lambda: acm.untag_resource(ResourceArn=arn, TagKeys=["x"]),
        lambda: acm.list_tags_for_resource(ResourceArn=arn),
    ):
        assert error_of(call)["Code"] == "ResourceNotFoundException"


# == Get/PutAccountConfiguration ===============================================================


def unvalidated_client(tenant: Tenant, region: str = "us-east-1") -> Any:
    """A client that sends what it is given, so the server's own validation answers."""
    return boto3.session.Session().client(
        "acm",
        endpoint_url=tenant.server.endpoint,
        region_name=region,
        aws_access_key_id=tenant.key[0],
        aws_secret_access_key=tenant.key[1],
        config=NO_RETRIES.merge(Config(parameter_validation=False)),
    )


def days(acm: Any) -> int:
    response = acm.get_account_configuration()
    assert set(response) == {"ExpiryEvents", "ResponseMetadata"}
    assert set(response["ExpiryEvents"]) == {"DaysBeforeExpiry"}
    value: int = response["ExpiryEvents"]["DaysBeforeExpiry"]
    return value


def test_account_configuration(tenant: Tenant) -> None:
    acm = tenant.acm
    assert days(acm) == 45

    response = acm.put_account_configuration(
        ExpiryEvents={"DaysBeforeExpiry": 30}, IdempotencyToken="first"
    )
    assert set(response) == {"ResponseMetadata"}
    assert days(acm) == 30

    # The same token within the hour is the same request: nothing changes, whatever it says.
    acm.put_account_configuration(ExpiryEvents={"DaysBeforeExpiry": 60}, IdempotencyToken="first")
    assert days(acm) == 30
    acm.put_account_configuration(ExpiryEvents={"DaysBeforeExpiry": 60}, IdempotencyToken="second")
    assert days(acm) == 60
    # Without ExpiryEvents nothing changes.
    acm.put_account_configuration(IdempotencyToken="third")
    assert days(acm) == 60

    # The range is 1..90.
    acm.put_account_configuration(ExpiryEvents={"DaysBeforeExpiry": 90}, IdempotencyToken="max")
    assert days(acm) == 90
    acm.put_account_configuration(ExpiryEvents={"DaysBeforeExpiry": 1}, IdempotencyToken="min")
    assert days(acm) == 1
    raw = unvalidated_client(tenant)
    for value in (91, 365, 0, -1):
        error = error_of(
            lambda value=value: raw.put_account_configuration(
                ExpiryEvents={"DaysBeforeExpiry": value}, IdempotencyToken=f"bad{value + 10}"
            )
        )
        assert error["Code"] == "ValidationException", value
    assert days(acm) == 1
    # A refused request did not use up its token.
    acm.put_account_configuration(ExpiryEvents={"DaysBeforeExpiry": 20}, IdempotencyToken="bad101")
    assert days(acm) == 20

    # The token is required, and is 1..32 word characters.
    error = error_of(lambda: raw.put_account_configuration(ExpiryEvents={"DaysBeforeExpiry": 5}))
    assert error["Code"] == "ValidationException"
    assert "idempotencyToken" in error["Message"]
    for token in ("", "has space", "x" * 33, "dash-es"):
        error = error_of(
            lambda token=token: raw.put_account_configuration(
                ExpiryEvents={"DaysBeforeExpiry": 5}, IdempotencyToken=token
            )
        )
        assert error["Code"] == "ValidationException", token
    assert days(acm) == 20
    acm.put_account_configuration(ExpiryEvents={"DaysBeforeExpiry": 5}, IdempotencyToken="x" * 32)
    assert days(acm) == 5

    # The setting and its tokens are per region.
    west = tenant.client(region="eu-west-1")
    assert days(west) == 45
    west.put_account_configuration(ExpiryEvents={"DaysBeforeExpiry": 10}, IdempotencyToken="first")
    assert days(west) == 10
    assert days(acm) == 5


def test_account_configuration_is_per_account(tenant: Tenant) -> None:
    tenant.acm.put_account_configuration(
        ExpiryEvents={"DaysBeforeExpiry": 70}, IdempotencyToken="shared"
    )
    _account, key = tenant.server.new_account()
    other = tenant.server.client(key=key)
    assert days(other) == 45
    # The same token in another account is another request.
    other.put_account_configuration(ExpiryEvents={"DaysBeforeExpiry": 7}, IdempotencyToken="shared")
    assert days(other) == 7
    assert days(tenant.acm) == 70


# == Regions, partitions, accounts =============================================================


def test_regions_are_isolated_and_partitions_name_the_arn(tenant: Tenant) -> None:
    east = tenant.acm
    west = tenant.client(region="eu-west-1")
    arn = new_certificate(east, "east.example.com", Tags=[{"Key": "r", "Value": "east"}])
    assert arn.startswith(f"arn:aws:acm:us-east-1:{tenant.account_id}:certificate/")

    # Nothing of it is visible from another region of the same account.
    assert west.list_certificates()["CertificateSummaryList"] == []
    assert west.search_certificates()["Results"] == []
    assert (
        west.search_certificates(FilterStatement={"Filter": {"CertificateArn": arn}})["Results"]
        == []
    )
    for call in (
        lambda: west.describe_certificate(CertificateArn=arn),
        lambda: west.get_certificate(CertificateArn=arn),
        lambda: west.list_tags_for_certificate(CertificateArn=arn),
        lambda: west.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "x"}]),
        lambda: west.list_tags_for_resource(ResourceArn=arn),
        lambda: west.delete_certificate(CertificateArn=arn),
    ):
        error = error_of(call)
        assert error["Code"] == "ResourceNotFoundException"
        assert arn in error["Message"]
    # Re-importing it from another region cannot reach it either.
    again = pki.issue("east.example.com", sans=["east.example.com"])
    error = error_of(lambda: west.import_certificate(**again.import_args(CertificateArn=arn)))
    assert error["Code"] == "ResourceNotFoundException"

    west_arn = new_certificate(west, "west.example.com")
    assert west_arn.startswith(f"arn:aws:acm:eu-west-1:{tenant.account_id}:certificate/")
    assert [s["CertificateArn"] for s in east.list_certificates()["CertificateSummaryList"]] == [
        arn
    ]
    assert [s["CertificateArn"] for s in west.list_certificates()["CertificateSummaryList"]] == [
        west_arn
    ]
    assert east.describe_certificate(CertificateArn=arn)["Certificate"]["DomainName"] == (
        "east.example.com"
    )
    assert tags_of(east, arn) == [{"Key": "r", "Value": "east"}]

    # Other partitions: the ARN follows the region's partition.
    for region, partition in (("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")):
        client = tenant.client(region=region)
        regional = new_certificate(client, f"{region}.example.com")
        prefix = f"arn:{partition}:acm:{region}:{tenant.account_id}:certificate/"
        assert regional.startswith(prefix)
        detail = client.describe_certificate(CertificateArn=regional)["Certificate"]
        assert detail["CertificateArn"] == regional
        (summary,) = client.list_certificates()["CertificateSummaryList"]
        assert summary["CertificateArn"] == regional
        # The aws-partition ARN does not name anything there, nor the reverse.
        error = error_of(lambda client=client: client.describe_certificate(CertificateArn=arn))
        assert error["Code"] == "ResourceNotFoundException"
        error = error_of(
            lambda regional=regional: east.describe_certificate(CertificateArn=regional)
        )
        assert error["Code"] == "ResourceNotFoundException"
        # A same-region ARN with the wrong partition is not found either.
        wrong = regional.replace(f"arn:{partition}:", "arn:aws:", 1)
        error = error_of(
            lambda client=client, wrong=wrong: client.describe_certificate(CertificateArn=wrong)
        )
        assert error["Code"] == "ResourceNotFoundException"

    # The aws CLI in another partition.
    out = tenant.aws_json("acm", "list-certificates", region="cn-north-1")
    (summary,) = out["CertificateSummaryList"]
    assert summary["CertificateArn"].startswith(f"arn:aws-cn:acm:cn-north-1:{tenant.account_id}:")


def test_accounts_are_isolated(tenant: Tenant) -> None:
    owner = tenant.acm
    arn = new_certificate(owner, "mine.example.com", Tags=[{"Key": "owner", "Value": "a"}])
    other_account, key = tenant.server.new_account()
    assert other_account != tenant.account_id
    stranger = tenant.server.client(key=key)

    assert stranger.list_certificates()["CertificateSummaryList"] == []
    assert stranger.search_certificates()["Results"] == []
    assert (
        stranger.search_certificates(FilterStatement={"Filter": {"CertificateArn": arn}})["Results"]
        == []
    )
    for call in (
        lambda: stranger.describe_certificate(CertificateArn=arn),
        lambda: stranger.get_certificate(CertificateArn=arn),
        lambda: stranger.list_tags_for_certificate(CertificateArn=arn),
        lambda: stranger.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "x"}]),
        lambda: stranger.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "owner"}]),
        lambda: stranger.tag_resource(ResourceArn=arn, Tags=[{"Key": "x"}]),
        lambda: stranger.delete_certificate(CertificateArn=arn),
        lambda: stranger.import_certificate(
            **pki.issue("mine.example.com").import_args(CertificateArn=arn)
        ),
    ):
        error = error_of(call)
        assert error["Code"] == "AccessDeniedException"
        assert arn in error["Message"]
        assert f":{other_account}:" in error["Message"]  # the caller is named

    # The owner's certificate is untouched.
    assert owner.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "ISSUED"
    assert tags_of(owner, arn) == [{"Key": "owner", "Value": "a"}]

    # The stranger's own certificate lives in its own account.
    theirs = new_certificate(stranger, "theirs.example.com")
    assert theirs.startswith(f"arn:aws:acm:us-east-1:{other_account}:certificate/")
    assert [s["CertificateArn"] for s in owner.list_certificates()["CertificateSummaryList"]] == [
        arn
    ]
