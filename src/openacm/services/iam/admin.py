"""Managing IAM users, roles and their policies: the admin CLI and the IAM API share this."""

from __future__ import annotations

import re
import secrets
import string
import time

from sqlalchemy import Connection

from openacm.adapters.store.accounts import AccountStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.iam import (
    ROLE,
    USER,
    AttachedPolicy,
    IamPrincipal,
    IamStore,
    ManagedPolicy,
)
from openacm.domain.managed_policies import AWS_MANAGED_PREFIX, MANAGED_POLICIES, managed_policy
from openacm.domain.policy import MalformedPolicyError, parse_policy
from openacm.services.identity import IdentityError

NAME = re.compile(r"[\w+=,.@-]{1,64}")  # IAM's user and role names
POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}")
DEFAULT_MAX_SESSION_SECONDS = 3600
MAX_SESSION_RANGE = (3600, 43200)  # what IAM accepts for a role's MaxSessionDuration
KINDS = (USER, ROLE)
_ID_PREFIX = {USER: "AIDA", ROLE: "AROA", "policy": "ANPA"}


class IamError(IdentityError):
    """An IAM request that cannot be carried out, with IAM's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def unique_id(kind: str) -> str:
    """An IAM unique id: a four-letter prefix of the kind and 17 characters."""
    alphabet = string.ascii_uppercase + string.digits
    return _ID_PREFIX[kind] + "".join(secrets.choice(alphabet) for _ in range(17))


def user_arn(account_id: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:user/{name}"


def role_arn(account_id: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:role/{name}"


def policy_arn(account_id: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:policy/{name}"


# IAM's size quotas, in characters other than white space.
INLINE_LIMITS = {USER: 2048, ROLE: 10240}
MANAGED_LIMIT = 6144
TRUST_LIMIT = 2048


def checked_document(text: str, limit: int, *, resource_policy: bool = False) -> str:
    """`text`, once it parses as a policy (IAM's MalformedPolicyDocument otherwise) within
    IAM's size quota (LimitExceeded)."""
    if sum(1 for char in text if not char.isspace()) > limit:
        raise IamError("LimitExceeded", f"Cannot exceed quota for PolicySize: {limit}")
    try:
        parse_policy(text, resource_policy=resource_policy)
    except MalformedPolicyError as exc:
        raise IamError("MalformedPolicyDocument", str(exc)) from None
    return text


class IamAdmin:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- users and roles ------------------------------------------------------------------

    def create_user(self, account_id: str, name: str) -> IamPrincipal:
        _check_name(name, "user")
        user = IamPrincipal(account_id, USER, name, unique_id(USER), "/", time.time())
        with self.db.write() as conn:
            store = IamStore(conn)
            _check_account(conn, account_id)
            if store.principal(account_id, USER, name) is not None:
                raise IamError("EntityAlreadyExists", f"User with name {name} already exists.")
            # Keys already made under this name are the account's root keys; a user of the same
            # name would silently take them over and restrict them.
            if store.has_keys_named(account_id, name):
                raise IamError(
                    "EntityAlreadyExists",
                    f"The account's root access keys carry the name {name}; choose another.",
                )
            store.add_principal(user)
        return user

    def create_role(
        self,
        account_id: str,
        name: str,
        trust_policy: str,
        max_session_seconds: int = DEFAULT_MAX_SESSION_SECONDS,
    ) -> IamPrincipal:
        _check_name(name, "role")
        checked_document(trust_policy, TRUST_LIMIT, resource_policy=True)
        low, high = MAX_SESSION_RANGE
        if not low <= max_session_seconds <= high:
            raise IamError(
                "ValidationError",
                f"MaxSessionDuration must be between {low} and {high} seconds.",
            )
        role = IamPrincipal(
            account_id,
            ROLE,
            name,
            unique_id(ROLE),
            "/",
            time.time(),
            trust_policy,
            max_session_seconds,
        )
        with self.db.write() as conn:
            _check_account(conn, account_id)
            store = IamStore(conn)
            if store.principal(account_id, ROLE, name) is not None:
                raise IamError("EntityAlreadyExists", f"Role with name {name} already exists.")
            store.add_principal(role)
        return role

    def get(self, account_id: str, kind: str, name: str) -> IamPrincipal:
        with self.db.read() as conn:
            found = IamStore(conn).principal(account_id, kind, name)
        if found is None:
            raise _no_such(kind, name)
        return found

    def list_principals(self, account_id: str | None, kind: str) -> list[IamPrincipal]:
        with self.db.read() as conn:
            return IamStore(conn).principals(account_id, kind)

    def delete(self, account_id: str, kind: str, name: str) -> None:
        """The user (with its access keys) or role, and its policies."""
        with self.db.write() as conn:
            if not IamStore(conn).delete_principal(account_id, kind, name):
                raise _no_such(kind, name)

    # -- policies -------------------------------------------------------------------------

    def create_policy(self, account_id: str, name: str, document: str) -> ManagedPolicy:
        if not POLICY_NAME.fullmatch(name):
            raise IamError("ValidationError", f"The policy name {name!r} is not valid.")
        policy = ManagedPolicy(
            account_id,
            name,
            unique_id("policy"),
            checked_document(document, MANAGED_LIMIT),
            time.time(),
        )
        with self.db.write() as conn:
            _check_account(conn, account_id)
            store = IamStore(conn)
            if store.managed_policy(account_id, name) is not None:
                raise IamError("EntityAlreadyExists", f"A policy called {name} already exists.")
            store.add_managed_policy(policy)
        return policy

    def delete_policy(self, account_id: str, arn: str) -> None:
        name = _customer_policy_name(account_id, arn)
        with self.db.write() as conn:
            store = IamStore(conn)
            if store.attachments_of_policy(account_id, arn):
                raise IamError("DeleteConflict", "Cannot delete a policy attached to entities.")
            if not store.delete_managed_policy(account_id, name):
                raise IamError("NoSuchEntity", f"Policy {arn} was not found.")

    def list_policies(self, account_id: str | None) -> list[tuple[str, str]]:
        """(ARN, document) of the AWS managed policies and the account's own."""
        with self.db.read() as conn:
            own = IamStore(conn).managed_policies(account_id)
        return [(AWS_MANAGED_PREFIX + name, doc) for name, doc in MANAGED_POLICIES.items()] + [
            (policy_arn(p.account_id, p.name), p.document) for p in own
        ]

    def put_inline(
        self, account_id: str, kind: str, principal: str, name: str, document: str
    ) -> None:
        if not POLICY_NAME.fullmatch(name):
            raise IamError("ValidationError", f"The policy name {name!r} is not valid.")
        checked_document(document, INLINE_LIMITS[kind])
        with self.db.write() as conn:
            store = IamStore(conn)
            _check_principal(store, account_id, kind, principal)
            store.put_principal_policy(account_id, kind, principal, name, document)

    def attach(self, account_id: str, kind: str, principal: str, arn: str) -> None:
        with self.db.write() as conn:
            store = IamStore(conn)
            _check_principal(store, account_id, kind, principal)
            if managed_policy(arn) is None and (
                store.managed_policy(account_id, _customer_policy_name(account_id, arn)) is None
            ):
                raise IamError("NoSuchEntity", f"Policy {arn} does not exist or is not attachable.")
            store.put_principal_policy(account_id, kind, principal, arn, None)

    def remove(self, account_id: str, kind: str, principal: str, policy: str) -> None:
        """Delete an inline policy (by name) or detach a managed one (by ARN)."""
        with self.db.write() as conn:
            store = IamStore(conn)
            _check_principal(store, account_id, kind, principal)
            if not store.remove_principal_policy(account_id, kind, principal, policy):
                raise IamError("NoSuchEntity", f"The policy {policy} is not on {principal}.")

    def policies_of(self, account_id: str, kind: str, principal: str) -> list[AttachedPolicy]:
        with self.db.read() as conn:
            store = IamStore(conn)
            _check_principal(store, account_id, kind, principal)
            return store.principal_policies(account_id, kind, principal)


def _check_name(name: str, kind: str) -> None:
    if not NAME.fullmatch(name):
        raise IamError(
            "ValidationError",
            f"A {kind} name is 1 to 64 letters, digits or any of _+=,.@-, not {name!r}.",
        )


def _check_account(conn: Connection, account_id: str) -> None:
    if AccountStore(conn).get_account(account_id) is None:
        raise IamError("NoSuchEntity", f"No account {account_id}; create it first.")


def _check_principal(store: IamStore, account_id: str, kind: str, name: str) -> None:
    if store.principal(account_id, kind, name) is None:
        raise _no_such(kind, name)


def _no_such(kind: str, name: str) -> IamError:
    label = "user" if kind == USER else "role"
    return IamError("NoSuchEntity", f"The {label} with name {name} cannot be found.")


def _customer_policy_name(account_id: str, arn: str) -> str:
    prefix = f":iam::{account_id}:policy/"
    if prefix not in arn:
        raise IamError("NoSuchEntity", f"Policy {arn} does not exist or is not attachable.")
    return arn.split(prefix, 1)[1]
