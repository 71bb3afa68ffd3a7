"""What the commands of `openacm` share: where the state lives, settings, table output.

Its own module so that command groups in other modules (`openacm ca`) use the same options
as `main.py` without importing it (main imports them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from openacm.config import Settings, read_config_file, sections_from

F = TypeVar("F", bound=Callable[..., Any])


def _load_config_file(
    ctx: click.Context, _param: click.Parameter, value: Path | None
) -> Path | None:
    config = read_config_file(value)
    ctx.default_map = {**(ctx.default_map or {}), **config}
    ctx.meta["config_file"] = config
    return value


def storage_options(func: F) -> F:
    """Where the state lives: shared by `serve` and every admin command."""
    options = [
        click.option(
            "--config",
            envvar="OPENACM_CONFIG",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            callback=_load_config_file,
            is_eager=True,
            expose_value=False,
            help="TOML file with option values (keys as the long option names).",
        ),
        click.option(
            "--data-dir",
            envvar="OPENACM_DATA_DIR",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path(".openacm"),
            help="Directory for the SQLite database, master key and audit log.",
        ),
        click.option(
            "--database-url",
            envvar="OPENACM_DATABASE_URL",
            default=None,
            help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (default: SQLite in "
            "the data dir).",
        ),
        click.option(
            "--master-key-file",
            envvar="OPENACM_MASTER_KEY_FILE",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Master key file, created 0600 on first start (default: DATA_DIR/master.key; "
            "OPENACM_MASTER_KEY overrides it).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def settings_from_context(**values: Any) -> Settings:
    """Settings of the running command: its option values over the config file's tables."""
    ctx = click.get_current_context()
    file_config = ctx.meta.get("config_file", {})
    return Settings(**sections_from(file_config), **values)


output_option = click.option(
    "--output", type=click.Choice(["table", "json"]), default="table", help="Output format."
)


def emit_rows(rows: list[dict[str, Any]], output: str, columns: list[str]) -> None:
    """Rows as an aligned table with upper-case headings, or as one JSON object a line."""
    if output == "json":
        for row in rows:
            click.echo(json.dumps(row))
        return
    widths = [max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        click.echo(
            "  ".join(str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True))
        )
