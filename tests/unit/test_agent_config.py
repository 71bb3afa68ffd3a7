"""The agent's TOML configuration: what it accepts, its defaults, and the mistakes it refuses
before anything is called."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openacm.agent.config import (
    DEFAULT_POLL_INTERVAL,
    ConfigError,
    TagSelector,
    load_config,
    parse_config,
)

ARN = "arn:aws:acm:us-east-1:111122223333:certificate/0b8c7c44-8f3e-4bd5-9a1c-5a3bd2a0f1c1"

EXAMPLE = f"""
endpoint_url = "https://acm.example.internal"
region = "us-east-1"
target = "web-1"
poll_interval_seconds = 60
state_dir = "/var/lib/openacm-agent"

[credentials]
profile = "deploy"

[[certificates]]
arn = "{ARN}"
reload = ["/usr/bin/systemctl", "reload", "nginx"]
fullchain = "/etc/nginx/tls/fullchain.pem"
key = {{ path = "/etc/nginx/tls/key.pem", mode = "0640", owner = "root", group = "www-data" }}

[[certificates]]
tag = "deploy=internal-api"
certificate = {{ path = "/etc/api/tls/{{id}}.crt", mode = 0o600, owner = 0 }}
pkcs12 = {{ path = "/etc/api/tls/{{id}}.p12", passphrase_env = "API_P12" }}
"""


def base(**entry: Any) -> dict[str, Any]:
    return {
        "region": "us-east-1",
        "target": "web-1",
        "state_dir": "/var/lib/openacm-agent",
        "certificates": [entry or {"arn": ARN, "certificate": "/etc/tls/cert.pem"}],
    }


def test_the_documented_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(EXAMPLE)
    config = load_config(path)
    assert config.endpoint_url == "https://acm.example.internal"
    assert config.poll_interval == 60.0
    assert config.credentials.profile == "deploy"
    assert config.state_file == Path("/var/lib/openacm-agent/web-1.json")
    by_arn, by_tag = config.entries
    assert by_arn.name == ARN and by_arn.wants_key
    assert by_arn.reload == ("/usr/bin/systemctl", "reload", "nginx")
    assert by_arn.files["key"].mode == 0o640 and by_arn.files["key"].group == "www-data"
    assert by_arn.files["fullchain"].mode == 0o644  # certificates are public by default
    assert by_tag.tag == TagSelector("deploy", "internal-api") and by_tag.name == (
        "tag:deploy=internal-api"
    )
    assert by_tag.files["certificate"].mode == 0o600 and by_tag.files["certificate"].owner == "0"
    assert by_tag.files["pkcs12"].mode == 0o600  # secrets are private by default
    assert by_tag.paths_are_per_certificate
    assert by_tag.files["pkcs12"].resolve("abc", "x.example").name == "abc.p12"


def test_defaults() -> None:
    config = parse_config(base())
    assert config.poll_interval == DEFAULT_POLL_INTERVAL
    assert config.endpoint_url is None and config.credentials.access_key_id is None
    assert not config.entries[0].wants_key and config.entries[0].reload == ()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**base(), "certificates": []}, "at least one certificate"),
        ({**base(), "target": "web/1"}, "target 'web/1'"),
        ({**base(), "poll_interval_seconds": 0}, "positive number"),
        ({**base(), "colour": "blue"}, "unknown key(s) colour"),
        ({k: v for k, v in base().items() if k != "region"}, "region is required"),
        (base(certificate="/a"), "give either arn or tag"),
        (base(arn=ARN, tag="a=b", certificate="/a"), "give either arn or tag"),
        (base(arn="arn:aws:s3:::bucket", certificate="/a"), "not an ACM certificate ARN"),
        (base(tag="novalue", certificate="/a"), "must be key=value"),
        (
            base(arn=ARN.replace("us-east-1", "eu-west-1"), certificate="/a"),
            "the certificate is in eu-west-1",
        ),
        (base(arn=ARN), "no file to write"),
        (base(arn=ARN, key="/k"), "a key without its certificate"),
        (base(arn=ARN, certificate="relative.pem"), "must be absolute"),
        (base(arn=ARN, certificate={"path": "/a", "mode": "0999"}), "not octal"),
        (base(arn=ARN, certificate={"path": "/a", "mode": 0o7777}), "outside 0000-0777"),
        (base(arn=ARN, certificate={"path": "/a", "owner": ""}), "owner must be"),
        (base(arn=ARN, certificate={"path": "/a", "passphrase": "x"}), "only pkcs12"),
        (base(arn=ARN, certificate="/a", pkcs12="/b.p12"), "give passphrase or passphrase_env"),
        (base(arn=ARN, certificate="/a", reload="systemctl reload nginx"), "argv"),
        (base(arn=ARN, certificate="/a", reload=[]), "argv"),
        (base(arn=ARN, certificate="/a", chian="/b"), "unknown key(s) chian"),
        ({**base(), "credentials": {"access_key_id": "AK"}}, "goes with secret_access_key"),
        (
            {
                **base(),
                "credentials": {"profile": "p", "access_key_id": "AK", "secret_access_key": "s"},
            },
            "a profile or keys",
        ),
    ],
)
def test_mistakes_are_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(document)
    assert message in str(refused.value)


def test_two_entries_never_share_a_path_or_a_name() -> None:
    document = base()
    document["certificates"] = [
        {"arn": ARN, "certificate": "/etc/tls/a.pem"},
        {"tag": "a=b", "certificate": "/etc/tls/a.pem"},
    ]
    with pytest.raises(ConfigError, match="also"):
        parse_config(document)
    document["certificates"] = [
        {"name": "web", "arn": ARN, "certificate": "/etc/tls/a.pem"},
        {"name": "web", "tag": "a=b", "certificate": "/etc/tls/b.pem"},
    ]
    with pytest.raises(ConfigError, match="repeated: web"):
        parse_config(document)


def test_an_unreadable_or_malformed_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("target = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_config(bad)
