"""`openacm ca`: the builtin CA, for people who have to trust it.

`bundle` prints the root certificate to install into a trust store (and creates the hierarchy
first on a fresh store, as the first `serve` would); `list` shows the CAs; `renew-server-
certificate` replaces the server's own TLS certificate now. Certificates are read from the
store directly: nothing here but the renewal opens a CA key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from openacm.cli.options import emit_rows, output_option, settings_from_context, storage_options

if TYPE_CHECKING:
    from openacm.adapters.store.issuance import StoredCa
    from openacm.runtime import Runtime


def _open_runtime(storage: dict[str, Any]) -> Runtime:
    from openacm.runtime import Runtime

    return Runtime.open(settings_from_context(**storage), prepare=True)


def _stored_cas(storage: dict[str, Any]) -> list[StoredCa]:
    from openacm.adapters.store.issuance import AuthorityStore
    from openacm.services.pki.builtin_ca import ISSUER

    runtime = _open_runtime(storage)
    try:
        with runtime.db.read() as conn:
            return AuthorityStore(conn).cas(ISSUER)
    finally:
        runtime.close()


@click.group()
def ca() -> None:
    """The builtin CA: its root to trust, its CAs, the server's own certificate."""


@ca.command("bundle")
@storage_options
def ca_bundle(**storage: Any) -> None:
    """Print the root certificate(s) in PEM, for trust stores and AWS_CA_BUNDLE."""
    from openacm.services.pki.builtin_ca import ROOT

    for stored in _stored_cas(storage):
        if stored.role == ROOT:
            click.echo(stored.certificate_pem, nl=False)


@ca.command("list")
@storage_options
@output_option
def ca_list(output: str, **storage: Any) -> None:
    """List the builtin CAs."""
    rows = [_ca_row(stored) for stored in _stored_cas(storage)]
    emit_rows(rows, output, ["ca_id", "role", "subject", "key_type", "not_after", "sha256"])


def _ca_row(stored: StoredCa) -> dict[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from openacm.domain.x509facts import key_algorithm_api_name

    certificate = x509.load_pem_x509_certificate(stored.certificate_pem.encode())
    return {
        "ca_id": stored.ca_id,
        "role": stored.role,
        "subject": certificate.subject.rfc4514_string(),
        "key_type": key_algorithm_api_name(certificate.public_key()),
        "not_after": certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
    }


@ca.command("renew-server-certificate")
@storage_options
def ca_renew_server_certificate(**storage: Any) -> None:
    """Replace the server's own TLS certificate(s) now (say, after its key may have leaked);
    running servers present the new one within `[issuance] server_tls_check_seconds`."""
    from openacm.services.pki.server_certificate import ServerCertificate, stored_hostnames

    runtime = _open_runtime(storage)
    try:
        every = stored_hostnames(runtime.db, runtime.cipher)
        if not every:
            raise click.ClickException("the store holds no server certificate to renew")
        ca = runtime.builtin_ca()
        for hostnames in every:
            renewed = ServerCertificate(
                runtime.db,
                runtime.cipher,
                ca,
                hostnames,
                max_validity_days=runtime.settings.issuance.max_validity_days,
            ).renew()
            click.echo(f"{renewed.serial}  {','.join(hostnames.texts)}")
    finally:
        runtime.close()
