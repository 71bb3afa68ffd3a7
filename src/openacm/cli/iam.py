"""`openacm admin user | role | policy`: IAM users, roles and their policies
(docs/access-control.md). A user's access keys are made with `openacm admin key create
--user-name <user>`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from openacm.cli.options import emit_rows, output_option, settings_from_context, storage_options

F = TypeVar("F", bound=Callable[..., Any])


def _iam(**storage: Any) -> Any:
    from openacm.runtime import Runtime
    from openacm.services.iam.admin import IamAdmin

    return IamAdmin(Runtime.open(settings_from_context(**storage)).db)


def _refusals(func: F) -> F:
    """IAM refusals as the command's error message."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from openacm.services.identity import IdentityError

        try:
            return func(*args, **kwargs)
        except IdentityError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _document(text: str) -> str:
    """A policy given inline, or as @path / file://path."""
    for prefix in ("@", "file://"):
        if text.startswith(prefix):
            return Path(text.removeprefix(prefix)).read_text()
    return text


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _principal_options(func: F) -> F:
    func = click.option("--role-name", default=None, help="The role (or give --user-name).")(func)
    func = click.option("--user-name", default=None, help="The user (or give --role-name).")(func)
    return click.option("--account-id", required=True)(func)


def _principal(user_name: str | None, role_name: str | None) -> tuple[str, str]:
    if (user_name is None) == (role_name is None):
        raise click.UsageError("give exactly one of --user-name and --role-name")
    return ("user", user_name) if user_name is not None else ("role", role_name or "")


# -- users ------------------------------------------------------------------------------------


@click.group()
def user() -> None:
    """IAM users: principals whose access keys their policies restrict."""


@user.command("create")
@storage_options
@click.option("--account-id", required=True)
@click.option("--user-name", required=True)
@_refusals
def user_create(account_id: str, user_name: str, **storage: Any) -> None:
    """Create a user (then its keys: admin key create --user-name)."""
    from openacm.services.iam.admin import user_arn

    created = _iam(**storage).create_user(account_id, user_name)
    click.echo(user_arn(created.account_id, created.name))


@user.command("list")
@storage_options
@click.option("--account-id", default=None)
@output_option
def user_list(account_id: str | None, output: str, **storage: Any) -> None:
    """List users."""
    _list_principals(account_id, "user", output, storage)


@user.command("delete")
@storage_options
@click.option("--account-id", required=True)
@click.option("--user-name", required=True)
@_refusals
def user_delete(account_id: str, user_name: str, **storage: Any) -> None:
    """Delete a user with its access keys and policies."""
    _iam(**storage).delete(account_id, "user", user_name)
    click.echo(f"deleted user {user_name}")


def _list_principals(account_id: str | None, kind: str, output: str, storage: Any) -> None:
    rows = [
        {
            "account_id": p.account_id,
            "name": p.name,
            "id": p.principal_id,
            "created": _when(p.created_at),
        }
        for p in _iam(**storage).list_principals(account_id, kind)
    ]
    emit_rows(rows, output, ["account_id", "name", "id", "created"])


# -- roles ------------------------------------------------------------------------------------


@click.group()
def role() -> None:
    """IAM roles: assumed through STS AssumeRole by the principals their trust policy names."""


@role.command("create")
@storage_options
@click.option("--account-id", required=True)
@click.option("--role-name", required=True)
@click.option("--trust-policy", required=True, help="JSON, @path or file://path.")
@click.option("--max-session-duration", default=3600, type=int, help="Seconds, 3600 to 43200.")
@_refusals
def role_create(
    account_id: str, role_name: str, trust_policy: str, max_session_duration: int, **storage: Any
) -> None:
    """Create a role."""
    from openacm.services.iam.admin import role_arn

    created = _iam(**storage).create_role(
        account_id, role_name, _document(trust_policy), max_session_duration
    )
    click.echo(role_arn(created.account_id, created.name))


@role.command("list")
@storage_options
@click.option("--account-id", default=None)
@output_option
def role_list(account_id: str | None, output: str, **storage: Any) -> None:
    """List roles."""
    _list_principals(account_id, "role", output, storage)


