"""A private CA's settings and operations on its detail page: its certificate signed outside
openacm (the CSR downloaded, the certificate and chain installed), permissions for ACM
(Create/List/DeletePermission), the resource policy (Get/Put/DeletePolicy), the revocation
configuration (CRL and OCSP, UpdateCertificateAuthority), revoking a certificate it issued
(RevokeCertificate) and audit reports (CreateCertificateAuthorityAuditReport, then
DescribeCertificateAuthorityAuditReport and the report's download). All ACM-PCA calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openacm.console.api import ConsoleApiError
from openacm.console.pages import PREFIX, Console, b64, model_enum, redirect, secured
from openacm.console.sessions import Session

PCA = "acm-pca"
# What a permission may allow, the reasons a certificate is revoked for, report formats:
# ACM-PCA's enums, read from its model.
ACTIONS = model_enum(PCA, "ActionType")
PCA_REVOCATION_REASONS = model_enum(PCA, "RevocationReason")
REPORT_FORMATS = model_enum(PCA, "AuditReportResponseFormat")
# ACM's service principal: the permission that lets ACM renew private certificates.
ACM_PRINCIPAL = "acm.amazonaws.com"
# The newest audit reports the page describes.
REPORTS_SHOWN = 10


async def authority_settings(
    console: Console, request: Request, session: Session, arn: str
) -> dict[str, Any]:
    """What the detail page shows of the CA's settings; a part the CA's state (or the key)
    does not allow reading is None, with the API's reason under `<part>_error`."""

    async def read(key: str, operation: str, **params: Any) -> dict[str, Any] | None:
        try:
            return await console.call(request, session, PCA, operation, **params)
        except ConsoleApiError as exc:
            shown[f"{key}_error"] = f"{exc.code}: {exc.message}"
            return None

    shown: dict[str, Any] = {}
    listed = await read("permissions", "ListPermissions", CertificateAuthorityArn=arn)
    shown["permissions"] = None if listed is None else listed.get("Permissions", [])
    policy = await read("policy", "GetPolicy", ResourceArn=arn)
    if policy is None and str(shown.get("policy_error", "")).startswith("ResourceNotFound"):
        shown.pop("policy_error")  # no policy is not an error: the form starts empty
        policy = {"Policy": ""}
    shown["policy"] = None if policy is None else policy.get("Policy", "")
    ctx = console.context(request, session)
    reports = []
    report_ids = await run_in_threadpool(console.direct.audit_report_ids, ctx, arn, REPORTS_SHOWN)
    for report_id in report_ids:
        described = await read(
            "reports",
            "DescribeCertificateAuthorityAuditReport",
            CertificateAuthorityArn=arn,
            AuditReportId=report_id,
        )
        if described is not None:
            reports.append({"AuditReportId": report_id, **described})
    shown["reports"] = reports
    shown.update(
        actions=ACTIONS,
        pca_reasons=PCA_REVOCATION_REASONS,
        report_formats=REPORT_FORMATS,
        acm_principal=ACM_PRINCIPAL,
    )
    return shown


def authority_setting_routes(console: Console) -> list[Route]:
    def action(
        done: str, operation: str, params: Callable[[dict[str, str]], dict[str, Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """A form posted about the CA `arn`: one ACM-PCA call, back to the CA's page."""
        return console.form_action(
            PCA,
            operation,
            params,
            done,
            lambda f, _: redirect("/private-cas/detail", arn=f.get("arn", "")),
        )

    async def csr(request: Request, session: Session) -> Response:
        """The CA's CSR as a file, to be signed by a CA outside openacm."""
        arn = request.query_params.get("arn", "")
        try:
            answer = await console.call(
                request, session, PCA, "GetCertificateAuthorityCsr", CertificateAuthorityArn=arn
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/private-cas/detail", arn=arn)
        response = Response(str(answer["Csr"]), media_type="application/pkcs10")
        name = arn.rsplit("/", 1)[-1]
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.csr"'
        return secured(response)

    base = f"{PREFIX}/private-cas"
    routes = {
        "permissions": action("Permission granted.", "CreatePermission", _permission),
        "permissions/delete": action(
            "Permission removed.", "DeletePermission", _permission_to_delete
        ),
        "policy": action(
            "Policy saved.",
            "PutPolicy",
            lambda f: {"ResourceArn": f.get("arn", ""), "Policy": f.get("policy", "").strip()},
        ),
        "policy/delete": action(
            "Policy deleted.", "DeletePolicy", lambda f: {"ResourceArn": f.get("arn", "")}
        ),
        "revocation": action(
            "Revocation configuration saved.", "UpdateCertificateAuthority", _revocation
        ),
        "revoke": action(
            "Certificate revoked.",
            "RevokeCertificate",
            lambda f: {
                "CertificateAuthorityArn": f.get("arn", ""),
                "CertificateSerial": f.get("serial", "").strip(),
                "RevocationReason": f.get("reason", ""),
            },
        ),
        "install-external": action(
            "CA certificate installed.", "ImportCertificateAuthorityCertificate", _external
        ),
        "audit-reports": action(
            "Audit report requested: it is listed below once created.",
            "CreateCertificateAuthorityAuditReport",
            lambda f: {
                "CertificateAuthorityArn": f.get("arn", ""),
                "S3BucketName": f.get("bucket", "").strip(),
                "AuditReportResponseFormat": f.get("format", ""),
            },
        ),
    }
    return [
        Route(f"{base}/csr", console.page(csr), methods=["GET"]),
        *(Route(f"{base}/{path}", handler, methods=["POST"]) for path, handler in routes.items()),
    ]


def _permission(form: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "CertificateAuthorityArn": form.get("arn", ""),
        "Principal": form.get("principal", "").strip() or ACM_PRINCIPAL,
        "Actions": [a for a in ACTIONS if form.get(f"action_{a}") == "1"],
    }
    if form.get("source_account", "").strip():
        params["SourceAccount"] = form["source_account"].strip()
    return params


def _permission_to_delete(form: dict[str, str]) -> dict[str, Any]:
    params = {"CertificateAuthorityArn": form.get("arn", ""), "Principal": form.get("principal")}
    if form.get("source_account"):
        params["SourceAccount"] = form["source_account"]
    return params


def _external(form: dict[str, str]) -> dict[str, Any]:
    """A CA certificate signed outside openacm, with the chain above it (a root's has none)."""
    params = {
        "CertificateAuthorityArn": form.get("arn", ""),
        "Certificate": b64(form.get("certificate", "").strip() + "\n"),
    }
    if form.get("chain", "").strip():
        params["CertificateChain"] = b64(form["chain"].strip() + "\n")
    return params


def _revocation(form: dict[str, str]) -> dict[str, Any]:
    crl: dict[str, Any] = {"Enabled": form.get("crl") == "1"}
    if crl["Enabled"]:
        days = form.get("crl_days", "").strip()
        if days:
            if not days.isdigit():
                raise ValueError("The CRL validity is a number of days.")
            crl["ExpirationInDays"] = int(days)
        for field, member in (("crl_cname", "CustomCname"), ("crl_bucket", "S3BucketName")):
            if form.get(field, "").strip():
                crl[member] = form[field].strip()
    ocsp: dict[str, Any] = {"Enabled": form.get("ocsp") == "1"}
    if ocsp["Enabled"] and form.get("ocsp_cname", "").strip():
        ocsp["OcspCustomCname"] = form["ocsp_cname"].strip()
    return {
        "CertificateAuthorityArn": form.get("arn", ""),
        "RevocationConfiguration": {"CrlConfiguration": crl, "OcspConfiguration": ocsp},
    }
