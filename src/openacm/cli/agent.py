"""`openacm agent`: keep certificates (and their keys, where exportable) written to files on
this host, reload what serves them after every renewal, and hold an association on each so
they show InUse and cannot be deleted under the host (docs/agent.md).

With --once and --release, a human-readable line per thing done (stdout; failures on
stderr); always JSON logs on stderr (cli/logs.py), which is all a daemon writes.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from openacm.cli.logs import configure_logging

# Exit statuses of --once and --release: 0 all done, 1 something failed (reported, retried
# next time), 2 the configuration file is unusable.
EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2


@click.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    envvar="OPENACM_AGENT_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The agent's TOML file (docs/agent.md).",
)
@click.option("--once", is_flag=True, help="One pass, then exit (cron, tests, first deployment).")
@click.option(
    "--release",
    is_flag=True,
    help="Disassociate every certificate this agent holds, then exit; files are left in place.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
)
def agent(config_path: Path, once: bool, release: bool, log_level: str) -> None:
    """Deploy certificates to files and reload their consumers after each renewal."""
    from openacm.agent.client import AcmClient, ApiError
    from openacm.agent.config import ConfigError, load_config
    from openacm.agent.loop import Agent

    configure_logging(log_level)
    try:
        config = load_config(config_path)
        client = AcmClient(config)
    except (ConfigError, ApiError) as exc:
        click.echo(f"Error: configuration {config_path}: {exc}", err=True)
        sys.exit(EXIT_BAD_CONFIG)
    _warn_if_secret_is_readable(config_path, config.credentials.secret_access_key)
    if not (release or once):
        # A daemon: its journal gets the JSON logs alone, not each line twice.
        Agent(config, client).run_forever(_stop_on_signals())
        return
    worker = Agent(config, client, report=_print_outcome)
    try:
        outcomes = worker.release() if release else worker.run_once()
    except OSError as exc:  # the state file: its directory missing or not writable
        click.echo(f"Error: state {config.state_file}: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if not outcomes:
        click.echo("No certificate held." if release else "No certificate selected.")
    if any(outcome.failed for outcome in outcomes):
        sys.exit(EXIT_FAILED)


def _warn_if_secret_is_readable(path: Path, secret: str | None) -> None:
    if secret and path.stat().st_mode & 0o077:
        logging.getLogger("openacm.agent").warning(
            "the configuration holds secret_access_key and others can read it",
            extra={"config": str(path), "advice": "chmod 0600, or use secret_access_key_env"},
        )


def _print_outcome(outcome: object) -> None:
    from openacm.agent.loop import UNCHANGED, Outcome

    assert isinstance(outcome, Outcome)
    words = [outcome.action.upper(), outcome.entry]
    if outcome.arn and outcome.arn != outcome.entry:
        words.append(outcome.arn)
    if outcome.serial and outcome.action != UNCHANGED:
        words.append(f"serial {outcome.serial}")
    line = "  ".join(words) + (f": {outcome.detail}" if outcome.detail else "")
    click.echo(line, err=outcome.failed)


def _stop_on_signals() -> threading.Event:
    """SIGTERM (systemd stop) and SIGINT end the loop after the pass in progress."""
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop
