"""The console's private CA pages: list and detail, create, install the CA certificate,
disable/enable, delete and restore."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openacm.console.api import ConsoleApiError
from openacm.console.authority_settings import authority_setting_routes, authority_settings
from openacm.console.pages import PREFIX, Console, b64, redirect
from openacm.console.sessions import Session
from openacm.protocol.partitions import partition_for_region

KEY_ALGORITHMS = ["RSA_2048", "RSA_4096", "EC_prime256v1", "EC_secp384r1"]
# The signing algorithm that goes with each key algorithm.
SIGNING_FOR_KEY = {
    "RSA_2048": "SHA256WITHRSA",
    "RSA_4096": "SHA512WITHRSA",
    "EC_prime256v1": "SHA256WITHECDSA",
    "EC_secp384r1": "SHA384WITHECDSA",
}
# How long to wait for IssueCertificate's certificate to be retrievable.
ISSUE_WAIT_SECONDS = 30.0


def authority_routes(console: Console) -> list[Route]:
    async def listing(request: Request, session: Session) -> Response:
        error = None
        authorities = []
        try:
            answer = await console.call(request, session, "acm-pca", "ListCertificateAuthorities")
            authorities = answer.get("CertificateAuthorities", [])
        except ConsoleApiError as exc:
            error = exc.message
        return console.render(
            request, "authorities.html", session, authorities=authorities, error=error
        )

    async def detail(request: Request, session: Session) -> Response:
        arn = request.query_params.get("arn", "")
        try:
            answer = await console.call(
                request,
                session,
                "acm-pca",
                "DescribeCertificateAuthority",
                CertificateAuthorityArn=arn,
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/private-cas")
        tags: list[dict[str, str]] | None = None
        try:
            listed = await console.call(
                request, session, "acm-pca", "ListTags", CertificateAuthorityArn=arn
            )
            tags = listed.get("Tags", [])
        except ConsoleApiError:
            pass  # a CA pending deletion has no tags to show (ACM-PCA refuses ListTags)
        ca = answer["CertificateAuthority"]
        parents: list[dict[str, Any]] = []
        if ca.get("Status") == "PENDING_CERTIFICATE" and ca.get("Type") == "SUBORDINATE":
            listed = await console.call(request, session, "acm-pca", "ListCertificateAuthorities")
            parents = [
                a
                for a in listed.get("CertificateAuthorities", [])
                if a["Status"] == "ACTIVE" and a["Arn"] != arn
            ]
        settings = await authority_settings(console, request, session, arn)
        return console.render(
            request, "authority.html", session, ca=ca, tags=tags, parents=parents, **settings
        )

    async def change(request: Request, session: Session) -> Response:
        """Disable, enable, delete (pending deletion) or restore the form's CA."""
        form = await console.form_of(request, session)
        arn = form.get("arn", "")
        action = form.get("action", "")
        try:
            if action in ("DISABLED", "ACTIVE"):
                await console.call(
                    request,
                    session,
                    "acm-pca",
                    "UpdateCertificateAuthority",
                    CertificateAuthorityArn=arn,
                    Status=action,
                )
            elif action == "delete":
                await console.call(
                    request,
                    session,
                    "acm-pca",
                    "DeleteCertificateAuthority",
                    CertificateAuthorityArn=arn,
                    PermanentDeletionTimeInDays=_days(form.get("days", "")),
                )
            elif action == "restore":
                await console.call(
                    request,
                    session,
                    "acm-pca",
                    "RestoreCertificateAuthority",
                    CertificateAuthorityArn=arn,
                )
            else:
                session.flashes.append(("error", "Unknown action."))
                return redirect("/private-cas/detail", arn=arn)
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/private-cas/detail", arn=arn)
        session.flashes.append(("ok", _DONE[action]))
        return redirect("/private-cas/detail", arn=arn)

    async def create_form(request: Request, session: Session) -> Response:
        return console.render(
            request, "authority_create.html", session, key_algorithms=KEY_ALGORITHMS
        )

    async def create(request: Request, session: Session) -> Response:
        form = await console.form_of(request, session)
        key = form.get("key_algorithm", "")
        subject = {
            name: form[field].strip()
            for field, name in (
                ("common_name", "CommonName"),
                ("organization", "Organization"),
                ("organizational_unit", "OrganizationalUnit"),
                ("country", "Country"),
            )
            if form.get(field, "").strip()
        }
        try:
            answer = await console.call(
                request,
                session,
                "acm-pca",
                "CreateCertificateAuthority",
                CertificateAuthorityType="SUBORDINATE"
                if form.get("type") == "SUBORDINATE"
                else "ROOT",
                CertificateAuthorityConfiguration={
                    "KeyAlgorithm": key,
                    "SigningAlgorithm": SIGNING_FOR_KEY.get(key, "SHA256WITHRSA"),
                    "Subject": subject,
                },
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/private-cas/create")
        arn = answer["CertificateAuthorityArn"]
        session.flashes.append(("ok", "CA created: install its certificate to activate it."))
        return redirect("/private-cas/detail", arn=arn)

    async def install(request: Request, session: Session) -> Response:
        """Install the CA's certificate the way the AWS console does, as the API calls a CLI
        user would make: sign the CA's CSR, by itself (a root) or by a parent CA of the
        account (a subordinate), then import the result."""
        form = await console.form_of(request, session)
        arn = form.get("arn", "")
        parent = form.get("parent", "").strip()
        years = form.get("years", "").strip()
        try:
            await _install(
                console, request, session, arn, parent, int(years) if years.isdigit() else 0
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/private-cas/detail", arn=arn)
        session.flashes.append(("ok", "CA certificate installed."))
        return redirect("/private-cas/detail", arn=arn)

    p = console.page
    return [
        Route(f"{PREFIX}/private-cas/create", p(create_form), methods=["GET"]),
        Route(f"{PREFIX}/private-cas/create", p(create), methods=["POST"]),
        Route(f"{PREFIX}/private-cas/install", p(install), methods=["POST"]),
        Route(f"{PREFIX}/private-cas", p(listing), methods=["GET"]),
        Route(f"{PREFIX}/private-cas/detail", p(detail), methods=["GET"]),
        Route(f"{PREFIX}/private-cas/change", p(change), methods=["POST"]),
        *authority_setting_routes(console),
    ]


_DONE = {
    "DISABLED": "CA disabled.",
    "ACTIVE": "CA enabled.",
    "delete": "CA scheduled for deletion.",
    "restore": "CA restored.",
}


def _days(text: str) -> int:
    """The restore period asked for; the API itself refuses values outside 7–30."""
    return int(text) if text.strip().isdigit() else 30


async def _install(
    console: Console, request: Request, session: Session, arn: str, parent: str, years: int
) -> None:
    async def pca(operation: str, **params: Any) -> dict[str, Any]:
        return await console.call(request, session, "acm-pca", operation, **params)

    csr = (await pca("GetCertificateAuthorityCsr", CertificateAuthorityArn=arn))["Csr"]
    issuer = parent or arn
    described = await pca("DescribeCertificateAuthority", CertificateAuthorityArn=issuer)
    config = described["CertificateAuthority"]["CertificateAuthorityConfiguration"]
    partition = partition_for_region(session.signer.region) or "aws"
    template = "SubordinateCACertificate_PathLen0/V1" if parent else "RootCACertificate/V1"
    issued = await pca(
        "IssueCertificate",
        CertificateAuthorityArn=issuer,
        Csr=b64(csr),
        SigningAlgorithm=config["SigningAlgorithm"],
        TemplateArn=f"arn:{partition}:acm-pca:::template/{template}",
        Validity={"Type": "YEARS", "Value": years},
    )
    certificate = await _issued(pca, issuer, issued["CertificateArn"])
    params: dict[str, Any] = {"CertificateAuthorityArn": arn, "Certificate": b64(certificate)}
    if parent:
        # The parent's own certificate and chain, up to its root: the new CA's chain.
        above = await pca("GetCertificateAuthorityCertificate", CertificateAuthorityArn=parent)
        chain = "\n".join(
            part.strip()
            for part in (above["Certificate"], above.get("CertificateChain", ""))
            if part
        )
        params["CertificateChain"] = base64.b64encode(chain.encode() + b"\n").decode()
    await pca("ImportCertificateAuthorityCertificate", **params)


async def _issued(pca: Any, issuer: str, certificate_arn: str) -> str:
    """IssueCertificate's certificate, once it can be retrieved (issuance is asynchronous)."""
    deadline = time.monotonic() + ISSUE_WAIT_SECONDS
    while True:
        try:
            got = await pca(
                "GetCertificate", CertificateAuthorityArn=issuer, CertificateArn=certificate_arn
            )
            return str(got["Certificate"])
        except ConsoleApiError as exc:
            if exc.code != "RequestInProgressException" or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)
