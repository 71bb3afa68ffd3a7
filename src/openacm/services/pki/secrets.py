"""Installation-wide secrets kept sealed in the store, created once by whichever process
gets there first, identical for every node."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError

from openacm.adapters.envelope import EnvelopeCipher
from openacm.adapters.store.database import Database
from openacm.adapters.store.issuance import AuthorityStore

DNS_VALIDATION_KEY = "dns-validation-key"


def _context(name: str) -> str:
    return f"installation-secret:{name}"


def installation_secret(db: Database, cipher: EnvelopeCipher, name: str, *, now: float) -> bytes:
    """The secret called `name`, created (32 random bytes) if the store has none."""
    with db.read() as conn:
        sealed = AuthorityStore(conn).secret(name)
    if sealed is None:
        try:
            with db.write() as conn:
                store = AuthorityStore(conn)
                sealed = store.secret(name)
                if sealed is None:
                    sealed = cipher.seal(secrets.token_bytes(32), _context(name))
                    store.insert_secret(name, sealed, now)
        except IntegrityError:
            # Another node inserted it between our read and our write; theirs stands.
            with db.read() as conn:
                sealed = AuthorityStore(conn).secret(name)
    assert sealed is not None
    return cipher.open(sealed, _context(name))
