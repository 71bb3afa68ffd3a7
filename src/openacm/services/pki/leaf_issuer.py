"""Signing an AMAZON_ISSUED certificate with the builtin CA, once its names are validated.

The order is what keeps a crash harmless and an issuance single: the serial and the planned
certificate (the to-be-signed certificate, signed by a throwaway key, which is also what the
linter reads) are written to the store before the CA key signs; the signed certificate is
committed only if this worker still holds the certificate's work lease, in the same
transaction that marks the serial issued. A crash between the two leaves a "planned" serial
behind and a pending certificate that the next lease holder issues afresh.

The steps are separate (`prepare`, `plan`, `sign`, `commit`) and `plan` and `commit` write
in the caller's transaction, so a worker plans the serials of a whole batch in one
transaction and commits the batch in another, instead of two transactions per certificate.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection

from openacm.adapters.ca.lint import lint_dv_subscriber, throwaway_key_for, throwaway_signed
from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import AuthorityStore
from openacm.config import IssuanceSettings
from openacm.domain.certificates import CertificateRecord
from openacm.domain.issuance import (
    CaUrls,
    LeafPublicKey,
    leaf_builder,
    new_serial_number,
    public_validity_window,
)
from openacm.domain.x509facts import certificate_facts, facts_document
from openacm.services.pki.builtin_ca import BuiltinCa, LoadedCa
from openacm.services.pki.leaf_keys import LeafKeys, LeafPrivateKey, private_key_der

log = logging.getLogger("openacm.issuance")
INTERNAL_NAME_FINDING = "cabf.internal_domain_name"


def serial_hex(serial_number: int) -> str:
    """How the store keys a serial: lowercase hex of the integer, no separators."""
    return format(serial_number, "x")


def with_certificate(
    record: CertificateRecord, certificate: x509.Certificate, chain_pem: str, *, now: float
) -> CertificateRecord:
    """`record` ISSUED with `certificate` (its serial, validity, usages and facts) at `now`:
    what a first issuance and a renewal both store."""
    facts = certificate_facts(certificate)
    return replace(
        record,
        status="ISSUED",
        serial=facts.serial,
        not_before=facts.not_before.timestamp(),
        not_after=facts.not_after.timestamp(),
        issued_at=now,
        key_usages=facts.key_usages,
        extended_key_usages=facts.extended_key_usages,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        chain_pem=chain_pem,
        facts=facts_document(facts),
    )


@dataclass(frozen=True)
class IssueOutcome:
    issued: bool
    serial: str | None = None


@dataclass(frozen=True)
class PlannedLeaf:
    """A certificate ready for the CA key: its serial and to-be-signed bytes are what
    `plan` records before anything is signed."""

    record: CertificateRecord
    key: LeafPrivateKey | None  # None: the subscriber keeps its key (ACME)
    issuing: LoadedCa
    builder: x509.CertificateBuilder
    serial: str
    not_after: float
    tbs_sha256: str


@dataclass(frozen=True)
class SignedLeaf:
    planned: PlannedLeaf
    issued: CertificateRecord  # the record as it becomes when committed
    sealed_key: bytes | None


class IssuanceRefused(Exception):
    """The CA will not sign this certificate (a linter finding); the request fails."""


class LeafIssuer:
    def __init__(
        self,
        db: Database,
        cipher: EnvelopeCipher,
        ca: BuiltinCa,
        keys: LeafKeys,
        issuance: IssuanceSettings,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.ca = ca
        self.keys = keys
        self.issuance = issuance

    def _lint(self, planned: x509.Certificate, urls: CaUrls) -> None:
        """Refuse to sign what the CA/B Forum linter finds an error in.

        One exception: an installation whose own URL (CRL, OCSP, CA issuers) is an internal
        name, such as `make run` on 127.0.0.1, cannot give its certificates public links;
        pkilint's internal-name finding about those links is expected there and only
        logged. Set `[issuance] public_url` to a public name and it blocks like any other.
        """
        own_hosts = {urlsplit(url).hostname for url in (urls.crl_url, urls.ocsp_url)}
        blocking = []
        for finding in lint_dv_subscriber(planned):
            if not finding.blocks_signing:
                continue
            if finding.code == INTERNAL_NAME_FINDING and any(
                f'"{host}"' in finding.message for host in own_hosts
            ):
                log.debug("own URL is an internal name", extra={"finding": str(finding)})
                continue
            blocking.append(finding)
        if blocking:
            raise IssuanceRefused("; ".join(str(finding) for finding in blocking))

    def warm_up(self) -> None:
        """Make this process's throwaway keys now, not for its first certificate: the RSA one
        takes as long as a leaf key (tens of milliseconds)."""
        for algorithm in ("RSA_2048", "EC_prime256v1"):
            throwaway_key_for(self.ca.intermediate_for(algorithm).signer.public_key)

    def keys_for(self, records: Sequence[CertificateRecord]) -> list[LeafPrivateKey]:
        """One fresh key pair per record, in order; pooled keys of an algorithm are taken
        in one transaction."""
        by_algorithm: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            by_algorithm.setdefault(record.key_algorithm, []).append(index)
        keys: list[LeafPrivateKey | None] = [None] * len(records)
        for algorithm, indexes in by_algorithm.items():
            for index, key in zip(
                indexes, self.keys.take_many(algorithm, len(indexes)), strict=True
            ):
                keys[index] = key
        return [key for key in keys if key is not None]

    def prepare(self, record: CertificateRecord, key: LeafPrivateKey, *, now: float) -> PlannedLeaf:
        """Build the certificate for `record` and `key`; lint it when configured (raises
        IssuanceRefused). Nothing is written or signed by the CA yet."""
        return self.prepare_for_public_key(record, key.public_key(), now=now, key=key)

    def prepare_for_public_key(
        self,
        record: CertificateRecord,
        public_key: LeafPublicKey,
        *,
        now: float,
        key: LeafPrivateKey | None = None,
    ) -> PlannedLeaf:
        """`prepare` for a key openacm may not hold (an ACME client's, from its CSR): the
        planned leaf then has no `key`, and `sign` stores none."""
        assert record.domain_name is not None
        issuing = self.ca.intermediate_for(record.key_algorithm)
        not_before, not_after = public_validity_window(
            datetime.fromtimestamp(now, UTC), self.issuance.max_validity_days
        )
        serial_number = new_serial_number()
        builder = leaf_builder(
            common_name=record.domain_name,
            names=record.names,
            public_key=public_key,
            issuer=issuing.certificate,
            serial_number=serial_number,
            not_before=not_before,
            not_after=not_after,
            urls=issuing.urls,
        )
        planned = throwaway_signed(builder, issuing.signer.public_key)
        if self.issuance.lint_before_sign:
            self._lint(planned, issuing.urls)
        return PlannedLeaf(
            record=record,
            key=key,
            issuing=issuing,
            builder=builder,
            serial=serial_hex(serial_number),
            not_after=not_after.timestamp(),
            tbs_sha256=hashlib.sha256(planned.tbs_certificate_bytes).hexdigest(),
        )

    def plan(self, conn: Connection, leaf: PlannedLeaf, *, now: float) -> None:
        """Record the serial as planned, in the caller's transaction, which must commit
        before `sign` is called."""
        AuthorityStore(conn).plan_serial(
            leaf.issuing.ca_id,
            leaf.serial,
            leaf.record.arn,
            not_after=leaf.not_after,
            tbs_sha256=leaf.tbs_sha256,
            now=now,
        )

    def sign(self, leaf: PlannedLeaf, *, now: float) -> SignedLeaf:
        """The CA key signs a planned certificate; the result is not stored yet."""
        certificate = leaf.issuing.signer.sign_certificate(leaf.builder)
        issued = replace(
            with_certificate(leaf.record, certificate, self.ca.chain_pem(leaf.issuing), now=now),
            issuer_ca_id=leaf.issuing.ca_id,
        )
        sealed_key = (
            None
            if leaf.key is None
            else self.cipher.seal(private_key_der(leaf.key), leaf.record.arn)
        )
        return SignedLeaf(leaf, issued, sealed_key)

    def commit(
        self, conn: Connection, signed: SignedLeaf, *, now: float, still_mine: bool
    ) -> IssueOutcome:
        """Store the signed certificate ISSUED and its serial issued, in the caller's
        transaction, when `still_mine` (the lease, checked in that transaction) and nobody
        changed the record since it was read; else the serial is abandoned."""
        leaf = signed.planned
        authorities = AuthorityStore(conn)
        if not still_mine or not CertificateStore(conn).replace(signed.issued, signed.sealed_key):
            authorities.mark_serial(leaf.issuing.ca_id, leaf.serial, "abandoned", now)
            return IssueOutcome(False, leaf.serial)
        authorities.mark_serial(leaf.issuing.ca_id, leaf.serial, "issued", now)
        return IssueOutcome(True, leaf.serial)

    def abandon(self, conn: Connection, leaf: PlannedLeaf, *, now: float) -> None:
        """A planned serial that will never be signed (signing failed)."""
        AuthorityStore(conn).mark_serial(leaf.issuing.ca_id, leaf.serial, "abandoned", now)
