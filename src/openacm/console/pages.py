"""The web console at /console/: server-rendered pages over the same API as the CLI.

Every page and action is an API call made by `ApiClient` with the session's key, so the
console can do exactly what that key may do through the API, and each action is audited as
the API call it is. Forms are plain HTML posts (no script at all, so the CSP forbids every
script) protected by a per-session synchronizer token; pages follow post/redirect/get.
"""

from __future__ import annotations

import base64
import csv
import io
import ipaddress
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from openacm.config import DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY
from openacm.console.api import ApiClient, ConsoleApiError, Origin, Signer
from openacm.console.direct import DirectServices
from openacm.console.sessions import SESSION_COOKIE, Session, SessionStore
from openacm.console.throttle import SignInThrottle
from openacm.domain.errors import AccessDeniedError
from openacm.protocol.model import ApiModel
from openacm.protocol.partitions import partition_for_region
from openacm.services.context import CallContext

PREFIX = "/console"
SIGN_IN_COOKIE = "openacm_console_signin"
DEFAULT_REGION = "us-east-1"
# No script, no frames, no foreign anything: the pages are HTML and one stylesheet.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
# The statuses and key types the list can filter on (ACM's enums).
STATUSES = [
    "PENDING_VALIDATION",
    "ISSUED",
    "INACTIVE",
    "EXPIRED",
    "VALIDATION_TIMED_OUT",
    "REVOKED",
    "FAILED",
]
# Every key type: the console lists all certificates, not ListCertificates' RSA-only default.
KEY_TYPES = [
    "RSA_1024",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_prime256v1",
    "EC_secp384r1",
    "EC_secp521r1",
]
PAGE_SIZES = [10, 25, 50, 100, 500]
# The reasons RevokeCertificate accepts: ACM's enum without its misspelled SUPERCEDED alias and
# the two it refuses (CERTIFICATE_HOLD, REMOVE_FROM_CRL; services/acm/revocation.py).
REVOCATION_REASONS = [
    "UNSPECIFIED",
    "KEY_COMPROMISE",
    "CA_COMPROMISE",
    "AFFILIATION_CHANGED",
    "SUPERSEDED",
    "CESSATION_OF_OPERATION",
    "PRIVILEGE_WITHDRAWN",
    "A_A_COMPROMISE",
]
# The largest console form (a request's names) is a few KiB; anything larger is not ours.
MAX_FORM_BYTES = 64 * 1024
# A multipart form: the import page's three PEM files and its fields.
MAX_UPLOAD_BYTES = 4 * MAX_FORM_BYTES
# Errors meaning the session's key no longer signs in: the session ends.
_SIGNED_OUT_CODES = {"UnrecognizedClientException", "InvalidSignatureException"}

