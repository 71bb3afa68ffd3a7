"""The console's import page: paste or upload the PEM certificate, key and chain, check them
against the import rules, then import (or reimport onto an existing certificate).

**Check** runs the very functions ImportCertificate runs (domain/x509facts.parse_import, and
check_reimport against the certificate being replaced) and shows what would be imported or
why it would be refused, without importing; **Import** is the API's ImportCertificate, which
checks again. Uploaded files are read into the text fields, so a checked form imports what
was checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openacm.console.api import ConsoleApiError
from openacm.console.pages import PREFIX, Console, b64, redirect
from openacm.console.sessions import Session
from openacm.domain.errors import ApiError
from openacm.domain.x509facts import (
    CertificateFacts,
    ImportMaterial,
    certificate_facts,
    check_reimport,
    parse_import,
)

# The form's PEM fields; each may come pasted, or uploaded as `<field>_file`.
PEM_FIELDS = ("certificate", "private_key", "chain")


@dataclass(frozen=True)
class ImportCheck:
    """The outcome of checking a form: the material it would import, or the refusal."""

    material: ImportMaterial | None
    error: str | None

    def summary(self) -> list[tuple[str, str]]:
        if self.material is None:
            return []
        facts = self.material.facts
        return [
            ("Domain name", facts.domain_name or "-"),
            ("Additional names", ", ".join(facts.subject_alternative_names) or "-"),
            ("Subject", facts.subject),
            ("Issuer", facts.issuer),
            ("Key algorithm", facts.key_algorithm),
            ("Not before", f"{facts.not_before:%Y-%m-%d %H:%M:%S} UTC"),
            ("Not after", f"{facts.not_after:%Y-%m-%d %H:%M:%S} UTC"),
            ("Chain", f"{len(self.material.chain)} certificate(s)"),
        ]


def check_import(pem: dict[str, str], original: CertificateFacts | None, now: float) -> ImportCheck:
    """ImportCertificate's own checks on the form's PEM, plus the reimport rules against
    `original` when replacing a certificate."""
    try:
        material = parse_import(
            pem["certificate"].encode(),
            pem["private_key"].encode(),
            pem["chain"].encode() if pem["chain"].strip() else None,
            now=datetime.fromtimestamp(now, UTC),
        )
        if original is not None:
            check_reimport(original, material.facts)
    except ApiError as error:
        return ImportCheck(None, f"{error.code}: {error.message}")
    return ImportCheck(material, None)


def pem_of(form: dict[str, str]) -> dict[str, str]:
    """The form's PEM texts: an uploaded file wins over its pasted field."""
    return {
        field: form.get(f"{field}_file", "").strip() or form.get(field, "").strip()
        for field in PEM_FIELDS
    }


def import_routes(console: Console) -> list[Route]:
    async def current_facts(
        request: Request, session: Session, arn: str
    ) -> tuple[CertificateFacts | None, str | None]:
        """The facts of the certificate a reimport replaces (GetCertificate), or why it
        cannot be read."""
        try:
            got = await console.call(request, session, "acm", "GetCertificate", CertificateArn=arn)
        except ConsoleApiError as exc:
            return None, f"{exc.code}: {exc.message}"
        cert = x509.load_pem_x509_certificate(str(got["Certificate"]).encode())
        return certificate_facts(cert), None

    def page(
        request: Request,
        session: Session,
        arn: str,
        pem: dict[str, str] | None = None,
        check: ImportCheck | None = None,
        status: int = 200,
    ) -> Response:
        return console.render(
            request,
            "import.html",
            session,
            status=status,
            arn=arn,
            pem=pem or dict.fromkeys(PEM_FIELDS, ""),
            check=check,
        )

    async def show(request: Request, session: Session) -> Response:
        return page(request, session, request.query_params.get("arn", ""))

    async def submit(request: Request, session: Session) -> Response:
        form = await console.form_of(request, session)
        arn = form.get("arn", "").strip()
        pem = pem_of(form)
        if form.get("step") == "check":
            original = None
            if arn:
                original, error = await current_facts(request, session, arn)
                if error:
                    return page(request, session, arn, pem, ImportCheck(None, error), 400)
            ctx = console.context(request, session)
            check = check_import(pem, original, ctx.now)
            return page(request, session, arn, pem, check, 200 if check.material else 400)
        params: dict[str, Any] = {
            "Certificate": b64(pem["certificate"]),
            "PrivateKey": b64(pem["private_key"]),
        }
        if pem["chain"]:
            params["CertificateChain"] = b64(pem["chain"])
        if arn:
            params["CertificateArn"] = arn
        try:
            answer = await console.call(request, session, "acm", "ImportCertificate", **params)
        except ConsoleApiError as exc:
            refusal = ImportCheck(None, f"{exc.code}: {exc.message}")
            return page(request, session, arn, pem, refusal, 400)
        session.flashes.append(
            ("ok", "Certificate reimported." if arn else "Certificate imported.")
        )
        return redirect("/certificates/detail", arn=answer["CertificateArn"])

    p = console.page
    return [
        Route(f"{PREFIX}/certificates/import", p(show), methods=["GET"]),
        Route(f"{PREFIX}/certificates/import", p(submit), methods=["POST"]),
    ]