@role.command("delete")
@storage_options
@click.option("--account-id", required=True)
@click.option("--role-name", required=True)
@_refusals
def role_delete(account_id: str, role_name: str, **storage: Any) -> None:
    """Delete a role and its policies (its sessions stop working)."""
    _iam(**storage).delete(account_id, "role", role_name)
    click.echo(f"deleted role {role_name}")


# -- policies ---------------------------------------------------------------------------------


@click.group()
def policy() -> None:
    """Policies: managed (AWS's or the account's own, attached by ARN) and inline."""


@policy.command("create")
@storage_options
@click.option("--account-id", required=True)
@click.option("--policy-name", required=True)
@click.option("--document", required=True, help="JSON, @path or file://path.")
@_refusals
def policy_create(account_id: str, policy_name: str, document: str, **storage: Any) -> None:
    """Create a customer managed policy; prints its ARN."""
    from openacm.services.iam.admin import policy_arn

    created = _iam(**storage).create_policy(account_id, policy_name, _document(document))
    click.echo(policy_arn(created.account_id, created.name))


@policy.command("delete")
@storage_options
@click.option("--account-id", required=True)
@click.option("--policy-arn", required=True)
@_refusals
def policy_delete(account_id: str, policy_arn: str, **storage: Any) -> None:
    """Delete a customer managed policy that nothing has attached."""
    _iam(**storage).delete_policy(account_id, policy_arn)
    click.echo(f"deleted {policy_arn}")


@policy.command("list")
@storage_options
@click.option("--account-id", default=None, help="Only this account's own (and AWS's).")
@output_option
def policy_list(account_id: str | None, output: str, **storage: Any) -> None:
    """List the managed policies that can be attached."""
    rows = [{"arn": arn} for arn, _ in _iam(**storage).list_policies(account_id)]
    emit_rows(rows, output, ["arn"])


@policy.command("put")
@storage_options
@_principal_options
@click.option("--policy-name", required=True)
@click.option("--document", required=True, help="JSON, @path or file://path.")
@_refusals
def policy_put(
    account_id: str,
    user_name: str | None,
    role_name: str | None,
    policy_name: str,
    document: str,
    **storage: Any,
) -> None:
    """Set an inline policy of a user or role."""
    kind, name = _principal(user_name, role_name)
    _iam(**storage).put_inline(account_id, kind, name, policy_name, _document(document))
    click.echo(f"{kind} {name}: inline policy {policy_name} set")


@policy.command("attach")
@storage_options
@_principal_options
@click.option("--policy-arn", required=True)
@_refusals
def policy_attach(
    account_id: str, user_name: str | None, role_name: str | None, policy_arn: str, **storage: Any
) -> None:
    """Attach a managed policy to a user or role."""
    kind, name = _principal(user_name, role_name)
    _iam(**storage).attach(account_id, kind, name, policy_arn)
    click.echo(f"{kind} {name}: {policy_arn} attached")


@policy.command("remove")
@storage_options
@_principal_options
@click.option("--policy", "policy_ref", required=True, help="Inline name or managed ARN.")
@_refusals
def policy_remove(
    account_id: str, user_name: str | None, role_name: str | None, policy_ref: str, **storage: Any
) -> None:
    """Delete an inline policy or detach a managed one."""
    kind, name = _principal(user_name, role_name)
    _iam(**storage).remove(account_id, kind, name, policy_ref)
    click.echo(f"{kind} {name}: {policy_ref} removed")


@policy.command("show")
@storage_options
@_principal_options
@_refusals
def policy_show(
    account_id: str, user_name: str | None, role_name: str | None, **storage: Any
) -> None:
    """The policies of a user or role, as JSON lines (inline ones with their document)."""
    kind, name = _principal(user_name, role_name)
    for attached in _iam(**storage).policies_of(account_id, kind, name):
        document = json.loads(attached.document) if attached.document else None
        click.echo(json.dumps({"policy": attached.policy, "document": document}))
