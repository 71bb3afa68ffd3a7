"""A CRL of 100,000 revoked serials: signed within the issue's 5-second target, and correct.

The target is the whole `build_crl` call on the 2-core CI machine; the CRL is then read back by
cryptography (every entry, its reason, the signature) and by `openssl crl -verify`.
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from openacm.adapters.ca.hierarchy import BuiltinHierarchy, CaMaterial, create_builtin_hierarchy
from openacm.adapters.ca.revocation import RevokedSerial, build_crl
from openacm.adapters.ca.signer import SoftwareSigner

NOW = datetime(2026, 11, 23, 17, 0, 0, tzinfo=UTC)
SERIALS = 100_000
TARGET_SECONDS = 5.0


@pytest.fixture(scope="module")
def hierarchy() -> BuiltinHierarchy:
    return create_builtin_hierarchy(now=NOW)


def _revoked() -> list[RevokedSerial]:
    # Serials 1..n are enough: the encoding cost does not depend on their size beyond a byte.
    return [
        RevokedSerial(
            serial_number=(1 << 120) + index,
            revoked_at=NOW - timedelta(seconds=index),
            reason=x509.ReasonFlags.key_compromise if index % 2 else None,
        )
        for index in range(SERIALS)
    ]


@pytest.mark.parametrize("which", ["rsa_intermediate", "ecdsa_intermediate"])
def test_crl_of_100k_serials_is_signed_within_target_and_verifies(
    hierarchy: BuiltinHierarchy, which: str, tmp_path: Path
) -> None:
    ca: CaMaterial = getattr(hierarchy, which)
    revoked = _revoked()
    started = time.perf_counter()
    crl = build_crl(
        SoftwareSigner(ca.private_key),
        ca.certificate,
        revoked,
        crl_number=7,
        this_update=NOW,
        next_update=NOW + timedelta(days=1),
    )
    elapsed = time.perf_counter() - started
    assert elapsed < TARGET_SECONDS, f"{SERIALS:,} serials took {elapsed:.2f} s"

    reread = x509.load_der_x509_crl(crl.public_bytes(serialization.Encoding.DER))
    assert len(reread) == SERIALS
    assert reread.is_signature_valid(ca.certificate.public_key())
    assert reread.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    sample = reread.get_revoked_certificate_by_serial_number((1 << 120) + 12_345)
    assert sample is not None
    assert sample.revocation_date_utc == NOW - timedelta(seconds=12_345)
    reason = sample.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    unreasoned = reread.get_revoked_certificate_by_serial_number((1 << 120) + 12_346)
    assert unreasoned is not None and len(unreasoned.extensions) == 0

    crl_path = tmp_path / "big.crl"
    issuer_path = tmp_path / "issuer.pem"
    crl_path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    issuer_path.write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    completed = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            str(crl_path),
            "-noout",
            "-verify",
            "-CAfile",
            str(issuer_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "verify OK" in completed.stderr + completed.stdout
