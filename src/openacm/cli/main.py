"""`openacm`: serve the APIs, administer accounts and keys, read the audit log.

Every option can also come from an OPENACM_<OPTION> variable or from the TOML file named by
--config (command line > environment > file > default).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from openacm.cli import iam
from openacm.cli.agent import agent
from openacm.cli.associations import associations
from openacm.cli.ca import ca
from openacm.cli.events import events
from openacm.cli.logs import configure_logging
from openacm.cli.options import emit_rows, output_option, settings_from_context, storage_options
from openacm.cli.records import records
from openacm.config import (
    DEV_ACCESS_KEY_ID,
    DEV_ACCOUNT_ID,
    DEV_SECRET_ACCESS_KEY,
    Settings,
)
from openacm.domain.throttling import PROFILES

CONTEXT = {"show_default": True, "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="openacm")
def main() -> None:
    """openacm: the AWS Certificate Manager and Private CA APIs, self-hosted."""


# -- serve ----------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _HostnameList(click.ParamType[str]):
    """A repeatable host-name option whose environment variable lists names comma-separated."""

    name = "name"

    def split_envvar_value(self, rv: str) -> list[str]:
        return [part.strip() for part in rv.split(",") if part.strip()]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(value).strip()


def _check_server_hostnames(configured: tuple[str, ...], host: str) -> None:
    """Refuse bad names of the server's own certificate before anything starts."""
    from openacm.services.pki.server_certificate import ServerHostnames, default_hostnames

    try:
        ServerHostnames.parse(default_hostnames(configured, host))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tls-hostname") from None


