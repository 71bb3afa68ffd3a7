"""Persistence of the acme issuer's ACME accounts (one per upstream directory)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from openacm.adapters.store.schema import acme_accounts


@dataclass(frozen=True)
class StoredAcmeAccount:
    directory_url: str
    key_sealed: bytes
    account_url: str | None


class AcmeAccountStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, directory_url: str) -> StoredAcmeAccount | None:
        row = self.conn.execute(
            select(acme_accounts).where(acme_accounts.c.directory_url == directory_url)
        ).first()
        if row is None:
            return None
        return StoredAcmeAccount(row.directory_url, bytes(row.key_sealed), row.account_url)

    def create(self, directory_url: str, key_sealed: bytes, now: float) -> None:
        self.conn.execute(
            insert(acme_accounts).values(
                directory_url=directory_url,
                key_sealed=key_sealed,
                account_url=None,
                created_at=now,
                updated_at=now,
            )
        )

    def set_account_url(self, directory_url: str, account_url: str, now: float) -> None:
        self.conn.execute(
            update(acme_accounts)
            .where(acme_accounts.c.directory_url == directory_url)
            .values(account_url=account_url, updated_at=now)
        )
