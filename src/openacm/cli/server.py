"""Running the ASGI app: one process, or several workers sharing one listening socket.

Each API call runs to completion on its worker's event loop (the store calls are short and
synchronous), so a worker uses one core; `--workers N` uses N. The parent binds the socket and
migrates the store once, then forks the workers; a worker dies with its parent (Linux
PR_SET_PDEATHSIG), so `kill -9` of the server leaves nothing listening behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import ssl
import sys

import uvicorn

from openacm.config import Settings

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


def serve_on(settings: Settings, sock: socket.socket) -> None:
    """One worker: build the app and serve the socket until told to stop."""
    from openacm.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    config.load()
    if config.ssl is not None:
        # The seeds require TLS 1.2 or later of ACM clients.
        config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    uvicorn.Server(config).run(sockets=[sock])


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_workers(settings: Settings, sock: socket.socket, workers: int) -> int:
    """Fork `workers` processes serving `sock`; relay SIGTERM/SIGINT; return an exit code."""
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            code = 0
            try:
                serve_on(settings, sock)
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
