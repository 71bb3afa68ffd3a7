"""Who is calling, from where, in which account and region: what every operation is given."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """A caller that policies restrict: an IAM user, or a role session of AssumeRole. The
    account's root keys have none (nothing restricts them)."""

    kind: str  # "user" | "assumed-role"
    name: str  # the user's or the role's name
    arn: str  # the user's ARN, or arn:<p>:sts::<account>:assumed-role/<role>/<session>
    principal_id: str  # aws:userid: AIDA…, or AROA…:<session>
    identity_arn: str  # the user's or the role's IAM ARN (aws:PrincipalArn)
    session_policy: str | None = None


@dataclass(frozen=True)
class CallContext:
    account_id: str
    region: str
    partition: str
    access_key_id: str
    user_name: str
    request_id: str
    source_ip: str
    user_agent: str
    now: float
    secure_transport: bool
    caller: Caller | None = None  # None: the account's root principal

    @property
    def principal_arn(self) -> str:
        if self.caller is not None:
            return self.caller.arn
        return f"arn:{self.partition}:iam::{self.account_id}:user/{self.user_name}"
