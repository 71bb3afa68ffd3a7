"""Accounts, their access keys, per-region account settings and idempotency tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy import update as sql_update

from openacm.adapters.store.schema import (
    access_keys,
    account_settings,
    accounts,
    idempotency_tokens,
)


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    created_at: float


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    account_id: str
    user_name: str
    status: str
    created_at: float


@dataclass(frozen=True)
class StoredToken:
    request_digest: str
    response_json: str
    created_at: float


class AccountStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- accounts -------------------------------------------------------------------------

    def get_account(self, account_id: str) -> Account | None:
        row = self.conn.execute(select(accounts).where(accounts.c.account_id == account_id)).first()
        return None if row is None else Account(row.account_id, row.name, row.created_at)

    def list_accounts(self) -> list[Account]:
        rows = self.conn.execute(select(accounts).order_by(accounts.c.account_id)).all()
        return [Account(r.account_id, r.name, r.created_at) for r in rows]

    def add_account(self, account: Account) -> None:
        self.conn.execute(
            insert(accounts).values(
                account_id=account.account_id, name=account.name, created_at=account.created_at
            )
        )

    def lock_account(self, account_id: str) -> None:
        """Serialize quota-counting writers of one account (a no-op lock on SQLite, whose
        write transactions are already serialized by BEGIN IMMEDIATE)."""
        if self.conn.dialect.name != "sqlite":
            self.conn.execute(
                select(accounts.c.account_id)
                .where(accounts.c.account_id == account_id)
                .with_for_update()
            )

    # -- access keys ----------------------------------------------------------------------

    def add_access_key(self, key: AccessKey, secret_sealed: bytes) -> None:
        self.conn.execute(
            insert(access_keys).values(
                access_key_id=key.access_key_id,
                account_id=key.account_id,
                user_name=key.user_name,
                status=key.status,
                created_at=key.created_at,
                secret_sealed=secret_sealed,
            )
        )

    def access_key(self, access_key_id: str) -> tuple[AccessKey, bytes] | None:
        row = self.conn.execute(
            select(access_keys).where(access_keys.c.access_key_id == access_key_id)
        ).first()
        if row is None:
            return None
        return _access_key(row), row.secret_sealed

    def list_access_keys(self, account_id: str | None = None) -> list[AccessKey]:
        query = select(access_keys).order_by(access_keys.c.account_id, access_keys.c.created_at)
        if account_id is not None:
            query = query.where(access_keys.c.account_id == account_id)
        return [_access_key(row) for row in self.conn.execute(query).all()]

    def set_access_key_status(self, access_key_id: str, status: str) -> bool:
        result = self.conn.execute(
            sql_update(access_keys)
            .where(access_keys.c.access_key_id == access_key_id)
            .values(status=status)
        )
        return bool(result.rowcount == 1)

    def delete_access_key(self, access_key_id: str, account_id: str) -> bool:
        result = self.conn.execute(
            delete(access_keys)
            .where(access_keys.c.access_key_id == access_key_id)
            .where(access_keys.c.account_id == account_id)
        )
        return bool(result.rowcount == 1)

    # -- account settings -----------------------------------------------------------------

    def days_before_expiry(self, account_id: str, region: str) -> int | None:
        value: int | None = self.conn.execute(
            select(account_settings.c.days_before_expiry)
            .where(account_settings.c.account_id == account_id)
            .where(account_settings.c.region == region)
        ).scalar()
        return value

    def set_days_before_expiry(self, account_id: str, region: str, days: int, now: float) -> None:
        changed = self.conn.execute(
            sql_update(account_settings)
            .where(account_settings.c.account_id == account_id)
            .where(account_settings.c.region == region)
            .values(days_before_expiry=days, updated_at=now)
        )
        if changed.rowcount == 0:
            self.conn.execute(
                insert(account_settings).values(
                    account_id=account_id, region=region, days_before_expiry=days, updated_at=now
                )
            )

    # -- idempotency ----------------------------------------------------------------------

    def token(self, scope: tuple[str, str, str], token: str, since: float) -> StoredToken | None:
        account_id, region, operation = scope
        key = _token_key(account_id, region, operation, token)
        row = self.conn.execute(select(idempotency_tokens).where(*key)).first()
        if row is None or row.created_at <= since:
            return None
        return StoredToken(row.request_digest, row.response_json, row.created_at)

    def put_token(self, scope: tuple[str, str, str], token: str, stored: StoredToken) -> None:
        account_id, region, operation = scope
        # A token older than its hour may be reused by the caller: replace it.
        self.conn.execute(
            delete(idempotency_tokens).where(*_token_key(account_id, region, operation, token))
        )
        self.conn.execute(
            insert(idempotency_tokens).values(
                account_id=account_id,
                region=region,
                operation=operation,
                token=token,
                request_digest=stored.request_digest,
                response_json=stored.response_json,
                created_at=stored.created_at,
            )
        )


def _token_key(account_id: str, region: str, operation: str, token: str) -> list[Any]:
    t = idempotency_tokens.c
    return [
        t.account_id == account_id,
        t.region == region,
        t.operation == operation,
        t.token == token,
    ]


def _access_key(row: Any) -> AccessKey:
    return AccessKey(row.access_key_id, row.account_id, row.user_name, row.status, row.created_at)
