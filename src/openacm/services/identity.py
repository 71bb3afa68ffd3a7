"""Accounts and access keys: creating them (admin CLI) and resolving them (every request)."""

from __future__ import annotations

import re
import secrets
import string
import threading
import time
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.accounts import AccessKey, Account, AccountStore
from openacm.adapters.store.database import Database
from openacm.adapters.store.iam import USER as IAM_USER
from openacm.adapters.store.iam import IamStore
from openacm.config import DEV_ACCESS_KEY_ID, DEV_ACCOUNT_ID, DEV_SECRET_ACCESS_KEY
from openacm.services.context import Caller

ACCOUNT_ID = re.compile(r"[0-9]{12}")
ACCESS_KEY_ID = re.compile(r"[\w]{3,128}")
USER_NAME = re.compile(r"[\w+=,.@-]{1,64}")  # IAM's user names
ACCOUNT_NAME_MAX = 256
ACTIVE, INACTIVE = "Active", "Inactive"
# How long a process trusts what it read about a key; `admin key disable` in another process
# takes effect everywhere within this time.
KEY_CACHE_SECONDS = 5.0


class IdentityError(Exception):
    """An admin request that cannot be carried out (the message says why)."""


ROOT, USER, ASSUMED_ROLE = "root", "user", "assumed-role"
SESSION_KEY_PREFIX = "ASIA"  # STS session keys, as AWS's


@dataclass(frozen=True)
class Principal:
    access_key_id: str
    account_id: str
    user_name: str
    # Who the key belongs to: the account's root (no IAM user of that name), an IAM user, or
    # a role session of AssumeRole (docs/access-control.md).
    kind: str = ROOT
    principal_id: str = ""
    session_name: str | None = None
    session_policy: str | None = None
    token_sha256: str | None = None  # sessions: the X-Amz-Security-Token they need
    expires_at: float | None = None  # sessions: when they stop working

    def caller(self, partition: str) -> Caller | None:
        """The caller policies restrict, or None for the account's root."""
        account = self.account_id
        if self.kind == USER:
            arn = f"arn:{partition}:iam::{account}:user/{self.user_name}"
            return Caller(USER, self.user_name, arn, self.principal_id, arn)
        if self.kind == ASSUMED_ROLE:
            role_arn = f"arn:{partition}:iam::{account}:role/{self.user_name}"
            return Caller(
                ASSUMED_ROLE,
                self.user_name,
                f"arn:{partition}:sts::{account}:assumed-role/{self.user_name}/{self.session_name}",
                f"{self.principal_id}:{self.session_name}",
                role_arn,
                self.session_policy,
            )
        return None


def secret_context(access_key_id: str) -> str:
    """The associated data an access key's (or a session's) sealed secret is bound to."""
    return f"access-key:{access_key_id}"


