"""`openacm records`: create a certificate's DNS validation records through a running server.

A client of openacm's own API (CreateValidationRecords, ListValidationZones), signed like any
AWS call: credentials, region and endpoint come from the usual AWS environment, profile and
options. Heavy imports (botocore) wait until a command runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

SERVICE = "openacm"
# The region the call is signed for when neither --region nor the AWS config gives one: any
# region works, the certificate ARN must only be of the same one.
FALLBACK_REGION = "us-east-1"
FAILED = "FAILED"


def _client(endpoint_url: str | None, region: str | None, profile: str | None) -> Any:
    """A botocore client for openacm's API, its model found next to the user's data path."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    from openacm.protocol.model import MODELS_PATH

    try:
        session = botocore.session.Session(profile=profile)
        user_path = session.get_config_variable("data_path")
        session.set_config_variable(
            "data_path", os.pathsep.join(p for p in (str(MODELS_PATH), user_path) if p)
        )
        return session.create_client(
            SERVICE,
            endpoint_url=endpoint_url,
            region_name=region or session.get_config_variable("region") or FALLBACK_REGION,
        )
    except BotoCoreError as exc:
        raise click.ClickException(str(exc)) from None


def _call(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        result: dict[str, Any] = getattr(client, operation)(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise click.ClickException(f"{error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:  # no credentials, no endpoint, connection refused...
        raise click.ClickException(str(exc)) from None
    return result


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> None:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers) - 1)]
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


def client_options(func: F) -> F:
    """Where the server is and who calls it, as the aws CLI takes them."""
    options = [
        click.option(
            "--endpoint-url",
            default=None,
            help="The openacm server, e.g. https://acm.example.internal (default: "
            "AWS_ENDPOINT_URL_OPENACM, AWS_ENDPOINT_URL or the profile's endpoint_url).",
        ),
        click.option("--region", default=None, help="Region to sign for (default: the profile's)."),
        click.option("--profile", default=None, help="AWS profile with the credentials to use."),
        click.option(
            "--output", type=click.Choice(["table", "json"]), default="table", show_default=True
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
def records() -> None:
    """DNS validation records, written into the zones the operator configured."""


@records.command("create")
@click.option("--certificate-arn", required=True, help="A certificate pending DNS validation.")
@click.option(
    "--domain-name",
    "domain_names",
    multiple=True,
    help="Only this name's record (repeatable; default: every name pending validation).",
)
@client_options
def create(
    certificate_arn: str,
    domain_names: tuple[str, ...],
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    output: str,
) -> None:
    """Create a certificate's validation CNAMEs.

    Exit status 1 when a record could not be written (FAILED); names outside the configured
    zones (NO_CONFIGURED_ZONE, NOT_PERMITTED) are left to you and are not an error.
    """
    params: dict[str, Any] = {"CertificateArn": certificate_arn}
    if domain_names:
        params["DomainNames"] = list(domain_names)
    client = _client(endpoint_url, region, profile)
    entries = _call(client, "create_validation_records", **params).get("Records", [])
    if output == "json":
        click.echo(json.dumps(entries, indent=2))
    else:
        _show_records(certificate_arn, entries)
    if any(entry["Status"] == FAILED for entry in entries):
        raise SystemExit(1)


def _show_records(certificate_arn: str, entries: Sequence[dict[str, Any]]) -> None:
    if not entries:
        click.echo(f"No name of {certificate_arn} is pending validation.")
        return
    rows = [
        [
            entry["DomainName"],
            entry.get("Zone", "-"),
            entry["Status"],
            "{Name} {Type} {Value}".format(**entry["ResourceRecord"]),
        ]
        for entry in entries
    ]
    _table(rows, ["DOMAIN", "ZONE", "STATUS", "RECORD"])
    # Reasons below the table: they are sentences, too long for a column.
    notes = [entry for entry in entries if entry.get("Message")]
    if notes:
        click.echo()
    for entry in notes:
        click.echo(f"{entry['DomainName']}: {entry['Message']}")


@records.command("zones")
@client_options
def zones(endpoint_url: str | None, region: str | None, profile: str | None, output: str) -> None:
    """List the zones open to your account."""
    client = _client(endpoint_url, region, profile)
    names = [zone["Zone"] for zone in _call(client, "list_validation_zones").get("Zones", [])]
    if output == "json":
        click.echo(json.dumps(names))
    elif names:
        _table([[name] for name in names], ["ZONE"])
    else:
        click.echo("No zone is open to this account.")
