"""The agent's configuration: a TOML file parsed into frozen dataclasses, every mistake found
before the agent calls anything (docs/agent.md has the reference).

Pure: no I/O besides reading the file in `load_config`, no botocore.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_POLL_INTERVAL = 300.0
DEFAULT_RELOAD_TIMEOUT = 60.0
CERTIFICATE_MODE = 0o644
SECRET_MODE = 0o600
# The kinds of file an entry may ask for, in the order they are written: the key before the
# certificate, so a reader that follows the certificate's change never pairs it with the old key.
FILE_KINDS = ("key", "pkcs12", "chain", "fullchain", "certificate")
SECRET_KINDS = frozenset({"key", "pkcs12"})
# Placeholders a path may hold: with a tag selecting several certificates, each needs its own.
PLACEHOLDERS = ("{id}", "{domain}")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CERTIFICATE_ARN = re.compile(r"^arn:[\w+=/,.@-]+:acm:[\w+=/,.@-]+:\d{12}:certificate/[\w-]+$")
_TOP_KEYS = frozenset(
    {
        "endpoint_url",
        "region",
        "target",
        "poll_interval_seconds",
        "reload_timeout_seconds",
        "state_dir",
        "credentials",
        "certificates",
    }
)
_CREDENTIAL_KEYS = frozenset(
    {"access_key_id", "secret_access_key", "secret_access_key_env", "session_token", "profile"}
)
_ENTRY_KEYS = frozenset({"name", "arn", "tag", "reload", *FILE_KINDS})
_FILE_KEYS = frozenset({"path", "mode", "owner", "group", "passphrase", "passphrase_env"})


class ConfigError(ValueError):
    """The configuration cannot be used; the message says where and why."""


@dataclass(frozen=True)
class FileSpec:
    path: str  # may hold {id} and {domain}
    mode: int
    owner: str | None = None
    group: str | None = None
    # PKCS#12 only: the passphrase itself, or the environment variable that holds it.
    passphrase: str | None = None
    passphrase_env: str | None = None

    def resolve(self, certificate_id: str, domain: str) -> Path:
        return Path(self.path.replace("{id}", certificate_id).replace("{domain}", domain))


@dataclass(frozen=True)
class TagSelector:
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


@dataclass(frozen=True)
class CertificateEntry:
    """One `[[certificates]]` table: which certificates, which files, which reload."""

    name: str
    arn: str | None
    tag: TagSelector | None
    files: Mapping[str, FileSpec]
    reload: tuple[str, ...] = ()

    @property
    def wants_key(self) -> bool:
        return bool(SECRET_KINDS & set(self.files))

    @property
    def paths_are_per_certificate(self) -> bool:
        return all(any(p in spec.path for p in PLACEHOLDERS) for spec in self.files.values())


@dataclass(frozen=True)
class Credentials:
    access_key_id: str | None = None
    secret_access_key: str | None = None
    secret_access_key_env: str | None = None
    session_token: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class AgentConfig:
    region: str
    target: str
    state_dir: Path
    entries: tuple[CertificateEntry, ...]
    endpoint_url: str | None = None
    poll_interval: float = DEFAULT_POLL_INTERVAL
    reload_timeout: float = DEFAULT_RELOAD_TIMEOUT
    credentials: Credentials = field(default_factory=Credentials)

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"{self.target}.json"


def load_config(path: Path) -> AgentConfig:
    try:
        document = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return parse_config(document)


def parse_config(document: Mapping[str, Any]) -> AgentConfig:
    _no_unknown_keys(document, _TOP_KEYS, "the configuration")
    target = _string(document, "target", "the configuration", required=True)
    assert target is not None
    if not _TARGET_NAME.match(target):
        raise ConfigError(
            f"target {target!r}: 1 to 128 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (it names the consumer ARN …:target/<name>)."
        )
    state_dir = _string(document, "state_dir", "the configuration", required=True)
    region = _string(document, "region", "the configuration", required=True) or ""
    entries = _entries(document.get("certificates"))
    _no_shared_paths(entries)
    _same_region(entries, region)
    return AgentConfig(
        region=region,
        target=target,
        state_dir=Path(state_dir or ""),
        entries=entries,
        endpoint_url=_string(document, "endpoint_url", "the configuration"),
        poll_interval=_seconds(document, "poll_interval_seconds", DEFAULT_POLL_INTERVAL),
        reload_timeout=_seconds(document, "reload_timeout_seconds", DEFAULT_RELOAD_TIMEOUT),
        credentials=_credentials(document.get("credentials", {})),
    )


def _entries(value: Any) -> tuple[CertificateEntry, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError("[[certificates]]: at least one certificate is needed.")
    entries = tuple(_entry(table, index) for index, table in enumerate(value, start=1))
    names = [entry.name for entry in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"[[certificates]]: names must differ; repeated: {', '.join(duplicates)}")
    return entries


def _entry(table: Any, index: int) -> CertificateEntry:
    where = f"certificates #{index}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table.")
    _no_unknown_keys(table, _ENTRY_KEYS, where)
    arn = _string(table, "arn", where)
    tag_text = _string(table, "tag", where)
    if (arn is None) == (tag_text is None):
        raise ConfigError(f"{where}: give either arn or tag (key=value), not both nor neither.")
    if arn is not None and not _CERTIFICATE_ARN.match(arn):
        raise ConfigError(f"{where}: arn {arn!r} is not an ACM certificate ARN.")
    tag = _tag(tag_text, where) if tag_text is not None else None
    name = _string(table, "name", where) or arn or f"tag:{tag}"
    files = {
        kind: _file(table[kind], kind, f"{where} {kind}") for kind in FILE_KINDS if kind in table
    }
    if not files:
        raise ConfigError(
            f"{where}: no file to write (certificate, chain, fullchain, key, pkcs12)."
        )
    if "key" in files and not ({"certificate", "fullchain", "pkcs12"} & set(files)):
        raise ConfigError(f"{where}: a key without its certificate (certificate or fullchain).")
    return CertificateEntry(
        name=name, arn=arn, tag=tag, files=files, reload=_argv(table.get("reload"), where)
    )


def _tag(text: str, where: str) -> TagSelector:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{where}: tag {text!r} must be key=value.")
    return TagSelector(key.strip(), value.strip())


def _file(value: Any, kind: str, where: str) -> FileSpec:
    default_mode = SECRET_MODE if kind in SECRET_KINDS else CERTIFICATE_MODE
    table: Mapping[str, Any] = {"path": value} if isinstance(value, str) else value
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: a path or a table with path, mode, owner, group.")
    _no_unknown_keys(table, _FILE_KEYS, where)
    path = _string(table, "path", where, required=True) or ""
    if not Path(path).is_absolute():
        raise ConfigError(f"{where}: path {path!r} must be absolute.")
    secret = {k for k in ("passphrase", "passphrase_env") if k in table}
    if secret and kind != "pkcs12":
        raise ConfigError(f"{where}: only pkcs12 takes a passphrase.")
    if kind == "pkcs12" and len(secret) != 1:
        raise ConfigError(f"{where}: give passphrase or passphrase_env (one of them).")
    return FileSpec(
        path=path,
        mode=_mode(table.get("mode", default_mode), where),
        owner=_owner(table.get("owner"), where, "owner"),
        group=_owner(table.get("group"), where, "group"),
        passphrase=_string(table, "passphrase", where),
        passphrase_env=_string(table, "passphrase_env", where),
    )


def _mode(value: Any, where: str) -> int:
    """Modes are written as octal strings ("0640") or TOML octal integers (0o640)."""
    if isinstance(value, str):
        try:
            mode = int(value, 8)
        except ValueError:
            raise ConfigError(f"{where}: mode {value!r} is not octal.") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        raise ConfigError(f'{where}: mode must be an octal string such as "0640".')
    if not 0 <= mode <= 0o777:
        raise ConfigError(f"{where}: mode {value!r} is outside 0000-0777.")
    return mode


def _owner(value: Any, where: str, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value:
        return value
    raise ConfigError(f"{where}: {what} must be a name or a numeric id.")


def _argv(value: Any, where: str) -> tuple[str, ...]:
    """The reload command is an argv list, never a shell line: nothing in it is interpreted."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        raise ConfigError(
            f"{where}: reload must be a non-empty list of strings (an argv, run without a shell)."
        )
    return tuple(value)


