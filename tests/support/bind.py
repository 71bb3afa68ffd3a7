"""A real BIND 9 authoritative server on 127.0.0.1 for tests: its own port, zones and TSIG key.

Each zone accepts dynamic updates signed with the server's key, so tests (and openacm itself)
change records the way a customer's DNS provider would. Recursion is off: whoever queries it
must follow aliases themselves, as openacm has to with real authoritative servers.

Use the session fixture `bind_server` (one server per pytest-xdist worker), and give each
test its own names (e.g. a random label) since every test of the worker shares the zones.
"""

from __future__ import annotations

import base64
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.tsig
import dns.update
import pytest

NAMED = shutil.which("named") or "/usr/sbin/named"
DEFAULT_ZONES = ("openacm-test.com", "other-test.net")
ADDRESS = "127.0.0.1"
TSIG_ALGORITHM = "hmac-sha256"
# A TXT record holding a per-server id: proves the process answering on our port is ours,
# not another worker's named that grabbed the same port (named shares UDP ports silently).
INSTANCE_LABEL = "_openacm-bind-instance"
START_ATTEMPTS = 3
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


class BindError(RuntimeError):
    pass


def free_udp_and_tcp_port() -> int:
    """A port free for both TCP and UDP on the loopback address, right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((ADDRESS, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((ADDRESS, port))
                except OSError:
                    continue
                return port
    raise BindError("no port free for both TCP and UDP on 127.0.0.1")


def _absolute(name: str) -> dns.name.Name:
    return dns.name.from_text(name, origin=dns.name.root)


def _die_with_parent() -> None:
    """In the child before exec: a test run killed outright must not leave named running."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _with_ancestors(zones: Sequence[dns.name.Name]) -> tuple[dns.name.Name, ...]:
    served = list(zones)
    for zone in zones:
        parent = zone.parent()
        while parent != dns.name.root:
            if parent not in served:
                served.append(parent)
            parent = parent.parent()
    return tuple(served)


class BindServer:
    def __init__(
        self,
        zones: Sequence[str] = DEFAULT_ZONES,
        work_dir: Path | None = None,
        *,
        serve_ancestors: bool = True,
    ) -> None:
        """`serve_ancestors` also makes the server authoritative (empty zones, updatable) for
        every parent of the zones short of the root (`com.`, `net.`): a CAA lookup climbing
        above a test zone then gets NODATA, as from a public resolver, not REFUSED."""
        if not zones:
            raise ValueError("at least one zone is needed")
        self._zones = tuple(_absolute(zone) for zone in zones)
        self._served = _with_ancestors(self._zones) if serve_ancestors else self._zones
        self._own_work_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="openacm-bind-"))
        self.tsig_key_name = "openacm-test-key"
        self.tsig_secret_b64 = base64.b64encode(secrets.token_bytes(32)).decode()
        self.tsig_algorithm = TSIG_ALGORITHM
        self.instance_id = uuid.uuid4().hex
        self._port = 0
        self._process: subprocess.Popen[bytes] | None = None

    # -- what clients need --------------------------------------------------------------

    @property
    def address(self) -> str:
        return ADDRESS

    @property
    def port(self) -> int:
        if not self._port:
            raise BindError("the BIND server is not started")
        return self._port

    @property
    def nameserver_spec(self) -> str:
        """`127.0.0.1:<port>`, the form openacm's nameserver settings take."""
        return f"{self.address}:{self.port}"

    @property
    def zones(self) -> tuple[str, ...]:
        """The test zones asked for (not their ancestors), without the trailing dot."""
        return tuple(zone.to_text(omit_final_dot=True) for zone in self._zones)

    @property
    def log_path(self) -> Path:
        return self.work_dir / "named.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> BindServer:
        if not os.access(NAMED, os.X_OK):
            raise BindError(f"{NAMED} is not installed (Debian package bind9)")
        problems = []
        for _ in range(START_ATTEMPTS):
            self._port = free_udp_and_tcp_port()
            self._write_config()
            self._launch()
            problem = self._wait_ready(timeout)
            if problem is None:
                return self
            problems.append(f"port {self._port}: {problem}")
            self._terminate()
        raise BindError(f"named did not start: {'; '.join(problems)}\n{self.log()}")

    def stop(self) -> None:
        self._terminate()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> BindServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def _launch(self) -> None:
        conf = self.work_dir / "named.conf"
        # A fresh log per attempt: the readiness check reads it for this attempt's errors.
        log = self.log_path.open("wb")
        # -g: foreground, logging to stderr (the log file), and no daemon to lose track of.
        self._process = subprocess.Popen(
            [NAMED, "-g", "-c", str(conf)],
            stdout=log,
            stderr=log,
            cwd=self.work_dir,
            preexec_fn=_die_with_parent,
        )
        log.close()

    def _wait_ready(self, timeout: float) -> str | None:
        """None once our own named answers on both UDP and TCP, else why it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return f"named exited with {self._process.returncode}"
            if "address in use" in self.log():
                return "address in use"
            answers = self._instance_ids()
            if answers is not None:
                if answers == {self.instance_id}:
                    return None
                return f"another server answers there ({answers})"
            time.sleep(0.05)
        return f"no answer within {timeout} s"

    def _instance_ids(self) -> set[str] | None:
        """Ids answered over UDP and TCP several times, or None while named is not up."""
        query = dns.message.make_query(dns.name.from_text(INSTANCE_LABEL, self._zones[0]), "TXT")
        ids: set[str] = set()
        try:
            # TCP first: until named listens it fails at once, where UDP would wait out a timeout.
            for _ in range(4):
                for send in (dns.query.tcp, dns.query.udp):
                    response = send(query, ADDRESS, timeout=0.5, port=self._port)
                    ids |= {rdata.to_text().strip('"') for rrs in response.answer for rdata in rrs}
        except (dns.exception.DNSException, OSError):
            return None
        return ids or None

    # -- configuration ------------------------------------------------------------------

    def _write_config(self) -> None:
        for zone in self._served:
            self._zone_file(zone).write_text(self._zone_text(zone))
            # Journals of an earlier attempt would replay into the fresh zone file.
            Path(f"{self._zone_file(zone)}.jnl").unlink(missing_ok=True)
        (self.work_dir / "named.conf").write_text(self._named_conf())

    def _zone_file(self, zone: dns.name.Name) -> Path:
        return self.work_dir / f"{zone.to_text(omit_final_dot=True)}.db"

    def _named_conf(self) -> str:
        work = self.work_dir
        zones = "".join(
            f'zone "{zone.to_text(omit_final_dot=True)}" {{ type primary; '
            f'file "{self._zone_file(zone)}"; allow-update {{ key "{self.tsig_key_name}"; }}; }};\n'
            for zone in self._served
        )
        return f"""
