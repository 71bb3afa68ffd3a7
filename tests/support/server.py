"""A real `openacm serve` process for tests: free port, fresh data dir, SQLite or PostgreSQL.

Tests talk to it the way users do: boto3 clients and the aws CLI pointed at its endpoint URL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
OPENACM = [sys.executable, "-m", "openacm"]
PG_ADMIN_URL = os.environ.get("OPENACM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
DEV_KEY = ("test", "test")
# No retries: a test must see the first answer, and a 500 must not be hidden by a retry
# (botocore's `max_attempts` counts retries, so one attempt in all is `total_max_attempts`).
NO_RETRIES = Config(
    retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60
)


# What every test server runs with unless its test says otherwise. A server keeps a pool of
# RSA leaf keys topped up in the background: 64 keys (the default) are several seconds of a
# core per server, taken from the other test worker; a few keep the pooled path in use.
SERVER_ENV = {"OPENACM_ISSUANCE_RSA_KEY_POOL_SIZE": "4"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_available() -> str | None:
    """None when the test PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means "not here"
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {type(exc).__name__}: {exc}"


def create_postgres_database() -> str:
    """A new empty database; returns its SQLAlchemy URL."""
    import psycopg

    name = f"openacm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class OpenAcmServer:
    data_dir: Path
    database_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _admin: Any = None
    _runtime_handle: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def storage_args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        return args

    def process_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENACM_", "AWS_"))}
        env.update(SERVER_ENV)
        env.update(self.env)
        return env

    def start(self, timeout: float = 60.0) -> OpenAcmServer:
        self.port = self.port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"server-{self.port}.log"
        log = self.log_path.open("ab")
        command = [*OPENACM, "serve", "--dev", "--port", str(self.port), *self.storage_args()]
        self.process = subprocess.Popen(
            [*command, *self.extra_args], stdout=log, stderr=log, env=self.process_env(), cwd=REPO
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"openacm exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.endpoint}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"openacm did not become ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        self._admin = None
        if self._runtime_handle is not None:
            self._runtime_handle.close()
            self._runtime_handle = None
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """kill -9: no shutdown hooks, no flushing."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    # -- clients --------------------------------------------------------------------------

    def client(
        self,
        service: str = "acm",
        *,
        region: str = "us-east-1",
        key: tuple[str, str] = DEV_KEY,
    ) -> Any:
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
            config=NO_RETRIES,
        )

    def aws(
        self,
        *args: str,
        region: str = "us-east-1",
        key: tuple[str, str] = DEV_KEY,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run the aws CLI against this server with only an endpoint URL and keys."""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.data_dir),
            "AWS_ACCESS_KEY_ID": key[0],
            "AWS_SECRET_ACCESS_KEY": key[1],
            "AWS_DEFAULT_REGION": region,
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
        aws = str(Path(sys.executable).parent / "aws")
        command = [aws, "--endpoint-url", self.endpoint, "--output", "json", *args]
        return subprocess.run(
            command, env=env, capture_output=True, text=True, check=check, timeout=60
        )

    def aws_json(self, *args: str, **kwargs: Any) -> Any:
        out = self.aws(*args, **kwargs).stdout
        return json.loads(out) if out.strip() else None

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The openacm admin CLI on this server's storage."""
        return subprocess.run(
            [*OPENACM, *args, *self.storage_args()],
            env=self.process_env(),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )

    def new_account(self) -> tuple[str, tuple[str, str]]:
        """A fresh account with its own key, so a test sees only its own certificates.

        Made in-process on the server's own store (what `openacm admin` does, without a
        second of interpreter start-up per test; the CLI itself has tests of its own)."""
        admin = self._identity_admin()
        account = admin.create_account(None, None)
        key, secret = admin.create_access_key(account.account_id, user_name="tester")
        return account.account_id, (key.access_key_id, secret)

    def _runtime(self) -> Any:
        if self._runtime_handle is None:
            from openacm.config import Settings
            from openacm.runtime import Runtime

            settings = Settings(data_dir=self.data_dir, database_url=self.database_url)
            self._runtime_handle = Runtime.open(settings, prepare=False)
        return self._runtime_handle

    def _identity_admin(self) -> Any:
        if self._admin is None:
            from openacm.services.identity import IdentityAdmin

            runtime = self._runtime()
            self._admin = IdentityAdmin(runtime.db, runtime.cipher)
        return self._admin

    def private_key_pem(self, arn: str) -> bytes:
        """The certificate's private key, read from the store as the server would (tests of
        a working TLS handshake need it; the API hands keys out only through export)."""
        from cryptography.hazmat.primitives import serialization
        from sqlalchemy import select

        from openacm.adapters.store.schema import certificates

        runtime = self._runtime()
        with runtime.db.read() as conn:
            sealed = conn.execute(
                select(certificates.c.private_key_sealed).where(certificates.c.arn == arn)
            ).scalar_one()
        der = runtime.cipher.open(bytes(sealed), arn)
        key = serialization.load_der_private_key(der, password=None)
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def query(self, statement: Any) -> list[Any]:
        """Rows of a SQLAlchemy statement run on the server's store (for checks on what the
        API does not show, such as how many times a serial was signed)."""
        with self._runtime().db.read() as conn:
            return list(conn.execute(statement).all())
