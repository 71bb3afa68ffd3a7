"""Get/PutAccountConfiguration: the account's expiry-event lead time, per region."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from openacm.adapters.store.accounts import AccountStore, StoredToken
from openacm.adapters.store.database import Database
from openacm.domain.errors import ValidationError
from openacm.services.context import CallContext

DEFAULT_DAYS_BEFORE_EXPIRY = 45
MAX_DAYS_BEFORE_EXPIRY = 90
IDEMPOTENCY_WINDOW_SECONDS = 3600


class AccountOperations:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get_account_configuration(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        with self.db.read() as conn:
            days = AccountStore(conn).days_before_expiry(ctx.account_id, ctx.region)
        return {"ExpiryEvents": {"DaysBeforeExpiry": days or DEFAULT_DAYS_BEFORE_EXPIRY}}

    def put_account_configuration(
        self, ctx: CallContext, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        days = (params.get("ExpiryEvents") or {}).get("DaysBeforeExpiry")
        if days is not None and days > MAX_DAYS_BEFORE_EXPIRY:
            raise ValidationError(
                f"DaysBeforeExpiry must be between 1 and {MAX_DAYS_BEFORE_EXPIRY}"
            )
        scope = (ctx.account_id, ctx.region, "PutAccountConfiguration")
        token = params["IdempotencyToken"]
        with self.db.write() as conn:
            store = AccountStore(conn)
            # The same unexpired token is the same request: ACM returns the original result
            # and changes nothing, whatever the arguments of the repeat.
            if store.token(scope, token, since=ctx.now - IDEMPOTENCY_WINDOW_SECONDS):
                return {}
            if days is not None:
                store.set_days_before_expiry(ctx.account_id, ctx.region, days, ctx.now)
            digest = hashlib.sha256(orjson.dumps(params.get("ExpiryEvents") or {})).hexdigest()
            store.put_token(scope, token, StoredToken(digest, "{}", ctx.now))
        return {}
