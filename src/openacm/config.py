"""Settings of one openacm installation, from defaults, a TOML file and OPENACM_* variables.

Precedence (highest first): command-line option, environment variable, config file, default.
The command-line and environment layers are click's; this module owns the file and the
defaults, and the quotas, which have no command-line flags.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from openacm.domain.throttling import RateTable, rate_table

ENV_PREFIX = "OPENACM_"
DEFAULT_DATA_DIR = Path(".openacm")
DEV_ACCOUNT_ID = "000000000000"
DEV_ACCESS_KEY_ID = "test"
DEV_SECRET_ACCESS_KEY = "test"

S = TypeVar("S")


def _section_value(spec: dataclasses.Field[Any], raw: object) -> object:
    """A value from a TOML table or an environment variable, as the field's type wants it."""
    kind = str(spec.type)
    if kind.startswith("tuple"):
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(raw, list | tuple):
            return tuple(str(part) for part in raw)
        raise ValueError(f"{spec.name} must be a list")
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("1", "true", "yes", "on"):
            return True
        if str(raw).lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{spec.name} must be true or false, not {raw!r}")
    if kind in ("int", "float", "int | None", "float | None"):
        number_type = float if kind.startswith("float") else int
        try:
            number = number_type(str(raw))
        except ValueError as exc:
            raise ValueError(f"{spec.name} must be a number, not {raw!r}") from exc
        if number < 0:
            raise ValueError(f"{spec.name} must not be negative")
        return number
    return str(raw)


def load_section(
    cls: type[S], file_table: Mapping[str, object], env: Mapping[str, str], env_prefix: str
) -> S:
    """One settings section from its `[table]` in the file and `OPENACM_<PREFIX>_<FIELD>`."""
    values: dict[str, object] = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        raw: object = env.get(f"{ENV_PREFIX}{env_prefix}_{spec.name.upper()}")
        if raw is None:
            raw = file_table.get(spec.name, file_table.get(spec.name.replace("_", "-")))
        if raw is not None:
            values[spec.name] = _section_value(spec, raw)
    return cls(**values)


@dataclass(frozen=True)
class Quotas:
    """Per account and region limits; the defaults are the seeds' (inventory §4.8, §8)."""

    imported_certificates: int = 2500
    imported_per_year: int = 5000
    certificates: int = 2500
    certificates_per_year: int = 5000
    domains_per_certificate: int = 10
    tags_per_resource: int = 50
    tag_key_length: int = 127
    tag_value_length: int = 255
    # AWS Private CA: certificate authorities per account and region (DELETED ones in their
    # restoration window count, as AWS counts them).
    private_certificate_authorities: int = 200
    # AWS Private CA: certificates one private CA may issue in its lifetime (revoked and
    # expired ones count too, as in AWS).
    private_certificates_per_ca: int = 1_000_000


@dataclass(frozen=True)
class ValidationSettings:
    """How pending names are checked (`[validation]`, OPENACM_VALIDATION_*)."""

    # The zone the validation CNAMEs point into (PRODUCT.md).
    zone: str = "acm-validations.openacm.internal"
    # Nameservers asked ("addr" or "addr:port"); empty means the system's resolv.conf.
    resolvers: tuple[str, ...] = ()
    dns_timeout: float = 3.0
    # How often a worker looks for due work, and the backoff between checks of one request.
    poll_interval: float = 2.0
    retry_initial: float = 10.0
    retry_max: float = 600.0
    # ACM gives up after 72 hours (inventory §2.2).
    timeout: float = 72 * 3600.0
    lease_seconds: float = 120.0
    batch_size: int = 32

    def retry_delay(self, attempts: int) -> float:
        """The backoff before the next check of something checked `attempts` times."""
        return min(self.retry_initial * 2.0 ** min(attempts, 30), self.retry_max)


