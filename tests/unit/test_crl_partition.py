"""A partitioned CRL (AWS Private CA's CrlType PARTITIONED): `build_crl` with a partition URL
adds a critical issuingDistributionPoint naming it, and the result still lints clean under
pkilint's RFC 5280 CRL profile and verifies with openssl against a certificate whose CRL
distribution point is that URL."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkilint.bin import lint_crl

from openacm.adapters.ca.hierarchy import create_builtin_hierarchy
from openacm.adapters.ca.revocation import RevokedSerial, build_crl
from openacm.adapters.ca.signer import SoftwareSigner
from openacm.domain.issuance import CaUrls, leaf_builder, new_serial_number

NOW = datetime.now(UTC).replace(microsecond=0)
PARTITION = "http://pki.example.com/crl/ca-id/7.crl"


def test_partition_url_becomes_a_critical_issuing_distribution_point(tmp_path: Path) -> None:
    hierarchy = create_builtin_hierarchy(now=NOW - timedelta(hours=2))
    ca = hierarchy.ecdsa_intermediate
    signer = SoftwareSigner(ca.private_key)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    urls = CaUrls(crl_url=PARTITION, ocsp_url="http://ocsp.example", ca_issuers_url="http://x/ca")
    leaf = signer.sign_certificate(
        leaf_builder(
            common_name="a.example",
            names=["a.example"],
            public_key=leaf_key.public_key(),
            issuer=ca.certificate,
            serial_number=new_serial_number(),
            not_before=NOW - timedelta(hours=1),
            not_after=NOW + timedelta(days=30),
            urls=urls,
        )
    )
    revoked = [RevokedSerial(leaf.serial_number, NOW - timedelta(minutes=5), None)]
    crl = build_crl(
        signer,
        ca.certificate,
        revoked,
        crl_number=3,
        this_update=NOW - timedelta(minutes=1),
        next_update=NOW + timedelta(days=1),
        partition_url=PARTITION,
    )
    point = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert point.critical
    assert point.value.full_name == [x509.UniformResourceIdentifier(PARTITION)]

    crl_path = tmp_path / "partition.crl"
    crl_path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        lint_crl.main(
            ["lint", "-t", "CRL", "-p", "PKIX", "-s", "ERROR", "-f", "JSON", str(crl_path)]
        )
    findings = [
        finding["code"]
        for result in json.loads(output.getvalue())["results"]
        for finding in result["finding_descriptions"]
    ]
    assert findings == []

    chain = tmp_path / "chain.pem"
    chain.write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (hierarchy.root.certificate, ca.certificate)
        )
    )
    leaf_path = tmp_path / "leaf.pem"
    leaf_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    crl_pem = tmp_path / "partition.pem"
    crl_pem.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    completed = subprocess.run(
        [
            "openssl",
            "verify",
            "-crl_check",
            "-CAfile",
            str(chain),
            "-CRLfile",
            str(crl_pem),
            str(leaf_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # The leaf is revoked: openssl must have read the partition (critical IDP included) and
    # matched it to the leaf's distribution point.
    assert "certificate revoked" in completed.stdout + completed.stderr
