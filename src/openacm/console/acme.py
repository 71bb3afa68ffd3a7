"""The console's ACME pages: the account's ACME endpoints (ListAcmeEndpoints, create, detail,
update, delete) and, on an endpoint's page, the ACME accounts registered with it
(ListAcmeAccounts, RevokeAcmeAccount). All ACM calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openacm.console.api import ConsoleApiError
from openacm.console.pages import PREFIX, Console, model_enum, redirect
from openacm.console.sessions import Session

# The choices the forms offer: ACM's enums, read from its model.
KEY_ALGORITHMS = model_enum("acm", "PublicKeyAlgorithm")
CONTACTS = model_enum("acm", "AcmeContact")
AUTHORIZATION_BEHAVIORS = model_enum("acm", "AcmeAuthorizationBehavior")
PAGE_SIZE = 100


def acme_routes(console: Console) -> list[Route]:
    async def acme(operation: str, request: Request, session: Session, **params: Any) -> Any:
        return await console.call(request, session, "acm", operation, **params)

    async def listing(request: Request, session: Session) -> Response:
        params: dict[str, Any] = {"MaxResults": PAGE_SIZE}
        if request.query_params.get("next"):
            params["NextToken"] = request.query_params["next"]
        error, endpoints, next_token = None, [], None
        try:
            answer = await acme("ListAcmeEndpoints", request, session, **params)
            endpoints, next_token = answer.get("AcmeEndpoints", []), answer.get("NextToken")
        except ConsoleApiError as exc:
            error = f"{exc.code}: {exc.message}"
        return console.render(
            request,
            "acme_endpoints.html",
            session,
            endpoints=endpoints,
            next_token=next_token,
            error=error,
        )

    async def create_form(request: Request, session: Session) -> Response:
        return console.render(request, "acme_endpoint_create.html", session, **_choices())

    async def create(request: Request, session: Session) -> Response:
        form = await console.form_of(request, session)
        params = _settings(form)
        params["AuthorizationBehavior"] = form.get("behavior", "")
        tags = _tags(form.get("certificate_tags", ""))
        if tags:
            params["CertificateTags"] = tags
        try:
            answer = await acme("CreateAcmeEndpoint", request, session, **params)
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/acme-endpoints/create")
        session.flashes.append(("ok", "ACME endpoint created."))
        return redirect("/acme-endpoints/detail", arn=answer["AcmeEndpointArn"])

    async def detail(request: Request, session: Session) -> Response:
        arn = request.query_params.get("arn", "")
        try:
            endpoint = (await acme("DescribeAcmeEndpoint", request, session, AcmeEndpointArn=arn))[
                "AcmeEndpoint"
            ]
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/acme-endpoints")
        params: dict[str, Any] = {"AcmeEndpointArn": arn, "MaxResults": PAGE_SIZE}
        if request.query_params.get("next"):
            params["NextToken"] = request.query_params["next"]
        accounts, next_token, accounts_error = [], None, None
        try:
            answer = await acme("ListAcmeAccounts", request, session, **params)
            accounts, next_token = answer.get("AcmeAccounts", []), answer.get("NextToken")
        except ConsoleApiError as exc:
            accounts_error = f"{exc.code}: {exc.message}"
        return console.render(
            request,
            "acme_endpoint.html",
            session,
            endpoint=endpoint,
            arn=arn,
            accounts=accounts,
            next_token=next_token,
            accounts_error=accounts_error,
            **_choices(),
        )

    def action(
        operation: str,
        done: str,
        params_of: Callable[[dict[str, str]], dict[str, Any]],
        *,
        gone: bool = False,
    ) -> Callable[[Request], Awaitable[Response]]:
        """A form about the endpoint `arn`: one ACM call, back to the endpoint's page (to the
        list once it is `gone`)."""

        def back(form: dict[str, str], succeeded: bool) -> Response:
            if gone and succeeded:
                return redirect("/acme-endpoints")
            return redirect("/acme-endpoints/detail", arn=form.get("arn", ""))

        return console.form_action(
            "acm",
            operation,
            lambda f: {"AcmeEndpointArn": f.get("arn", ""), **params_of(f)},
            done,
            back,
        )

    p = console.page
    base = f"{PREFIX}/acme-endpoints"
    return [
        Route(base, p(listing), methods=["GET"]),
        Route(f"{base}/create", p(create_form), methods=["GET"]),
        Route(f"{base}/create", p(create), methods=["POST"]),
        Route(f"{base}/detail", p(detail), methods=["GET"]),
        Route(
            f"{base}/update",
            action("UpdateAcmeEndpoint", "ACME endpoint updated.", _settings),
            methods=["POST"],
        ),
        Route(
            f"{base}/delete",
            action("DeleteAcmeEndpoint", "ACME endpoint deleted.", lambda f: {}, gone=True),
            methods=["POST"],
        ),
        Route(
            f"{base}/revoke-account",
            action(
                "RevokeAcmeAccount",
                "ACME account revoked.",
                lambda f: {"AccountUrl": f.get("account_url", "")},
            ),
            methods=["POST"],
        ),
    ]


def _choices() -> dict[str, Any]:
    return {
        "key_algorithms": KEY_ALGORITHMS,
        "contacts": CONTACTS,
        "behaviors": AUTHORIZATION_BEHAVIORS,
    }


def _settings(form: dict[str, str]) -> dict[str, Any]:
    """What create and update share: contact and the key algorithms the CA accepts."""
    algorithms = [a for a in KEY_ALGORITHMS if form.get(f"algorithm_{a}") == "1"]
    return {
        "Contact": form.get("contact", ""),
        "CertificateAuthority": {
            "PublicCertificateAuthority": {"AllowedKeyAlgorithms": algorithms}
        },
    }


def _tags(text: str) -> list[dict[str, str]]:
    """`key=value` lines (a line without `=` is a key without a value)."""
    tags = []
    for line in text.splitlines():
        if line.strip():
            key, sep, value = line.partition("=")
            tags.append({"Key": key.strip(), **({"Value": value.strip()} if sep else {})})
    return tags