@dataclass(frozen=True)
class IssuanceSettings:
    """The builtin public CA and its policy (`[issuance]`, OPENACM_ISSUANCE_*)."""

    # Domain names that CAA `issue`/`issuewild` records must name for openacm to issue.
    caa_identities: tuple[str, ...] = ("openacm.internal",)
    # Names under these suffixes are refused with DOMAIN_NOT_ALLOWED (inventory §4.3).
    forbidden_suffixes: tuple[str, ...] = (
        "amazonaws.com",
        "cloudfront.net",
        "elasticbeanstalk.com",
    )
    # Public validity may only be lowered below the CA/Browser Forum maximum (decision 6).
    max_validity_days: int | None = None
    # Boulder's practice: lint the to-be-signed certificate before the CA key signs it.
    lint_before_sign: bool = True
    # Base URL put into certificates for CRL, OCSP and CA-issuer links (default: the
    # server's own http://host:port).
    public_url: str = ""
    # Pre-generated RSA leaf keys kept ready (0 turns the pool off).
    rsa_key_pool_size: int = 64
    # Where the builtin CA keys live: "envelope" (sealed in the store) or "pkcs11".
    ca_key_storage: str = "envelope"
    # Where new private CAs (ACM-PCA) keep their keys: "envelope" or "pkcs11" (the same token
    # as the builtin CA's settings below; docs/private-ca.md, KeyStorageSecurityStandard).
    private_ca_key_storage: str = "envelope"
    pkcs11_module: str = ""
    pkcs11_token_label: str = ""
    pkcs11_pin: str = ""
    # How often each CA's CRL is re-signed, and how long a CRL claims to be current.
    crl_refresh_seconds: float = 3600.0
    crl_validity_seconds: float = 24 * 3600.0
    # How often a running server looks whether its own TLS certificate was renewed (by itself,
    # another worker or `openacm ca renew-server-certificate`) and loads the new one.
    server_tls_check_seconds: float = 3600.0


@dataclass(frozen=True)
class AcmeServerSettings:
    """ACME endpoints, openacm's own ACME server (`[acme_server]`, OPENACM_ACME_SERVER_*;
    docs/acme-server.md)."""

    # Base of the EndpointUrl handed to ACME clients (default: the API's own scheme://host:port).
    public_url: str = ""
    # ACME endpoints per account and region (CreateAcmeEndpoint: ServiceQuotaExceededException).
    endpoints_per_region: int = 10
    # External account bindings and domain validations per endpoint (ServiceQuotaExceeded).
    bindings_per_endpoint: int = 1000
    domain_validations_per_endpoint: int = 100
    # Beyond the model's PRE_APPROVED: challenge types ("dns-01", "http-01", "tls-alpn-01")
    # that authorize a name no VALID domain validation covers. Empty: such names are refused
    # with rejectedIdentifier, as ACM does.
    challenges: tuple[str, ...] = ()
    # The port http-01 and tls-alpn-01 validation connect to (80 and 443 by RFC 8555 §8.3 and
    # RFC 8737; tests move them).
    http01_port: int = 80
    tls_alpn01_port: int = 443


@dataclass(frozen=True)
class RenewalSettings:
    """Managed renewal (`[renewal]`, OPENACM_RENEWAL_*; docs/renewal.md)."""

    # How often each process looks for certificates whose renewal window opened.
    sweep_interval_seconds: float = 60.0
    # Renewals started per sweep at most (the rest wait for the next sweep).
    sweep_batch_size: int = 500
    # A FAILED renewal (a private CA refused) is tried again this long after it failed.
    retry_failed_after_seconds: float = 24 * 3600.0


PUBLIC_ISSUERS = ("builtin", "acme")


@dataclass(frozen=True)
class AcmeCa:
    """One upstream ACME CA: its directory, how to register there, how to trust its TLS."""

    directory_url: str
    eab_key_id: str = ""
    eab_hmac_key: str = ""
    ca_bundle: str = ""
    # This CA's own names for `[acme] preferred_chain` and `profile` (empty: those).
    preferred_chain: str = ""
    profile: str = ""

    def check(self) -> AcmeCa:
        if bool(self.eab_key_id) != bool(self.eab_hmac_key):
            raise ValueError("[acme] eab_key_id and eab_hmac_key go together")
        if not self.directory_url.startswith(("https://", "http://")):
            raise ValueError("[acme] directory_url must be an http(s) URL")
        return self


