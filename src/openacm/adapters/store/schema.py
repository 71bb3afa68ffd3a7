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
    Column("serial", String(64), nullable=False),
    Column("not_before", Float, nullable=False),
    Column("not_after", Float, nullable=False),
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
    Column("certificate_pem", Text, nullable=False),
    Column("chain_pem", Text),
    Column("private_key_sealed", LargeBinary),
    # X.509-derived facts shown by Describe/Search, serialized once at import.
    Column("facts_json", Text, nullable=False),
    Column("row_version", Integer, nullable=False),
    Index("ix_certificates_scope_created", "account_id", "region", "created_at", "arn"),
    Index(
        "ix_certificates_scope_key_created", "account_id", "region", "key_algorithm", "created_at"
    ),
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
