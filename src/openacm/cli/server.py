"""Running the ASGI app: one process, or several workers sharing one listening socket.

Each API call runs to completion on its worker's event loop (the store calls are short and
synchronous), so a worker uses one core; `--workers N` uses N. The parent binds the socket and
migrates the store once, then forks the workers; a worker dies with its parent (Linux
PR_SET_PDEATHSIG), so `kill -9` of the server leaves nothing listening behind.

TLS (1.2 or later) uses the --tls-cert/--tls-key files, or the certificate the builtin CA
issues to this server (`SelfIssuedTls`), which each worker keeps current on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable

import uvicorn
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from openacm.config import Settings
from openacm.domain.validation import HTTP01_PATH
from openacm.services.pki.server_certificate import (
    ServedCertificate,
    ServerCertificate,
    ServerHostnames,
    default_hostnames,
)

log = logging.getLogger("openacm")
PR_SET_PDEATHSIG = 1


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # The seeds require TLS 1.2 or later of ACM clients.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def load_pem_bundle(context: ssl.SSLContext, bundle: bytes) -> None:
    """Load a chain and its private key from memory: `load_cert_chain` reads only files, so
    they go through an anonymous memory file and the key never touches a disk in clear."""
    fd = os.memfd_create("openacm-server-tls", os.MFD_CLOEXEC)
    try:
        with open(fd, "wb", closefd=False) as memory:
            memory.write(bundle)
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


class SelfIssuedTls:
    """The builtin CA's certificate for this server, in one SSLContext, kept current.

    A new certificate is loaded into the same context, so connections accepted afterwards
    present it while the listening socket stays open. Loading happens on the event loop's
    thread, the one that creates the TLS connections, so no handshake sees a context
    half-way between two certificates.
    """

    def __init__(self, certificates: ServerCertificate, check_seconds: float) -> None:
        self.certificates = certificates
        self.check_seconds = max(check_seconds, 0.1)
        self.context = tls_context()
        self.serial: str | None = None

    def load(self, served: ServedCertificate) -> None:
        load_pem_bundle(self.context, served.pem_bundle())
        self.serial = served.serial
        log.info("serving the server's TLS certificate", extra=served.log_fields())

    async def keep_current(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                served = await asyncio.to_thread(self.certificates.current)
            except Exception:
                # Keep serving the loaded certificate; the next check tries again.
                log.exception("could not check the server's TLS certificate")
                continue
            if served.serial != self.serial:
                self.load(served)


def _self_issued_tls(settings: Settings) -> SelfIssuedTls:
    from openacm.runtime import Runtime

    runtime = Runtime.open(settings, prepare=False)
    hostnames = ServerHostnames.parse(default_hostnames(settings.tls_hostnames, settings.host))
    certificates = ServerCertificate(
        runtime.db,
        runtime.cipher,
        runtime.builtin_ca(),
        hostnames,
        max_validity_days=settings.issuance.max_validity_days,
    )
    tls = SelfIssuedTls(certificates, settings.issuance.server_tls_check_seconds)
    tls.load(certificates.current())
    return tls


class PkiPathsOnly:
    """The app as the plain-HTTP PKI port shows it: roots, CA certificates, CRLs and OCSP,
    and the answers of ACME http-01 challenges (HTTP validation), nothing else (the APIs never
    travel over that port)."""

    PREFIXES = ("/ca/", "/crl/", "/ocsp/", HTTP01_PATH)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.PREFIXES):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            await PlainTextResponse("not found\n", status_code=404)(scope, receive, send)


def serve_on(
    settings: Settings, sock: socket.socket, pki_sock: socket.socket | None = None
) -> None:
    """One worker: build the app and serve the socket(s) until told to stop."""
    from openacm.app import create_app

    context: ssl.SSLContext | None = None
    self_issued: SelfIssuedTls | None = None
    if settings.tls_cert:
        context = tls_context()
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    elif settings.self_tls:
        self_issued = _self_issued_tls(settings)
        context = self_issued.context

    def use_context(
        _config: uvicorn.Config, _default: Callable[[], ssl.SSLContext]
    ) -> ssl.SSLContext:
        assert context is not None
        return context

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        ssl_context_factory=use_context if context else None,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    server = uvicorn.Server(config)
    pki_server = None
    if pki_sock is not None:
        # Same app object, so the main server's lifespan serves both; no TLS, no lifespan.
        pki_server = uvicorn.Server(
            uvicorn.Config(
                PkiPathsOnly(app),
                log_config=None,
                access_log=False,
                lifespan="off",
                server_header=False,
            )
        )
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve(server, sock, self_issued, pki_server, pki_sock))


async def _serve(
    server: uvicorn.Server,
    sock: socket.socket,
    self_issued: SelfIssuedTls | None,
    pki_server: uvicorn.Server | None = None,
    pki_sock: socket.socket | None = None,
) -> None:
    renewal = asyncio.create_task(self_issued.keep_current()) if self_issued else None
    pki = (
        asyncio.create_task(pki_server.serve(sockets=[pki_sock]))
        if pki_server is not None and pki_sock is not None
        else None
    )
    linked = (
        asyncio.create_task(_stop_together(server, pki_server)) if pki_server is not None else None
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        if pki_server is not None and pki is not None and linked is not None:
            pki_server.should_exit = True
            await pki
            linked.cancel()
        if renewal is not None:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal


async def _stop_together(first: uvicorn.Server, second: uvicorn.Server) -> None:
    """Both servers stop when either is told to: each installs the signal handlers in turn,
    so only one of them hears SIGTERM."""
    while not (first.should_exit or second.should_exit):
        await asyncio.sleep(0.2)
    first.should_exit = second.should_exit = True


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_workers(
    settings: Settings, sock: socket.socket, workers: int, pki_sock: socket.socket | None = None
) -> int:
    """Fork `workers` processes serving `sock`; relay SIGTERM/SIGINT; return an exit code."""
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            code = 0
            try:
                serve_on(settings, sock, pki_sock)
            except BaseException:
                log.exception("worker failed")
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def relay(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, relay)
    signal.signal(signal.SIGINT, relay)
    exit_code = 0
    remaining = set(children)
    while remaining:
        pid, status = os.wait()
        remaining.discard(pid)
        if os.waitstatus_to_exitcode(status) != 0 and remaining:
            # One worker down means the service is degraded: stop the rest and let the
            # supervisor (systemd, Kubernetes, …) restart the whole server.
            log.error("worker %d exited with status %d; stopping", pid, status)
            exit_code = 1
            relay(signal.SIGTERM, None)
    return exit_code
