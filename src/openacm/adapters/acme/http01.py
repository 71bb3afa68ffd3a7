"""Whether a name's HTTP validation redirect is in place, checked before the CA is asked (as
the CNAME is for DNS validation).

openacm fetches the probe path under RedirectFrom the way a CA fetches an http-01 answer
(RFC 8555 §8.3): the name's addresses from the validation resolvers, port 80 (a test CA may
be told another), redirects followed to http or https whatever their certificate (but only
to the name's own host or RedirectTo's), and compares what comes back with the label openacm
itself answers there.
"""

from __future__ import annotations

import ipaddress
import logging
import warnings
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from openacm.adapters.dns.resolver import DnsChecker, DnsLookupError
from openacm.domain.validation import HTTP01_PROBE

log = logging.getLogger("openacm.acme")
# Let's Encrypt follows at most 10 redirects; so does the check.
MAX_REDIRECTS = 10


class RedirectProbe:
    def __init__(self, dns: DnsChecker, *, port: int = 80, timeout: float = 5.0) -> None:
        self.dns = dns
        self.port = port
        self.timeout = timeout

    def redirected(self, redirect_from: str, redirect_to: str) -> bool:
        """Whether `<redirect_from>openacm.probe` ends, after redirects, at openacm's answer
        for the label of `redirect_to` (its last path segment)."""
        label = redirect_to.rstrip("/").rsplit("/", 1)[-1]
        url = redirect_from + HTTP01_PROBE
        # Only the name's own host and openacm's: a redirect elsewhere cannot end at openacm's
        # answer, and following it would let a user make openacm fetch any address.
        hosts = {urlsplit(redirect_from).hostname, urlsplit(redirect_to).hostname}
        port: int | None = self.port  # the first request only: redirects say their own port
        for _ in range(MAX_REDIRECTS + 1):
            response = self._get(url, port)
            if response is None:
                return False
            if not response.is_redirect:
                return response.status_code == 200 and response.text.strip() == label
            url = urljoin(url, response.headers.get("Location", ""))
            target = urlsplit(url)
            if target.scheme not in ("http", "https") or target.hostname not in hosts:
                return False
            port = None
        return False

    def _get(self, url: str, port: int | None) -> requests.Response | None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = port or parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = [host] if _is_ip(host) else list(self.dns.addresses(host))
        except DnsLookupError as exc:
            log.info("HTTP validation: lookup failed", extra={"name": host, "error": str(exc)})
            return None
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for address in addresses:
            literal = f"[{address}]" if ":" in address else address
            try:
                with warnings.catch_warnings():
                    # Like a CA: the redirect target's certificate is not what is proven.
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    return requests.get(
                        f"{parts.scheme}://{literal}:{port}{path}",
                        headers={"Host": parts.netloc or host},
                        allow_redirects=False, verify=False, timeout=self.timeout,
                    )  # fmt: skip
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                log.info("HTTP validation: no answer", extra={"url": url, "error": str(exc)})
        return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
