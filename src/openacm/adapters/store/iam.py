"""IAM users and roles, their policies, and STS sessions (tables of migration 0011)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from openacm.adapters.store.schema import (
    access_keys,
    iam_policies,
    iam_principal_policies,
    iam_principals,
    sts_sessions,
)

USER, ROLE = "user", "role"


@dataclass(frozen=True)
class IamPrincipal:
    account_id: str
    kind: str  # USER | ROLE
    name: str
    principal_id: str
    path: str
    created_at: float
    trust_policy: str | None = None
    max_session_seconds: int | None = None


@dataclass(frozen=True)
class ManagedPolicy:
    account_id: str
    name: str
    policy_id: str
    document: str
    created_at: float


@dataclass(frozen=True)
class AttachedPolicy:
    """An inline policy (name and document) or an attached managed policy (ARN, no document)."""

    policy: str
    document: str | None


@dataclass(frozen=True)
class StsSession:
    access_key_id: str
    account_id: str
    role_name: str
    session_name: str
    token_sha256: str
    session_policy: str | None
    expires_at: float
    created_at: float


class IamStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- users and roles ------------------------------------------------------------------

    def principal(self, account_id: str, kind: str, name: str) -> IamPrincipal | None:
        t = iam_principals.c
        row = self.conn.execute(
            select(iam_principals).where(t.account_id == account_id, t.kind == kind, t.name == name)
        ).first()
        return None if row is None else _principal(row)

    def principals(self, account_id: str | None, kind: str) -> list[IamPrincipal]:
        t = iam_principals.c
        query = select(iam_principals).where(t.kind == kind).order_by(t.account_id, t.name)
        if account_id is not None:
            query = query.where(t.account_id == account_id)
        return [_principal(row) for row in self.conn.execute(query).all()]

    def add_principal(self, principal: IamPrincipal) -> None:
        self.conn.execute(
            insert(iam_principals).values(
                account_id=principal.account_id,
                kind=principal.kind,
                name=principal.name,
                principal_id=principal.principal_id,
                path=principal.path,
                trust_policy=principal.trust_policy,
                max_session_seconds=principal.max_session_seconds,
                created_at=principal.created_at,
            )
        )

    def delete_principal(self, account_id: str, kind: str, name: str) -> bool:
        t = iam_principals.c
        p = iam_principal_policies.c
        self.conn.execute(
            delete(iam_principal_policies).where(
                p.account_id == account_id, p.kind == kind, p.principal_name == name
            )
        )
        if kind == USER:
            k = access_keys.c
            self.conn.execute(
                delete(access_keys).where(k.account_id == account_id, k.user_name == name)
            )
        result = self.conn.execute(
            delete(iam_principals).where(t.account_id == account_id, t.kind == kind, t.name == name)
        )
        return bool(result.rowcount == 1)

    def has_keys_named(self, account_id: str, user_name: str) -> bool:
        k = access_keys.c
        row = self.conn.execute(
            select(k.access_key_id).where(k.account_id == account_id, k.user_name == user_name)
        ).first()
        return row is not None

    # -- policies -------------------------------------------------------------------------

    def managed_policy(self, account_id: str, name: str) -> ManagedPolicy | None:
        t = iam_policies.c
        row = self.conn.execute(
            select(iam_policies).where(t.account_id == account_id, t.name == name)
        ).first()
        return None if row is None else _policy(row)

    def managed_policies(self, account_id: str | None) -> list[ManagedPolicy]:
        t = iam_policies.c
        query = select(iam_policies).order_by(t.account_id, t.name)
        if account_id is not None:
            query = query.where(t.account_id == account_id)
        return [_policy(row) for row in self.conn.execute(query).all()]

    def add_managed_policy(self, policy: ManagedPolicy) -> None:
        self.conn.execute(
            insert(iam_policies).values(
                account_id=policy.account_id,
                name=policy.name,
                policy_id=policy.policy_id,
                document=policy.document,
                created_at=policy.created_at,
            )
        )

    def delete_managed_policy(self, account_id: str, name: str) -> bool:
        t = iam_policies.c
        result = self.conn.execute(
            delete(iam_policies).where(t.account_id == account_id, t.name == name)
        )
        return bool(result.rowcount == 1)

    def attachments_of_policy(self, account_id: str, policy_arn: str) -> int:
        p = iam_principal_policies.c
        rows = self.conn.execute(
            select(p.principal_name).where(p.account_id == account_id, p.policy == policy_arn)
        ).all()
        return len(rows)

    def principal_policies(self, account_id: str, kind: str, name: str) -> list[AttachedPolicy]:
        p = iam_principal_policies.c
        rows = self.conn.execute(
            select(p.policy, p.document)
            .where(p.account_id == account_id, p.kind == kind, p.principal_name == name)
            .order_by(p.policy)
        ).all()
        return [AttachedPolicy(row.policy, row.document) for row in rows]

    def put_principal_policy(
        self, account_id: str, kind: str, name: str, policy: str, document: str | None
    ) -> None:
        self.remove_principal_policy(account_id, kind, name, policy)
        self.conn.execute(
            insert(iam_principal_policies).values(
                account_id=account_id,
                kind=kind,
                principal_name=name,
                policy=policy,
                document=document,
            )
        )

    def remove_principal_policy(self, account_id: str, kind: str, name: str, policy: str) -> bool:
        p = iam_principal_policies.c
        result = self.conn.execute(
            delete(iam_principal_policies).where(
                p.account_id == account_id,
                p.kind == kind,
                p.principal_name == name,
                p.policy == policy,
            )
        )
        return bool(result.rowcount >= 1)

    # -- STS sessions ---------------------------------------------------------------------

    def add_session(self, session: StsSession, secret_sealed: bytes) -> None:
        self.conn.execute(
            insert(sts_sessions).values(
                access_key_id=session.access_key_id,
                account_id=session.account_id,
                role_name=session.role_name,
                session_name=session.session_name,
                secret_sealed=secret_sealed,
                token_sha256=session.token_sha256,
                session_policy=session.session_policy,
                expires_at=session.expires_at,
                created_at=session.created_at,
            )
        )

    def session(self, access_key_id: str) -> tuple[StsSession, bytes] | None:
        row = self.conn.execute(
            select(sts_sessions).where(sts_sessions.c.access_key_id == access_key_id)
        ).first()
        if row is None:
            return None
        session = StsSession(
            row.access_key_id,
            row.account_id,
            row.role_name,
            row.session_name,
            row.token_sha256,
            row.session_policy,
            row.expires_at,
            row.created_at,
        )
        return session, row.secret_sealed

    def delete_sessions_expired_before(self, when: float) -> int:
        result = self.conn.execute(delete(sts_sessions).where(sts_sessions.c.expires_at < when))
        return int(result.rowcount)


def _principal(row: Any) -> IamPrincipal:
    return IamPrincipal(
        row.account_id,
        row.kind,
        row.name,
        row.principal_id,
        row.path,
        row.created_at,
        row.trust_policy,
        row.max_session_seconds,
    )


def _policy(row: Any) -> ManagedPolicy:
    return ManagedPolicy(row.account_id, row.name, row.policy_id, row.document, row.created_at)
