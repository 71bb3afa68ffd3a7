"""RequestCertificate refuses what ACM refuses, with ACM's error code, HTTP 400 and message.

Requests go out through boto3 with client-side validation off (botocore checks types and
minimum lengths, not patterns, enums or maximums; off, everything reaches the server) and,
for a few, through the aws CLI. Each refusal is checked for its code (body `__type` and the
x-amzn-ErrorType header), its HTTP status, the `{"__type", "message"}` body shape, and that
no certificate was left behind: ListCertificates with every status, key type and key-pair
origin shows exactly the certificates the test had accepted on purpose.

Where a limit has an edge, the value just inside it is accepted (10 names, a 64-octet common
name, a 253-octet SAN, a 32-character token).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import Tenant
from tests.support.acm_flow import TEST_ZONE, unique_domain
from tests.support.server import OpenAcmServer

MODEL = botocore.session.get_session().get_service_model("acm")
STATUSES = list(MODEL.shape_for("CertificateStatus").enum)
KEY_TYPES = list(MODEL.shape_for("KeyAlgorithm").enum)
ORIGINS = list(MODEL.shape_for("CertificateKeyPairOrigin").enum)
NAME_PATTERN = MODEL.shape_for("DomainNameString").metadata["pattern"]
LOOSE = Config(
    parameter_validation=False, retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60
)
# ACM issues public certificates with these keys only; the model's enum lists the imported
# certificates' ones too (the KeyAlgorithm documentation of RequestCertificate).
REQUESTABLE_KEYS = ("RSA_2048", "EC_prime256v1", "EC_secp384r1")
IMPORT_ONLY_KEYS = tuple(k for k in KEY_TYPES if k not in REQUESTABLE_KEYS)
# The aws CLI's exit status for an error answer (v1: 255, v2: 254).
CLI_ERROR_EXITS = (254, 255)


# A list of names is reported once, with every constraint of its members (Coral's wording).
SAN_CONSTRAINT = (
    "Member must satisfy constraint: [Member must have length less than or equal to 253, "
    "Member must have length greater than or equal to 1, Member must satisfy regular "
    f"expression pattern: {NAME_PATTERN}]"
)


def one_violation(value: str, path: str, constraint: str) -> str:
    return (
        f"1 validation error detected: Value {value} at '{path}' failed to satisfy "
        f"constraint: {constraint}"
    )


def enum_text(shape: str) -> str:
    return f"Member must satisfy enum value set: [{', '.join(MODEL.shape_for(shape).enum)}]"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes


class Requester:
    """A tenant's RequestCertificate calls, refused or accepted, and its inventory."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.client = boto3.session.Session().client(
            "acm",
            endpoint_url=tenant.server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=tenant.key[0],
            aws_secret_access_key=tenant.key[1],
            config=LOOSE,
        )
        self._last: Answer | None = None
        self.client.meta.events.register("before-parse.acm", self._capture)
        self.expected: set[str] = set()

    def _capture(self, response_dict: dict[str, Any], **_: Any) -> None:
        headers = {k.lower(): v for k, v in response_dict["headers"].items()}
        self._last = Answer(response_dict["status_code"], headers, response_dict["body"])

    def inventory(self) -> set[str]:
        """Every certificate of the account: all statuses, key types and origins."""
        arns: set[str] = set()
        kwargs: dict[str, Any] = {
            "CertificateStatuses": STATUSES,
            "CertificateKeyPairOrigins": ORIGINS,
            "Includes": {"keyTypes": KEY_TYPES},
        }
        while True:
            page = self.tenant.acm.list_certificates(**kwargs)
            arns |= {s["CertificateArn"] for s in page["CertificateSummaryList"]}
            if not page.get("NextToken"):
                return arns
            kwargs["NextToken"] = page["NextToken"]

    def send(self, **params: Any) -> Answer:
        self._last = None
        with contextlib.suppress(ClientError):
            self.client.request_certificate(**params)
        assert self._last is not None, "boto3 sent nothing"
        return self._last

    def refused(
        self,
        params: dict[str, Any],
        code: str,
        message: str | None = None,
        *,
        status: int = 400,
        contains: tuple[str, ...] = (),
    ) -> str:
        answer = self.send(**params)
        text = answer.body.decode("utf-8", "replace")
        context = f"{params}\n-> HTTP {answer.status}: {text[:1500]}"
        assert answer.status == status, context
        assert answer.headers.get("x-amzn-errortype") == code, context
        assert answer.headers.get("x-amzn-requestid"), context
        assert answer.headers.get("content-type", "").startswith("application/x-amz-json-1.1")
        body = json.loads(answer.body)
        assert set(body) == {"__type", "message"}, context
        assert body["__type"] == code, context
        got = body["message"]
        assert isinstance(got, str) and got, context
        for marker in ("Traceback", 'File "', "sqlalchemy", "openacm/"):
            assert marker not in got, context
        if message is not None:
            assert got == message, context
        for part in contains:
            assert part in got, context
        assert self.inventory() == self.expected, f"a certificate was left behind: {context}"
        return got

    def accepted(self, **params: Any) -> str:
        params.setdefault("ValidationMethod", "DNS")
        answer = self.send(**params)
        assert answer.status == 200, answer.body[:1500]
        arn = str(json.loads(answer.body)["CertificateArn"])
        self.expected.add(arn)
        assert self.inventory() == self.expected
        return arn

    def clean_up(self) -> None:
        """Delete the account's certificates, so the session server's worker forgets them."""
        for arn in self.inventory():
            self.tenant.acm.delete_certificate(CertificateArn=arn)


