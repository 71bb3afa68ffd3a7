"""`python -m bench acme-issuer`: public certificates through an upstream ACME CA, openacm next to
lego in the same run.

A real Pebble (Debian `pebble`, its random validation sleeps off) on loopback resolves
through a real BIND (Debian `bind9`) serving the test zone. Both clients prove names with
dns-01 through RFC 2136 updates to that BIND, key type EC P-256:

- **openacm**: a real `openacm serve --dev` (one worker per core) whose us-east-1 public
  issuer is the Pebble. Each name's `_acme-challenge` CNAME is created once, beforehand
  (with a first certificate, not timed), as a user does. Then: the time from
  RequestCertificate to ISSUED for single certificates one after another (DescribeCertificate
  polled every 20 ms), and the throughput of N requests made at once (the time until every one
  is ISSUED).
- **lego** (Debian `lego`) against the same Pebble directly, `--dns rfc2136`, propagation
  check off, account registered beforehand: the time of one `lego run` for single
  certificates one after another, and the throughput of N `lego run` processes at once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.progress import say

DEFAULT_CERTIFICATES = 20
DEFAULT_SINGLES = 5
ZONE = "openacm-test.com"
VALIDATION_ZONE = f"acme-validations.{ZONE}"
LEGO = shutil.which("lego") or "/usr/bin/lego"


@dataclass(frozen=True)
class Figures:
    single_s: list[float]  # request → ISSUED, one at a time
    batch: int
    batch_s: float  # N at once, until the last is ISSUED

    def line(self, who: str) -> str:
        median = statistics.median(self.single_s)
        return (
            f"{who}: request to ISSUED median {median:.2f} s (min {min(self.single_s):.2f}, "
            f"max {max(self.single_s):.2f}, {len(self.single_s)} one after another); "
            f"{self.batch} at once in {self.batch_s:.1f} s = {self.batch / self.batch_s:.2f}/s"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench acme-issuer", description=__doc__)
    parser.add_argument("--certificates", type=int, default=DEFAULT_CERTIFICATES)
    parser.add_argument("--singles", type=int, default=DEFAULT_SINGLES)
    parser.add_argument("--skip-lego", action="store_true")
    options = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.bind import BindServer
    from tests.support.pebble import PEBBLE, PebbleServer

    missing = [tool for tool in (PEBBLE, LEGO) if not os.access(tool, os.X_OK)]
    if missing:
        print(f"acme bench skipped: {', '.join(missing)} not installed (apt-get install "
              "pebble lego)")  # fmt: skip
        return 0
    with BindServer([ZONE]) as bind:
        pebble = PebbleServer(bind.nameserver_spec).start()
        try:
            ours = _openacm(bind, pebble, options.certificates, options.singles)
            print(ours.line("acme issuer, openacm through Pebble"))
            if not options.skip_lego:
                theirs = _lego(bind, pebble, options.certificates, options.singles)
                print(theirs.line("lego against the same Pebble"))
        finally:
            pebble.stop()
    return 0


# -- openacm ---------------------------------------------------------------------------------


def _openacm(bind: Any, pebble: Any, count: int, singles: int) -> Figures:
    from tests.conftest import pki_env
    from tests.integration.test_create_records import zone_entry
    from tests.support.acm_flow import describe, publish_records
    from tests.support.server import OpenAcmServer

    workers = int(os.environ.get("OPENACM_WORKERS", str(os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory(prefix="bench-acme-") as work:
        config = Path(work) / "openacm.toml"
        config.write_text(zone_entry(ZONE, bind, []))
        config.chmod(0o600)
        env = pki_env(
            bind,
            OPENACM_WORKERS=str(workers),
            OPENACM_VALIDATION_ZONE=VALIDATION_ZONE,
            OPENACM_VALIDATION_POLL_INTERVAL="0.05",
            OPENACM_ACME_DIRECTORY_URL=pebble.directory_url,
            OPENACM_ACME_CA_BUNDLE=pebble.ca_bundle,
            OPENACM_ACME_REGIONS="us-east-1",
        )
        server = OpenAcmServer(
            Path(work) / "data", env=env, extra_args=["--config", str(config)]
        ).start()
        try:
            _, key = server.new_account()
            acm = server.client(key=key)
            names = [f"b{index}-{uuid.uuid4().hex[:8]}.{ZONE}" for index in range(count)]
            say(f"openacm: {count} names, their CNAMEs created once (first certificates)")

            def first(name: str) -> None:
                arn = _request(acm, name)
                publish_records(bind, describe(acm, arn))
                _wait_issued(acm, arn)

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(first, names))
            single = []
            for name in names[:singles]:
                started = time.monotonic()
                _wait_issued(acm, _request(acm, name))
                single.append(time.monotonic() - started)
            say(f"openacm: {count} requests at once")
            started = time.monotonic()
            arns = [_request(acm, name) for name in names]
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda arn: _wait_issued(server.client(key=key), arn), arns))
            return Figures(single, count, time.monotonic() - started)
        finally:
            server.stop()


def _request(acm: Any, name: str) -> str:
    answer = acm.request_certificate(
        DomainName=name, ValidationMethod="DNS", KeyAlgorithm="EC_prime256v1"
    )
    return str(answer["CertificateArn"])


def _wait_issued(acm: Any, arn: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"]
        if status == "ISSUED":
            return
        if status != "PENDING_VALIDATION" or time.monotonic() > deadline:
            raise RuntimeError(f"{arn} ended {status}")
        time.sleep(0.02)


# -- lego ------------------------------------------------------------------------------------


def _lego(bind: Any, pebble: Any, count: int, singles: int) -> Figures:
    with tempfile.TemporaryDirectory(prefix="bench-lego-") as work:
        env = {
            **os.environ,
            "LEGO_CA_CERTIFICATES": pebble.ca_bundle,
            "RFC2136_NAMESERVER": bind.nameserver_spec,
            "RFC2136_TSIG_KEY": bind.tsig_key_name,
            "RFC2136_TSIG_SECRET": bind.tsig_secret_b64,
            "RFC2136_TSIG_ALGORITHM": f"{bind.tsig_algorithm.rstrip('.')}.",
            "RFC2136_TTL": "60",
            "RFC2136_SEQUENCE_INTERVAL": "0",
            "RFC2136_POLLING_INTERVAL": "1",
        }

        def run(name: str, path: str) -> float:
            command = [
                LEGO, "--server", pebble.directory_url, "--accept-tos",
                "--email", "ops@openacm-test.com", "--key-type", "ec256", "--path", path,
                "--dns", "rfc2136", "--dns.resolvers", bind.nameserver_spec,
                "--dns.disable-cp", "--domains", name, "run",
            ]  # fmt: skip
            started = time.monotonic()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"lego failed for {name}:\n{done.stdout}\n{done.stderr}")
            return time.monotonic() - started

        say("lego: the account registered (first certificate, not timed)")
        base = str(Path(work) / "lego")
        run(f"warm-{uuid.uuid4().hex[:8]}.{ZONE}", base)
        single = [run(f"l{index}-{uuid.uuid4().hex[:8]}.{ZONE}", base) for index in range(singles)]
        # One path per process (lego writes the certificate and account files there), each a
        # copy of the registered account.
        paths = []
        for index in range(count):
            path = str(Path(work) / f"lego-{index}")
            shutil.copytree(base, path)
            paths.append(path)
        say(f"lego: {count} processes at once")
        started = time.monotonic()
        with ThreadPoolExecutor(count) as pool:
            list(
                pool.map(
                    lambda args: run(*args),
                    [(f"m{i}-{uuid.uuid4().hex[:8]}.{ZONE}", paths[i]) for i in range(count)],
                )
            )
        return Figures(single, count, time.monotonic() - started)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
