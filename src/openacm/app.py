"""The composition root: one running openacm, assembled from its settings."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from publicsuffixlist import PublicSuffixList
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from openacm.adapters.audit_log import AuditLog
from openacm.adapters.dns.resolver import DnsChecker, Nameserver
from openacm.adapters.metrics import Metrics, metrics_directory
from openacm.adapters.store.database import StoreNotReady
from openacm.adapters.store.work import WORK_SCHEDULED
from openacm.config import Settings, ValidationSettings
from openacm.console import DirectServices, SessionStore, console_routes
from openacm.domain.names import NamePolicy
from openacm.domain.validation import HTTP01_PATH
from openacm.protocol.acme import acme_routes
from openacm.protocol.acme_trail import AcmeTrail
from openacm.protocol.approvals import approval_csrf_key, approval_routes
from openacm.protocol.endpoint import JsonApiEndpoint, ServedApi
from openacm.protocol.metrics_endpoint import metrics_routes, request_observer
from openacm.protocol.model import ApiModel
from openacm.protocol.pki_endpoints import pki_routes
from openacm.runtime import Runtime
from openacm.services.acm.email_validation import ApprovalDesk
from openacm.services.acm.mail_worker import email_validation_work
from openacm.services.acm.private_issuance import AcmPrivateIssuer
from openacm.services.acm.renewal_scheduler import RenewalScheduler
from openacm.services.acm.service import AcmService
from openacm.services.acm.validation_worker import ValidationWorker
from openacm.services.acme.challenges import ChallengePorts
from openacm.services.acme.endpoints import api_base_url
from openacm.services.acme.prevalidation import PrevalidationWorker
from openacm.services.acme.renewal_info import RenewalInfoSweep
from openacm.services.acme.server import AcmeServer
from openacm.services.acme.upstream import AcmeUpstream, http01_answer
from openacm.services.background import BackgroundWork
from openacm.services.clock import InstallationClock
from openacm.services.events import EventDelivery, EventWork
from openacm.services.expiry import ExpirySweep
from openacm.services.iam.api import IamApiService
from openacm.services.iam.authorizer import Authorizer
from openacm.services.iam.sts import StsService
from openacm.services.identity import IdentityAdmin, KeyDirectory
from openacm.services.pca.service import PcaService
from openacm.services.pki.leaf_issuer import LeafIssuer
from openacm.services.pki.leaf_keys import LeafKeys
from openacm.services.pki.secrets import DNS_VALIDATION_KEY, installation_secret
from openacm.services.records import OpenAcmService
from openacm.services.throttling import request_throttle


class OpenAcmApp:
    """`POST /` (AWS JSON) and every `/service/...` path (Smithy RPC v2 CBOR, which answers
    other methods itself) go straight to the API endpoint; everything else (health, lifespan,
    the console) to the Starlette site."""

    def __init__(self, api: JsonApiEndpoint, site: Starlette) -> None:
        self.api = api
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/" and scope["method"] == "POST":
                await self.api(scope, receive, send)
                return
            if path.startswith("/service/"):
                await self.api.rpc_v2_cbor(scope, receive, send)
                return
        await self.site(scope, receive, send)


def resolvers_of(validation: ValidationSettings) -> list[Nameserver]:
    """The configured validation resolvers, or the system's (resolv.conf) when none are."""
    if validation.resolvers:
        return [Nameserver.parse(text) for text in validation.resolvers]
    import dns.resolver

    return [Nameserver(str(address)) for address in dns.resolver.Resolver().nameservers]


def dev_clock_routes(clock: InstallationClock) -> list[Route]:
    """`--dev` only: read and move the installation's clock (services/clock.py).
    `POST /dev/clock` with {"advance_seconds": N} or {"reset": true}."""

    def state() -> dict[str, float | str]:
        now = clock()
        return {
            "now": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "epoch": now,
            "offset_seconds": clock.offset(),
        }

    async def show(_: Request) -> Response:
        return JSONResponse(state())

    async def move(request: Request) -> Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("a JSON object is expected")
            if body.get("reset") is True:
                await asyncio.to_thread(clock.reset)
            else:
                seconds = body["advance_seconds"]
                if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                    raise ValueError("advance_seconds must be a number")
                await asyncio.to_thread(clock.advance, float(seconds))
        except (ValueError, KeyError) as exc:
            return JSONResponse(
                {"error": f'expected {{"advance_seconds": N}} or {{"reset": true}}: {exc}'},
                status_code=400,
            )
        WORK_SCHEDULED.notify()  # let the background work look at once
        return JSONResponse(state())

    return [
        Route("/dev/clock", show, methods=["GET"]),
        Route("/dev/clock", move, methods=["POST"]),
    ]