@pytest.fixture(scope="module")
def requester(pki_server: OpenAcmServer) -> Requester:
    """One account for the module's tests (an account and a client cost most of a second);
    each test starts from what the account holds then, and deletes what it added."""
    account_id, key = pki_server.new_account()
    return Requester(Tenant(pki_server, account_id, key, pki_server.client(key=key)))


@pytest.fixture
def req(requester: Requester) -> Iterator[Requester]:
    requester.expected = requester.inventory()
    assert requester.expected == set()
    yield requester
    requester.clean_up()


def dns(domain: str, *sans: str, **extra: Any) -> dict[str, Any]:
    """RequestCertificate's parameters for DNS validation."""
    params: dict[str, Any] = {"DomainName": domain, "ValidationMethod": "DNS", **extra}
    if sans:
        params["SubjectAlternativeNames"] = list(sans)
    return params


def name_of_length(octets: int, base: str) -> str:
    """A name of exactly `octets` octets under `base`, in labels of at most 63."""
    room = octets - len(base) - 1
    labels = []
    while room > 0:
        size = min(63, room - 1 if room > 64 else room)
        size = max(size, 1)
        labels.append("a" * size)
        room -= size + 1
    name = ".".join([*labels, base])
    assert len(name) == octets, (len(name), octets)
    return name


# -- how many names ---------------------------------------------------------------------------


def test_eleven_names_are_too_many_ten_are_not(req: Requester) -> None:
    domain = unique_domain("n")
    sans = [f"s{i}.{domain}" for i in range(10)]
    req.refused(dns(domain, *sans), "LimitExceededException", "Certificate has too many domains.")
    # DomainName counts, and a SAN repeating it does not.
    req.accepted(**dns(domain, *sans[:9]))
    req.accepted(**dns(domain, domain, *sans[:9]))
    req.accepted(**dns(domain, *[s.upper() for s in sans[:9]], *sans[:9]))


