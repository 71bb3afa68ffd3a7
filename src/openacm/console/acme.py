"""The console's ACME pages: the account's ACME endpoints (ListAcmeEndpoints, create, detail,
update, delete) and, on an endpoint's page, the ACME accounts registered with it
(ListAcmeAccounts, RevokeAcmeAccount), its external account bindings (create, credentials
shown once, revoke, delete) and its domain validations (create, the CNAME to publish, scope
update, delete). All ACM calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openacm.console.api import ConsoleApiError
from openacm.console.pages import PREFIX, Console, model_enum, records_csv, redirect
from openacm.console.sessions import Session
from openacm.protocol.model import ApiModel

# The choices the forms offer: ACM's enums, read from its model.
KEY_ALGORITHMS = model_enum("acm", "PublicKeyAlgorithm")
CONTACTS = model_enum("acm", "AcmeContact")
AUTHORIZATION_BEHAVIORS = model_enum("acm", "AcmeAuthorizationBehavior")
EXPIRATION_TYPES = model_enum("acm", "TimeType")
# The members of a domain validation's DomainScope (each ENABLED or DISABLED).
DOMAIN_SCOPES = list(ApiModel.load("acm").service_model.shape_for("DomainScope").members)
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
        return await detail_page(request, session, request.query_params.get("arn", ""))

    async def detail_page(
        request: Request,
        session: Session,
        arn: str,
        credentials: dict[str, str] | None = None,
    ) -> Response:
        """The endpoint's page; with the `credentials` of a binding just fetched, shown on
        this answer only (the page is no-store)."""
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
        bindings, bindings_error = await _listed(
            acme,
            "ListAcmeExternalAccountBindings",
            "ExternalAccountBindings",
            request,
            session,
            arn,
        )
        validations, validations_error = await _listed(
            acme, "ListAcmeDomainValidations", "AcmeDomainValidations", request, session, arn
        )
        return console.render(
            request,
            "acme_endpoint.html",
            session,
            endpoint=endpoint,
            arn=arn,
            accounts=accounts,
            next_token=next_token,
            accounts_error=accounts_error,
            bindings=bindings,
            bindings_error=bindings_error,
            validations=validations,
            validations_error=validations_error,
            credentials=credentials,
            **_choices(),
        )

    async def credentials(request: Request, session: Session) -> Response:
        """GetAcmeExternalAccountBindingCredentials. The answer is the endpoint's page with
        the key id and MAC key on it, not a redirect: they are shown this once and kept in no
        session, as an access key's secret is."""
        form = await console.form_of(request, session)
        arn = form.get("arn", "")
        binding = form.get("binding", "")
        try:
            answer = await acme(
                "GetAcmeExternalAccountBindingCredentials",
                request,
                session,
                AcmeExternalAccountBindingArn=binding,
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/acme-endpoints/detail", arn=arn)
        shown = {"binding": binding, "KeyId": answer["KeyId"], "MacKey": answer["MacKey"]}
        return await detail_page(request, session, arn, shown)

    async def validation_csv(request: Request, session: Session) -> Response:
        """The endpoint's domain validation CNAMEs as CSV, the columns of a certificate's."""
        arn = request.query_params.get("arn", "")
        validations, error = await _listed(
            acme, "ListAcmeDomainValidations", "AcmeDomainValidations", request, session, arn
        )
        if error:
            session.flashes.append(("error", error))
            return redirect("/acme-endpoints")
        records = []
        for v in validations:
            dns = v.get("PrevalidationDetails", {}).get("DnsPrevalidation", {})
            if "ResourceRecord" in dns:
                records.append((v["DomainName"], dns["ResourceRecord"]))
        return records_csv(records, arn.rsplit("/", 1)[-1])

    def action(
        operation: str,
        done: str,
        params_of: Callable[[dict[str, str]], dict[str, Any]],
        *,
        gone: bool = False,
        on_endpoint: bool = True,
    ) -> Callable[[Request], Awaitable[Response]]:
        """A form about the endpoint `arn`: one ACM call, back to the endpoint's page (to the
        list once it is `gone`). The call names the endpoint unless it is `on_endpoint=False`
        (an operation on one of its bindings or domain validations)."""

        def back(form: dict[str, str], succeeded: bool) -> Response:
            if gone and succeeded:
                return redirect("/acme-endpoints")
            return redirect("/acme-endpoints/detail", arn=form.get("arn", ""))

        return console.form_action(
            "acm",
            operation,
            lambda f: ({"AcmeEndpointArn": f.get("arn", "")} if on_endpoint else {}) | params_of(f),
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
        # External account bindings.
        Route(
            f"{base}/bindings/create",
            action("CreateAcmeExternalAccountBinding", "Binding created.", _binding),
            methods=["POST"],
        ),
        Route(f"{base}/bindings/credentials", p(credentials), methods=["POST"]),
        Route(
            f"{base}/bindings/revoke",
            action(
                "RevokeAcmeExternalAccountBinding",
                "Binding revoked.",
                _binding_arn,
                on_endpoint=False,
            ),
            methods=["POST"],
        ),
        Route(
            f"{base}/bindings/delete",
            action(
                "DeleteAcmeExternalAccountBinding",
                "Binding deleted.",
                _binding_arn,
                on_endpoint=False,
            ),
            methods=["POST"],
        ),
        # Domain validations.
        Route(f"{base}/domain-validations.csv", p(validation_csv), methods=["GET"]),
        Route(
            f"{base}/domain-validations/create",
            action(
                "CreateAcmeDomainValidation",
                "Domain validation created: publish its CNAME record.",
                lambda f: {"DomainName": f.get("domain", "").strip(), **_prevalidation(f)},
            ),
            methods=["POST"],
        ),
        Route(
            f"{base}/domain-validations/update",
            action(
                "UpdateAcmeDomainValidation",
                "Domain validation updated.",
                lambda f: {"AcmeDomainValidationArn": f.get("validation", ""), **_prevalidation(f)},
                on_endpoint=False,
            ),
            methods=["POST"],
        ),
        Route(
            f"{base}/domain-validations/delete",
            action(
                "DeleteAcmeDomainValidation",
                "Domain validation deleted.",
                lambda f: {"AcmeDomainValidationArn": f.get("validation", "")},
                on_endpoint=False,
            ),
            methods=["POST"],
        ),
    ]


async def _listed(
    acme: Callable[..., Awaitable[Any]],
    operation: str,
    member: str,
    request: Request,
    session: Session,
    arn: str,
) -> tuple[list[dict[str, Any]], str | None]:
    """The first page (100) of one of the endpoint's lists, or the error that refused it."""
    try:
        answer = await acme(operation, request, session, AcmeEndpointArn=arn, MaxResults=PAGE_SIZE)
    except ConsoleApiError as exc:
        return [], f"{exc.code}: {exc.message}"
    return answer.get(member, []), None


def _binding(form: dict[str, str]) -> dict[str, Any]:
    """CreateAcmeExternalAccountBinding's role and optional expiration."""
    params: dict[str, Any] = {"RoleArn": form.get("role_arn", "").strip()}
    value = form.get("expiration_value", "").strip()
    if value:
        if not value.isdigit():
            raise ValueError("The expiration is a whole number of minutes, hours or days.")
        params["Expiration"] = {"Value": int(value), "Type": form.get("expiration_type", "")}
    return params


def _binding_arn(form: dict[str, str]) -> dict[str, Any]:
    return {"AcmeExternalAccountBindingArn": form.get("binding", "")}


def _prevalidation(form: dict[str, str]) -> dict[str, Any]:
    """A domain validation's DNS prevalidation options: each scope checked or not, and the
    hosted zone id when one is given."""
    scope = {s: "ENABLED" if form.get(f"scope_{s}") == "1" else "DISABLED" for s in DOMAIN_SCOPES}
    options: dict[str, Any] = {"DomainScope": scope}
    if form.get("hosted_zone_id", "").strip():
        options["HostedZoneId"] = form["hosted_zone_id"].strip()
    return {"PrevalidationOptions": {"DnsPrevalidation": options}}


def _choices() -> dict[str, Any]:
    return {
        "key_algorithms": KEY_ALGORITHMS,
        "contacts": CONTACTS,
        "behaviors": AUTHORIZATION_BEHAVIORS,
        "expiration_types": EXPIRATION_TYPES,
        "domain_scopes": DOMAIN_SCOPES,
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
