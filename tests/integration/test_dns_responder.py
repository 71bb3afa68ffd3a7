"""openacm's own authoritative responder for its validation zone (`serve --dns-listen`),
asked with `dig` over UDP and TCP: SOA and NS at the apex, the DNS-01 TXT answers in the
store, NXDOMAIN for names without any, REFUSED for every other zone."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from openacm.adapters.store.acme import AcmeDnsAnswers
from openacm.adapters.store.database import Database
from tests.conftest import finish_server, start_server
from tests.support.bind import free_udp_and_tcp_port
from tests.support.server import OpenAcmServer

ZONE = "acme-validations.openacm-test.org"


@pytest.fixture(scope="module")
def responding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OpenAcmServer, int]]:
    port = free_udp_and_tcp_port()
    server = start_server(
        tmp_path_factory.mktemp("dns-responder"), "sqlite",
        env={"OPENACM_VALIDATION_ZONE": ZONE},
        extra_args=["--dns-listen", f"127.0.0.1:{port}"],
    )  # fmt: skip
    yield server, port
    finish_server(server)


def _dig(port: int, name: str, rdtype: str, *, tcp: bool) -> tuple[str, list[str]]:
    """(status, answer lines) of one query."""
    args = ["dig", "+norec", "+time=2", "+tries=1", "-p", str(port), "@127.0.0.1", rdtype, name]
    if tcp:
        args.insert(1, "+tcp")
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=10).stdout
    status = out.split("status: ", 1)[1].split(",", 1)[0]
    answer = subprocess.run(
        [*args, "+short"], capture_output=True, text=True, check=True, timeout=10
    ).stdout.split()
    return status, answer


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_it_answers_for_its_zone_and_refuses_others(
    responding: tuple[OpenAcmServer, int], tcp: bool
) -> None:
    server, port = responding
    db = Database(f"sqlite:///{(server.data_dir / 'openacm.db').resolve()}")
    owner = f"{'a' * 32}.{ZONE}."
    with db.write() as conn:
        AcmeDnsAnswers(conn).add(owner, ["first-value", "second-value"], 1.0)

    status, soa = _dig(port, ZONE, "SOA", tcp=tcp)
    assert status == "NOERROR" and soa[0] == f"ns.{ZONE}."
    status, ns = _dig(port, ZONE, "NS", tcp=tcp)
    assert (status, ns) == ("NOERROR", [f"ns.{ZONE}."])
    status, txt = _dig(port, owner, "TXT", tcp=tcp)
    assert (status, sorted(txt)) == ("NOERROR", ['"first-value"', '"second-value"'])
    assert _dig(port, f"{'b' * 32}.{ZONE}", "TXT", tcp=tcp)[0] == "NXDOMAIN"
    assert _dig(port, "example.com", "TXT", tcp=tcp)[0] == "REFUSED"
    assert _dig(port, "openacm-test.org", "SOA", tcp=tcp)[0] == "REFUSED"

    with db.write() as conn:  # withdrawn answers are gone at once
        AcmeDnsAnswers(conn).delete(owner)
    assert _dig(port, owner, "TXT", tcp=tcp)[0] == "NXDOMAIN"


def test_a_bad_listen_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="dns-listen"):
        start_server(
            tmp_path,
            "sqlite",
            extra_args=["--dns-listen", "nowhere:53"],
        )
