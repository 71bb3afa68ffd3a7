"""Settings of one openacm installation, from defaults, a TOML file and OPENACM_* variables.

Precedence (highest first): command-line option, environment variable, config file, default.
The command-line and environment layers are click's; this module owns the file and the
defaults, and the quotas, which have no command-line flags.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "OPENACM_"
DEFAULT_DATA_DIR = Path(".openacm")
DEV_ACCOUNT_ID = "000000000000"
DEV_ACCESS_KEY_ID = "test"
DEV_SECRET_ACCESS_KEY = "test"


@dataclass(frozen=True)
class Quotas:
    """Per account and region limits; the defaults are the seeds' (inventory §4.8, §8)."""

    imported_certificates: int = 2500
    imported_per_year: int = 5000
    tags_per_resource: int = 50
    tag_key_length: int = 127
    tag_value_length: int = 255

    @classmethod
    def from_sources(cls, file_table: Mapping[str, object], env: Mapping[str, str]) -> Quotas:
        values: dict[str, int] = {}
        for spec in dataclasses.fields(cls):
            env_name = f"{ENV_PREFIX}QUOTA_{spec.name.upper()}"
            raw = env.get(env_name, file_table.get(spec.name))
            if raw is None:
                continue
            try:
                number = int(str(raw))
            except ValueError as exc:
                raise ValueError(f"quota {spec.name} must be an integer, not {raw!r}") from exc
            if number < 0:
                raise ValueError(f"quota {spec.name} must not be negative")
            values[spec.name] = number
        return cls(**values)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    dev: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_http: bool = False
    master_key_file: Path | None = None
    log_level: str = "info"
    quotas: Quotas = field(default_factory=Quotas)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'openacm.db').resolve()}"

    @property
    def effective_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def audit_log_path(self) -> Path:
        return self.data_dir / "audit.jsonl"


def read_config_file(path: Path | None) -> dict[str, object]:
    """The TOML file's top-level table; option names may use '-' or '_'."""
    if path is None:
        return {}
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    return {key.replace("-", "_"): value for key, value in raw.items()}


def quotas_from(config: Mapping[str, object], env: Mapping[str, str] | None = None) -> Quotas:
    table = config.get("quotas", {})
    if not isinstance(table, Mapping):
        raise ValueError("[quotas] in the config file must be a table")
    return Quotas.from_sources(table, os.environ if env is None else env)
