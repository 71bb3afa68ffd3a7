"""A real Unbound resolver (Debian `unbound`) on 127.0.0.1 for tests: stub zones send each
zone's questions to the authoritative server given, so a client asking Unbound (Pebble) sees
the test BIND zone and openacm's own validation-zone responder together, CNAMEs across the
two followed, as a public resolver would. No DNSSEC, caching as short as Unbound allows."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import dns.exception
import dns.message
import dns.query

from tests.support.bind import ADDRESS, _die_with_parent, free_udp_and_tcp_port

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"


class UnboundResolver:
    def __init__(self, stubs: Mapping[str, str], work_dir: Path | None = None) -> None:
        """`stubs`: zone → "addr:port" of its authoritative server."""
        self.stubs = dict(stubs)
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="openacm-unbound-"))
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def nameserver_spec(self) -> str:
        return f"{ADDRESS}:{self.port}"

    @property
    def log(self) -> str:
        path = self.work_dir / "unbound.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _config(self) -> str:
        stubs = "".join(
            f'stub-zone:\n  name: "{zone}"\n  stub-addr: {server.replace(":", "@")}\n'
            for zone, server in self.stubs.items()
        )
        insecure = "".join(f'  domain-insecure: "{zone}"\n' for zone in self.stubs)
        return f"""server:
  interface: {ADDRESS}
  port: {self.port}
  username: ""
  chroot: ""
  directory: "{self.work_dir}"
  pidfile: "{self.work_dir}/unbound.pid"
  logfile: "{self.work_dir}/unbound.log"
  use-syslog: no
  do-daemonize: no
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
  cache-max-ttl: 1
  cache-max-negative-ttl: 1
{insecure}{stubs}"""

    def start(self, timeout: float = 10.0) -> UnboundResolver:
        self.port = free_udp_and_tcp_port()
        (self.work_dir / "unbound.conf").write_text(self._config())
        self._process = subprocess.Popen(
            [UNBOUND, "-d", "-c", str(self.work_dir / "unbound.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        zone = next(iter(self.stubs))
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"unbound exited:\n{self.log}")
            try:
                query = dns.message.make_query(zone, "SOA")
                dns.query.udp(query, ADDRESS, timeout=0.5, port=self.port)
                return self
            except (dns.exception.DNSException, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"unbound did not start:\n{self.log}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.work_dir, ignore_errors=True)


def unbound_available() -> bool:
    return os.access(UNBOUND, os.X_OK)
