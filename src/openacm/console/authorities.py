"""The console's private CA pages: list and detail, disable/enable, delete and restore."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openacm.console.api import ConsoleApiError
from openacm.console.pages import PREFIX, Console, redirect
from openacm.console.sessions import Session


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
        return console.render(
            request, "authority.html", session, ca=answer["CertificateAuthority"], tags=tags
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

    p = console.page
    return [
        Route(f"{PREFIX}/private-cas", p(listing), methods=["GET"]),
        Route(f"{PREFIX}/private-cas/detail", p(detail), methods=["GET"]),
        Route(f"{PREFIX}/private-cas/change", p(change), methods=["POST"]),
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
