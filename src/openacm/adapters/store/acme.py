"""Persistence of the acme issuer's ACME accounts (one per upstream directory)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from openacm.adapters.store.schema import (
    acme_accounts,
    acme_dns_answers,
    acme_http_answers,
    acme_renewal_info,
    certificates,
)


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
    """The TXT values of the dns-01 challenges under way (owner: lowercase, final dot): what
    openacm's own DNS responder serves, and, where an RFC 2136 server holds the validation
    zone, what openacm wrote there and must remove."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self, owner: str, values: Sequence[str], now: float, *, stale_before: float = 0.0
    ) -> list[str]:
        """These values beside any already there (two orders for one name share an owner);
        values published before `stale_before` (by an order that crashed: a live one ends
        sooner) are removed. Returns the stale values, for the DNS server too."""
        stale = [
            row.value
            for row in self.conn.execute(
                select(acme_dns_answers.c.value).where(
                    acme_dns_answers.c.owner == _key(owner),
                    acme_dns_answers.c.created_at < stale_before,
                )
            )
        ]
        if stale:
            self.remove(owner, stale)
        present = set(self.values(owner))
        fresh = [v for v in set(values) if v not in present]
        if fresh:
            self.conn.execute(
                insert(acme_dns_answers),
                [{"owner": _key(owner), "value": v, "created_at": now} for v in fresh],
            )
        return stale

    def remove(self, owner: str, values: Sequence[str]) -> None:
        self.conn.execute(
            delete(acme_dns_answers).where(
                acme_dns_answers.c.owner == _key(owner), acme_dns_answers.c.value.in_(values)
            )
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

    def put(
        self,
        label: str,
        token: str,
        key_authorization: str,
        now: float,
        *,
        stale_before: float = 0.0,
    ) -> None:
        """One answer under the label; the label's answers published before `stale_before`
        (by an order that crashed: a live one ends sooner) are dropped."""
        self.conn.execute(
            delete(acme_http_answers).where(
                acme_http_answers.c.label == label, acme_http_answers.c.created_at < stale_before
            )
        )
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


class AcmeRenewalInfo:
    """Certificates whose CA offers ACME Renewal Information (RFC 9773): when to ask next."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def track(self, arn: str, issuer_id: str, now: float) -> None:
        """A certificate just issued (or renewed): ask about it at the next sweep."""
        self.drop(arn)
        self.conn.execute(
            insert(acme_renewal_info).values(
                arn=arn, issuer_id=issuer_id, next_check_at=now, renew_at=None
            )
        )

    def drop(self, arn: str) -> None:
        self.conn.execute(delete(acme_renewal_info).where(acme_renewal_info.c.arn == arn))

    def due(self, now: float, limit: int) -> list[tuple[str, str]]:
        """(arn, issuer_id) of the certificates to ask about now, the longest-due first."""
        rows = self.conn.execute(
            select(acme_renewal_info.c.arn, acme_renewal_info.c.issuer_id)
            .where(acme_renewal_info.c.next_check_at <= now)
            .order_by(acme_renewal_info.c.next_check_at)
            .limit(limit)
        )
        return [(row.arn, row.issuer_id) for row in rows]

    def checked(self, arn: str, next_check_at: float, renew_at: float | None) -> None:
        self.conn.execute(
            update(acme_renewal_info)
            .where(acme_renewal_info.c.arn == arn)
            .values(next_check_at=next_check_at, renew_at=renew_at)
        )

    def bring_renewal_forward(self, arn: str, renew_at: float) -> bool:
        """The CA wants the certificate renewed by `renew_at`: its managed renewal becomes
        due then, if that is sooner than ACM's window (never later)."""
        moved = self.conn.execute(
            update(certificates)
            .where(
                certificates.c.arn == arn,
                certificates.c.status == "ISSUED",
                certificates.c.renewal_due_at > renew_at,
            )
            .values(renewal_due_at=renew_at)
        )
        return moved.rowcount == 1


def _key(owner: str) -> str:
    return owner.lower().rstrip(".") + "."
