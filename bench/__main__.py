"""`python -m bench`: the API benchmarks (openacm vs moto), then the issuance benchmark.

`python -m bench api [flags]` runs only the first, `python -m bench issuance [flags]` only
the second; flags without a sub-command go to the API benchmarks (`--help` lists them).
`python -m bench crl` times CRL generation alone, `python -m bench pca` ACM-PCA's
IssueCertificate against the raw signing limit (neither is part of the default run);
`python -m bench renewal` the renewal sweep and renewal throughput (part of it);
`python -m bench console` the web console's pages and list latency with 10,000 certificates
(not part of the default run); `python -m bench throttling` what the request-rate limiter adds
to each call, in memory and in Redis (not part of the default run); `python -m bench
acme-server` lego's throughput against openacm's ACME endpoint and against Pebble, and `python
-m bench acme-issuer` public certificates through an ACME CA (a real Pebble), openacm next to
lego (both part of it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench import acme_issuer, acme_server, cli, console, crl, issuance, pca, renewal, throttling

API_FAILED = (2, 3, 130)  # a server failed, the machine is busy, or Ctrl-C: stop there


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["issuance"]:
        return issuance.main(argv[1:])
    if argv[:1] == ["crl"]:
        return crl.main(argv[1:])
    if argv[:1] == ["renewal"]:
        return renewal.main(argv[1:])
    if argv[:1] == ["pca"]:
        return pca.main(argv[1:])
    if argv[:1] == ["console"]:
        return console.main(argv[1:])
    if argv[:1] == ["throttling"]:
        return throttling.main(argv[1:])
    if argv[:1] == ["acme-server"]:
        return acme_server.main(argv[1:])
    if argv[:1] == ["acme-issuer"]:
        return acme_issuer.main(argv[1:])
    if argv[:1] == ["api"]:
        return cli.main(argv[1:])
    status = cli.main(argv)
    shared = _shared_options(argv)
    if status in API_FAILED or shared.only not in (None, "openacm"):
        return status  # `--only moto`: the issuance benchmark has no moto side
    issued = issuance.main(["--results", shared.results] if shared.results else [])
    renewed = renewal.main([])
    served = acme_server.main([])
    upstream = acme_issuer.main([])
    return status or issued or renewed or served or upstream


def _shared_options(argv: Sequence[str]) -> argparse.Namespace:
    """The API benchmark's options that matter to the issuance one: --only, --results."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--only")
    parser.add_argument("--results")
    known, _ = parser.parse_known_args(argv)
    return known


# Guarded: the raw-limit measurements start `spawn` processes, which import this module.
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