@dataclass(frozen=True)
class AcmeSettings:
    """The acme public issuer: an RFC 8555 CA upstream (`[acme]`, OPENACM_ACME_*;
    docs/acme-issuer.md). Its DNS-01 answers go under `[validation] zone`, written through
    the `[[dns_zones]]` entry that contains that zone."""

    # The CA's directory, e.g. Let's Encrypt's or a company's step-ca `/acme/<prov>/directory`.
    directory_url: str = ""
    # Account contacts ("mailto:ops@example.com"), sent when the account is registered.
    contact: tuple[str, ...] = ()
    # External account binding (ZeroSSL, Google Trust Services, ...): key id and the HMAC key
    # as the CA gives it (base64url).
    eab_key_id: str = ""
    eab_hmac_key: str = ""
    # A PEM file of CA certificates to trust for the ACME server's TLS (a private CA such as
    # Pebble's or step-ca's); empty means the system's trust store.
    ca_bundle: str = ""
    # Regions whose AMAZON_ISSUED certificates come from the acme issuer ("*" for all); every
    # other region keeps the builtin CA.
    regions: tuple[str, ...] = ()
    # How long one order may take, polling included, before the attempt is given up and retried;
    # below the validation worker's lease (120 s), which the order runs under.
    order_timeout: float = 90.0
    # HTTP validation: the base of RedirectTo, where the CA's http-01 requests are redirected
    # (default: the server's plain-HTTP public URL, `[issuance] public_url` or the PKI port),
    # and the port of a name's own HTTP server that openacm checks the redirect on (the CA
    # always uses 80; a test CA may be told another).
    http_url: str = ""
    http_port: int = 80
    # Further CAs, in order of preference, each tried when those before it are down or refuse
    # for a passing reason (serverInternal, rateLimited, ...): `[[acme.upstreams]]` tables
    # (directory_url, eab_key_id, eab_hmac_key, ca_bundle), or OPENACM_ACME_UPSTREAMS as
    # comma-separated directory URLs sharing `ca_bundle`.
    upstreams: tuple[AcmeCa, ...] = ()
    # Of the chains a CA offers (its default and Link rel="alternate" ones), the one whose top
    # certificate is issued by the CA of this common name ("ISRG Root X1"); else the default.
    preferred_chain: str = ""
    # The certificate profile asked for in each order (draft-ietf-acme-profiles, e.g. Let's
    # Encrypt's "tlsserver" or "shortlived"), where the CA's directory offers it.
    profile: str = ""
    # dns-persist-01 (draft-ietf-acme-dns-persist) at the first CA, where it offers it: that
    # CA's issuer domain name (as its CAA records and its challenges' `issuer-domain-names`
    # name it, e.g. "letsencrypt.org"). Set, a DNS-validated name's record is the persistent
    # `_validation-persist` TXT instead of the CNAME; empty (the default), it is not used.
    dns_persist_issuer: str = ""

    def cas(self) -> tuple[AcmeCa, ...]:
        """Every configured CA, most preferred first (`directory_url` and its options first)."""
        if not self.directory_url:
            return ()
        first = AcmeCa(self.directory_url, self.eab_key_id, self.eab_hmac_key, self.ca_bundle)
        return (first, *self.upstreams)

    def public_issuer(self, region: str) -> str:
        """ "acme" or "builtin": which issuer signs this region's public certificates."""
        if self.directory_url and ("*" in self.regions or region in self.regions):
            return "acme"
        return "builtin"

    def check(self) -> AcmeSettings:
        """Refuse at start what would only fail at the first order."""
        if (self.regions or self.upstreams) and not self.directory_url:
            raise ValueError("[acme] regions or upstreams are set but directory_url is not")
        for ca in self.cas():
            ca.check()
        urls = [ca.directory_url for ca in self.cas()]
        if len(set(urls)) != len(urls):
            raise ValueError("[acme] a directory_url is listed twice")
        if any(char in self.dns_persist_issuer for char in " \t;="):
            # It goes into the record's value as its first field (RFC 8659 issue-value).
            raise ValueError("[acme] dns_persist_issuer is the CA's issuer domain name")
        return self


