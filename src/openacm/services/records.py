"""openacm's own API (X-Amz-Target prefix `OpenAcm`): writing a certificate's DNS validation
records into the zones the operator configured, as ACM's console writes them into Route 53.

Writing a validation CNAME proves control of a name, so a zone is written only for the
accounts its `[[dns_zones]]` entry lists. Each name's outcome is reported in its own entry:
a name no configured zone holds, or whose zone is closed to the caller, is an ordinary
answer, not an error, as is a DNS server refusing the update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openacm.adapters.dns.resolver import DnsChecker, DnsLookupError, Nameserver
from openacm.adapters.dns.update import DnsUpdateError, DnsUpdater, TsigKey
from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.certificates import CertificateStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import ValidationStore
from openacm.adapters.store.work import VALIDATE_WORK, WorkQueue
from openacm.config import DnsZone, Settings, ValidationSettings
from openacm.domain.certificates import CertificateRecord, DomainValidation
from openacm.domain.errors import InvalidParameterError, InvalidStateError
from openacm.domain.validation import PENDING, ValidationRecord, chain_proves, record_type
from openacm.protocol.errors import NotImplementedOperationError
from openacm.services.acm.certificates import CertificateOperations
from openacm.services.acme.endpoints import AcmeEndpointOperations
from openacm.services.associations import AssociationOperations
from openacm.services.context import CallContext

Handler = Callable[[CallContext, Mapping[str, Any]], dict[str, Any]]

# ValidationRecordStatus of the model.
CREATED = "CREATED"
ALREADY_PRESENT = "ALREADY_PRESENT"
NO_CONFIGURED_ZONE = "NO_CONFIGURED_ZONE"
NOT_PERMITTED = "NOT_PERMITTED"
FAILED = "FAILED"
# The TTL ACM's console gives the validation records it creates in Route 53.
RECORD_TTL = 300


def _labels(name: str) -> int:
    return len(name.strip(".").split("."))


def zone_for(name: str, zones: Sequence[DnsZone], account_id: str) -> DnsZone | None:
    """The configured zone that holds `name`: the most specific one containing it.

    A deeper configured zone is a delegated child, the only place where a record under it
    can live, so it is chosen even when only its parent is open to the account (the caller
    then gets NOT_PERMITTED, not a record written where no resolver would look). Among
    entries for the same zone (one key per group of accounts), one open to the account wins.
    """
    containing = [zone for zone in zones if zone.contains(name)]
    if not containing:
        return None
    depth = max(_labels(zone.zone) for zone in containing)
    deepest = [zone for zone in containing if _labels(zone.zone) == depth]
    return next((zone for zone in deepest if zone.allows(account_id)), deepest[0])


@dataclass(frozen=True)
class RecordOutcome:
    status: str
    message: str | None = None
    zone: str | None = None  # the configured zone that holds the record, when one does


class ZoneWriter:
    """The DNS side of one configured zone: reads from and dynamic updates to its primary."""

    def __init__(self, zone: DnsZone, validation_zone: str, timeout: float) -> None:
        self.zone = zone
        self.validation_zone = validation_zone
        self.timeout = timeout

    def put(self, record: ValidationRecord) -> RecordOutcome:
        """Make sure the zone holds `record`, writing it only when it is not there yet."""
        if self._holds(record):
            return self._outcome(ALREADY_PRESENT)
        try:
            if record.type == "TXT":  # the acme issuer's dns-persist-01 record
                self._updater().add_txt(record.name, [record.value], ttl=RECORD_TTL)
            else:
                self._updater().upsert_cname(record.name, record.value, ttl=RECORD_TTL)
        except DnsUpdateError as exc:
            return self._outcome(FAILED, str(exc))
        except ValueError as exc:  # a server address or TSIG secret the config got wrong
            return self._outcome(FAILED, f"zone {self.zone.zone}: {exc}")
        except LookupError:  # dnspython knows no such TSIG algorithm
            return self._outcome(
                FAILED, f"TSIG algorithm {self.zone.tsig_algorithm!r} is not supported"
            )
        return self._outcome(CREATED)

    def _outcome(self, status: str, message: str | None = None) -> RecordOutcome:
        return RecordOutcome(status, message, self.zone.zone.strip("."))

    def _holds(self, record: ValidationRecord) -> bool:
        """Whether the primary already answers the record's name with its value. Only the
        first link counts, and a failed lookup counts as absent: the update then says why."""
        try:
            checker = DnsChecker([Nameserver.parse(self.zone.server)], timeout=self.timeout)
            if record.type == "TXT":
                return record.value in checker.txt_values(record.name, max_links=0)
            chain = checker.cname_chain(
                record.name, max_links=1, stop_under=(self.validation_zone,)
            )
        except (DnsLookupError, ValueError):
            return False
        return chain_proves(record, chain.targets[:1], too_long=False)

    def _updater(self) -> DnsUpdater:
        key = TsigKey(self.zone.tsig_key_name, self.zone.tsig_secret, self.zone.tsig_algorithm)
        return DnsUpdater(
            Nameserver.parse(self.zone.server), self.zone.zone, key, timeout=self.timeout
        )


class ValidationRecordOperations:
    def __init__(
        self,
        db: Database,
        certificates: CertificateOperations,
        zones: Sequence[DnsZone],
        validation: ValidationSettings,
    ) -> None:
        self.db = db
        self.certificates = certificates
        self.zones = tuple(zones)
        self.validation = validation

    # -- CreateValidationRecords ------------------------------------------------------------

    def create_validation_records(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self.db.read() as conn:
            record = self.certificates.load(
                conn, ctx, params["CertificateArn"], "CreateValidationRecords"
            )
            validations = ValidationStore(conn).list(record.arn)
        _check_pending(record)
        pending = _selected(record, _pending_dns(validations), params.get("DomainNames"))
        # No transaction is open while DNS servers are talked to.
        outcomes = self._write_records(ctx, pending)
        if any(o.status in (CREATED, ALREADY_PRESENT) for o in outcomes.values()):
            self._validate_soon(ctx, record)
        return {"Records": [_entry(v, outcomes[_key(v)]) for v in pending]}

    def _write_records(
        self, ctx: CallContext, pending: Sequence[DomainValidation]
    ) -> dict[str, RecordOutcome]:
        """One outcome per distinct record: `x.com` and `*.x.com` share one, written once."""
        outcomes: dict[str, RecordOutcome] = {}
        for validation in pending:
            if _key(validation) not in outcomes:
                outcomes[_key(validation)] = self._write_one(ctx, _record_of(validation))
        return outcomes

    def _write_one(self, ctx: CallContext, record: ValidationRecord) -> RecordOutcome:
        zone = zone_for(record.name, self.zones, ctx.account_id)
        if zone is None:
            return RecordOutcome(
                NO_CONFIGURED_ZONE,
                f"No zone configured in openacm holds {record.name}; create the {record.type} "
                "in your DNS yourself.",
            )
        if not zone.allows(ctx.account_id):
            return RecordOutcome(
                NOT_PERMITTED,
                f"Zone {zone.zone} is not open to account {ctx.account_id}; the operator "
                "lists the accounts that may write into it.",
                zone.zone.strip("."),
            )
        writer = ZoneWriter(zone, self.validation.zone, self.validation.dns_timeout)
        return writer.put(record)

    def _validate_soon(self, ctx: CallContext, record: CertificateRecord) -> None:
        """Make the certificate's validation work due now: after backing off while the
        records were missing, the worker would otherwise look again only minutes later."""
        with self.db.write() as conn:
            current = CertificateStore(conn).get(record.arn)
            if current is None or current.status != PENDING:
                return  # validated, or ended, while the records were being written
            WorkQueue(conn).schedule(
                VALIDATE_WORK,
                record.arn,
                due_at=ctx.now,
                # The deadline RequestCertificate set: 72 hours (by default) from the request.
                deadline_at=record.created_at + self.validation.timeout,
                now=ctx.now,
            )

    # -- ListValidationZones ----------------------------------------------------------------

    def list_validation_zones(self, ctx: CallContext, params: Mapping[str, Any]) -> dict[str, Any]:
        names = sorted({z.zone.strip(".").lower() for z in self.zones if z.allows(ctx.account_id)})
        return {"Zones": [{"Zone": name} for name in names]}


def _check_pending(record: CertificateRecord) -> None:
    if record.type != "AMAZON_ISSUED":
        raise InvalidStateError(
            f"Certificate {record.arn} is {record.type}: only a certificate requested from "
            "ACM has validation records."
        )
    if record.status != PENDING:
        raise InvalidStateError(
            f"Certificate {record.arn} is {record.status}: only a certificate pending "
            "validation has validation records to create."
        )


def _pending_dns(validations: Sequence[DomainValidation]) -> list[DomainValidation]:
    return [
        v
        for v in validations
        if v.status == PENDING and v.validation_method == "DNS" and v.record_name and v.record_value
    ]


def _selected(
    record: CertificateRecord,
    pending: Sequence[DomainValidation],
    domain_names: Sequence[str] | None,
) -> list[DomainValidation]:
    """The pending names the caller asked for; asking for a name the certificate does not
    have is a mistake worth saying, asking for one already validated is not."""
    if not domain_names:
        return list(pending)
    wanted = {name.lower() for name in domain_names}
    unknown = sorted(wanted - {name.lower() for name in record.names})
    if unknown:
        raise InvalidParameterError(
            f"DomainNames: certificate {record.arn} has no name {', '.join(unknown)}."
        )
    return [v for v in pending if v.domain_name.lower() in wanted]


def _entry(validation: DomainValidation, outcome: RecordOutcome) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "DomainName": validation.domain_name,
        "ResourceRecord": _record_of(validation).to_api(),
        "Status": outcome.status,
    }
    if outcome.zone:
        entry["Zone"] = outcome.zone
    if outcome.message:
        entry["Message"] = outcome.message
    return entry


def _record_of(validation: DomainValidation) -> ValidationRecord:
    name = validation.record_name or ""
    return ValidationRecord(name, validation.record_value or "", record_type(name))


def _key(validation: DomainValidation) -> str:
    return (validation.record_name or "").lower()


class OpenAcmService:
    """Handlers of openacm's own API, keyed by operation name, as AcmService's are."""

    service_name = "openacm"

    def __init__(self, db: Database, cipher: EnvelopeCipher, settings: Settings) -> None:
        certificates = CertificateOperations(db, cipher, settings.quotas)
        records = ValidationRecordOperations(
            db,
            certificates,
            settings.dns_zones,
            settings.validation,
        )
        associations = AssociationOperations(db, certificates)
        acme = AcmeEndpointOperations(db, settings, certificates.tag_limits)
        self.handlers: dict[str, Handler] = {
            "CreateValidationRecords": records.create_validation_records,
            "ListValidationZones": records.list_validation_zones,
            # Associations: docs/associations.md.
            "AssociateCertificate": associations.associate_certificate,
            "DisassociateCertificate": associations.disassociate_certificate,
            "ListCertificateAssociations": associations.list_certificate_associations,
            # ACME endpoints backed by a private CA: docs/acme-server.md.
            "PutAcmeEndpointCertificateAuthority": acme.put_acme_endpoint_certificate_authority,
        }

    def handler(self, operation: str) -> Handler:
        try:
            return self.handlers[operation]
        except KeyError:
            raise NotImplementedOperationError(
                f"openacm does not implement {operation} yet."
            ) from None
