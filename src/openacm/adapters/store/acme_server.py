"""Persistence of the ACME server's state (RFC 8555): nonces, accounts, orders, authorizations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update

from openacm.adapters.store.schema import (
    acme_authorizations,
    acme_client_accounts,
    acme_nonces,
    acme_orders,
    certificates,
)


@dataclass(frozen=True)
class AcmeAccount:
    account_id: str
    endpoint_id: str
    thumbprint: str
    jwk: dict[str, Any]
    contact: list[str]
    status: str
    created_at: float
    external_account_binding_arn: str | None = None


@dataclass(frozen=True)
class AcmeOrder:
    order_id: str
    endpoint_id: str
    account_id: str
    status: str
    identifiers: list[str]
    expires_at: float
    certificate_arn: str | None
    error: dict[str, Any] | None
    created_at: float


@dataclass(frozen=True)
class AcmeAuthorization:
    authz_id: str
    order_id: str
    endpoint_id: str
    account_id: str
    identifier: str
    status: str
    expires_at: float
    challenge_type: str
    challenge_token: str
    challenge_status: str
    challenge_validated_at: float | None
    challenge_error: dict[str, Any] | None


class AcmeStateStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- nonces ---------------------------------------------------------------------------

    def add_nonce(self, nonce: str, expires_at: float) -> None:
        self.conn.execute(insert(acme_nonces).values(nonce=nonce, expires_at=expires_at))

    def use_nonce(self, nonce: str, now: float) -> bool:
        """True once for a nonce this installation gave out and that has not expired: the
        delete is the compare-and-set, so of two requests replaying it one wins."""
        c = acme_nonces.c
        used = self.conn.execute(delete(acme_nonces).where(c.nonce == nonce, c.expires_at > now))
        return used.rowcount == 1

    def forget_expired_nonces(self, now: float) -> None:
        self.conn.execute(delete(acme_nonces).where(acme_nonces.c.expires_at <= now))

    # -- accounts -------------------------------------------------------------------------

    def add_account(self, account: AcmeAccount) -> None:
        self.conn.execute(
            insert(acme_client_accounts).values(
                account_id=account.account_id,
                endpoint_id=account.endpoint_id,
                thumbprint=account.thumbprint,
                jwk_json=orjson.dumps(account.jwk).decode(),
                contact_json=orjson.dumps(account.contact).decode(),
                status=account.status,
                created_at=account.created_at,
                external_account_binding_arn=account.external_account_binding_arn,
            )
        )

    def account(self, endpoint_id: str, account_id: str) -> AcmeAccount | None:
        c = acme_client_accounts.c
        query = select(acme_client_accounts).where(
            c.endpoint_id == endpoint_id, c.account_id == account_id
        )
        row = self.conn.execute(query).first()
        return None if row is None else _account(row)

    def account_by_key(self, endpoint_id: str, thumbprint: str) -> AcmeAccount | None:
        c = acme_client_accounts.c
        query = select(acme_client_accounts).where(
            c.endpoint_id == endpoint_id, c.thumbprint == thumbprint
        )
        row = self.conn.execute(query).first()
        return None if row is None else _account(row)

    def accounts_page(
        self, endpoint_id: str, *, after: tuple[float, str] | None, limit: int
    ) -> tuple[list[AcmeAccount], bool]:
        """An endpoint's accounts, oldest first; `after` is where the previous page ended."""
        c = acme_client_accounts.c
        query = select(acme_client_accounts).where(c.endpoint_id == endpoint_id)
        if after is not None:
            created, account_id = after
            query = query.where(
                (c.created_at > created) | ((c.created_at == created) & (c.account_id > account_id))
            )
        rows = self.conn.execute(query.order_by(c.created_at, c.account_id).limit(limit + 1)).all()
        return [_account(row) for row in rows[:limit]], len(rows) > limit

    def update_account(self, account_id: str, *, contact: list[str], status: str) -> None:
        self.conn.execute(
            update(acme_client_accounts)
            .where(acme_client_accounts.c.account_id == account_id)
            .values(contact_json=orjson.dumps(contact).decode(), status=status)
        )

    def change_key(self, account_id: str, *, jwk: dict[str, Any], thumbprint: str) -> None:
        self.conn.execute(
            update(acme_client_accounts)
            .where(acme_client_accounts.c.account_id == account_id)
            .values(jwk_json=orjson.dumps(jwk).decode(), thumbprint=thumbprint)
        )

    def private_certificate_arn(
        self, account_id: str, region: str, endpoint_arn: str, certificate_pem: str
    ) -> str | None:
        """The ACM certificate an endpoint backed by a private CA issued as `certificate_pem`
        (through the account's PRIVATE certificates, an indexed scope)."""
        c = certificates.c
        query = select(c.arn).where(
            c.account_id == account_id,
            c.region == region,
            c.type == "PRIVATE",
            c.acme_endpoint_arn == endpoint_arn,
            c.certificate_pem == certificate_pem,
        )
        return self.conn.execute(query).scalar_one_or_none()

    # -- orders ---------------------------------------------------------------------------

    def add_order(self, order: AcmeOrder, authorizations: list[AcmeAuthorization]) -> None:
        self.conn.execute(
            insert(acme_orders).values(
                order_id=order.order_id,
                endpoint_id=order.endpoint_id,
                account_id=order.account_id,
                status=order.status,
                identifiers_json=orjson.dumps(order.identifiers).decode(),
                expires_at=order.expires_at,
                created_at=order.created_at,
                updated_at=order.created_at,
            )
        )
        for authz in authorizations:
            self.conn.execute(insert(acme_authorizations).values(**_authz_row(authz)))

    def order(self, endpoint_id: str, order_id: str) -> AcmeOrder | None:
        c = acme_orders.c
        query = select(acme_orders).where(c.endpoint_id == endpoint_id, c.order_id == order_id)
        row = self.conn.execute(query).first()
        return None if row is None else _order(row)

    def orders_of(self, account_id: str, *, limit: int) -> list[AcmeOrder]:
        c = acme_orders.c
        query = (
            select(acme_orders)
            .where(c.account_id == account_id)
            .order_by(c.created_at.desc())
            .limit(limit)
        )
        return [_order(row) for row in self.conn.execute(query).all()]

    def order_by_certificate(self, endpoint_id: str, certificate_arn: str) -> AcmeOrder | None:
        c = acme_orders.c
        query = select(acme_orders).where(
            c.endpoint_id == endpoint_id, c.certificate_arn == certificate_arn
        )
        row = self.conn.execute(query).first()
        return None if row is None else _order(row)

    def set_order(
        self,
        order_id: str,
        *,
        status: str,
        now: float,
        expect: str,
        certificate_arn: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Move an order from `expect` to `status` (compare-and-set: one finalize wins)."""
        c = acme_orders.c
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if certificate_arn is not None:
            values["certificate_arn"] = certificate_arn
        if error is not None:
            values["error_json"] = orjson.dumps(error).decode()
        changed = self.conn.execute(
            update(acme_orders).where(c.order_id == order_id, c.status == expect).values(**values)
        )
        return changed.rowcount == 1

    # -- authorizations -------------------------------------------------------------------

    def authorizations(self, order_id: str) -> list[AcmeAuthorization]:
        c = acme_authorizations.c
        rows = self.conn.execute(
            select(acme_authorizations).where(c.order_id == order_id).order_by(c.identifier)
        ).all()
        return [_authz(row) for row in rows]

    def authorization(self, endpoint_id: str, authz_id: str) -> AcmeAuthorization | None:
        c = acme_authorizations.c
        query = select(acme_authorizations).where(
            c.endpoint_id == endpoint_id, c.authz_id == authz_id
        )
        row = self.conn.execute(query).first()
        return None if row is None else _authz(row)

    def replace_authorization(self, authz: AcmeAuthorization) -> None:
        self.conn.execute(
            update(acme_authorizations)
            .where(acme_authorizations.c.authz_id == authz.authz_id)
            .values(**_authz_row(authz))
        )


def _account(row: Any) -> AcmeAccount:
    return AcmeAccount(
        account_id=row.account_id,
        endpoint_id=row.endpoint_id,
        thumbprint=row.thumbprint,
        jwk=orjson.loads(row.jwk_json),
        contact=orjson.loads(row.contact_json),
        status=row.status,
        created_at=row.created_at,
        external_account_binding_arn=row.external_account_binding_arn,
    )


def _order(row: Any) -> AcmeOrder:
    return AcmeOrder(
        order_id=row.order_id,
        endpoint_id=row.endpoint_id,
        account_id=row.account_id,
        status=row.status,
        identifiers=orjson.loads(row.identifiers_json),
        expires_at=row.expires_at,
        certificate_arn=row.certificate_arn,
        error=orjson.loads(row.error_json) if row.error_json else None,
        created_at=row.created_at,
    )


def _authz_row(authz: AcmeAuthorization) -> dict[str, Any]:
    return {
        "authz_id": authz.authz_id,
        "order_id": authz.order_id,
        "endpoint_id": authz.endpoint_id,
        "account_id": authz.account_id,
        "identifier": authz.identifier,
        "status": authz.status,
        "expires_at": authz.expires_at,
        "challenge_type": authz.challenge_type,
        "challenge_token": authz.challenge_token,
        "challenge_status": authz.challenge_status,
        "challenge_validated_at": authz.challenge_validated_at,
        "challenge_error_json": (
            orjson.dumps(authz.challenge_error).decode() if authz.challenge_error else None
        ),
    }


def _authz(row: Any) -> AcmeAuthorization:
    return AcmeAuthorization(
        authz_id=row.authz_id,
        order_id=row.order_id,
        endpoint_id=row.endpoint_id,
        account_id=row.account_id,
        identifier=row.identifier,
        status=row.status,
        expires_at=row.expires_at,
        challenge_type=row.challenge_type,
        challenge_token=row.challenge_token,
        challenge_status=row.challenge_status,
        challenge_validated_at=row.challenge_validated_at,
        challenge_error=orjson.loads(row.challenge_error_json)
        if row.challenge_error_json
        else None,
    )