def acme_from(config: Mapping[str, object], env: Mapping[str, str]) -> AcmeSettings:
    """`[acme]` and its `[[acme.upstreams]]` tables (or OPENACM_ACME_UPSTREAMS: URLs)."""
    table = _table(config, "acme")
    entries = table.get("upstreams", [])
    settings = load_section(
        AcmeSettings, {k: v for k, v in table.items() if k != "upstreams"}, env, "ACME"
    )
    upstreams: list[AcmeCa] = []
    # From the environment: URLs (load_section split them); from the file: tables.
    for entry in settings.upstreams or (entries if isinstance(entries, list) else [entries]):
        if isinstance(entry, str):
            upstreams.append(AcmeCa(entry, ca_bundle=settings.ca_bundle))
        elif isinstance(entry, Mapping):
            try:
                upstreams.append(AcmeCa(**{str(k): str(v) for k, v in entry.items()}))
            except TypeError as exc:
                raise ValueError(f"bad [[acme.upstreams]] entry: {exc}") from exc
        else:
            raise ValueError("[acme] upstreams must be an array of tables")
    return dataclasses.replace(settings, upstreams=tuple(upstreams)).check()


@dataclass(frozen=True)
class EmailSettings:
    """Email validation: the SMTP server approval mail goes through and the approval links
    (`[email]`, OPENACM_EMAIL_*)."""

    smtp_host: str = "localhost"
    smtp_port: int = 25
    # STARTTLS after EHLO (port 587 submission); `smtp_tls` is implicit TLS (port 465).
    smtp_starttls: bool = False
    smtp_tls: bool = False
    # A CA file to trust for the SMTP server's certificate (an internal relay's private CA);
    # empty means the system's trust store.
    smtp_ca_file: str = ""
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout: float = 10.0
    from_address: str = "openacm@localhost"
    # Base of the approval links (default: the server's own URL, as for CRLs and OCSP).
    approval_url: str = ""
    # Tokens expire after 72 hours (inventory §3.3).
    token_ttl: float = 72 * 3600.0
    # Delivery retries through the work queue; after `max_attempts` failed deliveries of a
    # request's first mails it fails with NO_AVAILABLE_CONTACTS.
    retry_initial: float = 30.0
    retry_max: float = 900.0
    max_attempts: int = 5


@dataclass(frozen=True)
class DnsZone:
    """A DNS zone openacm may write validation records into (RFC 2136 + TSIG), for the
    accounts listed: writing a validation CNAME proves control of a name, so a zone is
    opened to named accounts only ("*" for every account, explicitly)."""

    zone: str
    server: str  # "addr" or "addr:port" of the primary that accepts updates
    tsig_key_name: str
    tsig_secret: str  # base64, as tsig-keygen prints it
    tsig_algorithm: str = "hmac-sha256"
    accounts: tuple[str, ...] = ()

    def allows(self, account_id: str) -> bool:
        return "*" in self.accounts or account_id in self.accounts

    def contains(self, name: str) -> bool:
        zone = self.zone.strip(".").lower()
        owner = name.strip(".").lower()
        return owner == zone or owner.endswith("." + zone)