def _credentials(value: Any) -> Credentials:
    where = "[credentials]"
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: must be a table.")
    _no_unknown_keys(value, _CREDENTIAL_KEYS, where)
    fields = {key: _string(value, key, where) for key in _CREDENTIAL_KEYS}
    has_secret = fields["secret_access_key"] or fields["secret_access_key_env"]
    if bool(fields["access_key_id"]) != bool(has_secret):
        raise ConfigError(
            f"{where}: access_key_id goes with secret_access_key (or secret_access_key_env)."
        )
    if fields["secret_access_key"] and fields["secret_access_key_env"]:
        raise ConfigError(f"{where}: secret_access_key or secret_access_key_env, not both.")
    if fields["profile"] and fields["access_key_id"]:
        raise ConfigError(f"{where}: a profile or keys, not both.")
    return Credentials(**fields)


def _seconds(document: Mapping[str, Any], key: str, default: float) -> float:
    value = document.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{key}: a positive number of seconds.")
    return float(value)


def _string(
    table: Mapping[str, Any], key: str, where: str, *, required: bool = False
) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}: {key} is required.")
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty string.")
    return value


def _no_unknown_keys(table: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        # A misspelt key would otherwise be ignored silently, and a file not written.
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}.")


def _same_region(entries: tuple[CertificateEntry, ...], region: str) -> None:
    """Calls are signed for one region and see only its certificates (docs/associations.md)."""
    for entry in entries:
        if entry.arn is not None and entry.arn.split(":")[3] != region:
            raise ConfigError(
                f"{entry.name}: the certificate is in {entry.arn.split(':')[3]}, the agent "
                f"signs for {region} (run one agent per region)."
            )


def _no_shared_paths(entries: tuple[CertificateEntry, ...]) -> None:
    """Two entries writing one path would overwrite each other on every pass."""
    seen: dict[str, str] = {}
    for entry in entries:
        for kind, spec in entry.files.items():
            here = f"{entry.name} {kind}"
            if spec.path in seen:
                raise ConfigError(f"{here}: path {spec.path} is also {seen[spec.path]}'s.")
            seen[spec.path] = here
