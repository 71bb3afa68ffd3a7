"""The approval page of email validation: `/approvals?code=…&context=…`, ACM's link form.

A GET only shows what is being approved and a form; mail scanners and link previews that
follow the link approve nothing. The form POSTs the token back with an anti-forgery value
bound to a SameSite cookie set by the GET, so another site cannot make a visitor's browser
approve. The page never echoes the code into anything but the form, and asks browsers not to
cache it or send it on as a referrer.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from openacm.domain.email_validation import csrf_matches, csrf_token
from openacm.services.acm.email_validation import ApprovalDesk, ApprovalView

CSRF_COOKIE = "openacm_approval"
# A form is a few hundred bytes; anything much larger is not our form.
MAX_FORM_BYTES = 8192
_STATUS = {
    "valid": 200,
    "approved": 200,
    "invalid": 404,
    "used": 410,
    "replaced": 410,
    "expired": 410,
    "closed": 409,
    "forged": 403,
}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
_ENV = Environment(
    loader=PackageLoader("openacm.protocol", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",)),
    undefined=StrictUndefined,
)


def approval_csrf_key(installation_key: bytes) -> bytes:
    """A key of its own for the forms, derived from an installation secret every node shares
    (a form shown by one node is accepted by another)."""
    return hmac.new(installation_key, b"openacm approval forms", hashlib.sha256).digest()


def approval_routes(
    desk: ApprovalDesk, csrf_key: bytes, clock: Callable[[], float] = time.time
) -> list[Route]:
    async def show(request: Request) -> Response:
        context = request.query_params.get("context", "")
        code = request.query_params.get("code", "")
        view = await run_in_threadpool(desk.view, context, code, clock())
        if view.state != "valid":
            return _page(view)
        # The browser's nonce is kept, so a page opened twice (two tabs) keeps both forms valid.
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(16)
        response = _page(view, code=code, csrf=csrf_token(csrf_key, nonce, context))
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            path="/approvals",
            secure=request.url.scheme == "https",
        )
        return response

    async def approve(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return _page(ApprovalView("invalid"))
        form = {key: values[0] for key, values in parse_qs(body.decode("latin-1")).items()}
        context = form.get("context", "")
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if not csrf_matches(csrf_key, nonce, context, form.get("csrf", "")):
            return _page(ApprovalView("forged"))
        view = await run_in_threadpool(desk.approve, context, form.get("code", ""), clock())
        response = _page(view)
        response.delete_cookie(CSRF_COOKIE, path="/approvals")
        return response

    return [
        Route("/approvals", show, methods=["GET"]),
        Route("/approvals", approve, methods=["POST"]),
    ]


def _page(view: ApprovalView, *, code: str = "", csrf: str = "") -> HTMLResponse:
    html = _ENV.get_template("approval.html").render(view=view, code=code, csrf=csrf)
    return HTMLResponse(html, status_code=_STATUS.get(view.state, 400), headers=_HEADERS)