class IdentityAdmin:
    def __init__(self, db: Database, cipher: EnvelopeCipher) -> None:
        self.db = db
        self.cipher = cipher

    def create_account(self, account_id: str | None, name: str | None) -> Account:
        if account_id is None:
            account_id = "".join(secrets.choice(string.digits[1:]) for _ in range(12))
        if not ACCOUNT_ID.fullmatch(account_id):
            raise IdentityError(f"an account id is 12 digits, not {account_id!r}")
        if name is not None and len(name) > ACCOUNT_NAME_MAX:
            raise IdentityError(f"an account name is at most {ACCOUNT_NAME_MAX} characters")
        account = Account(account_id, name or account_id, time.time())
        try:
            with self.db.write() as conn:
                AccountStore(conn).add_account(account)
        except IntegrityError:
            raise IdentityError(f"account {account_id} exists already") from None
        return account

    def list_accounts(self) -> list[Account]:
        with self.db.read() as conn:
            return AccountStore(conn).list_accounts()

    def create_access_key(
        self,
        account_id: str,
        *,
        user_name: str = "admin",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> tuple[AccessKey, str]:
        """A new key for the account; the secret is returned once and stored only sealed."""
        access_key_id = access_key_id or "AKIA" + "".join(
            secrets.choice(string.ascii_uppercase + "234567") for _ in range(16)
        )
        if not ACCESS_KEY_ID.fullmatch(access_key_id):
            raise IdentityError("an access key id is 3 to 128 letters, digits or '_'")
        if not USER_NAME.fullmatch(user_name):
            raise IdentityError("a user name is 1 to 64 letters, digits or any of _+=,.@-")
        secret = secret_access_key or secrets.token_urlsafe(30)[:40]
        key = AccessKey(access_key_id, account_id, user_name, ACTIVE, time.time())
        sealed = self.cipher.seal(secret.encode(), secret_context(access_key_id))
        with self.db.write() as conn:
            store = AccountStore(conn)
            if store.get_account(account_id) is None:
                raise IdentityError(f"no account {account_id}; create it first")
            if store.access_key(access_key_id) is not None:
                raise IdentityError(f"access key {access_key_id} exists already")
            store.add_access_key(key, sealed)
        return key, secret

    def list_access_keys(self, account_id: str | None = None) -> list[AccessKey]:
        with self.db.read() as conn:
            return AccountStore(conn).list_access_keys(account_id)

    def set_access_key_status(self, access_key_id: str, status: str) -> None:
        with self.db.write() as conn:
            if not AccountStore(conn).set_access_key_status(access_key_id, status):
                raise IdentityError(f"no access key {access_key_id}")

    def delete_access_key(self, account_id: str, access_key_id: str) -> None:
        """Delete one of the account's keys (running servers refuse it within seconds)."""
        with self.db.write() as conn:
            if not AccountStore(conn).delete_access_key(access_key_id, account_id):
                raise IdentityError(f"no access key {access_key_id}")

    def ensure_dev_identity(self) -> None:
        """--dev: account 000000000000 with the well-known key test/test, as local AWS
        stand-ins provide."""
        with self.db.write() as conn:
            store = AccountStore(conn)
            if store.get_account(DEV_ACCOUNT_ID) is None:
                store.add_account(Account(DEV_ACCOUNT_ID, "dev", time.time()))
            if store.access_key(DEV_ACCESS_KEY_ID) is None:
                key = AccessKey(DEV_ACCESS_KEY_ID, DEV_ACCOUNT_ID, "test", ACTIVE, time.time())
                sealed = self.cipher.seal(
                    DEV_SECRET_ACCESS_KEY.encode(), secret_context(DEV_ACCESS_KEY_ID)
                )
                store.add_access_key(key, sealed)
            else:
                store.set_access_key_status(DEV_ACCESS_KEY_ID, ACTIVE)


class KeyDirectory:
    """Resolves an access key id to its secret and principal, with a short-lived cache."""

    def __init__(self, db: Database, cipher: EnvelopeCipher, *, dev: bool) -> None:
        self.db = db
        self.cipher = cipher
        self.dev = dev
        self._cache: dict[str, tuple[float, Principal | None, str | None]] = {}
        self._lock = threading.Lock()

    def _resolve(self, access_key_id: str) -> tuple[Principal | None, str | None]:
        now = time.monotonic()
        cached = self._cache.get(access_key_id)
        if cached is not None and now - cached[0] < KEY_CACHE_SECONDS:
            return cached[1], cached[2]
        principal, secret = self._load(access_key_id)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[access_key_id] = (now, principal, secret)
        return principal, secret

    def _load(self, access_key_id: str) -> tuple[Principal | None, str | None]:
        # The well-known dev key is refused outside --dev, whatever the store holds.
        if access_key_id == DEV_ACCESS_KEY_ID and not self.dev:
            return None, None
        # An id no key can have (a presigned URL can carry %00) is not looked up at all.
        if not ACCESS_KEY_ID.fullmatch(access_key_id):
            return None, None
        if access_key_id.startswith(SESSION_KEY_PREFIX):
            return self._load_session(access_key_id)
        with self.db.read() as conn:
            found = AccountStore(conn).access_key(access_key_id)
            if found is None or found[0].status != ACTIVE:
                return None, None
            key, sealed = found
            user = IamStore(conn).principal(key.account_id, IAM_USER, key.user_name)
        secret = self.cipher.open(sealed, secret_context(access_key_id)).decode()
        if user is None:
            return Principal(key.access_key_id, key.account_id, key.user_name), secret
        principal = Principal(
            key.access_key_id, key.account_id, key.user_name, USER, user.principal_id
        )
        return principal, secret

    def _load_session(self, access_key_id: str) -> tuple[Principal | None, str | None]:
        with self.db.read() as conn:
            found = IamStore(conn).session(access_key_id)
            if found is None:
                return None, None
            session, sealed = found
            role = IamStore(conn).principal(session.account_id, "role", session.role_name)
        if role is None:  # the role was deleted: its sessions end with it
            return None, None
        secret = self.cipher.open(sealed, secret_context(access_key_id)).decode()
        principal = Principal(
            access_key_id,
            session.account_id,
            session.role_name,
            ASSUMED_ROLE,
            role.principal_id,
            session.session_name,
            session.session_policy,
            session.token_sha256,
            session.expires_at,
        )
        return principal, secret

    def secret_for(self, access_key_id: str) -> str | None:
        return self._resolve(access_key_id)[1]

    def principal(self, access_key_id: str) -> Principal | None:
        return self._resolve(access_key_id)[0]
