"""Signing an AMAZON_ISSUED certificate with the builtin CA, once its names are validated.

The order is what keeps a crash harmless and an issuance single: the serial and the planned
certificate (the to-be-signed certificate, signed by a throwaway key, which is also what the
linter reads) are written to the store before the CA key signs; the signed certificate is
committed only if this worker still holds the certificate's work lease, in the same
transaction that marks the serial issued. A crash between the two leaves a "planned" serial
behind and a pending certificate that the next lease holder issues afresh.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection

from openacm.adapters.ca.lint import lint_dv_subscriber, throwaway_signed
from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import AuthorityStore
from openacm.config import IssuanceSettings
from openacm.domain.certificates import CertificateRecord
from openacm.domain.issuance import CaUrls, leaf_builder, new_serial_number, public_validity_window
from openacm.domain.x509facts import certificate_facts, facts_document
from openacm.services.pki.builtin_ca import BuiltinCa
from openacm.services.pki.leaf_keys import LeafKeys, private_key_der

log = logging.getLogger("openacm.issuance")
INTERNAL_NAME_FINDING = "cabf.internal_domain_name"


def serial_hex(serial_number: int) -> str:
    """How the store keys a serial: lowercase hex of the integer, no separators."""
    return format(serial_number, "x")


@dataclass(frozen=True)
class IssueOutcome:
    issued: bool
    serial: str | None = None


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

    def issue(
        self, record: CertificateRecord, *, now: float, still_mine: Callable[[Connection], bool]
    ) -> IssueOutcome:
        """Sign `record` and commit it ISSUED; `still_mine` tells, inside the committing
        transaction, whether this worker may still act for the certificate."""
        assert record.domain_name is not None
        key = self.keys.take(record.key_algorithm)
        issuing = self.ca.intermediate_for(record.key_algorithm)
        not_before, not_after = public_validity_window(
            datetime.fromtimestamp(now, UTC), self.issuance.max_validity_days
        )
        serial_number = new_serial_number()
        builder = leaf_builder(
            common_name=record.domain_name,
            names=record.names,
            public_key=key.public_key(),
            issuer=issuing.certificate,
            serial_number=serial_number,
            not_before=not_before,
            not_after=not_after,
            urls=issuing.urls,
        )
        planned = throwaway_signed(builder, issuing.signer.public_key)
        if self.issuance.lint_before_sign:
            self._lint(planned, issuing.urls)
        serial = serial_hex(serial_number)
        with self.db.write() as conn:
            if not still_mine(conn):
                return IssueOutcome(False)
            AuthorityStore(conn).plan_serial(
                issuing.ca_id,
                serial,
                record.arn,
                not_after=not_after.timestamp(),
                tbs_sha256=hashlib.sha256(planned.tbs_certificate_bytes).hexdigest(),
                now=now,
            )
        certificate = issuing.signer.sign_certificate(builder)
        facts = certificate_facts(certificate)
        issued = replace(
            record,
            status="ISSUED",
            serial=facts.serial,
            not_before=facts.not_before.timestamp(),
            not_after=facts.not_after.timestamp(),
            issued_at=now,
            key_usages=facts.key_usages,
            extended_key_usages=facts.extended_key_usages,
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
            chain_pem=self.ca.chain_pem(issuing),
            facts=facts_document(facts),
            issuer_ca_id=issuing.ca_id,
        )
        sealed_key = self.cipher.seal(private_key_der(key), record.arn)
        with self.db.write() as conn:
            authorities = AuthorityStore(conn)
            if not still_mine(conn) or not CertificateStore(conn).replace(issued, sealed_key):
                authorities.mark_serial(issuing.ca_id, serial, "abandoned", now)
                return IssueOutcome(False, serial)
            authorities.mark_serial(issuing.ca_id, serial, "issued", now)
        return IssueOutcome(True, serial)
