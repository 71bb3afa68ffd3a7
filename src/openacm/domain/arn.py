"""Amazon Resource Names of openacm's resources: building them and reading them back."""

from __future__ import annotations

from dataclasses import dataclass

from openacm.domain.errors import InvalidArnError


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account_id: str
    resource: str

    def __str__(self) -> str:
        return (
            f"arn:{self.partition}:{self.service}:{self.region}:{self.account_id}:{self.resource}"
        )

    @property
    def resource_type(self) -> str:
        return self.resource.split("/", 1)[0]

    @property
    def resource_id(self) -> str:
        return self.resource.split("/", 1)[1] if "/" in self.resource else ""


def parse_arn(text: str) -> Arn:
    """Split an ARN into its six fields; InvalidArnException when it has not got them."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not all(parts[1:3]) or not parts[5]:
        raise InvalidArnError(f"String '{text}' is not a valid ARN")
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def certificate_arn(partition: str, region: str, account_id: str, certificate_id: str) -> str:
    return str(Arn(partition, "acm", region, account_id, f"certificate/{certificate_id}"))
