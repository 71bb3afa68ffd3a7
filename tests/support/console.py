"""A console visitor for HTTP-level tests: an httpx client that keeps the console's cookies
itself (they are Secure, and httpx would not send Secure cookies over the test's plain HTTP)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.server import OpenAcmServer


class ConsoleVisitor:
    def __init__(self, server: OpenAcmServer) -> None:
        self.http = httpx.Client(base_url=server.endpoint, follow_redirects=False, timeout=30)
        self.cookies: dict[str, str] = {}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._keep(self.http.get(path, headers=self._cookie_header(), **kwargs))

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self._keep(self.http.post(path, data=data, headers=self._cookie_header()))

    def upload(
        self, path: str, data: dict[str, str], files: dict[str, tuple[str, bytes]]
    ) -> httpx.Response:
        """A multipart post (the import page's file upload)."""
        return self._keep(
            self.http.post(path, data=data, files=files, headers=self._cookie_header())
        )

    def csrf_of(self, page: httpx.Response) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match, page.text
        return match.group(1)

    def sign_in(self, key: tuple[str, str], region: str = "us-east-1") -> httpx.Response:
        form = self.get("/console/sign-in")
        return self.post(
            "/console/sign-in",
            {
                "csrf": self.csrf_of(form),
                "access_key_id": key[0],
                "secret_access_key": key[1],
                "region": region,
            },
        )

    def _cookie_header(self) -> dict[str, str]:
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            if value and "max-age=0" not in header.lower():
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return response
