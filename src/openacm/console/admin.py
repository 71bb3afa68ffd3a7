"""The console's access keys page (the signed-in account's keys: create, showing the secret
once; disable; enable; delete) and audit log page (the account's API calls, filtered as
`openacm audit search` filters them). Neither has an API operation: both go through
console/direct.py, in the signed-in key's account only."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openacm.console.direct import AuditFilters
from openacm.console.pages import PREFIX, Console, redirect
from openacm.console.sessions import Session
from openacm.services.identity import ACTIVE, INACTIVE, IdentityError

AUDIT_LIMITS = [50, 100, 500]


def admin_routes(console: Console) -> list[Route]:
    direct = console.direct

    async def keys_page(
        request: Request, session: Session, created: tuple[str, str, str] | None = None
    ) -> Response:
        ctx = console.context(request, session)
        keys = await run_in_threadpool(direct.access_keys, ctx)
        return console.render(
            request,
            "access_keys.html",
            session,
            keys=keys,
            created=created,
            account_id=ctx.account_id,
            user_name=ctx.user_name,
        )

    async def show_keys(request: Request, session: Session) -> Response:
        return await keys_page(request, session)

    async def create_key(request: Request, session: Session) -> Response:
        """A new key of the account. The answer is a page, not a redirect: the secret is
        shown on it once (the page is no-store) and kept nowhere but sealed in the store."""
        form = await console.form_of(request, session)
        ctx = console.context(request, session)
        user_name = form.get("user_name", "").strip() or ctx.user_name
        try:
            key, secret = await run_in_threadpool(direct.create_access_key, ctx, user_name)
        except IdentityError as exc:
            session.flashes.append(("error", f"The key was not created: {exc}."))
            return redirect("/access-keys")
        return await keys_page(request, session, (key.access_key_id, secret, key.user_name))

    async def set_status(request: Request, session: Session) -> Response:
        form = await console.form_of(request, session)
        ctx = console.context(request, session)
        key_id = form.get("access_key_id", "")
        status = ACTIVE if form.get("status") == ACTIVE else INACTIVE
        if not await run_in_threadpool(direct.set_access_key_status, ctx, key_id, status):
            session.flashes.append(("error", f"No access key {key_id} in this account."))
            return redirect("/access-keys")
        done = "enabled" if status == ACTIVE else "disabled"
        session.flashes.append(("ok", f"Access key {key_id} {done}."))
        return redirect("/access-keys")

    async def delete_key(request: Request, session: Session) -> Response:
        """Delete a key of the account. The session's own key needs its confirmation box
        ticked (deleting it signs the browser out); any other key is deleted at once."""
        form = await console.form_of(request, session)
        ctx = console.context(request, session)
        key_id = form.get("access_key_id", "")
        own = key_id == session.signer.access_key_id
        if own and form.get("confirm_own") != "1":
            session.flashes.append(
                ("error", f"{key_id} signs this session: tick the box to delete it anyway.")
            )
            return redirect("/access-keys")
        if not await run_in_threadpool(direct.delete_access_key, ctx, key_id):
            session.flashes.append(("error", f"No access key {key_id} in this account."))
            return redirect("/access-keys")
        if own:  # the key is gone: so is the session it signed
            return console.end(session)
        session.flashes.append(("ok", f"Access key {key_id} deleted."))
        return redirect("/access-keys")

    async def audit(request: Request, session: Session) -> Response:
        ctx = console.context(request, session)
        q = request.query_params
        limit = int(q["limit"]) if q.get("limit", "").isdigit() else AUDIT_LIMITS[0]
        limit = limit if limit in AUDIT_LIMITS else AUDIT_LIMITS[0]
        error = None
        try:
            filters = AuditFilters(
                event_name=q.get("event_name", "").strip(),
                access_key_id=q.get("access_key_id", "").strip(),
                error_code=q.get("error_code", "").strip(),
                resource_arn=q.get("resource_arn", "").strip(),
                since=_epoch(q.get("since", "")),
                until=_epoch(q.get("until", "")),
            )
        except ValueError:
            error = "Times are dates and times such as 2026-11-23T10:00 (UTC)."
            filters = AuditFilters()
        records = await run_in_threadpool(direct.audit_records, ctx, filters, limit)
        return console.render(
            request,
            "audit.html",
            session,
            records=records,
            query={k: q.get(k, "") for k in ("since", "until")},
            filters=filters,
            limit=limit,
            limits=AUDIT_LIMITS,
            error=error,
        )

    p = console.page
    return [
        Route(f"{PREFIX}/access-keys", p(show_keys), methods=["GET"]),
        Route(f"{PREFIX}/access-keys/create", p(create_key), methods=["POST"]),
        Route(f"{PREFIX}/access-keys/status", p(set_status), methods=["POST"]),
        Route(f"{PREFIX}/access-keys/delete", p(delete_key), methods=["POST"]),
        Route(f"{PREFIX}/audit", p(audit), methods=["GET"]),
    ]


def _epoch(text: str) -> float | None:
    """A `datetime-local` value (or any ISO-8601 time), UTC unless it names its zone."""
    if not text.strip():
        return None
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