def test_too_many_names_through_the_aws_cli(req: Requester) -> None:
    domain = unique_domain("cli")
    done = req.tenant.aws(
        "acm",
        "request-certificate",
        "--domain-name", domain,
        "--validation-method", "DNS",
        "--subject-alternative-names", *[f"s{i}.{domain}" for i in range(10)],
        check=False,
    )  # fmt: skip
    assert done.returncode in CLI_ERROR_EXITS, done.stdout + done.stderr
    assert (
        "An error occurred (LimitExceededException) when calling the RequestCertificate "
        "operation: Certificate has too many domains." in done.stderr
    ), done.stderr
    assert req.inventory() == req.expected
    long_name = name_of_length(65, TEST_ZONE)
    done = req.tenant.aws(
        "acm",
        "request-certificate",
        "--domain-name", long_name,
        "--validation-method", "DNS",
        check=False,
    )  # fmt: skip
    assert done.returncode in CLI_ERROR_EXITS, done.stdout + done.stderr
    assert "(InvalidDomainValidationOptionsException)" in done.stderr, done.stderr
    assert "The first domain name can be no longer than 64 characters." in done.stderr
    assert req.inventory() == req.expected
    answer = req.tenant.aws_json(
        "acm",
        "request-certificate",
        "--domain-name", name_of_length(64, TEST_ZONE),
        "--validation-method", "DNS",
    )  # fmt: skip
    req.expected.add(answer["CertificateArn"])


def test_list_sizes_of_the_model(req: Requester) -> None:
    domain = unique_domain("ls")
    req.refused(
        dns(domain, SubjectAlternativeNames=[]),
        "ValidationException",
        one_violation(
            "'[]'", "subjectAlternativeNames", "Member must have length greater than or equal to 1"
        ),
    )
    message = req.refused(
        dns(domain, *[f"s{i}.{domain}" for i in range(101)]),
        "ValidationException",
        contains=("at 'subjectAlternativeNames' failed to satisfy constraint: Member must have "
                  "length less than or equal to 100",),
    )  # fmt: skip
    assert message.startswith("1 validation error detected: "), message
    req.refused(
        dns(domain, DomainValidationOptions=[]),
        "ValidationException",
        one_violation(
            "'[]'", "domainValidationOptions", "Member must have length greater than or equal to 1"
        ),
    )


# -- name lengths -----------------------------------------------------------------------------


def test_common_name_of_65_octets_is_refused_64_is_not(req: Requester) -> None:
    too_long = name_of_length(65, TEST_ZONE)
    req.refused(
        dns(too_long),
        "InvalidDomainValidationOptionsException",
        "The first domain name can be no longer than 64 characters.",
    )
    req.accepted(**dns(name_of_length(64, TEST_ZONE)))
    # As a SAN the same name is fine: only the CN is bounded by 64 octets.
    req.accepted(**dns(unique_domain("cn"), too_long))


def test_name_of_254_octets_is_refused_253_is_not(req: Requester) -> None:
    too_long = name_of_length(254, TEST_ZONE)
    req.refused(
        dns(unique_domain("l"), too_long),
        "ValidationException",
        one_violation(f"'[{too_long}]'", "subjectAlternativeNames", SAN_CONSTRAINT),
    )
    req.refused(
        dns(too_long),
        "ValidationException",
        one_violation(
            f"'{too_long}'", "domainName", "Member must have length less than or equal to 253"
        ),
    )
    # (63).(63).(63).(61): 253 octets, the documentation's legal example.
    longest = name_of_length(253, TEST_ZONE)
    assert max(len(label) for label in longest.split(".")) <= 63
    req.accepted(**dns(unique_domain("l"), longest))


def test_label_of_64_octets_is_refused(req: Requester) -> None:
    name = f"{'a' * 64}.{TEST_ZONE}"
    req.refused(
        dns(name),
        "ValidationException",
        one_violation(
            f"'{name}'",
            "domainName",
            f"Member must satisfy regular expression pattern: {NAME_PATTERN}",
        ),
    )


