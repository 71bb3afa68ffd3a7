"""The agent's calls to openacm: ACM (DescribeCertificate, GetCertificate, ExportCertificate,
ListCertificates, ListTagsForCertificate) and openacm's own API (AssociateCertificate,
DisassociateCertificate), both SigV4-signed by botocore with the same credentials.

Every failure becomes an `ApiError` with the service's code and message, so the loop can tell
a configuration problem (a certificate that cannot be exported) from a passing one (a
connection refused) without knowing botocore.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openacm.agent.config import AgentConfig, TagSelector
from openacm.agent.material import Material, decrypt_exported_key
from openacm.agent.state import Observed

# Every key algorithm: ListCertificates shows only RSA_2048 ones unless told otherwise (ACM).
KEY_TYPES = [
    "RSA_1024",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_prime256v1",
    "EC_secp384r1",
    "EC_secp521r1",
]
OPENACM_SERVICE = "openacm"


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ListedCertificate:
    arn: str
    domain: str


def consumer_arn(certificate_arn: str, target: str) -> str:
    """`arn:openacm:deploy:<region>:<account>:target/<name>` (PRODUCT.md), the region and
    account being the certificate's: the caller's own, learnt without another call."""
    parts = certificate_arn.split(":")
    return f"arn:openacm:deploy:{parts[3]}:{parts[4]}:target/{target}"


class AcmClient:
    def __init__(self, config: AgentConfig) -> None:
        from botocore.exceptions import BotoCoreError

        try:
            session = _session(config)
            # A few quick retries for a server restarting; the next pass retries the rest.
            common = {
                "endpoint_url": config.endpoint_url,
                "region_name": config.region,
                "config": _retrying(),
            }
            self._acm = session.create_client("acm", **common)
            self._openacm = session.create_client(OPENACM_SERVICE, **common)
        except BotoCoreError as exc:  # an unknown profile, a malformed endpoint URL...
            raise ApiError("ConfigError", str(exc)) from None

    def describe(self, arn: str) -> Observed:
        detail = self._call(self._acm, "describe_certificate", CertificateArn=arn)["Certificate"]
        summary = detail.get("RenewalSummary") or {}
        return Observed(
            arn=arn,
            status=detail.get("Status", ""),
            serial=detail.get("Serial"),
            not_after=_epoch(detail.get("NotAfter")),
            domain=detail.get("DomainName", ""),
            exportable=detail.get("Type") == "PRIVATE"
            or (detail.get("Options") or {}).get("Export") == "ENABLED",
            renewal_status=summary.get("RenewalStatus"),
            renewal_updated_at=_epoch(summary.get("UpdatedAt")),
        )

    def fetch(self, arn: str) -> Material:
        """The certificate and its chain, without the key (GetCertificate)."""
        got = self._call(self._acm, "get_certificate", CertificateArn=arn)
        return Material(got["Certificate"], got.get("CertificateChain", ""))

    def export(self, arn: str) -> Material:
        """The certificate, chain and key (ExportCertificate) under a passphrase made for this
        one call, decrypted here in memory: the key in clear never touches the disk but at the
        configured path."""
        passphrase = secrets.token_urlsafe(32).encode()  # no '#', '$' or '%' (the API's rule)
        got = self._call(self._acm, "export_certificate", CertificateArn=arn, Passphrase=passphrase)
        key = decrypt_exported_key(got["PrivateKey"], passphrase)
        return Material(got["Certificate"], got.get("CertificateChain", ""), key)

    def tagged(self, tag: TagSelector) -> list[ListedCertificate]:
        """Every ISSUED certificate of the account carrying the tag, by ARN."""
        found = []
        for listed in self._issued():
            tags = self._call(
                self._acm, "list_tags_for_certificate", CertificateArn=listed.arn
            ).get("Tags", [])
            if any(t["Key"] == tag.key and t.get("Value", "") == tag.value for t in tags):
                found.append(listed)
        return sorted(found, key=lambda c: c.arn)

    def associate(self, certificate_arn: str, resource_arn: str) -> None:
        self._call(
            self._openacm,
            "associate_certificate",
            CertificateArn=certificate_arn,
            ResourceArn=resource_arn,
        )

    def disassociate(self, certificate_arn: str, resource_arn: str) -> None:
        self._call(
            self._openacm,
            "disassociate_certificate",
            CertificateArn=certificate_arn,
            ResourceArn=resource_arn,
        )

    def _issued(self) -> Iterator[ListedCertificate]:
        params: dict[str, Any] = {
            "CertificateStatuses": ["ISSUED"],
            "Includes": {"keyTypes": KEY_TYPES},
        }
        while True:
            page = self._call(self._acm, "list_certificates", **params)
            for summary in page.get("CertificateSummaryList", []):
                yield ListedCertificate(summary["CertificateArn"], summary.get("DomainName", ""))
            if not page.get("NextToken"):
                return
            params["NextToken"] = page["NextToken"]

    @staticmethod
    def _call(client: Any, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            result: dict[str, Any] = getattr(client, operation)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ApiError(str(error.get("Code")), str(error.get("Message"))) from None
        except BotoCoreError as exc:  # no credentials, connection refused, timeout...
            raise ApiError(type(exc).__name__, str(exc)) from None
        return result


def _session(config: AgentConfig) -> Any:
    import botocore.session

    from openacm.protocol.model import MODELS_PATH

    credentials = config.credentials
    session = botocore.session.Session(profile=credentials.profile)
    if credentials.access_key_id:
        secret = credentials.secret_access_key or os.environ.get(
            credentials.secret_access_key_env or "", ""
        )
        if not secret:
            raise ApiError("ConfigError", f"${credentials.secret_access_key_env} is empty or unset")
        session.set_credentials(credentials.access_key_id, secret, credentials.session_token)
    # openacm's own API is described by a model shipped in the package.
    user_path = session.get_config_variable("data_path")
    session.set_config_variable(
        "data_path", os.pathsep.join(p for p in (str(MODELS_PATH), user_path) if p)
    )
    return session


def _retrying() -> Any:
    from botocore.config import Config

    return Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60
    )


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None
