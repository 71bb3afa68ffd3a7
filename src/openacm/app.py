"""The composition root: one running openacm, assembled from its settings."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from openacm.adapters.audit_log import AuditLog
from openacm.adapters.envelope import MASTER_KEY_ENV, EnvelopeCipher, MasterKey
from openacm.adapters.store.database import Database, StoreNotReady
from openacm.config import Settings
from openacm.protocol.endpoint import JsonApiEndpoint, ServedApi
from openacm.protocol.model import ApiModel
from openacm.services.acm.service import AcmService
from openacm.services.identity import IdentityAdmin, KeyDirectory


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
        return runtime

    def close(self) -> None:
        self.db.dispose()


class OpenAcmApp:
    """`POST /` goes straight to the API endpoint; everything else (health, lifespan, later
    the console) to the Starlette site."""

    def __init__(self, api: JsonApiEndpoint, site: Starlette) -> None:
        self.api = api
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/" and scope["method"] == "POST":
            await self.api(scope, receive, send)
        else:
            await self.site(scope, receive, send)


def create_app(settings: Settings) -> OpenAcmApp:
    # `openacm serve` prepared the store before starting the workers; /readyz reports a
    # schema that is not at head.
    runtime = Runtime.open(settings, prepare=False)
    audit = AuditLog(runtime.db, settings.audit_log_path)
    keys = KeyDirectory(runtime.db, runtime.cipher, dev=settings.dev)
    acm = ServedApi(
        ApiModel.load("acm"),
        AcmService(runtime.db, runtime.cipher, settings.quotas),
        "acm.amazonaws.com",
    )
    endpoint = JsonApiEndpoint([acm], keys, audit)

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
        try:
            yield
        finally:
            audit.close()
            runtime.close()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    return OpenAcmApp(endpoint, Starlette(routes=routes, lifespan=lifespan))