# -- name syntax ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "bücher.example.com",
        "例え.テスト",
        "\u212aelvin.example.com",  # the Kelvin sign, which str.lower() turns into "k"
        "www.*.example.com",
        "*example.com",
        "*.*.example.com",
        "example.*",
        "*",
        "-lead.example.com",
        "trail-.example.com",
        "under_score.example.com",
        "example.c",
        "localhost",
        "example.com.",
        "exa mple.com",
        "",
    ],
)
def test_names_outside_the_model_pattern(req: Requester, name: str) -> None:
    pattern = f"Member must satisfy regular expression pattern: {NAME_PATTERN}"
    if name == "":
        constraint = "Member must have length greater than or equal to 1"
        message = req.refused(dns(name), "ValidationException", contains=(constraint,))
        assert message.startswith("2 validation errors detected: "), message
        return
    req.refused(dns(name), "ValidationException", one_violation(f"'{name}'", "domainName", pattern))
    domain = unique_domain("p")
    req.refused(
        dns(domain, name),
        "ValidationException",
        one_violation(f"'[{name}]'", "subjectAlternativeNames", SAN_CONSTRAINT),
    )


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("ab--example.com", "ab--example"),
        ("xn--example.com", "xn--example"),
        ("www.ab--cd.example.com", "ab--cd"),
        ("*.xn--zz.example.com", "xn--zz"),
    ],
)
def test_reserved_and_invalid_punycode_labels(req: Requester, name: str, label: str) -> None:
    req.refused(dns(name), "InvalidDomainValidationOptionsException", contains=(f"'{name}'", label))
    req.refused(
        dns(unique_domain("pc"), name),
        "InvalidDomainValidationOptionsException",
        contains=(f"'{name}'", label),
    )


def test_valid_punycode_and_double_hyphens_elsewhere_are_accepted(req: Requester) -> None:
    domain = unique_domain("ok")
    req.accepted(**dns(f"xn--bcher-kva.{domain}", f"a--b.{domain}", f"abc--d.{domain}"))
    req.accepted(**dns(f"*.{domain}", f"WWW.{domain}".upper()))


# -- enums ------------------------------------------------------------------------------------


def test_key_algorithm_outside_the_enum(req: Requester) -> None:
    domain = unique_domain("k")
    for value in ("EC_Prime256v1", "RSA-2048", "rsa_2048", "ED25519"):
        req.refused(
            dns(domain, KeyAlgorithm=value),
            "ValidationException",
            one_violation(f"'{value}'", "keyAlgorithm", enum_text("KeyAlgorithm")),
        )
    for value in REQUESTABLE_KEYS:
        req.accepted(**dns(domain, KeyAlgorithm=value))


@pytest.mark.parametrize("key_algorithm", IMPORT_ONLY_KEYS)
def test_key_algorithms_acm_does_not_issue_are_refused(req: Requester, key_algorithm: str) -> None:
    """Real ACM (us-east-1): `ValidationException: Encryption Algorithm RSA_1024 is not
    supported in us-east-1 region` for RSA_1024, RSA_3072, RSA_4096 and EC_secp521r1, which the
    model's enum lists for imported certificates only."""
    req.refused(
        dns(unique_domain("k"), KeyAlgorithm=key_algorithm),
        "ValidationException",
        contains=(key_algorithm, "not supported"),
    )


def test_validation_method_and_options_outside_their_enums(req: Requester) -> None:
    domain = unique_domain("e")
    req.refused(
        {"DomainName": domain, "ValidationMethod": "SMS"},
        "ValidationException",
        one_violation("'SMS'", "validationMethod", enum_text("ValidationMethod")),
    )
    req.refused(
        dns(domain, Options={"Export": "YES"}),
        "ValidationException",
        one_violation("'YES'", "options.export", enum_text("CertificateExport")),
    )
    req.refused(
        dns(domain, Options={"CertificateTransparencyLoggingPreference": "OFF"}),
        "ValidationException",
        one_violation(
            "'OFF'",
            "options.certificateTransparencyLoggingPreference",
            enum_text("CertificateTransparencyLoggingPreference"),
        ),
    )
    req.refused(
        dns(domain, ManagedBy="S3"),
        "ValidationException",
        one_violation("'S3'", "managedBy", enum_text("CertificateManagedBy")),
    )
    message = req.refused(
        {"DomainName": domain, "ValidationMethod": "dns", "KeyAlgorithm": "RSA", "ManagedBy": ""},
        "ValidationException",
    )
    assert message.startswith("3 validation errors detected: "), message
    req.accepted(**dns(domain, ManagedBy="CLOUDFRONT", Options={"Export": "DISABLED"}))


