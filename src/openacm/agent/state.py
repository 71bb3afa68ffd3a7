"""What the agent has deployed, kept in a JSON file so a restart neither rewrites files nor
runs reload commands for certificates that did not change; and the rule that decides when a
certificate must be written again (`needs_deploy`), pure so it is tested alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from openacm.agent.config import SECRET_MODE, CertificateEntry, FileSpec
from openacm.agent.files import write_atomically

STATE_VERSION = 1


@dataclass(frozen=True)
class Observed:
    """What DescribeCertificate says about a certificate now."""

    arn: str
    status: str
    serial: str | None
    not_after: float | None
    domain: str
    exportable: bool
    renewal_status: str | None = None
    renewal_updated_at: float | None = None


@dataclass(frozen=True)
class Deployed:
    """What was last written for one (entry, certificate) pair."""

    entry: str
    arn: str
    serial: str
    not_after: float | None
    outputs: str  # layout_digest of the files written: a changed layout is written again
    paths: tuple[str, ...]
    reload_pending: bool = False
    renewal_updated_at: float | None = None


@dataclass
class AgentState:
    deployed: dict[str, Deployed] = field(default_factory=dict)

    @staticmethod
    def key(entry: str, arn: str) -> str:
        return f"{entry}|{arn}"

    def get(self, entry: str, arn: str) -> Deployed | None:
        return self.deployed.get(self.key(entry, arn))

    def put(self, record: Deployed) -> None:
        self.deployed[self.key(record.entry, record.arn)] = record

    def drop(self, entry: str, arn: str) -> None:
        self.deployed.pop(self.key(entry, arn), None)

    def mark(self, entry: str, arn: str, **changes: Any) -> None:
        record = self.get(entry, arn)
        if record is not None:
            self.put(replace(record, **changes))

    def arns(self) -> set[str]:
        return {record.arn for record in self.deployed.values()}


def layout_digest(entry: CertificateEntry, paths: Mapping[str, Path]) -> str:
    """A digest of where and how the files go (not of the passphrase itself)."""
    description = sorted(
        (kind, str(paths[kind]), _spec_summary(spec)) for kind, spec in entry.files.items()
    )
    return hashlib.sha256(json.dumps(description).encode()).hexdigest()[:16]


def _spec_summary(spec: FileSpec) -> list[Any]:
    return [spec.mode, spec.owner, spec.group, spec.passphrase_env, bool(spec.passphrase)]


def needs_deploy(
    observed: Observed, record: Deployed | None, outputs: str, paths: Iterable[Path]
) -> str | None:
    """Why the certificate must be written now, or None when what is on disk is current.

    The serial is the identity of an issuance: a renewal keeps the ARN and changes the serial
    (and NotAfter); a RenewalSummary that moved without a new serial (PENDING_VALIDATION, a
    FAILED attempt) leaves the deployed certificate current.
    """
    if record is None:
        return "first deployment"
    if observed.serial != record.serial:
        return f"renewed (was serial {record.serial})" if observed.serial else "serial unknown"
    if _moved(observed.not_after, record.not_after):
        return "NotAfter changed"
    if record.outputs != outputs:
        return "files configured differently"
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        return f"missing {', '.join(missing)}"
    return None


def _moved(now: float | None, before: float | None) -> bool:
    # Whole seconds: DescribeCertificate and the parsed certificate may round differently.
    return now is not None and before is not None and abs(now - before) >= 1


def load_state(path: Path) -> AgentState:
    """An absent file is a first start; an unreadable one is a fresh start (files rewritten)."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return AgentState()
    except (OSError, ValueError):
        return AgentState()
    if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
        return AgentState()
    state = AgentState()
    for item in document.get("deployed", []):
        try:
            state.put(Deployed(**{**item, "paths": tuple(item.get("paths", ()))}))
        except TypeError:
            continue  # a record of another layout: forget it, the certificate is written again
    return state


def save_state(path: Path, state: AgentState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    document = {
        "version": STATE_VERSION,
        "deployed": [asdict(record) for _key, record in sorted(state.deployed.items())],
    }
    body = json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"
    write_atomically(path, body, FileSpec(path=str(path), mode=SECRET_MODE))