_ENV = Environment(
    loader=PackageLoader("openacm.console", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",)),
    undefined=StrictUndefined,
)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_ENV.filters["when"] = _when
_STYLESHEET = files("openacm.console").joinpath("static/console.css").read_bytes()


class SignedOut(Exception):
    """Raised by a page whose session is gone: the answer is the sign-in page."""


class Console:
    def __init__(
        self,
        api: ApiClient,
        sessions: SessionStore,
        direct: DirectServices,
        throttle: SignInThrottle,
        *,
        dev: bool,
    ) -> None:
        self.api = api
        self.sessions = sessions
        self.direct = direct
        self.throttle = throttle
        self.dev = dev

    # -- plumbing -------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        status: int = 200,
        **context: Any,
    ) -> Response:
        flashes = list(session.flashes) if session else []
        if session:
            session.flashes.clear()
        html = _ENV.get_template(template).render(
            prefix=PREFIX,
            session=session,
            csrf=session.csrf if session else "",
            flashes=flashes,
            **context,
        )
        return secured(HTMLResponse(html, status_code=status))

    async def call(
        self, request: Request, session: Session, service: str, operation: str, **params: Any
    ) -> dict[str, Any]:
        try:
            return await self.api.call(
                service, operation, params, session.signer, origin_of(request)
            )
        except ConsoleApiError as error:
            if error.code in _SIGNED_OUT_CODES:
                self.sessions.drop(session.id)
                raise SignedOut from error
            raise

    def context(self, request: Request, session: Session) -> CallContext:
        """The signed-in principal's call context, for the services the console calls
        without an API operation (console/direct.py)."""
        ctx = self.direct.context(session.signer, origin_of(request))
        if ctx is None:
            self.sessions.drop(session.id)
            raise SignedOut
        return ctx

    def form_action(
        self,
        service: str,
        operation: str,
        params_of: Callable[[dict[str, str]], dict[str, Any]],
        done: str,
        back: Callable[[dict[str, str], bool], Response],
    ) -> Callable[[Request], Awaitable[Response]]:
        """A signed-in form that is one API call: the call's parameters read from the form
        (ValueError when the form cannot make them), its outcome flashed, then `back(form,
        succeeded)`, the page to show next."""

        async def handler(request: Request, session: Session) -> Response:
            form = await self.form_of(request, session)
            try:
                await self.call(request, session, service, operation, **params_of(form))
            except ConsoleApiError as exc:
                session.flashes.append(("error", f"{exc.code}: {exc.message}"))
                return back(form, False)
            except ValueError as exc:  # the form itself is unusable
                session.flashes.append(("error", str(exc)))
                return back(form, False)
            session.flashes.append(("ok", done))
            return back(form, True)

        return self.page(handler)

    def end(self, session: Session) -> Response:
        """End the session (its file deleted, its cookie cleared): the answer is sign-in."""
        self.sessions.drop(session.id)
        session.ended = True
        response = redirect("/sign-in")
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, secure=True, httponly=True)
        return response

    def session_of(self, request: Request) -> Session:
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise SignedOut
        return session

    async def form_of(self, request: Request, session: Session) -> dict[str, str]:
        """The posted form, after its anti-forgery token is checked (CsrfRefused if not)."""
        fields = await read_form(request)
        if not session.csrf_matches(fields.get("csrf", "")):
            raise CsrfRefused
        return fields

    def page(
        self, handler: Callable[[Request, Session], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """A signed-in page or action: signed-out browsers go to sign-in, forged posts are
        refused with 403."""

        async def endpoint(request: Request) -> Response:
            try:
                session = self.session_of(request)
                response = await handler(request, session)
                if not session.ended:
                    self.sessions.save(session)  # its flashes, its region
                return response
            except SignedOut:
                return secured(RedirectResponse(f"{PREFIX}/sign-in", status_code=303))
            except AccessDeniedError as refusal:  # a direct call (console/direct.py) refused
                return self.render(
                    request,
                    "refused.html",
                    session,
                    status=403,
                    code=refusal.code,
                    message=refusal.message,
                )
            except CsrfRefused:
                return secured(
                    HTMLResponse(
                        "<!doctype html><title>Refused</title>"
                        "<p>This form has expired or did not come from this console. "
                        f'<a href="{PREFIX}/">Start again</a>.</p>',
                        status_code=403,
                    )
                )

        return endpoint


class CsrfRefused(Exception):
    pass


async def read_form(request: Request) -> dict[str, str]:
    """A posted form, first value of each field; anything larger than any console form is
    refused as forged. An uploaded file (the import page's PEM files) is the field's text."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await _read_multipart(request)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise CsrfRefused
    text = body.decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}


async def _read_multipart(request: Request) -> dict[str, str]:
    # Browsers send the length of a form: one without it, or larger than the largest upload
    # (three PEM files and a few fields), is refused before a byte is parsed.
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_UPLOAD_BYTES:
        raise CsrfRefused
    try:
        form = await request.form(max_files=4, max_fields=16, max_part_size=MAX_FORM_BYTES)
    except HTTPException:  # malformed, or beyond the limits: not a form of ours
        raise CsrfRefused from None
    fields: dict[str, str] = {}
    try:
        for name, value in form.multi_items():
            if name in fields:
                continue
            if isinstance(value, str):
                fields[name] = value
            else:  # an upload (whole: the body is capped); an empty file input uploads nothing
                fields[name] = (await value.read(MAX_UPLOAD_BYTES)).decode("utf-8", "replace")
    finally:
        await form.close()
    return fields


def secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def origin_of(request: Request) -> Origin:
    client = request.client
    return Origin(
        host=request.headers.get("host", "localhost"),
        client_ip=client.host if client else "",
        user_agent=request.headers.get("user-agent", ""),
        scheme=request.url.scheme,
    )


def redirect(path: str, **query: str) -> Response:
    target = f"{PREFIX}{path}" + (f"?{urlencode(query)}" if query else "")
    return secured(RedirectResponse(target, status_code=303))


def set_cookie(response: Response, name: str, value: str) -> None:
    # Always Secure: browsers accept and return Secure cookies on http://localhost too, and a
    # console reached over plain HTTP anywhere else should not keep a session.
    response.set_cookie(name, value, httponly=True, secure=True, samesite="strict", path=PREFIX)


def is_loopback(hostname: str | None) -> bool:
    """Whether browsers count the host as secure without HTTPS (and keep Secure cookies)."""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname or "").is_loopback
    except ValueError:
        return False


# -- sign-in ---------------------------------------------------------------------------------


def sign_in_routes(console: Console) -> list[Route]:
    async def show(request: Request) -> Response:
        # Sign-in has no session yet: its form is protected by a double-submit value, a
        # random SameSite=Strict cookie that the form must repeat.
        nonce = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
        response = _sign_in_page(console, request, nonce, error=None)
        set_cookie(response, SIGN_IN_COOKIE, nonce)
        return response

    async def submit(request: Request) -> Response:
        try:
            fields = await read_form(request)
        except CsrfRefused:
            fields = {}  # too large to be the form: refused below
        nonce = request.cookies.get(SIGN_IN_COOKIE, "")
        if not nonce or not secrets.compare_digest(nonce, fields.get("csrf", "")):
            return secured(HTMLResponse("Refused: the sign-in form is stale.", status_code=403))
        if fields.get("dev") == "1" and console.dev:
            key_id, secret = DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY
        else:
            key_id = fields.get("access_key_id", "").strip()
            secret = fields.get("secret_access_key", "").strip()
        region = fields.get("region", "").strip() or DEFAULT_REGION
        if partition_for_region(region) is None:
            message = f"{region} is not a region."
            return _sign_in_page(console, request, nonce, error=message, status=400)
        origin = origin_of(request)
        until = console.throttle.refused_until(origin.client_ip, key_id)
        if until is not None:
            message = (
                "Too many failed sign-ins from this address or with this access key. "
                f"Try again after {_when(until)}."
            )
            refused = _sign_in_page(console, request, nonce, error=message, status=429)
            refused.headers["Retry-After"] = str(max(1, math.ceil(until - time.time())))
            return refused
        signer = Signer(key_id, secret, region)
        try:
            # The key proves itself with a signed call, through the API's own checks.
            await console.api.call("acm", "GetAccountConfiguration", {}, signer, origin)
        except ConsoleApiError as error:
            # A user whose policies do not allow the call still proved its key: each page then
            # shows what its policies refuse (docs/access-control.md).
            if error.code != "AccessDeniedException":
                if error.code in _SIGNED_OUT_CODES:
                    console.throttle.failed(origin.client_ip, key_id)
                message = (
                    "The access key ID or secret access key is wrong, or the key is inactive."
                    if error.code in _SIGNED_OUT_CODES
                    else f"Sign-in failed: {error.message}"
                )
                return _sign_in_page(console, request, nonce, error=message, status=401)
        session = console.sessions.create(signer)
        response = redirect("/certificates")
        set_cookie(response, SESSION_COOKIE, session.id)
        return response

    async def sign_out(request: Request, session: Session) -> Response:
        await console.form_of(request, session)
        return console.end(session)

    async def home(request: Request, session: Session) -> Response:
        return redirect("/certificates")

    async def to_home(_: Request) -> Response:
        return redirect("/")

    async def stylesheet(_: Request) -> Response:
        response = Response(_STYLESHEET, media_type="text/css")
        response.headers["Cache-Control"] = "public, max-age=3600"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return [
        Route(f"{PREFIX}/", console.page(home), methods=["GET"]),
        Route(PREFIX, to_home, methods=["GET"]),
        Route(f"{PREFIX}/sign-in", show, methods=["GET"]),
        Route(f"{PREFIX}/sign-in", submit, methods=["POST"]),
        Route(f"{PREFIX}/sign-out", console.page(sign_out), methods=["POST"]),
        Route(f"{PREFIX}/static/console.css", stylesheet, methods=["GET"]),
    ]


def _sign_in_page(
    console: Console, request: Request, nonce: str, *, error: str | None, status: int = 200
) -> Response:
    html = _ENV.get_template("sign_in.html").render(
        prefix=PREFIX,
        session=None,
        flashes=[("error", error)] if error else [],
        csrf=nonce,
        dev=console.dev,
        default_region=DEFAULT_REGION,
        insecure=request.url.scheme != "https" and not is_loopback(request.url.hostname),
    )
    return secured(HTMLResponse(html, status_code=status))


def model_enum(service: str, shape: str) -> list[str]:
    """An enum of an API's model (botocore's), in the model's order."""
    return list(ApiModel.load(service).service_model.shape_for(shape).enum)


def b64(text: str) -> str:
    """A blob parameter in AWS JSON: base64 of its bytes."""
    return base64.b64encode(text.encode()).decode()


# The columns of the console's "Export to CSV" of validation CNAMEs (ACM's console's).
RECORDS_CSV_HEADER = ["Domain Name", "Record Name", "Record Type", "Record Value"]


def records_csv(domains_and_records: list[tuple[str, dict[str, str]]], name: str) -> Response:
    """Validation CNAMEs (domain name, ResourceRecord) downloaded as `name`.csv."""
    rows = [RECORDS_CSV_HEADER]
    rows += [[domain, r["Name"], r["Type"], r["Value"]] for domain, r in domains_and_records]
    response = Response(csv_of(rows), media_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return secured(response)


def csv_of(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        # A cell starting with = + - @ is a formula to spreadsheets: quote it as text.
        writer.writerow(["'" + c if c[:1] in ("=", "+", "-", "@") else c for c in row])
    return out.getvalue()
