"""The acme public issuer against a real Pebble on loopback, Pebble resolving through the
test BIND server: the user's one-time CNAME `_acme-challenge.<name>` → `<token>.<validation
zone>` is created once, openacm answers DNS-01 by RFC 2136 TXT updates into the validation
zone, and the chain Pebble issues verifies against the root its management interface serves.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import secrets
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openacm.adapters.acme.client import AcmeFailure
from openacm.adapters.envelope import EnvelopeCipher, MasterKey
from openacm.adapters.store.acme import AcmeAccountStore, AcmeDnsAnswers
from openacm.adapters.store.database import Database
from openacm.config import AcmeSettings, DnsZone
from openacm.domain.acme import failure_reason
from openacm.domain.validation import acme_validation_record
from openacm.services.acme.upstream import AcmeUpstream
from tests.support.bind import BindServer
from tests.support.pebble import BLOCKED_DOMAIN, PebbleServer, pebble_server  # noqa: F401

ACCOUNT = "111122223333"
# Inside the zone of the names: BIND, with recursion off, chases a CNAME only within its own
# zone, and Pebble asks BIND directly (a recursive resolver in between is not set up yet).
VALIDATION_ZONE = "acme-validations.openacm-test.com"
VALIDATION_KEY = b"k" * 32


@pytest.fixture
def upstream(
    tmp_path: Path,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
) -> Iterator[AcmeUpstream]:
    db = Database(f"sqlite:///{tmp_path / 'openacm.db'}")
    db.migrate()
    zone = DnsZone(
        zone="openacm-test.com",
        server=bind_server.nameserver_spec,
        tsig_key_name=bind_server.tsig_key_name,
        tsig_secret=bind_server.tsig_secret_b64,
        accounts=("*",),
    )
    settings = AcmeSettings(
        directory_url=pebble_server.directory_url,
        contact=("mailto:ops@openacm-test.com",),
        ca_bundle=pebble_server.ca_bundle,
        regions=("us-east-1",),
        order_timeout=60,
    )
    yield AcmeUpstream(
        db, EnvelopeCipher(MasterKey(os.urandom(32))), settings, VALIDATION_KEY,
        VALIDATION_ZONE, [zone],
    )  # fmt: skip


def _delegate(bind_server: BindServer, name: str) -> None:
    """What the user does once per name: the CNAME DescribeCertificate shows."""
    record = acme_validation_record(VALIDATION_KEY, ACCOUNT, name, VALIDATION_ZONE)
    bind_server.add_cname(record.name, record.value)


def _txt_at(bind_server: BindServer, name: str) -> list[str]:
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    response = dns.query.udp(query, bind_server.address, timeout=3, port=bind_server.port)
    return [
        rdata.to_text()
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.TXT
        for rdata in rrset
    ]


def _verify(chain: list[x509.Certificate], root_pem: bytes, tmp_path: Path) -> None:
    """`openssl verify` of the leaf against Pebble's root, through the intermediates."""
    pem = [c.public_bytes(serialization.Encoding.PEM) for c in chain]
    (tmp_path / "leaf.pem").write_bytes(pem[0])
    (tmp_path / "untrusted.pem").write_bytes(b"".join(pem[1:]))
    (tmp_path / "root.pem").write_bytes(root_pem)
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"),
         "-untrusted", str(tmp_path / "untrusted.pem"), str(tmp_path / "leaf.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_issues_through_the_delegated_cname_and_the_chain_verifies(
    upstream: AcmeUpstream,
    bind_server: BindServer,
    pebble_server: PebbleServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    name = f"www-{secrets.token_hex(4)}.openacm-test.com"
    _delegate(bind_server, name)
    _delegate(bind_server, name.replace("www-", "api-"))
    key = ec.generate_private_key(ec.SECP256R1())

    issued = upstream.issue(ACCOUNT, [name, name.replace("www-", "api-")], key, now=1.0)

    sans = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert set(sans.value.get_values_for_type(x509.DNSName)) == {
        name,
        name.replace("www-", "api-"),
    }
    assert issued.certificate.public_key() == key.public_key()
    chain = [issued.certificate, *x509.load_pem_x509_certificates(issued.chain_pem.encode())]
    _verify(chain, pebble_server.root_pem(), tmp_path)
    # The answers were single use: nothing is left under the validation zone's tokens.
    token = acme_validation_record(VALIDATION_KEY, ACCOUNT, name, VALIDATION_ZONE).value
    assert _txt_at(bind_server, token) == []


def test_the_account_is_registered_once_and_its_key_kept_sealed(
    upstream: AcmeUpstream,
    bind_server: BindServer,
) -> None:
    name = f"acct-{secrets.token_hex(4)}.openacm-test.com"
    _delegate(bind_server, name)
    upstream.issue(ACCOUNT, [name], ec.generate_private_key(ec.SECP256R1()), now=1.0)
    with upstream.db.read() as conn:
        stored = AcmeAccountStore(conn).get(upstream.settings.directory_url)
    assert stored is not None and stored.account_url is not None
    assert b"PRIVATE" not in stored.key_sealed
    # A second process (a fresh upstream on the same store) reuses the same account.
    again = AcmeUpstream(
        upstream.db, upstream.cipher, upstream.settings, VALIDATION_KEY, VALIDATION_ZONE,
        upstream.dns_zones,
    )  # fmt: skip
    second = f"again-{secrets.token_hex(4)}.openacm-test.com"
    _delegate(bind_server, second)
    again.issue(ACCOUNT, [second], ec.generate_private_key(ec.SECP256R1()), now=2.0)
    assert again.client(2.0).account_url == stored.account_url


def test_a_blocked_name_fails_with_domain_not_allowed(upstream: AcmeUpstream) -> None:
    with pytest.raises(AcmeFailure) as refused:
        upstream.issue(
            ACCOUNT, [f"x.{BLOCKED_DOMAIN}"], ec.generate_private_key(ec.SECP256R1()), now=1.0
        )
    assert failure_reason(refused.value.problem_type) == "DOMAIN_NOT_ALLOWED"
    assert not refused.value.transient


def test_a_missing_cname_fails_the_challenge(upstream: AcmeUpstream) -> None:
    name = f"nocname-{secrets.token_hex(4)}.openacm-test.com"
    with pytest.raises(AcmeFailure) as refused:
        upstream.issue(ACCOUNT, [name], ec.generate_private_key(ec.SECP256R1()), now=1.0)
    assert refused.value.problem_type is not None
    assert failure_reason(refused.value.problem_type) == "OTHER"


def test_external_account_binding_registers_where_the_ca_requires_it(
    tmp_path: Path, bind_server: BindServer
) -> None:
    key_id, hmac_key = "kid-1", base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    pebble = PebbleServer(bind_server.nameserver_spec, eab_keys={key_id: hmac_key}).start()
    try:
        db = Database(f"sqlite:///{tmp_path / 'openacm.db'}")
        db.migrate()
        cipher = EnvelopeCipher(MasterKey(os.urandom(32)))
        settings = AcmeSettings(
            directory_url=pebble.directory_url,
            ca_bundle=pebble.ca_bundle,
            regions=("*",),
            order_timeout=60,
        )
        # Without the binding the CA refuses the account.
        with pytest.raises(AcmeFailure) as refused:
            AcmeUpstream(db, cipher, settings, VALIDATION_KEY, VALIDATION_ZONE, []).client(1.0)
        assert "externalAccountRequired" in str(refused.value)
        bound = dataclasses.replace(settings, eab_key_id=key_id, eab_hmac_key=hmac_key)
        client = AcmeUpstream(db, cipher, bound, VALIDATION_KEY, VALIDATION_ZONE, []).client(2.0)
        assert client.account_url
    finally:
        pebble.stop()


def test_two_orders_for_one_name_at_once_both_succeed(
    upstream: AcmeUpstream, bind_server: BindServer
) -> None:
    """Their dns-01 answers share one TXT owner: each order adds its value beside the other's
    and removes only its own (two processes of an installation may order one name at once)."""
    name = f"www-{secrets.token_hex(4)}.openacm-test.com"
    _delegate(bind_server, name)
    with ThreadPoolExecutor(2) as pool:
        issued = list(
            pool.map(
                lambda _: upstream.issue(
                    ACCOUNT, [name, f"*.{name}"], ec.generate_private_key(ec.SECP256R1()), now=1.0
                ),
                range(2),
            )
        )
    assert issued[0].certificate.serial_number != issued[1].certificate.serial_number
    owner = acme_validation_record(VALIDATION_KEY, ACCOUNT, name, VALIDATION_ZONE).value
    assert _txt_at(bind_server, owner) == []  # nothing left behind


def test_an_answer_a_crashed_order_left_is_removed_by_the_next(
    upstream: AcmeUpstream, bind_server: BindServer
) -> None:
    name = f"www-{secrets.token_hex(4)}.openacm-test.com"
    _delegate(bind_server, name)
    owner = acme_validation_record(VALIDATION_KEY, ACCOUNT, name, VALIDATION_ZONE).value
    # What an order killed between publishing and withdrawing leaves, long ago.
    bind_server.add_txt(owner, "left-by-a-crashed-order")
    with upstream.db.write() as conn:
        AcmeDnsAnswers(conn).add(owner, ["left-by-a-crashed-order"], 0.0)

    upstream.issue(ACCOUNT, [name], ec.generate_private_key(ec.SECP256R1()), now=10_000.0)

    assert _txt_at(bind_server, owner) == []
    with upstream.db.read() as conn:
        assert AcmeDnsAnswers(conn).values(owner) == []