def dns_zones_from(config: Mapping[str, object]) -> tuple[DnsZone, ...]:
    """`[[dns_zones]]` entries of the config file (secrets belong in the file, mode 0600)."""
    entries = config.get("dns_zones", [])
    if not isinstance(entries, list):
        raise ValueError("dns_zones in the config file must be an array of tables")
    zones = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ValueError("each [[dns_zones]] entry must be a table")
        values = {key.replace("-", "_"): value for key, value in entry.items()}
        accounts = values.pop("accounts", ())
        if isinstance(accounts, str) or not isinstance(accounts, list | tuple):
            raise ValueError('dns_zones accounts must be a list of account ids or ["*"]')
        try:
            zones.append(
                DnsZone(
                    **{k: str(v) for k, v in values.items()},
                    accounts=tuple(str(a) for a in accounts),
                )
            )
        except TypeError as exc:
            raise ValueError(f"bad [[dns_zones]] entry: {exc}") from exc
        _check_zone(zones[-1])
    return tuple(zones)


TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")


def _check_zone(zone: DnsZone) -> None:
    """Refuse at start what would otherwise only fail at the first update."""
    try:
        base64.b64decode(zone.tsig_secret, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"dns_zones {zone.zone}: tsig_secret is not base64") from exc
    if zone.tsig_algorithm.lower() not in TSIG_ALGORITHMS:
        raise ValueError(
            f"dns_zones {zone.zone}: tsig_algorithm must be one of {', '.join(TSIG_ALGORITHMS)}"
        )
    host, _, port = (
        zone.server.rpartition(":")
        if zone.server.count(":") == 1
        else (
            zone.server,
            "",
            "",
        )
    )
    if not (host or zone.server) or (port and not port.isdigit()):
        raise ValueError(f"dns_zones {zone.zone}: server must be ADDRESS or ADDRESS:PORT")


SINK_TYPES = ("webhook", "file", "nats")


@dataclass(frozen=True)
class SinkSettings:
    """One destination of events (`[[events.sinks]]`, docs/events.md). `name` identifies its
    deliveries in the store: renaming a sink starts it afresh."""

    name: str
    type: str  # webhook | file | nats
    url: str = ""  # webhook: http(s)://...; nats: nats://host:port
    secret: str = ""  # webhook: the HMAC-SHA256 key of X-Openacm-Signature
    path: str = ""  # file: the JSON-lines file appended to
    subject: str = ""  # nats: the subject published to
    timeout: float = 5.0
    # webhook: CA certificates (PEM file) to trust for an https URL, instead of the system's
    # (say, the builtin CA's root, `openacm ca bundle`, for a receiver it issued to).
    ca_file: str = ""
    # Attempts before a delivery is dead-lettered, and the backoff between them (doubling).
    max_attempts: int = 10
    retry_initial: float = 2.0
    retry_max: float = 600.0


@dataclass(frozen=True)
class EventSettings:
    """Event delivery and the expiry sweep (`[events]`, OPENACM_EVENTS_*)."""

    poll_interval: float = 1.0
    lease_seconds: float = 60.0
    batch_size: int = 32
    # How often a process looks whether today's expiry sweep of some account is still to run
    # (0: never in this process).
    sweep_interval: float = 60.0
    # Events every sink delivered are deleted after this many days (0: kept forever);
    # undelivered and dead-lettered ones are always kept.
    retention_days: float = 30.0
    sinks: tuple[SinkSettings, ...] = ()


def _sink(values: Mapping[str, object]) -> SinkSettings:
    fields = {spec.name: spec for spec in dataclasses.fields(SinkSettings)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"unknown events sink option(s): {', '.join(sorted(unknown))}")
    sink = SinkSettings(
        **{key: _section_value(fields[key], raw) for key, raw in values.items()}  # type: ignore[arg-type]
    )
    required = {"webhook": ("url", "secret"), "file": ("path",), "nats": ("url", "subject")}
    if sink.type not in SINK_TYPES:
        raise ValueError(f"events sink {sink.name}: type must be one of {', '.join(SINK_TYPES)}")
    missing = [key for key in required[sink.type] if not getattr(sink, key)]
    if missing:
        raise ValueError(f"events sink {sink.name} ({sink.type}) needs {', '.join(missing)}")
    if not 0 < len(sink.name) <= 64 or sink.max_attempts < 1:
        raise ValueError(f"events sink {sink.name!r}: name of 1-64 characters, max_attempts >= 1")
    return sink