def create_app(settings: Settings) -> OpenAcmApp:
    # `openacm serve` prepared the store before starting the workers; /readyz reports a
    # schema that is not at head.
    runtime = Runtime.open(settings, prepare=False)
    audit = AuditLog(runtime.db, settings.audit_log_path)
    keys = KeyDirectory(runtime.db, runtime.cipher, dev=settings.dev)
    ca = runtime.builtin_ca()
    names = NamePolicy(PublicSuffixList(only_icann=True), settings.issuance.forbidden_suffixes)
    validation_key = installation_secret(
        runtime.db, runtime.cipher, DNS_VALIDATION_KEY, now=time.time()
    )
    acm = ServedApi(
        ApiModel.load("acm"),
        AcmService(
            runtime.db,
            runtime.cipher,
            settings,
            names=names,
            validation_key=validation_key,
            ca=ca,
        ),
        "acm.amazonaws.com",
        # A certificate of an upstream ACME CA is revoked by a request to that CA.
        blocking_operations=frozenset({"RevokeCertificate"}),
    )
    # openacm's own API next to ACM's (CreateValidationRecords, ListValidationZones), signed
    # with the same credentials: docs/dns-zones.md.
    openacm_api = ServedApi(
        ApiModel.load("openacm"),
        OpenAcmService(runtime.db, runtime.cipher, settings),
        "openacm.amazonaws.com",
        blocking_operations=frozenset({"CreateValidationRecords"}),
    )
    pca_service = PcaService(runtime.db, runtime.cipher, settings)
    pca = ServedApi(
        ApiModel.load("acm-pca"),
        pca_service,
        "acm-pca.amazonaws.com",
        # Key generation takes seconds for RSA 4096, signing milliseconds to tens of them (and
        # a CRL re-signed on revocation grows with the CA): off the event loop.
        blocking_operations=frozenset(
            {
                "CreateCertificateAuthority",
                "IssueCertificate",
                "RevokeCertificate",
                "CreateCertificateAuthorityAuditReport",
            }
        ),
    )
    clock = InstallationClock(runtime.db, movable=settings.dev)
    # Counters shared by this server's processes through DATA_DIR/metrics: docs/metrics.md.
    metrics = Metrics(metrics_directory(settings.data_dir))
    # STS and IAM (AWS Query protocol) on the same port: docs/access-control.md.
    sts = ServedApi(
        ApiModel.load("sts"), StsService(runtime.db, runtime.cipher), "sts.amazonaws.com"
    )
    iam_api = ServedApi(
        ApiModel.load("iam"), IamApiService(runtime.db, runtime.cipher), "iam.amazonaws.com"
    )
    # One authorizer for the API and the console's direct calls (its policy cache is shared).
    authorizer = Authorizer(runtime.db)
    endpoint = JsonApiEndpoint(
        [acm, pca, openacm_api, sts, iam_api],
        keys,
        audit,
        clock=clock,
        observe=request_observer(metrics),
        # Per-account, per-operation rates (docs/throttling.md); None when none is limited.
        throttle=request_throttle(
            settings.rate_limits,
            settings.throttling,
            on_throttled=metrics.count_throttled,
            on_store_failure=metrics.count_throttle_store_failure,
        ),
        authorizer=authorizer,
    )
    keys_pool = LeafKeys(runtime.db, runtime.cipher, settings.issuance.rsa_key_pool_size)
    leaf_issuer = LeafIssuer(runtime.db, runtime.cipher, ca, keys_pool, settings.issuance)
    private_issuer = AcmPrivateIssuer(
        runtime.db, runtime.cipher, leaf_issuer, pca_service.issuer, settings.quotas
    )
    upstream = (
        AcmeUpstream(
            runtime.db, runtime.cipher, settings.acme, validation_key,
            settings.validation.zone, settings.dns_zones,
        )
        if settings.acme.directory_url
        else None
    )  # fmt: skip
    worker = ValidationWorker(
        runtime.db,
        DnsChecker(resolvers_of(settings.validation), timeout=settings.validation.dns_timeout),
        leaf_issuer,
        settings.validation,
        settings.issuance,
        # Private certificates requested through ACM: signed by ACM-PCA's own issuance path.
        private=private_issuer,
        # Public certificates of acme regions: from the upstream ACME CA (docs/acme-issuer.md).
        acme=upstream,
    )
    background = BackgroundWork(
        runtime.db,
        worker,
        ca,
        keys_pool,
        settings.issuance,
        poll_interval=settings.validation.poll_interval,
        clock=clock,
        renewals=RenewalScheduler(runtime.db, settings.renewal),
        metrics=metrics,
        events=EventWork(
            EventDelivery(runtime.db, settings.events),
            # 0 leaves the sweep to other processes (or to a test driving it).
            ExpirySweep(runtime.db).run_once if settings.events.sweep_interval > 0 else None,
            settings.events,
            clock=clock,
        ),
        private_cas=pca_service.revocation,
        more_work=[
            *email_validation_work(runtime.db, settings, worker.dns),
            PrevalidationWorker(runtime.db, worker.dns, settings.validation).run_once,
            # ACME Renewal Information of the upstream CAs' certificates.
            *([RenewalInfoSweep(runtime.db, upstream).run_once] if upstream else []),
        ],
    )

    # ACME endpoints' servers (docs/acme-server.md): certificates from the builtin CA, dns-01
    # looked up through the validation resolvers.
    acme_server = AcmeServer(
        runtime.db, runtime.cipher, leaf_issuer, worker.dns, api_base_url(settings),
        settings.acme_server.challenges, settings.quotas,
        ChallengePorts(settings.acme_server.http01_port, settings.acme_server.tls_alpn01_port),
        private_issuer, pca_service.revocation, authorizer,
    )  # fmt: skip

    async def http01(request: Request) -> Response:
        """HTTP validation (acme issuer): the answers of ACME http-01 challenges, reached
        through the redirect each name has to its RedirectTo."""
        label, token = request.path_params["label"], request.path_params["token"]
        answer = await asyncio.to_thread(http01_answer, runtime.db, label, token)
        if answer is None:
            return PlainTextResponse("not found\n", status_code=404)
        return PlainTextResponse(answer)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> Response:
        try:
            runtime.db.check_ready()
        except StoreNotReady as exc:
            return JSONResponse({"ready": False, "reason": str(exc)}, status_code=503)
        return JSONResponse({"ready": True})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(background.run(stop))
        try:
            yield
        finally:
            stop.set()
            await task
            audit.close()
            runtime.close()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route(f"{HTTP01_PATH}{{label}}/{{token}}", http01, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *pki_routes(
            runtime.db,
            ca,
            settings.issuance.crl_validity_seconds,
            pca_service.revocation,
            pca_service.audit_reports,
        ),
        *metrics_routes(metrics, runtime.db, settings.issuance, clock),
        *(dev_clock_routes(clock) if settings.dev else []),
        *approval_routes(ApprovalDesk(runtime.db), approval_csrf_key(validation_key)),
        # The console signs its calls and hands them to the API endpoint in-process.
        *console_routes(
            endpoint,
            SessionStore(settings.data_dir / "console-sessions", runtime.cipher),
            DirectServices(
                runtime.db,
                IdentityAdmin(runtime.db, runtime.cipher),
                keys,
                clock,
                audit,
                authorizer,
            ),
            dev=settings.dev,
        ),
        *acme_routes(acme_server, clock, AcmeTrail(audit, metrics)),
    ]
    return OpenAcmApp(endpoint, Starlette(routes=routes, lifespan=lifespan))
