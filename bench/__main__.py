"""`python -m bench`: the API benchmarks (openacm vs moto), then the issuance benchmark.

`python -m bench api [flags]` runs only the first, `python -m bench issuance [flags]` only
the second; flags without a sub-command go to the API benchmarks (`--help` lists them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench import cli, issuance

API_FAILED = (2, 3, 130)  # a server failed, the machine is busy, or Ctrl-C: stop there


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["issuance"]:
        return issuance.main(argv[1:])
    if argv[:1] == ["api"]:
        return cli.main(argv[1:])
    status = cli.main(argv)
    if status in API_FAILED or not _openacm_measured(argv):
        return status
    issued = issuance.main([])
    return status or issued


def _openacm_measured(argv: Sequence[str]) -> bool:
    """False for `--only moto` (the issuance benchmark has no moto side) and for --help."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--only")
    known, _ = parser.parse_known_args(argv)
    return known.only in (None, "openacm")


# Guarded: the raw-limit measurements start `spawn` processes, which import this module.
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
