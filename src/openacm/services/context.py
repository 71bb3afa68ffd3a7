"""Who is calling, from where, in which account and region: what every operation is given."""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def principal_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:user/{self.user_name}"
