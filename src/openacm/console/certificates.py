"""The console's certificate pages: list, detail, request, tags, renew, export, delete."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openacm.console.api import ConsoleApiError
from openacm.console.pages import (
    KEY_TYPES,
    PAGE_SIZES,
    PREFIX,
    REVOCATION_REASONS,
    STATUSES,
    Console,
    b64,
    records_csv,
    redirect,
    secured,
)
from openacm.console.sessions import Session
from openacm.domain import events

# The orders the list can be sorted in (SearchCertificates' SortBy): value, label.
SORT_COLUMNS = {
    "CREATED_AT": "Requested",
    "COMMON_NAME": "Domain name",
    "NOT_AFTER": "Not after",
    "STATUS": "Status",
    "TYPE": "Type",
    "IN_USE": "In use?",
    "RENEWAL_ELIGIBILITY": "Renewal eligibility",
}

# The newest events of a certificate its page shows.
EVENTS_SHOWN = 50

# The list's optional columns (inventory §1.3): query value, heading.
OPTIONAL_COLUMNS = {
    "names": "Additional names",
    "requested": "Requested at",
    "issued": "Issued at",
    "not_before": "Not before",
    "not_after": "Not after",
    "revoked": "Revoked at",
    "renewal": "Renewal status",
}


def certificate_routes(console: Console) -> list[Route]:
    pages = CertificatePages(console)
    p = console.page
    base = f"{PREFIX}/certificates"
    return [
        Route(base, p(pages.listing), methods=["GET"]),
        Route(f"{base}/request", p(pages.request_form), methods=["GET"]),
        Route(f"{base}/request", p(pages.request), methods=["POST"]),
        Route(f"{base}/detail", p(pages.detail), methods=["GET"]),
        Route(f"{base}/validation.csv", p(pages.validation_csv), methods=["GET"]),
        Route(f"{base}/tags", p(pages.add_tag), methods=["POST"]),
        Route(f"{base}/untag", p(pages.remove_tag), methods=["POST"]),
        Route(f"{base}/renew", p(pages.renew), methods=["POST"]),
        Route(f"{base}/disassociate", p(pages.disassociate), methods=["POST"]),
        Route(f"{base}/records", p(pages.create_records), methods=["POST"]),
        Route(f"{base}/revoke", p(pages.revoke), methods=["POST"]),
        Route(f"{base}/export", p(pages.export), methods=["POST"]),
        Route(f"{base}/delete", p(pages.delete), methods=["POST"]),
    ]


def _int_choice(text: str | None, choices: list[int], default: int) -> int:
    return int(text) if text and text.isdigit() and int(text) in choices else default


class CertificatePages:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def listing(self, request: Request, session: Session) -> Response:
        q = request.query_params
        status = q.get("status", "") if q.get("status", "") in STATUSES else ""
        order = "ASCENDING" if q.get("order") == "ASCENDING" else "DESCENDING"
        sort = q.get("sort", "") if q.get("sort", "") in SORT_COLUMNS else "CREATED_AT"
        size = _int_choice(q.get("size"), PAGE_SIZES, 25)
        search = q.get("search", "").strip()
        columns = [c for c in q.getlist("column") if c in OPTIONAL_COLUMNS]
        error = None
        summaries: list[dict[str, Any]] = []
        next_token = None
        try:
            # ListCertificates is ACM's list; a name search or another sort order needs
            # SearchCertificates, which covers every certificate of the region too.
            if search or sort != "CREATED_AT":
                summaries, next_token = await self._search(
                    request, session, search, status, sort, order, size, q.get("next")
                )
            else:
                summaries, next_token = await self._list(
                    request, session, status, order, size, q.get("next")
                )
        except ConsoleApiError as exc:
            error = exc.message
        if "name_tag" in q.getlist("column"):
            columns.append("name_tag")
            await self._name_tags(request, session, summaries)
        query = {
            "status": status,
            "order": order,
            "sort": sort,
            "size": str(size),
            "search": search,
        }
        return self.console.render(
            request,
            "certificates.html",
            session,
            summaries=summaries,
            error=error,
            next_token=next_token,
            query=query,
            columns=columns,
            column_names={**OPTIONAL_COLUMNS, "name_tag": "Name tag"},
            statuses=STATUSES,
            page_sizes=PAGE_SIZES,
            sort_columns=SORT_COLUMNS,
        )

    async def _list(
        self,
        request: Request,
        session: Session,
        status: str,
        order: str,
        size: int,
        token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {
            "Includes": {"keyTypes": KEY_TYPES},
            "SortBy": "CREATED_AT",
            "SortOrder": order,
            "MaxItems": size,
        }
        if status:
            params["CertificateStatuses"] = [status]
        if token:
            params["NextToken"] = token
        answer = await self.console.call(request, session, "acm", "ListCertificates", **params)
        return answer.get("CertificateSummaryList", []), answer.get("NextToken")

    async def _search(
        self,
        request: Request,
        session: Session,
        search: str,
        status: str,
        sort: str,
        order: str,
        size: int,
        token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        filters: list[dict[str, Any]] = []
        if search:
            name = {"DnsName": {"ComparisonOperator": "CONTAINS", "Value": search}}
            filters.append({"Filter": {"X509AttributeFilter": {"SubjectAlternativeName": name}}})
        if status:
            filters.append({"Filter": {"AcmCertificateMetadataFilter": {"Status": status}}})
        params: dict[str, Any] = {"SortBy": sort, "SortOrder": order, "MaxResults": size}
        if filters:
            params["FilterStatement"] = filters[0] if len(filters) == 1 else {"And": filters}
        if token:
            params["NextToken"] = token
        answer = await self.console.call(request, session, "acm", "SearchCertificates", **params)
        summaries = [summary_of(r) for r in answer.get("Results", [])]
        for summary in summaries:
            if not summary["DomainName"]:
                await self._requested_names(request, session, summary)
        return summaries, answer.get("NextToken")

    async def _requested_names(
        self, request: Request, session: Session, summary: dict[str, Any]
    ) -> None:
        """A search result carries the names of the certificate's X.509 body, which one not
        yet issued does not have: its requested names come from DescribeCertificate."""
        try:
            described = await self.console.call(
                request,
                session,
                "acm",
                "DescribeCertificate",
                CertificateArn=summary["CertificateArn"],
            )
        except ConsoleApiError:
            return
        certificate = described["Certificate"]
        summary["DomainName"] = certificate.get("DomainName", "")
        summary["SubjectAlternativeNameSummaries"] = certificate.get("SubjectAlternativeNames", [])

    async def _name_tags(
        self, request: Request, session: Session, summaries: list[dict[str, Any]]
    ) -> None:
        """The Name tag column: one ListTagsForCertificate per row, only when asked for."""
        for summary in summaries:
            try:
                tags = await self.console.call(
                    request,
                    session,
                    "acm",
                    "ListTagsForCertificate",
                    CertificateArn=summary["CertificateArn"],
                )
            except ConsoleApiError:
                continue
            names = [t.get("Value", "") for t in tags.get("Tags", []) if t["Key"] == "Name"]
            summary["NameTag"] = names[0] if names else ""

    async def detail(self, request: Request, session: Session) -> Response:
        arn = request.query_params.get("arn", "")
        try:
            described = await self.console.call(
                request, session, "acm", "DescribeCertificate", CertificateArn=arn
            )
            tags = await self.console.call(
                request, session, "acm", "ListTagsForCertificate", CertificateArn=arn
            )
            associations = await self.console.call(
                request, session, "openacm", "ListCertificateAssociations", CertificateArn=arn
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/certificates")
        certificate = described["Certificate"]
        ctx = self.console.context(request, session)
        emitted = await run_in_threadpool(
            self.console.direct.certificate_events, ctx, arn, EVENTS_SHOWN
        )
        history = [event_row(e) for e in emitted]
        return self.console.render(
            request,
            "certificate.html",
            session,
            c=certificate,
            arn=arn,
            tags=tags.get("Tags", []),
            certificate_id=arn.rsplit("/", 1)[-1],
            reasons=REVOCATION_REASONS,
            associations=associations.get("Associations", []),
            more_associations="NextToken" in associations,
            events=history,
            renewals=[e for e in history if e["renewal"]],
            events_shown=EVENTS_SHOWN,
        )

    async def validation_csv(self, request: Request, session: Session) -> Response:
        """The DNS validation records as CSV, the console's "Export to CSV"."""
        arn = request.query_params.get("arn", "")
        try:
            described = await self.console.call(
                request, session, "acm", "DescribeCertificate", CertificateArn=arn
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/certificates")
        options = described["Certificate"].get("DomainValidationOptions", [])
        records = [(o["DomainName"], o["ResourceRecord"]) for o in options if "ResourceRecord" in o]
        return records_csv(records, arn.rsplit("/", 1)[-1])

    async def request_form(self, request: Request, session: Session) -> Response:
        authorities: list[dict[str, Any]] = []
        try:
            answer = await self.console.call(
                request, session, "acm-pca", "ListCertificateAuthorities"
            )
            authorities = [
                a for a in answer.get("CertificateAuthorities", []) if a["Status"] == "ACTIVE"
            ]
        except ConsoleApiError:
            pass  # the private option just has no CA to offer
        return self.console.render(request, "request.html", session, authorities=authorities)

    async def request(self, request: Request, session: Session) -> Response:
        form = await self.console.form_of(request, session)
        names = [n.strip() for n in form.get("names", "").replace(",", "\n").splitlines()]
        names = [n for n in names if n]
        params: dict[str, Any] = {
            "DomainName": names[0] if names else "",
            "KeyAlgorithm": form.get("key_algorithm") or "RSA_2048",
        }
        if len(names) > 1:
            params["SubjectAlternativeNames"] = names
        if form.get("kind") == "private":
            params["CertificateAuthorityArn"] = form.get("authority", "")
        else:
            method = form.get("method", "")
            params["ValidationMethod"] = method if method in ("EMAIL", "HTTP") else "DNS"
            if form.get("exportable") == "1":
                params["Options"] = {"Export": "ENABLED"}
        try:
            answer = await self.console.call(
                request, session, "acm", "RequestCertificate", **params
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/certificates/request")
        arn = answer["CertificateArn"]
        session.flashes.append(("ok", f"Requested certificate {arn}."))
        return redirect("/certificates/detail", arn=arn)

    async def _action(
        self, request: Request, session: Session, operation: str, done: str, **extra: Any
    ) -> tuple[dict[str, str], dict[str, Any] | None]:
        """Post an action on the form's certificate; flash its outcome."""
        form = await self.console.form_of(request, session)
        params = {"CertificateArn": form.get("arn", ""), **extra}
        for name, value in list(params.items()):
            if callable(value):
                params[name] = value(form)
        try:
            answer = await self.console.call(request, session, "acm", operation, **params)
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {_explain(exc)}"))
            return form, None
        session.flashes.append(("ok", done))
        return form, answer

    async def add_tag(self, request: Request, session: Session) -> Response:
        """Add a tag, or edit one in place: a new value is AddTagsToCertificate's overwrite,
        a new key adds the tag under it and then removes the old key."""
        form, answer = await self._action(
            request,
            session,
            "AddTagsToCertificate",
            "Tag saved.",
            Tags=lambda f: [{"Key": f.get("key", ""), "Value": f.get("value", "")}],
        )
        arn = form.get("arn", "")
        old_key = form.get("old_key", "")
        if answer is not None and old_key and old_key != form.get("key", ""):
            try:
                await self.console.call(
                    request,
                    session,
                    "acm",
                    "RemoveTagsFromCertificate",
                    CertificateArn=arn,
                    Tags=[{"Key": old_key}],
                )
            except ConsoleApiError as exc:
                session.flashes.append(("error", f"{exc.code}: {exc.message}"))
        return redirect("/certificates/detail", arn=arn)

    async def remove_tag(self, request: Request, session: Session) -> Response:
        form, _ = await self._action(
            request,
            session,
            "RemoveTagsFromCertificate",
            "Tag removed.",
            Tags=lambda f: [{"Key": f.get("key", ""), "Value": f.get("value", "")}],
        )
        return redirect("/certificates/detail", arn=form.get("arn", ""))

    async def renew(self, request: Request, session: Session) -> Response:
        form, _ = await self._action(request, session, "RenewCertificate", "Renewal started.")
        return redirect("/certificates/detail", arn=form.get("arn", ""))

    async def create_records(self, request: Request, session: Session) -> Response:
        """openacm's CreateValidationRecords: write the pending names' CNAMEs into the zones
        configured for the account (docs/dns-zones.md); one message per name."""
        form = await self.console.form_of(request, session)
        arn = form.get("arn", "")
        try:
            answer = await self.console.call(
                request, session, "openacm", "CreateValidationRecords", CertificateArn=arn
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
            return redirect("/certificates/detail", arn=arn)
        for record in answer.get("Records", []):
            zone = f" in {record['Zone']}" if record.get("Zone") else ""
            message = f": {record['Message']}" if record.get("Message") else ""
            kind = "ok" if record["Status"] in ("CREATED", "ALREADY_PRESENT") else "error"
            session.flashes.append(
                (kind, f"{record['DomainName']}: {record['Status']}{zone}{message}")
            )
        return redirect("/certificates/detail", arn=arn)

    async def disassociate(self, request: Request, session: Session) -> Response:
        form = await self.console.form_of(request, session)
        arn = form.get("arn", "")
        try:
            await self.console.call(
                request,
                session,
                "openacm",
                "DisassociateCertificate",
                CertificateArn=arn,
                ResourceArn=form.get("resource", ""),
            )
        except ConsoleApiError as exc:
            session.flashes.append(("error", f"{exc.code}: {exc.message}"))
        else:
            session.flashes.append(("ok", "Association removed."))
        return redirect("/certificates/detail", arn=arn)

    async def revoke(self, request: Request, session: Session) -> Response:
        form, _ = await self._action(
            request,
            session,
            "RevokeCertificate",
            "Certificate revoked.",
            RevocationReason=lambda f: f.get("reason", "UNSPECIFIED"),
        )
        return redirect("/certificates/detail", arn=form.get("arn", ""))

    async def delete(self, request: Request, session: Session) -> Response:
        form, answer = await self._action(
            request, session, "DeleteCertificate", "Certificate deleted."
        )
        if answer is None:
            return redirect("/certificates/detail", arn=form.get("arn", ""))
        return redirect("/certificates")

    async def export(self, request: Request, session: Session) -> Response:
        """The certificate, its chain and its private key encrypted with the passphrase, as
        one PEM download; the passphrase is only passed on to ExportCertificate."""
        form, answer = await self._action(
            request,
            session,
            "ExportCertificate",
            "Exported.",
            Passphrase=lambda f: b64(f.get("passphrase", "")),
        )
        arn = form.get("arn", "")
        if answer is None:
            return redirect("/certificates/detail", arn=arn)
        session.flashes.pop()  # the download is the outcome
        bundle = "".join(
            part if part.endswith("\n") else part + "\n"
            for part in (
                answer.get("Certificate", ""),
                answer.get("CertificateChain", ""),
                answer.get("PrivateKey", ""),
            )
            if part
        )
        response = Response(bundle, media_type="application/x-pem-file")
        name = arn.rsplit("/", 1)[-1]
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.pem"'
        return secured(response)


def summary_of(result: dict[str, Any]) -> dict[str, Any]:
    """A SearchCertificates result in ListCertificates' summary shape, for the same table."""
    x509 = result.get("X509Attributes", {})
    meta = result.get("CertificateMetadata", {}).get("AcmCertificateMetadata", {})
    names = [n["DnsName"] for n in x509.get("SubjectAlternativeNames") or [] if "DnsName" in n]
    common = (x509.get("Subject") or {}).get("CommonName")
    return {
        "CertificateArn": result["CertificateArn"],
        "DomainName": common or (names[0] if names else ""),
        "SubjectAlternativeNameSummaries": names,
        "NotBefore": x509.get("NotBefore"),
        "NotAfter": x509.get("NotAfter"),
        **{
            key: meta.get(key)
            for key in (
                "Type",
                "Status",
                "InUse",
                "RenewalEligibility",
                "RenewalStatus",
                "CreatedAt",
                "IssuedAt",
                "ImportedAt",
                "RevokedAt",
            )
            if meta.get(key) is not None
        },
    }


def event_row(event: dict[str, Any]) -> dict[str, Any]:
    """One emitted event as a history line: when, what, the detail that matters, and
    whether it belongs to the renewal history."""
    kind = str(event.get("detail-type", ""))
    detail = event.get("detail") or {}
    renewal = False
    if kind == events.AVAILABLE:
        summary = f"{detail.get('Action', '')}; expires {detail.get('CertificateExpirationDate')}"
        renewal = detail.get("Action") == events.RENEWAL
    elif kind == events.RENEWAL_ACTION_REQUIRED:
        summary = (
            f"{detail.get('RenewalStatusReason', '')}; {detail.get('DaysToExpiry')} days to expiry"
        )
        renewal = True
    elif kind == events.HEALTH_EVENT:
        texts = [d.get("latestDescription", "") for d in detail.get("eventDescription") or []]
        summary = f"{detail.get('eventTypeCode', '')} ({detail.get('statusCode', '')}): "
        summary += " ".join(texts)
        renewal = True
    else:  # approaching expiration, expired
        summary = f"{detail.get('DaysToExpiry', '-')} days to expiry"
    return {"time": event.get("time", ""), "type": kind, "summary": summary, "renewal": renewal}


def _explain(error: ConsoleApiError) -> str:
    """The API's message, with what to do about the refusals users meet most."""
    if error.code == "ResourceInUseException":
        return (
            f"{error.message} A certificate in use cannot be deleted: remove it from the "
            "resources listed under In use by first."
        )
    return error.message