def test_http_validation_is_not_implemented_and_email_is_the_default(req: Requester) -> None:
    domain = unique_domain("m")
    req.refused(
        dns(domain, ValidationMethod="HTTP"),
        "NotImplementedException",
        status=501,
        contains=("HTTP",),
    )
    # EMAIL is accepted; its flow and the default are tested in test_email_validation.py.
    req.accepted(DomainName=domain, ValidationMethod="EMAIL")


def test_private_ca_arn(req: Requester) -> None:
    domain = unique_domain("pca")
    req.refused(
        dns(domain, CertificateAuthorityArn="arn:aws:acm:us-east-1:123456789012:certificate/x"),
        "ValidationException",
        contains=("at 'certificateAuthorityArn' failed to satisfy constraint: Member must satisfy "
                  "regular expression pattern",),
    )  # fmt: skip
    ca_arn = (
        f"arn:aws:acm-pca:us-east-1:{req.tenant.account_id}:certificate-authority/{uuid.uuid4()}"
    )
    # An ARN of the model's pattern that is no certificate authority: refused at once. (A CA
    # that does not exist fails the certificate afterwards, PCA_RESOURCE_NOT_FOUND, as in ACM:
    # tests/integration/test_private_certificates.py.)
    req.refused(
        dns(domain, CertificateAuthorityArn=ca_arn.replace("certificate-authority", "template")),
        "InvalidArnException",
    )


# -- DomainValidationOptions ------------------------------------------------------------------


def test_domain_validation_options(req: Requester) -> None:
    domain = unique_domain("dvo")
    www = f"www.{domain}"

    def option(name: str, validation_domain: str) -> dict[str, str]:
        return {"DomainName": name, "ValidationDomain": validation_domain}

    code = "InvalidDomainValidationOptionsException"
    req.refused(
        dns(www, DomainValidationOptions=[option(f"api.{domain}", domain)]),
        code,
        contains=(f"api.{domain}",),
    )
    # Above the registrable domain: a public suffix. A one-label name is outside the model's
    # pattern already.
    req.refused(
        dns("www.example.co.uk", DomainValidationOptions=[option("www.example.co.uk", "co.uk")]),
        code,
        contains=("co.uk",),
    )
    req.refused(
        dns(www, DomainValidationOptions=[option(www, "com")]),
        "ValidationException",
        one_violation(
            "'com'",
            "domainValidationOptions.1.member.validationDomain",
            f"Member must satisfy regular expression pattern: {NAME_PATTERN}",
        ),
    )
    req.refused(
        dns(www, DomainValidationOptions=[option(www, "openacm-test.com.com")]),
        code,
        contains=("openacm-test.com.com",),
    )
    req.refused(
        dns(www, DomainValidationOptions=[option(www, "other-test.net")]),
        code,
        contains=("other-test.net",),
    )
    # A sibling or a child is not a superdomain.
    req.refused(dns(www, DomainValidationOptions=[option(www, f"api.{domain}")]), code)
    req.refused(dns(www, DomainValidationOptions=[option(www, f"x.www.{domain}")]), code)
    req.refused(
        dns(www, DomainValidationOptions=[option(www, domain), option(www, www)]),
        code,
        contains=(www,),
    )
    req.refused(
        dns(www, DomainValidationOptions=[option(www, "bad_domain.com")]),
        "ValidationException",
        contains=("at 'domainValidationOptions.1.member.validationDomain'",),
    )
    req.refused(
        dns(www, DomainValidationOptions=[{"DomainName": www}]),
        "ValidationException",
        one_violation(
            "null",
            "domainValidationOptions.1.member.validationDomain",
            "Member must not be null",
        ),
    )
    # The name itself, its parent, the registrable domain; case does not matter.
    req.accepted(**dns(www, DomainValidationOptions=[option(www, www)]))
    req.accepted(**dns(f"a.{www}", DomainValidationOptions=[option(f"A.{www}".upper(), domain)]))
    req.accepted(**dns(f"*.{www}", DomainValidationOptions=[option(f"*.{www}", www)]))