def _env_sinks(env: Mapping[str, str]) -> list[dict[str, object]]:
    """The one-of-each shortcuts: OPENACM_EVENTS_WEBHOOK_URL (+ _SECRET), OPENACM_EVENTS_FILE,
    OPENACM_EVENTS_NATS_URL (+ _SUBJECT), named webhook, file and nats."""
    prefix = f"{ENV_PREFIX}EVENTS_"
    found: list[dict[str, object]] = []
    if env.get(prefix + "WEBHOOK_URL"):
        found.append(
            {
                "name": "webhook",
                "type": "webhook",
                "url": env[prefix + "WEBHOOK_URL"],
                "secret": env.get(prefix + "WEBHOOK_SECRET", ""),
            }
        )
    if env.get(prefix + "FILE"):
        found.append({"name": "file", "type": "file", "path": env[prefix + "FILE"]})
    if env.get(prefix + "NATS_URL"):
        found.append(
            {
                "name": "nats",
                "type": "nats",
                "url": env[prefix + "NATS_URL"],
                "subject": env.get(prefix + "NATS_SUBJECT", "openacm.events"),
            }
        )
    return found


def events_from(config: Mapping[str, object], env: Mapping[str, str]) -> EventSettings:
    """`[events]` with its `[[events.sinks]]`, and the environment's shortcuts."""
    table = dict(_table(config, "events"))
    entries = table.pop("sinks", [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise ValueError("events.sinks in the config file must be an array of tables")
    settings = load_section(EventSettings, table, env, "EVENTS")
    raw = [{k.replace("-", "_"): v for k, v in e.items()} for e in entries]
    sinks = [_sink(values) for values in [*raw, *_env_sinks(env)]]
    names = [sink.name for sink in sinks]
    if len(set(names)) != len(names):
        raise ValueError("events sink names must be unique")
    return dataclasses.replace(settings, sinks=tuple(sinks))


@dataclass(frozen=True)
class ThrottlingSettings:
    """Where request-rate buckets live and the limits over the profile (`[throttling]`,
    OPENACM_THROTTLING_*; docs/throttling.md). The profile itself is `serve --rate-limits`
    (Settings.rate_limits), off by default (decision 8)."""

    # Overrides over the profile, `service:Operation` to a limit: `[throttling.limits]`
    # `"acm:ListCertificates" = 20` or `{rate = 20, burst = 40}`; in the environment
    # OPENACM_THROTTLING_LIMITS="acm:ListCertificates=20/40,acm-pca:IssueCertificate=50".
    limits: tuple[tuple[str, object], ...] = ()
    # Where the buckets live: empty for this process's memory (one process), a redis:// URL
    # for one Redis every process and node shares (the limit holds cluster-wide).
    redis_url: str = ""
    # Prefix of the bucket keys in Redis (installations sharing one Redis use distinct ones).
    redis_key_prefix: str = "openacm:throttle:"
    # How long a request waits on Redis at most before its bucket is taken from memory.
    redis_timeout: float = 0.25
    # After Redis failed to answer, how long this process uses its own memory before trying
    # Redis again.
    redis_retry_seconds: float = 5.0

    def table(self, profile: str) -> RateTable:
        return rate_table(profile, self.limits)


def _env_limits(raw: str) -> tuple[tuple[str, object], ...]:
    """OPENACM_THROTTLING_LIMITS: `service:Operation=RATE[/BURST]`, comma-separated."""
    pairs = []
    for item in (part.strip() for part in raw.split(",")):
        if item:
            key, equals, value = item.partition("=")
            if not equals:
                raise ValueError(f"OPENACM_THROTTLING_LIMITS: {item!r} is not KEY=RATE[/BURST]")
            pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def throttling_from(config: Mapping[str, object], env: Mapping[str, str]) -> ThrottlingSettings:
    """`[throttling]` with its `[throttling.limits]` table, or OPENACM_THROTTLING_LIMITS."""
    table = dict(_table(config, "throttling"))
    limits = table.pop("limits", {})
    if not isinstance(limits, Mapping):
        raise ValueError("throttling.limits in the config file must be a table")
    settings = load_section(ThrottlingSettings, table, env, "THROTTLING")
    pairs = tuple((str(key), value) for key, value in limits.items())
    if f"{ENV_PREFIX}THROTTLING_LIMITS" in env:
        pairs = _env_limits(env[f"{ENV_PREFIX}THROTTLING_LIMITS"])
    return checked_throttling(dataclasses.replace(settings, limits=pairs))


def checked_throttling(settings: ThrottlingSettings) -> ThrottlingSettings:
    """Refuse at start a profile, a limit or a Redis URL that would only fail later."""
    settings.table("off")
    if settings.redis_url and not settings.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ValueError("[throttling] redis_url must be a redis://, rediss:// or unix:// URL")
    return settings


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    dev: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_http: bool = False
    # Serve a certificate the builtin CA issues to this server itself (`serve` decides: on
    # when listening beyond loopback without --tls-cert, or when --self-tls asks for it).
    self_tls: bool = False
    # Names that certificate is for (empty: the machine's FQDN); the listen address joins
    # them when it is one specific address.
    tls_hostnames: tuple[str, ...] = ()
    # Plain-HTTP port for the PKI's public paths (/ca, /crl, /ocsp), beside the API port.
    pki_port: int | None = None
    master_key_file: Path | None = None
    log_level: str = "info"
    # The request-rate profile: "off" or "aws" (`serve --rate-limits`, docs/throttling.md).
    rate_limits: str = "off"
    quotas: Quotas = field(default_factory=Quotas)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    issuance: IssuanceSettings = field(default_factory=IssuanceSettings)
    renewal: RenewalSettings = field(default_factory=RenewalSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    dns_zones: tuple[DnsZone, ...] = ()
    events: EventSettings = field(default_factory=EventSettings)
    acme: AcmeSettings = field(default_factory=AcmeSettings)
    acme_server: AcmeServerSettings = field(default_factory=AcmeServerSettings)
    throttling: ThrottlingSettings = field(default_factory=ThrottlingSettings)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'openacm.db').resolve()}"

    @property
    def effective_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def audit_log_path(self) -> Path:
        return self.data_dir / "audit.jsonl"


def read_config_file(path: Path | None) -> dict[str, object]:
    """The TOML file's top-level table; option names may use '-' or '_'."""
    if path is None:
        return {}
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    return {key.replace("-", "_"): value for key, value in raw.items()}


def _table(config: Mapping[str, object], name: str) -> Mapping[str, object]:
    table = config.get(name, {})
    if not isinstance(table, Mapping):
        raise ValueError(f"[{name}] in the config file must be a table")
    return table


def quotas_from(config: Mapping[str, object], env: Mapping[str, str] | None = None) -> Quotas:
    return load_section(
        Quotas, _table(config, "quotas"), os.environ if env is None else env, "QUOTA"
    )


def sections_from(
    config: Mapping[str, object], env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The Settings sections read from the file's tables and the environment."""
    source = os.environ if env is None else env
    return {
        "quotas": quotas_from(config, source),
        "validation": load_section(
            ValidationSettings, _table(config, "validation"), source, "VALIDATION"
        ),
        "issuance": load_section(IssuanceSettings, _table(config, "issuance"), source, "ISSUANCE"),
        "renewal": load_section(RenewalSettings, _table(config, "renewal"), source, "RENEWAL"),
        "email": load_section(EmailSettings, _table(config, "email"), source, "EMAIL"),
        "dns_zones": dns_zones_from(config),
        "events": events_from(config, source),
        "acme": acme_from(config, source),
        "acme_server": load_section(
            AcmeServerSettings, _table(config, "acme_server"), source, "ACME_SERVER"
        ),
        "throttling": throttling_from(config, source),
    }
