"""The composition root: one running openacm, assembled from its settings."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from openacm.adapters.audit_log import AuditLog
from openacm.adapters.dns.resolver import DnsChecker, Nameserver
from openacm.adapters.envelope import MASTER_KEY_ENV, EnvelopeCipher, MasterKey
from openacm.adapters.store.database import Database, StoreNotReady
from openacm.config import Settings, ValidationSettings
from openacm.domain.names import NamePolicy
from openacm.protocol.approvals import approval_csrf_key, approval_routes
from openacm.protocol.endpoint import JsonApiEndpoint, ServedApi
from openacm.protocol.model import ApiModel
from openacm.protocol.pki_endpoints import pki_routes
from openacm.services.acm.email_validation import ApprovalDesk
from openacm.services.acm.mail_worker import email_validation_work
from openacm.services.acm.service import AcmService
from openacm.services.acm.validation_worker import ValidationWorker
from openacm.services.background import BackgroundWork
from openacm.services.identity import IdentityAdmin, KeyDirectory
from openacm.services.pca.service import PcaService
from openacm.services.pki.builtin_ca import BuiltinCa, public_base_url, signer_factory
from openacm.services.pki.leaf_issuer import LeafIssuer
from openacm.services.pki.leaf_keys import LeafKeys
from openacm.services.pki.secrets import DNS_VALIDATION_KEY, installation_secret
from openacm.services.records import OpenAcmService


@dataclass
class Runtime:
    """The long-lived parts, shared by the HTTP app and the admin commands."""

    settings: Settings
    db: Database
    cipher: EnvelopeCipher

    @classmethod
    def open(cls, settings: Settings, *, prepare: bool = True) -> Runtime:
        """The runtime for `settings`; `prepare` also brings the schema to head and, in dev
        mode, creates the dev identity (once per start, by the process that starts)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        master = MasterKey.load_or_create(
            settings.effective_master_key_file, os.environ.get(MASTER_KEY_ENV)
        )
        db = Database(settings.effective_database_url)
        runtime = cls(settings, db, EnvelopeCipher(master))
        if prepare:
            db.migrate()
            if settings.dev:
                IdentityAdmin(db, runtime.cipher).ensure_dev_identity()
            BuiltinCa.ensure_created(db, runtime.cipher, settings, now=time.time())
            installation_secret(db, runtime.cipher, DNS_VALIDATION_KEY, now=time.time())
        return runtime

    def builtin_ca(self) -> BuiltinCa:
        return BuiltinCa.load(
            self.db,
            signer_factory(self.cipher, self.settings.issuance),
            public_base_url(self.settings),
        )

    def close(self) -> None:
        self.db.dispose()


class OpenAcmApp:
    """`POST /` (AWS JSON) and every `/service/...` path (Smithy RPC v2 CBOR, which answers
    other methods itself) go straight to the API endpoint; everything else (health, lifespan,
    later the console) to the Starlette site."""

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
    )
    # openacm's own API next to ACM's (CreateValidationRecords, ListValidationZones), signed
    # with the same credentials: docs/dns-zones.md.
    openacm_api = ServedApi(
        ApiModel.load("openacm"),
        OpenAcmService(runtime.db, runtime.cipher, settings),
        "openacm.amazonaws.com",
        blocking_operations=frozenset({"CreateValidationRecords"}),
    )
    pca = ServedApi(
        ApiModel.load("acm-pca"),
        PcaService(runtime.db, runtime.cipher, settings),
        "acm-pca.amazonaws.com",
        # Key generation takes seconds for RSA 4096: off the event loop.
        blocking_operations=frozenset({"CreateCertificateAuthority"}),
    )
    endpoint = JsonApiEndpoint([acm, pca, openacm_api], keys, audit)
    keys_pool = LeafKeys(runtime.db, runtime.cipher, settings.issuance.rsa_key_pool_size)
    worker = ValidationWorker(
        runtime.db,
        DnsChecker(resolvers_of(settings.validation), timeout=settings.validation.dns_timeout),
        LeafIssuer(runtime.db, runtime.cipher, ca, keys_pool, settings.issuance),
        settings.validation,
        settings.issuance,
    )
    background = BackgroundWork(
        runtime.db,
        worker,
        ca,
        keys_pool,
        settings.issuance,
        poll_interval=settings.validation.poll_interval,
        more_work=email_validation_work(runtime.db, settings, worker.dns),
    )

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
        Route("/readyz", readyz, methods=["GET"]),
        *pki_routes(runtime.db, ca, settings.issuance.crl_validity_seconds),
        *approval_routes(ApprovalDesk(runtime.db), approval_csrf_key(validation_key)),
    ]
    return OpenAcmApp(endpoint, Starlette(routes=routes, lifespan=lifespan))
