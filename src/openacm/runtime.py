"""The long-lived parts every openacm process opens: settings, the store, the master key.

Its own module, apart from the composition root (app.py), so that the admin commands open
the store without importing the HTTP app's modules (Starlette, the console, botocore's
models, the ACME server): an `openacm admin ...` call starts in a fraction of the time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openacm.adapters.envelope import MASTER_KEY_ENV, EnvelopeCipher, MasterKey
from openacm.adapters.store.database import Database
from openacm.config import Settings

if TYPE_CHECKING:
    from openacm.services.pki.builtin_ca import BuiltinCa


@dataclass
class Runtime:
    """The long-lived parts, shared by the HTTP app and the admin commands."""

    settings: Settings
    db: Database
    cipher: EnvelopeCipher

    @classmethod
    def open(cls, settings: Settings, *, prepare: bool = True) -> Runtime:
        """The runtime for `settings`; `prepare` also brings the schema to head and, in dev
        mode, creates the dev identity (once per start, by the process that starts)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        master = MasterKey.load_or_create(
            settings.effective_master_key_file, os.environ.get(MASTER_KEY_ENV)
        )
        db = Database(settings.effective_database_url)
        runtime = cls(settings, db, EnvelopeCipher(master))
        if prepare:
            runtime._prepare()
        return runtime

    def _prepare(self) -> None:
        # Imported here: opening a store (`prepare=False`) needs none of them.
        from openacm.services.identity import IdentityAdmin
        from openacm.services.pki.builtin_ca import BuiltinCa
        from openacm.services.pki.secrets import DNS_VALIDATION_KEY, installation_secret

        self.db.migrate()
        if self.settings.dev:
            IdentityAdmin(self.db, self.cipher).ensure_dev_identity()
        BuiltinCa.ensure_created(self.db, self.cipher, self.settings, now=time.time())
        installation_secret(self.db, self.cipher, DNS_VALIDATION_KEY, now=time.time())

    def builtin_ca(self) -> BuiltinCa:
        from openacm.services.pki.builtin_ca import BuiltinCa, public_base_url, signer_factory

        return BuiltinCa.load(
            self.db,
            signer_factory(self.cipher, self.settings.issuance),
            public_base_url(self.settings),
        )

    def close(self) -> None:
        self.db.dispose()