key "{self.tsig_key_name}" {{ algorithm {self.tsig_algorithm}; secret "{self.tsig_secret_b64}"; }};
options {{
    directory "{work}";
    pid-file "{work}/named.pid";
    session-keyfile "{work}/session.key";
    managed-keys-directory "{work}";
    listen-on port {self._port} {{ {ADDRESS}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
}};
controls {{ }};
{zones}"""

    def _zone_text(self, zone: dns.name.Name) -> str:
        # TTLs and the SOA minimum (negative-caching TTL) are 1 s so deletions show at once
        # even through a caching resolver.
        lines = [
            "$TTL 1",
            "@ IN SOA ns1 hostmaster 1 3600 600 86400 1",
            "@ IN NS ns1",
            f"ns1 IN A {ADDRESS}",
        ]
        if zone == self._zones[0]:
            lines.append(f'{INSTANCE_LABEL} IN TXT "{self.instance_id}"')
        return "\n".join(lines) + "\n"

    # -- changing records ---------------------------------------------------------------

    def add_cname(self, name: str, target: str, ttl: int = 60) -> None:
        self.add(name, "CNAME", _absolute(target).to_text(), ttl)

    def add_caa(self, name: str, flags: int, tag: str, value: str, ttl: int = 60) -> None:
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        self.add(name, "CAA", f'{flags} {tag} "{quoted}"', ttl)

    def add_txt(self, name: str, *values: str, ttl: int = 60) -> None:
        for value in values:
            quoted = value.replace("\\", "\\\\").replace('"', '\\"')
            self.add(name, "TXT", f'"{quoted}"', ttl)

    def add(self, name: str, rdtype: str, rdata: str, ttl: int = 60) -> None:
        """Add one record (rdata in zone-file text form) next to any already there."""
        owner, update = self._update_for(name)
        update.add(owner, ttl, rdtype, rdata)
        self._send(update)

    def delete(self, name: str, rdtype: str | None = None) -> None:
        """Remove the records of `rdtype` at `name`, or all of them when rdtype is None."""
        owner, update = self._update_for(name)
        if rdtype is None:
            update.delete(owner)
        else:
            update.delete(owner, rdtype)
        self._send(update)

    def zone_of(self, name: str) -> dns.name.Name:
        owner = _absolute(name)
        containing = [zone for zone in self._served if owner.is_subdomain(zone)]
        if not containing:
            raise BindError(f"{owner} is in none of the zones {self.zones}")
        return max(containing, key=len)

    def _update_for(self, name: str) -> tuple[dns.name.Name, dns.update.UpdateMessage]:
        key = dns.tsig.Key(self.tsig_key_name, self.tsig_secret_b64, self.tsig_algorithm)
        return _absolute(name), dns.update.UpdateMessage(self.zone_of(name), keyring=key)

    def _send(self, update: dns.update.UpdateMessage) -> None:
        response = dns.query.tcp(update, ADDRESS, timeout=5, port=self.port)
        if response.rcode() != dns.rcode.NOERROR:
            raise BindError(f"update refused: {dns.rcode.to_text(response.rcode())}")


@pytest.fixture(scope="session")
def bind_server() -> Iterator[BindServer]:
    """One BIND server per test session (per xdist worker), stopped at the end."""
    if not os.access(NAMED, os.X_OK):
        reason = f"{NAMED} is not installed (apt-get install bind9)"
        if IN_CI:
            pytest.fail(f"CI must run the DNS tests: {reason}")
        pytest.skip(reason)
    server = BindServer().start()
    try:
        yield server
    finally:
        server.stop()
