"""The relational schema, as SQLAlchemy Core tables. Alembic migrations create it.

Times are stored as epoch seconds (double precision): the API speaks epoch seconds, the
values sort and compare the same way in SQLite and PostgreSQL, and no driver converts
time zones behind our back.

Multi-valued certificate facts that ListCertificates/SearchCertificates filter on (key usages,
extended key usages, names) are also kept as delimited text (",A,B," / "\\nname\\n") so every
filter is one indexed-row predicate, not a join per filter.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("account_id", ForeignKey("accounts.account_id"), nullable=False),
    Column("user_name", String(64), nullable=False),
    # The secret must be usable for HMAC, so it is sealed (envelope), never hashed.
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),  # Active | Inactive, as IAM spells them
    Column("created_at", Float, nullable=False),
)

certificates = Table(
    "certificates",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("certificate_id", String(36), nullable=False, unique=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("type", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("domain_name", String(253)),
    Column("has_domain", Boolean, nullable=False),
    Column("common_name", String(256)),
    Column("names_text", Text, nullable=False),
    Column("key_algorithm", String(16), nullable=False),
    Column("key_usages_text", Text, nullable=False),
    Column("extended_key_usages_text", Text, nullable=False),
    Column("serial", String(64)),
    Column("not_before", Float),
    Column("not_after", Float),
    Column("created_at", Float, nullable=False),
    Column("imported_at", Float),
    Column("issued_at", Float),
    Column("revoked_at", Float),
    Column("revocation_reason", String(32)),
    Column("in_use", Boolean, nullable=False),
    Column("exported", Boolean, nullable=False),
    Column("export_option", String(16)),
    Column("managed_by", String(16)),
    Column("key_pair_origin", String(32), nullable=False),
    Column("renewal_eligibility", String(16), nullable=False),
    Column("renewal_status", String(32)),
    Column("validation_method", String(16)),
    Column("acme_endpoint_arn", String(2048)),
    Column("acme_account_id", String(36)),
    # Requested (AMAZON_ISSUED) certificates: why a request failed, its CT preference, and
    # the CA that signed the current certificate.
    Column("failure_reason", String(64)),
    Column("ct_logging", String(16)),
    Column("issuer_ca_id", String(64)),
    # Private certificates: the ACM-PCA CA that signs them (issue 5); renewals: why the last
    # one is where it is, and when that changed (RenewalSummary).
    Column("certificate_authority_arn", String(200)),
    Column("renewal_status_reason", String(64)),
    Column("renewal_updated_at", Float),
    # When managed renewal of the current certificate begins (domain/renewal.py); None for
    # what never renews (imported, not yet issued). The renewal sweep's index.
    Column("renewal_due_at", Float),
    Column("certificate_pem", Text),
    Column("chain_pem", Text),
    Column("private_key_sealed", LargeBinary),
    # X.509-derived facts shown by Describe/Search, serialized once at import.
    Column("facts_json", Text, nullable=False),
    Column("row_version", Integer, nullable=False),
    Index("ix_certificates_scope_created", "account_id", "region", "created_at", "arn"),
    Index(
        "ix_certificates_scope_key_created", "account_id", "region", "key_algorithm", "created_at"
    ),
    # The certificate quota counts one type of one account and region on every request.
    Index("ix_certificates_scope_type", "account_id", "region", "type"),
    Index("ix_certificates_renewal_due", "renewal_due_at"),
)

tags = Table(
    "tags",
    metadata,
    Column("tag_id", Integer, primary_key=True, autoincrement=True),
    Column("resource_arn", String(2048), nullable=False),
    Column("tag_key", String(128), nullable=False),
    Column("tag_value", String(256)),
    UniqueConstraint("resource_arn", "tag_key"),
)

account_settings = Table(
    "account_settings",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("days_before_expiry", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

idempotency_tokens = Table(
    "idempotency_tokens",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("operation", String(64), primary_key=True),
    Column("token", String(64), primary_key=True),
    Column("request_digest", String(64), nullable=False),
    Column("response_json", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

# One row per import (first or re-import); deletions do not remove rows, because deleted
# certificates still count toward the yearly quota (inventory §4.8).
quota_ledger = Table(
    "quota_ledger",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("certificate_arn", String(2048), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_quota_ledger_scope", "account_id", "region", "kind", "at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("event_time", Float, nullable=False),
    Column("account_id", String(12)),
    Column("region", String(32)),
    Column("event_source", String(64), nullable=False),
    Column("event_name", String(64), nullable=False),
    Column("error_code", String(64)),
    Column("access_key_id", String(128)),
    Column("resource_arn", String(2048)),
    Column("record_json", Text, nullable=False),
    Index("ix_audit_events_time", "event_time"),
    Index("ix_audit_events_account_time", "account_id", "event_time"),
)

# Per requested name of an AMAZON_ISSUED certificate: how it is validated and where it stands.
# The DNS record is derived from (account, name) and stored so every read shows it at once.
domain_validations = Table(
    "domain_validations",
    metadata,
    Column("certificate_arn", String(2048), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("domain_name", String(253), nullable=False),
    Column("validation_domain", String(253), nullable=False),
    Column("validation_method", String(16), nullable=False),
    Column("record_name", String(300)),
    Column("record_value", String(300)),
    Column("status", String(32), nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Background work (validation checks, later renewals and expiry events), taken through
# leases so that several server processes on one database never do the same item at once.
work_items = Table(
    "work_items",
    metadata,
    Column("item_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("resource_arn", String(2048), nullable=False),
    Column("due_at", Float, nullable=False),
    Column("deadline_at", Float),
    Column("attempts", Integer, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", Float),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("kind", "resource_arn"),
    Index("ix_work_items_kind_due", "kind", "due_at"),
)

# The certificate authorities openacm signs with (the builtin hierarchy now, private CAs
# later): certificate, where the key lives, and the current CRL.
issuing_cas = Table(
    "issuing_cas",
    metadata,
    Column("ca_id", String(64), primary_key=True),
    Column("issuer", String(32), nullable=False),
    Column("role", String(32), nullable=False),
    Column("certificate_pem", Text, nullable=False),
    Column("key_storage", String(16), nullable=False),
    Column("key_sealed", LargeBinary),
    Column("key_label", String(128)),
    Column("crl_number", Integer, nullable=False),
    Column("crl_der", LargeBinary),
    Column("crl_next_update", Float),
    Column("created_at", Float, nullable=False),
    Index("ix_issuing_cas_issuer_role", "issuer", "role"),
)

# Every serial a CA has planned or signed: written before signing so a crash leaves a
# trace, and the source of CRLs and OCSP answers.
issued_serials = Table(
    "issued_serials",
    metadata,
    Column("ca_id", String(64), primary_key=True),
    Column("serial", String(64), primary_key=True),
    Column("certificate_arn", String(2048), nullable=False),
    Column("state", String(16), nullable=False),  # planned | issued | abandoned
    Column("planned_at", Float, nullable=False),
    Column("issued_at", Float),
    Column("not_after", Float, nullable=False),
    Column("tbs_sha256", String(64)),
    Column("revoked_at", Float),
    Column("revocation_reason", String(32)),
    Index("ix_issued_serials_ca_revoked", "ca_id", "revoked_at"),
)

# Installation-wide secrets (sealed), e.g. the key that derives DNS validation tokens, kept
# in the store so every node derives the same records.
installation_secrets = Table(
    "installation_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Pre-generated leaf keys (RSA generation is slow), sealed, taken one per issuance.
key_pool = Table(
    "key_pool",
    metadata,
    Column("key_id", Integer, primary_key=True, autoincrement=True),
    Column("key_algorithm", String(16), nullable=False),
    Column("key_sealed", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_key_pool_algorithm", "key_algorithm", "key_id"),
)

# -- AWS Private CA (ACM-PCA) ------------------------------------------------------------------

# One row per private CA. The key is sealed (envelope, bound to the ARN); the configuration
# and revocation configuration are kept as the API documents, JSON, as Describe shows them.
private_cas = Table(
    "private_cas",
    metadata,
    Column("arn", String(200), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("ca_type", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    # What RestoreCertificateAuthority brings a DELETED CA back to.
    Column("status_before_deletion", String(32)),
    Column("usage_mode", String(32), nullable=False),
    Column("key_algorithm", String(16), nullable=False),
    Column("signing_algorithm", String(32), nullable=False),
    Column("key_storage_security_standard", String(32), nullable=False),
    Column("configuration_json", Text, nullable=False),
    Column("revocation_json", Text, nullable=False),
    # Both NULL while the CA is CREATING (its key is being generated).
    Column("key_sealed", LargeBinary),
    # envelope | pkcs11 (the key is then in the token, never in this table)
    Column("key_storage", String(16), nullable=False, server_default="envelope"),
    Column("csr_pem", Text),
    Column("certificate_pem", Text),
    Column("chain_pem", Text),
    Column("serial", String(128)),
    Column("not_before", Float),
    Column("not_after", Float),
    Column("created_at", Float, nullable=False),
    Column("last_state_change_at", Float, nullable=False),
    Column("restorable_until", Float),
    Column("failure_reason", String(32)),
    Column("policy_text", Text),
    Column("row_version", Integer, nullable=False),
    Index("ix_private_cas_scope_created", "account_id", "region", "created_at", "arn"),
)

# CreatePermission: what a service principal (acm.amazonaws.com) may do with a CA.
private_ca_permissions = Table(
    "private_ca_permissions",
    metadata,
    Column("ca_arn", String(200), primary_key=True),
    Column("principal", String(128), primary_key=True),
    Column("source_account", String(12)),
    Column("actions_text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

# The accounts a CA's resource policy shares it with (PutPolicy), for ListCertificateAuthorities
# with ResourceOwner OTHER_ACCOUNTS: one indexed lookup by the caller's account.
private_ca_policy_grants = Table(
    "private_ca_policy_grants",
    metadata,
    Column("ca_arn", String(200), primary_key=True),
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), nullable=False),
    Column("actions_text", Text, nullable=False),
    Index("ix_private_ca_policy_grants_account", "account_id", "region"),
)

# Certificates a private CA signed (IssueCertificate), their revocation (RevokeCertificate),
# and the source of the CA's CRLs: "revoked serials of a CA" and "this serial" are both one
# indexed lookup.
private_ca_certificates = Table(
    "private_ca_certificates",
    metadata,
    Column("ca_arn", String(200), primary_key=True),
    Column("serial", String(64), primary_key=True),  # lowercase hex, no separators
    Column("certificate_arn", String(300), nullable=False, unique=True),
    Column("certificate_pem", Text, nullable=False),
    Column("status", String(16), nullable=False),  # ISSUED | REVOKED
    Column("issued_at", Float, nullable=False),
    Column("not_before", Float, nullable=False),
    Column("not_after", Float, nullable=False),
    Column("revoked_at", Float),
    Column("revocation_reason", String(32)),
    Index("ix_private_ca_certificates_ca_revoked", "ca_arn", "revoked_at"),
)

# --- Private CA operations (migration 0004): issuance counters, CRLs, audit reports ----------

# Per-CA state of the issuing side: the lifetime count of IssueCertificate (AWS's quota of
# 1,000,000 certificates per CA counts every certificate ever issued, revoked or not), and the
# CA's current CRL. Updating the row also serialises issuers and CRL signers of one CA.
# `ca_id` (the ARN's last part) is how the public CRL and OCSP URLs name the CA.
private_ca_issuance = Table(
    "private_ca_issuance",
    metadata,
    Column("ca_arn", String(200), primary_key=True),
    Column("ca_id", String(64), nullable=False, unique=True),
    Column("issued_count", Integer, nullable=False),
    Column("crl_number", Integer, nullable=False),
    Column("crl_der", LargeBinary),
    Column("crl_this_update", Float),
    Column("crl_next_update", Float),
)

# CreateCertificateAuthorityAuditReport: one row per report; the file is written to the data
# directory and served over HTTP (docs/private-ca.md).
private_ca_audit_reports = Table(
    "private_ca_audit_reports",
    metadata,
    Column("report_id", String(64), primary_key=True),
    Column("ca_arn", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # CREATING | SUCCESS | FAILED
    Column("response_format", String(8), nullable=False),  # JSON | CSV
    Column("s3_bucket_name", String(255), nullable=False),
    Column("s3_key", String(300), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_private_ca_audit_reports_ca", "ca_arn", "status"),
)

# `--dev` only: how far the installation's clock is moved from the system clock, so that tests
# and demos play months of certificate lifecycle in seconds (services/clock.py). One row.
dev_clock = Table(
    "dev_clock",
    metadata,
    Column("clock_id", Integer, primary_key=True),
    Column("offset_seconds", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# -- Certificate associations (openacm's AssociateCertificate) --------------------------------

# Which consumer (any ARN: a load balancer, an `openacm agent` target…) uses which
# certificate: the source of DescribeCertificate's InUseBy, of ResourceInUseException on
# DeleteCertificate and of renewal eligibility. `certificates.in_use` is kept equal to "this
# certificate has a row here" in the same transactions, so listings and the InUse search
# filter stay one-row predicates. Account and region are the certificate's: listings by
# consumer are scoped by them, so accounts never see each other's associations.
certificate_associations = Table(
    "certificate_associations",
    metadata,
    Column("certificate_arn", String(2048), primary_key=True),
    Column("resource_arn", String(2048), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Index(
        "ix_certificate_associations_scope_resource",
        "account_id",
        "region",
        "resource_arn",
        "certificate_arn",
    ),
)

# -- Metrics (GET /metrics) ---------------------------------------------------------------------

# Certificates by type and status, counted at every scrape: an index-only scan instead of
# reading every certificate row (not_after: an ISSUED certificate past it counts as EXPIRED).
Index(
    "ix_certificates_type_status",
    certificates.c.type,
    certificates.c.status,
    certificates.c.not_after,
)

# -- Events (EventBridge-format, docs/events.md) -------------------------------------------------

# The durable outbox: an event is written in the transaction of the change that caused it, so
# it exists exactly when that change committed. The body is the event as delivered.
event_outbox = Table(
    "event_outbox",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("resource_arn", String(2048), nullable=False),
    Column("source", String(32), nullable=False),
    Column("detail_type", String(64), nullable=False),
    Column("body_json", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_event_outbox_created", "created_at"),
)

# The sinks events are fanned out to (`[[events.sinks]]`), registered by every server at start;
# `emit` writes one delivery row for each active one, in the emitting transaction.
event_sinks = Table(
    "event_sinks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# One row per (event, sink): pending (due_at, leased like work_items), delivered or dead
# (dead-lettered after the sink's attempt limit, kept with the last error until re-queued).
event_deliveries = Table(
    "event_deliveries",
    metadata,
    Column("delivery_id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", ForeignKey("event_outbox.event_id"), nullable=False),
    Column("sink", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("due_at", Float, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", Float),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("delivered_at", Float),
    UniqueConstraint("event_id", "sink"),
    Index("ix_event_deliveries_sink_status_due", "sink", "status", "due_at"),
)

# The daily expiry sweep of one account and region: the last UTC day (epoch day number) it
# finished, and the lease of the process running it now.
expiry_sweeps = Table(
    "expiry_sweeps",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("swept_day", Integer, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", Float),
    Column("updated_at", Float, nullable=False),
)

# What the sweep sent about a certificate ("approaching:<day>", "expired:<NotAfter>"), written
# with the event: a sweep resumed after a crash never sends a notice twice.
expiry_notices = Table(
    "expiry_notices",
    metadata,
    Column("certificate_arn", String(2048), primary_key=True),
    Column("notice", String(64), primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("created_at", Float, nullable=False),
)

# -- Email validation (issue 7) ----------------------------------------------------------------

# Per requested name of an email-validated certificate: the addresses approval mail goes to,
# when the first approval mail went out (kept for renewals: inventory §3.3, "persistent initial
# timestamp"), and a move to DNS validation under way (UpdateCertificateOptions) with the
# record it waits for.
email_validations = Table(
    "email_validations",
    metadata,
    Column("certificate_arn", String(2048), primary_key=True),
    Column("domain_name", String(253), primary_key=True),
    Column("mail_domain", String(253), nullable=False),
    Column("first_sent_at", Float),
    Column("requested_method", String(16)),
    Column("requested_record_name", String(300)),
    Column("requested_record_value", String(300)),
    Column("updated_at", Float, nullable=False),
)

# One row per approval mail: queued (sent_at NULL) until the mail worker delivers it, then an
# approval link whose code is stored only as its SHA-256. Single use (used_at), replaced by a
# resend (replaced_at), valid until expires_at.
email_approvals = Table(
    "email_approvals",
    metadata,
    Column("context", String(64), primary_key=True),
    Column("certificate_arn", String(2048), nullable=False),
    Column("domain_name", String(253), nullable=False),
    Column("mail_domain", String(253), nullable=False),
    Column("purpose", String(16), nullable=False),  # new | renewal
    Column("requested_at", Float, nullable=False),
    Column("sent_at", Float),
    Column("code_sha256", String(64)),
    Column("expires_at", Float),
    Column("used_at", Float),
    Column("replaced_at", Float),
    Index("ix_email_approvals_certificate", "certificate_arn", "domain_name"),
)

# -- The acme public issuer (issue 8) -----------------------------------------------------------

# One ACME account per upstream directory: its key (PKCS#8 DER, envelope-sealed with the
# directory URL as context) and, once registered, the account URL the CA gave it (the "kid"
# of every later request).
acme_accounts = Table(
    "acme_accounts",
    metadata,
    Column("directory_url", String(1024), primary_key=True),
    Column("key_sealed", LargeBinary, nullable=False),
    Column("account_url", String(1024)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# The TXT answers of ACME DNS-01 challenges under way, for openacm's own DNS responder
# (`serve --dns-listen`): owner name (lowercase, final dot) and value, one row per value.
acme_dns_answers = Table(
    "acme_dns_answers",
    metadata,
    Column("owner", String(300), primary_key=True),
    Column("value", String(255), primary_key=True),
    Column("created_at", Float, nullable=False),
)


# -- ACME endpoints (issue 9) ------------------------------------------------------------------

# One ACME server of an account and region (CreateAcmeEndpoint). The CertificateAuthority union
# and the CertificateTags are kept as JSON: they are only ever read whole with the endpoint.
# Tags on the endpoint itself live in `tags` under its ARN, like a certificate's.
acme_endpoints = Table(
    "acme_endpoints",
    metadata,
    Column("arn", String(200), primary_key=True),
    Column("endpoint_id", String(64), nullable=False, unique=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("failure_reason", Text),
    Column("authorization_behavior", String(32), nullable=False),
    Column("contact", String(16), nullable=False),
    Column("certificate_authority_json", Text, nullable=False),
    Column("certificate_tags_json", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_acme_endpoints_account_id_region_created_at", "account_id", "region", "created_at"),
)

# The ACME server's state (RFC 8555). Nonces are in the store, not in a process's memory: any
# process of the installation may get the request that uses one, and each is used once.
acme_nonces = Table(
    "acme_nonces",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False),
    Index("ix_acme_nonces_expires_at", "expires_at"),
)

# One ACME account per (endpoint, account key): newAccount with a known key finds it (§7.3.1).
acme_client_accounts = Table(
    "acme_client_accounts",
    metadata,
    Column("account_id", String(36), primary_key=True),
    Column("endpoint_id", String(64), nullable=False),
    Column("thumbprint", String(64), nullable=False),
    Column("jwk_json", Text, nullable=False),
    Column("contact_json", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    # The external account binding newAccount was bound to (RFC 8555 §7.3.4), when it was.
    Column("external_account_binding_arn", String(200)),
    UniqueConstraint("endpoint_id", "thumbprint"),
)

acme_orders = Table(
    "acme_orders",
    metadata,
    Column("order_id", String(36), primary_key=True),
    Column("endpoint_id", String(64), nullable=False),
    Column("account_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("identifiers_json", Text, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("certificate_arn", String(2048)),
    Column("error_json", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # An account's orders list (RFC 8555 §7.1.2.1), newest first.
    Index("ix_acme_orders_account_id_created_at", "account_id", "created_at"),
)

# One per (order, identifier), with its one challenge (the type the endpoint offers).
acme_authorizations = Table(
    "acme_authorizations",
    metadata,
    Column("authz_id", String(36), primary_key=True),
    Column("order_id", String(36), nullable=False),
    Column("endpoint_id", String(64), nullable=False),
    Column("account_id", String(36), nullable=False),
    Column("identifier", String(253), nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("challenge_type", String(16), nullable=False),
    Column("challenge_token", String(64), nullable=False),
    Column("challenge_status", String(16), nullable=False),
    Column("challenge_validated_at", Float),
    Column("challenge_error_json", Text),
    Index("ix_acme_authorizations_order_id", "order_id"),
)

# -- access control (issue 11, docs/access-control.md) ------------------------------------------

# IAM users and roles of an account. A user's access keys are the access_keys rows of its
# account with its name; keys of a name that is no user are the account's root keys.
iam_principals = Table(
    "iam_principals",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("kind", String(8), primary_key=True),  # user | role
    Column("name", String(64), primary_key=True),
    Column("principal_id", String(32), nullable=False),  # AIDA… / AROA…, aws:userid
    Column("path", String(512), nullable=False),
    Column("trust_policy", Text),  # roles only
    Column("max_session_seconds", Integer),  # roles only
    Column("created_at", Float, nullable=False),
)

# Customer managed policies (AWS managed ones are built in: domain/managed_policies.py).
iam_policies = Table(
    "iam_policies",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("policy_id", String(32), nullable=False),
    Column("document", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

# A user's or role's policies: inline (document set) or an attached managed policy (its ARN).
iam_principal_policies = Table(
    "iam_principal_policies",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("principal_name", String(64), primary_key=True),
    Column("policy", String(2048), primary_key=True),  # inline name, or managed policy ARN
    Column("document", Text),  # inline policies only
)

# Temporary credentials of AssumeRole: the session token is kept as its SHA-256 only.
sts_sessions = Table(
    "sts_sessions",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("role_name", String(64), nullable=False),
    Column("session_name", String(64), nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("token_sha256", String(64), nullable=False),
    Column("session_policy", Text),
    Column("expires_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_sts_sessions_expires_at", "expires_at"),
)

# -- ACME endpoints: external account bindings and domain validations (issue 9) ----------------

# An external account binding (CreateAcmeExternalAccountBinding): its KeyId is the binding id,
# its HMAC key sealed with the envelope cipher under the binding's ARN. A binding may register
# any number of ACME accounts until it expires, is revoked or deleted.
acme_external_account_bindings = Table(
    "acme_external_account_bindings",
    metadata,
    Column("arn", String(200), primary_key=True),
    Column("binding_id", String(64), nullable=False, unique=True),
    Column("endpoint_arn", String(200), nullable=False),
    Column("role_arn", String(2048), nullable=False),
    Column("mac_key_sealed", LargeBinary, nullable=False),
    Column("expires_at", Float),
    Column("revoked_at", Float),
    Column("last_used_at", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index(
        "ix_acme_external_account_bindings_endpoint_arn_created_at", "endpoint_arn", "created_at"
    ),
)

# A pre-validated domain of an endpoint (CreateAcmeDomainValidation): the CNAME of ACM's DNS
# validation proves control of `domain_name`; the scope says which names it then authorizes.
# A VALIDATING one is checked by the background work through the work queue.
acme_domain_validations = Table(
    "acme_domain_validations",
    metadata,
    Column("arn", String(200), primary_key=True),
    Column("endpoint_arn", String(200), nullable=False),
    Column("domain_name", String(253), nullable=False),
    Column("scope_json", Text, nullable=False),
    Column("hosted_zone_id", String(32)),
    Column("record_name", String(300), nullable=False),
    Column("record_value", String(300), nullable=False),
    Column("status", String(16), nullable=False),
    Column("failure_reason", String(32)),
    Column("failure_message", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("endpoint_arn", "domain_name"),
)
# -- The acme public issuer, HTTP validation (issue 8) -----------------------------------------

# The key authorizations of ACME http-01 challenges under way, served at the RedirectTo path
# (`/.well-known/acme-challenge/<label>/<token>`) by any process of the installation.
acme_http_answers = Table(
    "acme_http_answers",
    metadata,
    Column("label", String(64), primary_key=True),
    Column("token", String(128), primary_key=True),
    Column("key_authorization", String(512), nullable=False),
    Column("created_at", Float, nullable=False),
)

# ACME Renewal Information (RFC 9773) of certificates an upstream CA that offers it issued:
# when to ask the CA next, and the renewal time it suggested (which brings the certificate's
# `renewal_due_at` forward). One row per certificate ARN, replaced at each renewal.
acme_renewal_info = Table(
    "acme_renewal_info",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("issuer_id", String(64), nullable=False),
    Column("next_check_at", Float, nullable=False),
    Column("renew_at", Float),
    Index("ix_acme_renewal_info_next_check_at", "next_check_at"),
)

# The events of one resource of one account, newest first (EventOutbox.for_resource: the
# console's certificate history), without scanning the outbox. Migration 0014.
Index(
    "ix_event_outbox_resource",
    event_outbox.c.account_id,
    event_outbox.c.resource_arn,
    event_outbox.c.created_at,
)
# A scope's certificates by NotAfter: SearchCertificates' NotAfter ranges and the console
# dashboard (expiring soon, the year's expiries counted by month). Migration 0014.
Index(
    "ix_certificates_scope_not_after",
    certificates.c.account_id,
    certificates.c.region,
    certificates.c.not_after,
)
