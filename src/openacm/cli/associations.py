"""`openacm associations`: say which resources use a certificate, through a running server.

A client of openacm's own API (AssociateCertificate, DisassociateCertificate,
ListCertificateAssociations), signed like any AWS call, as `openacm records` is: credentials,
region and endpoint come from the usual AWS environment, profile and options.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import click

# The same client, error handling and table as `openacm records`: one way to reach the API.
from openacm.cli.records import _call, _client, _table, client_options

HEADERS = ["CERTIFICATE", "RESOURCE", "ASSOCIATED AT"]


@click.group()
def associations() -> None:
    """Resources that use a certificate: they make it InUse and block its deletion."""


@associations.command("add")
@click.option("--certificate-arn", required=True, help="An issued certificate of yours.")
@click.option("--resource-arn", required=True, help="The ARN of the resource that uses it.")
@client_options
def add(
    certificate_arn: str,
    resource_arn: str,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    output: str,
) -> None:
    """Associate a resource with a certificate (again: no change)."""
    client = _client(endpoint_url, region, profile)
    association = _call(
        client,
        "associate_certificate",
        CertificateArn=certificate_arn,
        ResourceArn=resource_arn,
    )["Association"]
    _show([association], output)


@associations.command("remove")
@click.option("--certificate-arn", required=True, help="A certificate of yours.")
@click.option("--resource-arn", required=True, help="The resource that no longer uses it.")
@client_options
def remove(
    certificate_arn: str,
    resource_arn: str,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    output: str,
) -> None:
    """Remove a resource's association with a certificate (absent: no change)."""
    client = _client(endpoint_url, region, profile)
    _call(
        client, "disassociate_certificate", CertificateArn=certificate_arn, ResourceArn=resource_arn
    )
    if output == "json":
        click.echo(json.dumps({"CertificateArn": certificate_arn, "ResourceArn": resource_arn}))
    else:
        click.echo(f"{resource_arn} no longer uses {certificate_arn}.")


@associations.command("list")
@click.option("--certificate-arn", default=None, help="Only this certificate's associations.")
@click.option("--resource-arn", default=None, help="Only this resource's associations.")
@client_options
def list_(
    certificate_arn: str | None,
    resource_arn: str | None,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    output: str,
) -> None:
    """List associations (every page), by certificate then resource."""
    params: dict[str, Any] = {}
    if certificate_arn:
        params["CertificateArn"] = certificate_arn
    if resource_arn:
        params["ResourceArn"] = resource_arn
    client = _client(endpoint_url, region, profile)
    found = list(_every_association(client, params))
    if output == "table" and not found:
        click.echo("No associations.")
        return
    _show(found, output)


def _every_association(client: Any, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    while True:
        page = _call(client, "list_certificate_associations", **params)
        yield from page.get("Associations", [])
        if not page.get("NextToken"):
            return
        params = {**params, "NextToken": page["NextToken"]}


def _show(entries: Sequence[dict[str, Any]], output: str) -> None:
    if output == "json":
        click.echo(json.dumps([_json_entry(entry) for entry in entries], indent=2))
        return
    rows = [
        [entry["CertificateArn"], entry["ResourceArn"], _when(entry["AssociatedAt"])]
        for entry in entries
    ]
    _table(rows, HEADERS)


def _json_entry(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "AssociatedAt": _when(entry["AssociatedAt"])}


def _when(value: datetime) -> str:
    """botocore hands timestamps over as aware datetimes; shown in UTC, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
