"""Persistence of the acme issuer's ACME accounts (one per upstream directory)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from openacm.adapters.store.schema import acme_accounts, acme_dns_answers, acme_http_answers


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


class AcmeDnsAnswers:
    """The TXT values openacm's own DNS responder serves (owner: lowercase, final dot)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def replace(self, owner: str, values: Sequence[str], now: float) -> None:
        self.delete(owner)
        if values:
            self.conn.execute(
                insert(acme_dns_answers),
                [{"owner": _key(owner), "value": v, "created_at": now} for v in set(values)],
            )

    def delete(self, owner: str) -> None:
        self.conn.execute(delete(acme_dns_answers).where(acme_dns_answers.c.owner == _key(owner)))

    def values(self, owner: str) -> list[str]:
        rows = self.conn.execute(
            select(acme_dns_answers.c.value).where(acme_dns_answers.c.owner == _key(owner))
        )
        return sorted(row.value for row in rows)


class AcmeHttpAnswers:
    """The http-01 key authorizations openacm serves under a name's RedirectTo label."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def put(self, label: str, token: str, key_authorization: str, now: float) -> None:
        self.delete(label, token)
        self.conn.execute(
            insert(acme_http_answers).values(
                label=label, token=token, key_authorization=key_authorization, created_at=now
            )
        )

    def delete(self, label: str, token: str) -> None:
        self.conn.execute(
            delete(acme_http_answers).where(
                acme_http_answers.c.label == label, acme_http_answers.c.token == token
            )
        )

    def get(self, label: str, token: str) -> str | None:
        value: str | None = self.conn.execute(
            select(acme_http_answers.c.key_authorization).where(
                acme_http_answers.c.label == label, acme_http_answers.c.token == token
            )
        ).scalar()
        return value


def _key(owner: str) -> str:
    return owner.lower().rstrip(".") + "."
