"""A small real TLS server for the agent's tests, and the reload command that drives it.

    python -m tests.support.tls_reload_server reload --pid-file P --cert F --key K --port N

is what the agent's config names as its reload command (an argv, no shell): like
`systemctl reload-or-restart`, it sends SIGHUP to the running server (which then loads the
certificate and key files again, as nginx does) or starts the server when none runs, and
returns once the server serves the files as they are now. The server answers each TLS
connection with one line and closes it; `served_certificate` is the client side.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509

READY_TIMEOUT = 15.0


def serve(cert: Path, key: Path, port: int, pid_file: Path, reloads: Path) -> None:
    context = _context(cert, key)

    def reload(_signum: int, _frame: object) -> None:
        nonlocal context
        try:
            context = _context(cert, key)
            outcome = "reloaded"
        except (OSError, ssl.SSLError) as exc:  # keep serving the old pair
            outcome = f"reload failed: {exc}"
        with reloads.open("a") as log:
            log.write(f"{time.time():.3f} {outcome}\n")

    signal.signal(signal.SIGHUP, reload)
    listener = socket.create_server(("127.0.0.1", port))
    temporary = pid_file.with_suffix(".tmp")
    temporary.write_text(str(os.getpid()))
    temporary.replace(pid_file)  # the pid appears only once the port listens
    while True:
        connection, _address = listener.accept()
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                tls.sendall(b"hello\n")
        except (OSError, ssl.SSLError):
            connection.close()


def _context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def served_certificate(port: int, timeout: float = 5.0) -> x509.Certificate:
    """The certificate the server presents. Not verified: after the dev clock moved, a renewed
    certificate is valid only in the future; the test compares serials and keys instead."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        tls.recv(16)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def reload_or_start(cert: Path, key: Path, port: int, pid_file: Path, reloads: Path) -> int:
    pid = _running_pid(pid_file)
    if pid is not None:
        os.kill(pid, signal.SIGHUP)
        return 0
    pid_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "tests.support.tls_reload_server", "serve"]
    command += ["--cert", str(cert), "--key", str(key), "--port", str(port)]
    command += ["--pid-file", str(pid_file), "--reloads", str(reloads)]
    log = reloads.with_suffix(".server.log").open("ab")
    # Its own session: the server outlives this command, as a daemon outlives systemctl.
    subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True, close_fds=True)
    deadline = time.monotonic() + READY_TIMEOUT
    while _running_pid(pid_file) is None:
        if time.monotonic() > deadline:
            print("the TLS server did not start", file=sys.stderr)
            return 1
        time.sleep(0.05)
    with reloads.open("a") as out:
        out.write(f"{time.time():.3f} started\n")
    return 0


def _running_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def stop(pid_file: Path) -> None:
    pid = _running_pid(pid_file)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "reload"])
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid-file", type=Path, required=True)
    parser.add_argument("--reloads", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.mode == "serve":
        serve(args.cert, args.key, args.port, args.pid_file, args.reloads)
        return 0
    return reload_or_start(args.cert, args.key, args.port, args.pid_file, args.reloads)


if __name__ == "__main__":
    sys.exit(main())
