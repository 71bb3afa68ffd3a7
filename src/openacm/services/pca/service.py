"""The ACM-PCA API (AWS Private CA): which handler answers which operation of the model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.database import Database
from openacm.config import Settings
from openacm.protocol.errors import NotImplementedOperationError
from openacm.services.context import CallContext

Handler = Callable[[CallContext, Mapping[str, Any]], dict[str, Any]]


class PcaService:
    """Handlers keyed by operation name; an operation of the model without one is refused
    with NotImplementedException (never a fake success)."""

    service_name = "acm-pca"

    def __init__(self, db: Database, cipher: EnvelopeCipher, settings: Settings) -> None:
        self.db = db
        self.cipher = cipher
        self.settings = settings
        self.handlers: dict[str, Handler] = {}

    def handler(self, operation: str) -> Handler:
        try:
            return self.handlers[operation]
        except KeyError:
            raise NotImplementedOperationError(
                f"openacm does not implement {operation} yet."
            ) from None
