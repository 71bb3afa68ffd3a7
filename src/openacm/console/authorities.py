"""The console's private CA pages: list and detail."""

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
            tags = await console.call(
                request, session, "acm-pca", "ListTags", CertificateAuthorityArn=arn
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/private-cas")
        return console.render(
            request,
            "authority.html",
            session,
            ca=answer["CertificateAuthority"],
            tags=tags.get("Tags", []),
        )

    p = console.page
    return [
        Route(f"{PREFIX}/private-cas", p(listing), methods=["GET"]),
        Route(f"{PREFIX}/private-cas/detail", p(detail), methods=["GET"]),
    ]
