"""`python -m bench console`: the web console (docs/console.md) on a real `openacm serve --dev`
(one worker per core, as deployed): every page for an empty account, then for one holding
10,000 imported certificates, and the certificate list page's latency there, one browser's
requests one after another. Target: the default list page answers in under 300 ms (p95).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.cli import DEFAULT_CACHE
from bench.client import import_all
from bench.fixtures import load_or_create
from bench.progress import say
from bench.servers import OPENACM, running

TARGET_S = 0.300
# The pages timed: the list's default page, larger pages, a status filter, a name search,
# another sort, the optional columns; and the dashboard (which reads the year's expiries), the
# audit log and one certificate's detail page (its events among the 10,000 imports').
LIST_PAGES = {
    "default (25)": "/console/certificates",
    "100 per page": "/console/certificates?size=100",
    "500 per page": "/console/certificates?size=500",
    "status ISSUED, oldest first": "/console/certificates?status=ISSUED&order=ASCENDING",
    "name search": "/console/certificates?search=example",
    "sorted by not after": "/console/certificates?sort=NOT_AFTER",
    "dashboard (not a list page)": "/console/dashboard",
    "audit log, 50 newest (not a list page)": "/console/audit",
    "5 optional columns": (
        "/console/certificates?column=names&column=requested&column=not_before"
        "&column=not_after&column=renewal"
    ),
}
PAGES = [
    "/console/certificates",
    "/console/certificates/request",
    "/console/certificates/import",
    "/console/private-cas",
    "/console/private-cas/create",
    "/console/account",
    "/console/dashboard",
    "/console/acme-endpoints",
    "/console/acme-endpoints/create",
    "/console/access-keys",
    "/console/audit",
]


class Browser:
    """One signed-in browser: keeps the console's cookies itself (they are Secure, and the
    benchmark talks plain HTTP to loopback, where browsers send them but httpx does not)."""

    def __init__(self, endpoint: str) -> None:
        self.http = httpx.Client(base_url=endpoint, timeout=60)
        self.cookies: dict[str, str] = {}

    def get(self, path: str) -> httpx.Response:
        return self._keep(self.http.get(path, headers=self._header()))

    def sign_in_as_dev(self) -> None:
        form = self.get("/console/sign-in")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, "no sign-in form"
        answer = self._keep(
            self.http.post(
                "/console/sign-in",
                data={"csrf": token.group(1), "dev": "1", "region": "us-east-1"},
                headers=self._header(),
            )
        )
        if answer.status_code != 303 or "openacm_console" not in self.cookies:
            raise RuntimeError(f"sign-in failed: {answer.status_code} {answer.text[:200]}")

    def _header(self) -> dict[str, str]:
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0].strip('"')
        return response


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench console", description=__doc__)
    parser.add_argument("--certs", type=int, default=10_000, help="certificates imported")
    parser.add_argument("--requests", type=int, default=40, help="timed loads of each page")
    parser.add_argument("--import-threads", type=int, default=8)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    options = parser.parse_args(argv)
    fixtures = load_or_create(options.cache_dir, options.certs)
    with (
        tempfile.TemporaryDirectory(prefix="openacm-bench-console-") as work,
        running(OPENACM, Path(work)) as server,
    ):
        browser = Browser(server.endpoint)
        browser.sign_in_as_dev()
        failures = _check_pages(browser, PAGES, "empty account")
        arns = import_all(server, fixtures, options.import_threads)
        detail = f"/console/certificates/detail?arn={quote(arns[len(arns) // 2])}"
        failures += _check_pages(browser, [*PAGES, detail], f"{len(arns)} certificates")
        timed = {**LIST_PAGES, "certificate detail (not a list page)": detail}
        rows = [
            _timed(browser, name, path, _loads(name, options.requests))
            for name, path in timed.items()
        ]
    print(f"\nconsole pages, {len(arns)} certificates, {options.requests} loads each")
    print(f"{'page':40} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for name, median, p95, longest in rows:
        print(f"{name:40} {median * 1000:10.1f} {p95 * 1000:8.1f} {longest * 1000:8.1f}")
    default_p95 = rows[0][2]
    verdict = "meets" if default_p95 < TARGET_S else "MISSES"
    target_ms = TARGET_S * 1000
    print(f"default page p95 {default_p95 * 1000:.0f} ms {verdict} the {target_ms:.0f} ms target")
    return 0 if default_p95 < TARGET_S and not failures else 1


def _loads(name: str, requests: int) -> int:
    """The dashboard reads up to 2,000 certificates a load: fewer loads of it."""
    return max(3, requests // 8) if name.startswith("dashboard") else requests


def _check_pages(browser: Browser, paths: list[str], label: str) -> int:
    """Every page answers 200 (a server error or a bounce to sign-in is a failure)."""
    failures = 0
    for path in paths:
        status = browser.get(path).status_code
        if status != 200:
            failures += 1
            print(f"bench: {label}: {path} answered {status}", file=sys.stderr)
    say(f"{label}: {len(paths) - failures}/{len(paths)} pages answered 200")
    return failures


def _timed(browser: Browser, name: str, path: str, count: int) -> tuple[str, float, float, float]:
    browser.get(path)  # warm-up: templates compiled, caches filled
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        answer = browser.get(path)
        seconds.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}")
    seconds.sort()
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
    return name, statistics.median(seconds), p95, seconds[-1]