# -- idempotency token, tags, missing members --------------------------------------------------


def test_idempotency_token(req: Requester) -> None:
    domain = unique_domain("tok")
    token = "t" * 33
    req.refused(
        dns(domain, IdempotencyToken=token),
        "ValidationException",
        one_violation(
            f"'{token}'", "idempotencyToken", "Member must have length less than or equal to 32"
        ),
    )
    req.refused(
        dns(domain, IdempotencyToken="not-a-word"),
        "ValidationException",
        one_violation(
            "'not-a-word'",
            "idempotencyToken",
            "Member must satisfy regular expression pattern: \\w+",
        ),
    )
    req.refused(
        dns(domain, IdempotencyToken=""),
        "ValidationException",
        contains=("Member must have length greater than or equal to 1",),
    )
    first = req.accepted(**dns(domain, IdempotencyToken="t" * 32))
    again = req.send(**dns(domain, IdempotencyToken="t" * 32))
    assert json.loads(again.body)["CertificateArn"] == first


def test_tags(req: Requester) -> None:
    domain = unique_domain("tag")
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    message = req.refused(
        dns(domain, Tags=tags),
        "ValidationException",
        contains=("at 'tags' failed to satisfy constraint: Member must have length less than "
                  "or equal to 50",),
    )  # fmt: skip
    assert message.startswith("1 validation error detected: Value '[{Key: k0,Value: v}, ")
    req.refused(
        dns(domain, Tags=[]),
        "ValidationException",
        one_violation("'[]'", "tags", "Member must have length greater than or equal to 1"),
    )
    key_pattern = MODEL.shape_for("TagKey").metadata["pattern"]
    req.refused(
        dns(domain, Tags=[{"Key": "bad#key"}]),
        "ValidationException",
        one_violation(
            "'bad#key'",
            "tags.1.member.key",
            f"Member must satisfy regular expression pattern: {key_pattern}",
        ),
    )
    req.refused(
        dns(domain, Tags=[{"Key": "k", "Value": "v" * 257}]),
        "ValidationException",
        one_violation(
            f"'{'v' * 257}'",
            "tags.1.member.value",
            "Member must have length less than or equal to 256",
        ),
    )
    req.refused(dns(domain, Tags=[{"Key": "aws:owner", "Value": "x"}]), "InvalidTagException")
    req.refused(dns(domain, Tags=[{"Key": "k" * 128}]), "InvalidTagException", contains=("127",))
    # A key given twice: the last value wins, as in AddTagsToCertificate.
    arn = req.accepted(
        **dns(domain, Tags=[{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}])
    )
    listed = req.tenant.acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
    assert listed == [{"Key": "dup", "Value": "2"}]
    arn = req.accepted(**dns(domain, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)]))
    listed = req.tenant.acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
    assert len(listed) == 50


def test_missing_and_null_domain_name(req: Requester) -> None:
    expected = one_violation("null", "domainName", "Member must not be null")
    req.refused({"ValidationMethod": "DNS"}, "ValidationException", expected)
    req.refused({"DomainName": None, "ValidationMethod": "DNS"}, "ValidationException", expected)
    req.refused(
        {"DomainName": 42, "ValidationMethod": "DNS"},
        "SerializationException",
        "NUMBER_VALUE can not be converted to a String",
    )