@main.command()
@storage_options
@click.option("--host", envvar="OPENACM_HOST", default="127.0.0.1", help="Address to listen on.")
@click.option(
    "--port",
    envvar="OPENACM_PORT",
    default=8080,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@click.option(
    "--dev",
    envvar="OPENACM_DEV",
    is_flag=True,
    help="Create account 000000000000 with key test / test.",
)
@click.option(
    "--tls-cert",
    envvar="OPENACM_TLS_CERT",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@click.option(
    "--tls-key",
    envvar="OPENACM_TLS_KEY",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@click.option(
    "--insecure-http",
    envvar="OPENACM_INSECURE_HTTP",
    is_flag=True,
    help="Plain HTTP on a non-loopback address, on purpose (say, behind a TLS proxy); private "
    "keys travel in request bodies.",
)
@click.option(
    "--self-tls",
    envvar="OPENACM_SELF_TLS",
    is_flag=True,
    help="Serve HTTPS with a certificate from the builtin CA on loopback too (beyond loopback "
    "it is the default when no --tls-cert is given).",
)
@click.option(
    "--tls-hostname",
    "tls_hostnames",
    envvar="OPENACM_TLS_HOSTNAMES",
    multiple=True,
    type=_HostnameList(),
    help="A name (or IP address) of the builtin CA's certificate for this server; repeatable "
    "(environment: comma-separated). Default: the machine's FQDN. The listen address joins "
    "them when it is one specific address.",
)
@click.option(
    "--pki-port",
    envvar="OPENACM_PKI_PORT",
    default=None,
    type=click.IntRange(0, 65535),
    help="Also serve CRLs, OCSP and CA certificates over plain HTTP on this port (what the "
    "links in certificates need when the API port speaks HTTPS).",
)
@click.option(
    "--dns-listen",
    envvar="OPENACM_DNS_LISTEN",
    default=None,
    metavar="ADDR:PORT",
    help="Answer DNS (UDP and TCP) for the validation zone here: the acme issuer's DNS-01 "
    "answers, when no [[dns_zones]] entry holds that zone (docs/acme-issuer.md).",
)
@click.option(
    "--workers",
    envvar="OPENACM_WORKERS",
    default=1,
    type=click.IntRange(1, 64),
    help="Worker processes sharing the port (each uses one core).",
)
@click.option(
    "--rate-limits",
    envvar="OPENACM_RATE_LIMITS",
    type=click.Choice(sorted(PROFILES)),
    default="off",
    help="Throttle API calls per account, region and operation: 'aws' at AWS's published "
    "rates (the seeds' for ACM), with [throttling.limits] over them (docs/throttling.md).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
)
def serve(
    data_dir: Path,
    database_url: str | None,
    master_key_file: Path | None,
    host: str,
    port: int,
    dev: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    insecure_http: bool,
    self_tls: bool,
    tls_hostnames: tuple[str, ...],
    pki_port: int | None,
    dns_listen: str | None,
    workers: int,
    rate_limits: str,
    log_level: str,
) -> None:
    """Serve the APIs over HTTP(S)."""
    from openacm.adapters.metrics import metrics_directory, reset_multiprocess_directory
    from openacm.cli.server import bind_socket, run_workers, serve_on
    from openacm.runtime import Runtime
    from openacm.services.events import register_sinks

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if self_tls and (tls_cert or insecure_http):
        raise click.UsageError("--self-tls goes with neither --tls-cert nor --insecure-http")
    # Beyond loopback, no certificate given means the builtin CA's own, not plain HTTP.
    self_tls = self_tls or not (tls_cert or insecure_http or _is_loopback(host))
    if self_tls:
        _check_server_hostnames(tls_hostnames, host)
    configure_logging(log_level)
    settings = settings_from_context(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        master_key_file=master_key_file,
        dev=dev,
        tls_cert=tls_cert,
        tls_key=tls_key,
        insecure_http=insecure_http,
        self_tls=self_tls,
        tls_hostnames=tls_hostnames,
        pki_port=pki_port,
        log_level=log_level,
        rate_limits=rate_limits,
    )
    _warn_of_per_process_limits(settings, workers)
    sock = bind_socket(host, port)
    pki_sock = bind_socket(host, pki_port) if pki_port is not None else None
    # Migrate (and create the dev identity) once, before any worker starts; the configured
    # event sinks become the ones every emitted event is delivered to.
    runtime = Runtime.open(settings)
    register_sinks(runtime.db, settings.events, time.time())
    runtime.close()
    # The workers' metric files: a previous run's would be summed into this run's counters.
    reset_multiprocess_directory(metrics_directory(settings.data_dir))
    scheme = "https" if tls_cert or self_tls else "http"
    logging.getLogger("openacm").info(
        "serving on %s://%s:%d with %d worker(s), data in %s",
        scheme,
        host,
        sock.getsockname()[1],
        workers,
        settings.data_dir,
    )
    if dev:
        click.echo(
            f"dev mode: account {DEV_ACCOUNT_ID}, access key {DEV_ACCESS_KEY_ID} / "
            f"secret {DEV_SECRET_ACCESS_KEY}",
            err=True,
        )
    if pki_sock is not None:
        logging.getLogger("openacm").info(
            "serving CRLs, OCSP and CA certificates on http://%s:%d",
            host,
            pki_sock.getsockname()[1],
        )
    elif (tls_cert or self_tls) and not settings.issuance.public_url:
        logging.getLogger("openacm").warning(
            "the CRL and OCSP links in issued certificates point at this HTTPS port; give "
            "--pki-port or [issuance] public_url so relying parties can reach them over HTTP"
        )
    if dns_listen:
        _start_dns_listener(settings, dns_listen)
    if workers == 1:
        serve_on(settings, sock, pki_sock)
    else:
        sys.exit(run_workers(settings, sock, workers, pki_sock))


def _warn_of_per_process_limits(settings: Settings, workers: int) -> None:
    """In-memory buckets are each process's own: N workers let N times the rate through."""
    limited = settings.throttling.table(settings.rate_limits)
    if workers > 1 and limited and not settings.throttling.redis_url:
        logging.getLogger("openacm").warning(
            "rate limits hold per worker process with in-memory buckets: %d workers let up "
            "to %d times the rates through; set [throttling] redis_url to share them",
            workers,
            workers,
        )


def _start_dns_listener(settings: Settings, listen: str) -> None:
    """The validation zone's responder, in this (the parent) process's threads; it reads
    the answers every worker publishes from the store."""
    from openacm.adapters.dns.resolver import Nameserver
    from openacm.adapters.dns.responder import DnsListener, ZoneResponder
    from openacm.adapters.store.acme import AcmeDnsAnswers
    from openacm.adapters.store.database import Database

    try:
        address = Nameserver.parse(listen)
    except ValueError as exc:
        raise click.UsageError(f"--dns-listen: {exc}") from exc
    db = Database(settings.effective_database_url)

    def txt_values(owner: str) -> list[str]:
        with db.read() as conn:
            return AcmeDnsAnswers(conn).values(owner)

    listener = DnsListener(
        address.address, address.port, ZoneResponder(settings.validation.zone, txt_values)
    ).start()
    logging.getLogger("openacm").info(
        "answering DNS for %s on %s port %d (UDP and TCP)",
        settings.validation.zone,
        address.address,
        listener.port,
    )


# -- admin ----------------------------------------------------------------------------------


def _open_admin(**storage: Any) -> Any:
    from openacm.runtime import Runtime
    from openacm.services.identity import IdentityAdmin

    runtime = Runtime.open(settings_from_context(**storage))
    return IdentityAdmin(runtime.db, runtime.cipher)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@main.group()
def admin() -> None:
    """Accounts, access keys, users, roles and policies (with or without a running server)."""


# Users, roles and policies (docs/access-control.md).
admin.add_command(iam.user)
admin.add_command(iam.role)
admin.add_command(iam.policy)


@admin.group()
def account() -> None:
    """Accounts: every resource lives in one."""


@account.command("create")
@storage_options
@click.option("--account-id", default=None, help="12 digits (default: a random id).")
@click.option("--name", default=None, help="A label for people.")
def account_create(account_id: str | None, name: str | None, **storage: Any) -> None:
    """Create an account."""
    from openacm.services.identity import IdentityError

    try:
        created = _open_admin(**storage).create_account(account_id, name)
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(created.account_id)


@account.command("list")
@storage_options
@output_option
def account_list(output: str, **storage: Any) -> None:
    """List accounts."""
    rows = [
        {"account_id": a.account_id, "name": a.name, "created": _when(a.created_at)}
        for a in _open_admin(**storage).list_accounts()
    ]
    emit_rows(rows, output, ["account_id", "name", "created"])


@admin.group()
def key() -> None:
    """Access keys: what SDKs sign requests with."""


@key.command("create")
@storage_options
@click.option("--account-id", required=True)
@click.option("--user-name", default="admin", help="Shown as the caller in the audit log.")
@click.option("--access-key-id", default=None, help="Carry over an existing key id.")
@click.option("--secret-access-key", default=None, help="Carry over an existing secret.")
@output_option
def key_create(
    account_id: str,
    user_name: str,
    access_key_id: str | None,
    secret_access_key: str | None,
    output: str,
    **storage: Any,
) -> None:
    """Create an access key; its secret is shown this once."""
    from openacm.services.identity import IdentityError

    try:
        created, secret = _open_admin(**storage).create_access_key(
            account_id,
            user_name=user_name,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
        )
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    row = {
        "access_key_id": created.access_key_id,
        "secret_access_key": secret,
        "account_id": created.account_id,
        "user_name": created.user_name,
    }
    if output == "json":
        click.echo(json.dumps(row))
        return
    for name, value in row.items():
        click.echo(f"{name}: {value}")
    click.echo("The secret is not stored in readable form and will not be shown again.", err=True)


@key.command("list")
@storage_options
@click.option("--account-id", default=None)
@output_option
def key_list(account_id: str | None, output: str, **storage: Any) -> None:
    """List access keys (never their secrets)."""
    rows = [
        {
            "access_key_id": k.access_key_id,
            "account_id": k.account_id,
            "user_name": k.user_name,
            "status": k.status,
            "created": _when(k.created_at),
        }
        for k in _open_admin(**storage).list_access_keys(account_id)
    ]
    emit_rows(rows, output, ["access_key_id", "account_id", "user_name", "status", "created"])


def _set_key_status(access_key_id: str, status: str, storage: dict[str, Any]) -> None:
    from openacm.services.identity import IdentityError

    try:
        _open_admin(**storage).set_access_key_status(access_key_id, status)
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{access_key_id}: {status}")


@key.command("disable")
@storage_options
@click.argument("access_key_id")
def key_disable(access_key_id: str, **storage: Any) -> None:
    """Disable an access key (running servers refuse it within seconds)."""
    _set_key_status(access_key_id, "Inactive", storage)


@key.command("enable")
@storage_options
@click.argument("access_key_id")
def key_enable(access_key_id: str, **storage: Any) -> None:
    """Enable a disabled access key again."""
    _set_key_status(access_key_id, "Active", storage)


# -- audit ----------------------------------------------------------------------------------


def _parse_time(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 time: {value}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _open_audit_db(storage: dict[str, Any]) -> Any:
    from openacm.runtime import Runtime

    return Runtime.open(settings_from_context(**storage)).db


@main.group()
def audit() -> None:
    """Read the audit log (CloudTrail-format records, one JSON object a line)."""


@audit.command("tail")
@storage_options
@click.option("-n", "--lines", default=20, type=click.IntRange(1, 10_000))
@click.option("-f", "--follow", is_flag=True, help="Keep printing new records.")
def audit_tail(lines: int, follow: bool, **storage: Any) -> None:
    """Print the newest records, oldest first."""
    from openacm.adapters.audit_log import search_events

    db = _open_audit_db(storage)
    records = list(reversed(search_events(db, limit=lines)))
    for record in records:
        click.echo(json.dumps(record))
    if not follow:
        return
    seen = {r["eventID"] for r in records}
    since = time.time() - 1
    for record in _follow(db, since, seen):
        click.echo(json.dumps(record))


def _follow(db: Any, since: float, seen: set[str]) -> Iterator[dict[str, Any]]:
    from openacm.adapters.audit_log import search_events

    while True:
        time.sleep(0.5)
        for record in search_events(db, limit=1000, since=since, newest_first=False):
            if record["eventID"] not in seen:
                seen.add(record["eventID"])
                yield record
        since = time.time() - 2  # the writer batches reads for up to a fraction of a second


@audit.command("search")
@storage_options
@click.option("--event-name", multiple=True, help="e.g. ImportCertificate (repeatable).")
@click.option("--account-id", default=None)
@click.option("--access-key-id", default=None)
@click.option("--error-code", default=None, help="e.g. AccessDeniedException.")
@click.option("--resource-arn", default=None, help="The certificate (or other resource) ARN.")
@click.option("--since", default=None, help="ISO-8601 time, e.g. 2026-11-23T00:00:00Z.")
@click.option("--until", default=None, help="ISO-8601 time.")
@click.option("--limit", default=100, type=click.IntRange(1, 100_000))
def audit_search(
    event_name: tuple[str, ...],
    account_id: str | None,
    access_key_id: str | None,
    error_code: str | None,
    resource_arn: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    **storage: Any,
) -> None:
    """Print the records that match every given filter, newest first."""
    from openacm.adapters.audit_log import search_events

    records = search_events(
        _open_audit_db(storage),
        limit=limit,
        event_names=event_name,
        account_id=account_id,
        access_key_id=access_key_id,
        error_code=error_code,
        resource_arn=resource_arn,
        since=_parse_time(since),
        until=_parse_time(until),
    )
    for record in records:
        click.echo(json.dumps(record))


main.add_command(records)
main.add_command(ca)
main.add_command(associations)
main.add_command(events)
main.add_command(agent)


if __name__ == "__main__":
    sys.exit(main())


# -- the dev clock ---------------------------------------------------------------------------

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def _duration(text: str) -> float:
    """`90d`, `12h`, `30m`, `45s` or a number of seconds; negative moves back."""
    unit = _DURATION_UNITS.get(text[-1:].lower())
    number = text[:-1] if unit else text
    try:
        return float(number) * (unit or 1)
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected e.g. 90d, 12h, 30m, 45s") from None


def _open_clock(storage: dict[str, Any]) -> Any:
    from openacm.runtime import Runtime
    from openacm.services.clock import InstallationClock

    runtime = Runtime.open(settings_from_context(**storage))
    return InstallationClock(runtime.db, movable=True)


@main.group()
def clock() -> None:
    """The installation's clock, which servers started with --dev follow (every process of
    the installation within a quarter of a second): play months of renewals in seconds."""


@clock.command("show")
@storage_options
def clock_show(**storage: Any) -> None:
    """The moved time and the offset from the system clock."""
    moved = _open_clock(storage)
    click.echo(f"{_when(moved())}  (offset {moved.offset():+.0f} s)")


@clock.command("advance")
@storage_options
@click.argument("duration")
def clock_advance(duration: str, **storage: Any) -> None:
    """Move the clock forward by DURATION (90d, 12h, 30m, 45s; negative moves back)."""
    now = _open_clock(storage).advance(_duration(duration))
    click.echo(_when(now))


@clock.command("reset")
@storage_options
def clock_reset(**storage: Any) -> None:
    """Back to the system clock."""
    click.echo(_when(_open_clock(storage).reset()))
