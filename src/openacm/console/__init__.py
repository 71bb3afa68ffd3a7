"""The web console (docs/console.md)."""

from __future__ import annotations

from starlette.routing import Route
from starlette.types import ASGIApp

from openacm.console.account import account_routes
from openacm.console.acme import acme_routes
from openacm.console.admin import admin_routes
from openacm.console.api import ApiClient
from openacm.console.authorities import authority_routes
from openacm.console.certificates import certificate_routes
from openacm.console.dashboard import dashboard_routes
from openacm.console.direct import DirectServices
from openacm.console.importing import import_routes
from openacm.console.pages import Console, sign_in_routes
from openacm.console.sessions import SessionStore
from openacm.console.throttle import SignInThrottle

__all__ = ["DirectServices", "SessionStore", "console_routes"]


def console_routes(
    api: ASGIApp, sessions: SessionStore, direct: DirectServices, *, dev: bool
) -> list[Route]:
    """The console's routes, calling `api` (the AWS JSON endpoint) in-process, and `direct`
    for what no API operation does."""
    # Failed sign-ins are counted beside the sessions, shared by every worker the same way.
    throttle = SignInThrottle(sessions.directory.parent / "console-sign-in")
    console = Console(ApiClient(api), sessions, direct, throttle, dev=dev)
    return [
        *sign_in_routes(console),
        *certificate_routes(console),
        *import_routes(console),
        *authority_routes(console),
        *account_routes(console),
        *dashboard_routes(console),
        *acme_routes(console),
        *admin_routes(console),
    ]
