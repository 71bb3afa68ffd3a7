"""The builtin CA with its keys in a PKCS#11 token (SoftHSM2): created on first start inside
the token, never in the store, and issuing certificates that verify like the others."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from openacm.adapters.store.schema import issuing_cas
from tests.conftest import IN_CI, finish_server, pki_env, start_server
from tests.support.acm_flow import request_and_issue, unique_domain
from tests.support.bind import BindServer
from tests.support.softhsm import TEST_PIN, TEST_SO_PIN, softhsm_module, softhsm_unavailable

TOKEN_LABEL = "openacm-ca"


def _token_directory(tmp_path: Path) -> dict[str, str]:
    """A fresh SoftHSM2 token, for the server process only (SOFTHSM2_CONF in its env)."""
    token_dir = tmp_path / "tokens"
    token_dir.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {token_dir}\nobjectstore.backend = file\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        [
            *("softhsm2-util", "--init-token", "--free", "--label", TOKEN_LABEL),
            *("--pin", TEST_PIN, "--so-pin", TEST_SO_PIN),
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    return {"SOFTHSM2_CONF": str(conf)}


def test_ca_keys_in_a_token_issue_verifiable_certificates(
    tmp_path: Path, bind_server: BindServer
) -> None:
    reason = softhsm_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI must run the PKCS#11 tests: {reason}")
        pytest.skip(reason)
    token_env = _token_directory(tmp_path)
    env = pki_env(
        bind_server,
        OPENACM_ISSUANCE_CA_KEY_STORAGE="pkcs11",
        OPENACM_ISSUANCE_PKCS11_MODULE=str(softhsm_module()),
        OPENACM_ISSUANCE_PKCS11_TOKEN_LABEL=TOKEN_LABEL,
        OPENACM_ISSUANCE_PKCS11_PIN=TEST_PIN,
        **token_env,
    )
    server = start_server(tmp_path, "sqlite", env=env)
    try:
        rows = server.query(
            select(issuing_cas.c.role, issuing_cas.c.key_storage, issuing_cas.c.key_sealed)
        )
        assert sorted(role for role, _, _ in rows) == ["ecdsa", "root", "rsa"]
        assert all(storage == "pkcs11" and sealed is None for _, storage, sealed in rows)
        acm = server.client()
        for key_algorithm in ("RSA_2048", "EC_prime256v1"):
            arn = request_and_issue(acm, bind_server, unique_domain(), KeyAlgorithm=key_algorithm)
            issued = acm.get_certificate(CertificateArn=arn)
            (tmp_path / "leaf.pem").write_text(issued["Certificate"])
            (tmp_path / "chain.pem").write_text(issued["CertificateChain"])
            roots = httpx.get(f"{server.endpoint}/ca/roots.pem", timeout=10).content
            (tmp_path / "root.pem").write_bytes(roots)
            verified = subprocess.run(
                ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"],
                cwd=tmp_path,
                capture_output=True,
                text=True,
            )
            assert verified.returncode == 0, verified.stdout + verified.stderr
        # The token's keys are not extractable: the token lists them as sensitive.
        listing = subprocess.run(
            [
                *("pkcs11-tool", "--module", str(softhsm_module())),
                *("--token-label", TOKEN_LABEL, "--login", "--pin", TEST_PIN, "--list-objects"),
                *("--type", "privkey"),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **token_env},
        )
        assert listing.returncode == 0, listing.stderr
        assert listing.stdout.count("Private Key Object") == 3
        assert listing.stdout.count("never extractable") == 3
    finally:
        finish_server(server)
