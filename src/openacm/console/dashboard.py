"""The console's dashboard: certificates expiring within the account's DaysBeforeExpiry,
renewals waiting for the user, failed validations, and the expiry dates of the next year by
month. Every figure is an API call the key could make itself; the chart's monthly counts are
what SearchCertificates would list, counted in the store (console/direct.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openacm.console.api import ConsoleApiError
from openacm.console.certificates import summary_of
from openacm.console.pages import KEY_TYPES, PREFIX, Console
from openacm.console.sessions import Session
from openacm.domain.errors import AccessDeniedError

DAY = 86_400
YEAR_DAYS = 365
LISTED = 10  # rows per panel
CHART_HEIGHT = 120


def dashboard_routes(console: Console) -> list[Route]:
    async def show(request: Request, session: Session) -> Response:
        now = time.time()
        panels: dict[str, Any] = {"errors": []}
        try:
            config = await console.call(request, session, "acm", "GetAccountConfiguration")
            days = int(config.get("ExpiryEvents", {}).get("DaysBeforeExpiry", 45))
            panels["days"] = days
            panels["expiring"], panels["more_expiring"] = await _search(
                console, request, session, _not_after(now, now + days * DAY), "NOT_AFTER", LISTED
            )
            # Renewals that need the user: waiting for validation, or failed.
            waiting = {
                "Or": [
                    {"Filter": {"AcmCertificateMetadataFilter": {"RenewalStatus": status}}}
                    for status in ("PENDING_VALIDATION", "FAILED")
                ]
            }
            panels["renewals"], panels["more_renewals"] = await _search(
                console, request, session, waiting, "NOT_AFTER", LISTED
            )
            failed = await console.call(
                request,
                session,
                "acm",
                "ListCertificates",
                CertificateStatuses=["FAILED", "VALIDATION_TIMED_OUT"],
                Includes={"keyTypes": KEY_TYPES},
                SortBy="CREATED_AT",
                SortOrder="DESCENDING",
                MaxItems=LISTED,
            )
            panels["failed"] = failed.get("CertificateSummaryList", [])
            panels["more_failed"] = "NextToken" in failed
            panels["chart"] = await _chart(console, request, session, now)
        except (ConsoleApiError, AccessDeniedError) as exc:  # the API's or the chart's refusal
            panels["errors"].append(f"{exc.code}: {exc.message}")
        return console.render(request, "dashboard.html", session, **panels)

    return [Route(f"{PREFIX}/dashboard", console.page(show), methods=["GET"])]


def _not_after(start: float, end: float) -> dict[str, Any]:
    span = {"Start": start, "End": end}
    return {"Filter": {"X509AttributeFilter": {"NotAfter": span}}}


async def _search(
    console: Console,
    request: Request,
    session: Session,
    statement: dict[str, Any],
    sort: str,
    limit: int,
) -> tuple[list[dict[str, Any]], bool]:
    answer = await console.call(
        request,
        session,
        "acm",
        "SearchCertificates",
        FilterStatement=statement,
        SortBy=sort,
        SortOrder="ASCENDING",
        MaxResults=limit,
    )
    return [summary_of(r) for r in answer.get("Results", [])], "NextToken" in answer


async def _chart(
    console: Console, request: Request, session: Session, now: float
) -> dict[str, Any]:
    """Certificates expiring in each of the next twelve months (from today): what
    SearchCertificates over the year would list, counted by the store in one query
    (console/direct.py, authorized as SearchCertificates) rather than read page by page."""
    month = YEAR_DAYS * DAY / 12
    boundaries = [now + index * month for index in range(12)] + [now + YEAR_DAYS * DAY]
    ctx = console.context(request, session)
    counts = await run_in_threadpool(console.direct.expiry_counts, ctx, boundaries)
    return _bars(counts, now)


def _bars(counts: list[int], now: float) -> dict[str, Any]:
    """The SVG geometry of the bar chart (attributes only: the CSP allows no inline style)."""
    tallest = max(counts) or 1
    width = 40
    bars = []
    for index, count in enumerate(counts):
        height = round(CHART_HEIGHT * count / tallest)
        start = now + index * YEAR_DAYS * DAY / 12
        bars.append(
            {
                "x": index * width + 4,
                "y": CHART_HEIGHT - height + 16,
                "height": height,
                "count": count,
                "label": datetime.fromtimestamp(start, UTC).strftime("%b %y"),
            }
        )
    return {
        "bars": bars,
        "width": width * 12 + 8,
        "height": CHART_HEIGHT + 40,
        "bar_width": width - 8,
        "total": sum(counts),
    }
