"""The console's account pages: account configuration (DaysBeforeExpiry) and the region the
session works in."""

from __future__ import annotations

import dataclasses
import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openacm.console.api import ConsoleApiError
from openacm.console.pages import PREFIX, Console, redirect
from openacm.console.sessions import Session
from openacm.protocol.partitions import partition_for_region


def account_routes(console: Console) -> list[Route]:
    async def show(request: Request, session: Session) -> Response:
        days = None
        error = None
        try:
            answer = await console.call(request, session, "acm", "GetAccountConfiguration")
            days = answer.get("ExpiryEvents", {}).get("DaysBeforeExpiry")
        except ConsoleApiError as exc:
            error = f"{exc.code}: {exc.message}"
        return console.render(request, "account.html", session, days=days, error=error)

    async def configure(request: Request, session: Session) -> Response:
        form = await console.form_of(request, session)
        text = form.get("days", "").strip()
        try:
            await console.call(
                request,
                session,
                "acm",
                "PutAccountConfiguration",
                # The API's own range check answers for anything out of range.
                ExpiryEvents={"DaysBeforeExpiry": int(text) if text.isdigit() else 0},
                IdempotencyToken=secrets.token_hex(16),
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/account")
        session.flashes.append(("ok", "Account configuration saved."))
        return redirect("/account")

    async def region(request: Request, session: Session) -> Response:
        """Switch the session's region: every later call is signed for it."""
        form = await console.form_of(request, session)
        wanted = form.get("region", "").strip()
        if partition_for_region(wanted) is None:
            session.flashes.append(("error", f"{wanted or '(empty)'} is not a region."))
        else:
            session.signer = dataclasses.replace(session.signer, region=wanted)
            session.flashes.append(("ok", f"Working in {wanted}."))
        return redirect("/account")

    p = console.page
    return [
        Route(f"{PREFIX}/account", p(show), methods=["GET"]),
        Route(f"{PREFIX}/account", p(configure), methods=["POST"]),
        Route(f"{PREFIX}/account/region", p(region), methods=["POST"]),
    ]
