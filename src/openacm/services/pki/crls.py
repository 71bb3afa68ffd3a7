"""Signing a CA's CRL from the serials it revoked: on every revocation and on a schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection

from openacm.adapters.ca.revocation import REVOCATION_REASONS, RevokedSerial, build_crl
from openacm.adapters.store.issuance import AuthorityStore
from openacm.services.pki.builtin_ca import LoadedCa


def regenerate_crl(conn: Connection, ca: LoadedCa, *, now: float, validity_seconds: float) -> bytes:
    """Sign and store a new CRL for `ca` inside the caller's transaction; returns its DER."""
    store = AuthorityStore(conn)
    this_update = datetime.fromtimestamp(now, UTC)
    # The CRL number first: taking it locks the CA's row, so a transaction that waited here
    # reads the revocations committed while it waited (PostgreSQL reads at each statement).
    crl_number = store.next_crl_number(ca.ca_id)
    revoked = [
        RevokedSerial(
            serial_number=int(entry.serial, 16),
            revoked_at=datetime.fromtimestamp(entry.revoked_at or now, UTC),
            reason=REVOCATION_REASONS.get(entry.revocation_reason or "UNSPECIFIED"),
        )
        for entry in store.revoked(ca.ca_id, not_expired_at=now)
    ]
    crl = build_crl(
        ca.signer,
        ca.certificate,
        revoked,
        crl_number=crl_number,
        this_update=this_update,
        next_update=this_update + timedelta(seconds=validity_seconds),
    )
    der = crl.public_bytes(serialization.Encoding.DER)
    store.store_crl(ca.ca_id, der, now + validity_seconds)
    return der
