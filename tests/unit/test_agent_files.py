"""The agent's pure parts: atomic writes with their modes and owners, change detection, the
state file, and the PEM / PKCS#12 bodies it writes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from openacm.agent.config import CertificateEntry, FileSpec
from openacm.agent.files import FileError, write_atomically
from openacm.agent.material import (
    Material,
    MaterialError,
    check_key_matches,
    decrypt_exported_key,
    render,
)
from openacm.agent.state import (
    AgentState,
    Deployed,
    Observed,
    layout_digest,
    load_state,
    needs_deploy,
    save_state,
)
from tests.support import pki


@pytest.fixture
def wide_umask() -> Iterator[None]:
    """A umask that would narrow every mode: the writer must set the mode exactly anyway."""
    previous = os.umask(0o077)
    yield
    os.umask(previous)


# -- atomic writes ---------------------------------------------------------------------------


@pytest.mark.usefixtures("wide_umask")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o444])
def test_files_get_their_mode_and_replace_the_old_one(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "cert.pem"
    target.write_bytes(b"old")
    old_inode = target.stat().st_ino
    write_atomically(target, b"new", FileSpec(str(target), mode))
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == mode
    assert target.stat().st_ino != old_inode  # renamed over, never rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["cert.pem"]  # no temporary file left


def test_owner_and_group_are_applied(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    target = tmp_path / "key.pem"
    write_atomically(target, b"k", FileSpec(str(target), 0o640, owner="1", group="daemon"))
    assert (target.stat().st_uid, target.stat().st_gid) == (1, 1)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "cert.pem"
    target.write_bytes(b"old")
    with pytest.raises(FileError, match="no user named"):
        write_atomically(target, b"new", FileSpec(str(target), 0o644, owner="no-such-user-x"))
    with pytest.raises(FileError, match="does not exist"):
        write_atomically(tmp_path / "absent" / "c.pem", b"x", FileSpec("/x", 0o644))
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cert.pem"]


# -- change detection and state ---------------------------------------------------------------

ARN = "arn:aws:acm:us-east-1:111122223333:certificate/abc"


def observed(serial: str | None = "01:02") -> Observed:
    return Observed(ARN, "ISSUED", serial, 2e9, "www.example.com", exportable=True)


def deployed(serial: str = "01:02", outputs: str = "o1") -> Deployed:
    return Deployed("web", ARN, serial, 2e9, outputs, ())


def test_what_makes_a_certificate_written_again(tmp_path: Path) -> None:
    present = tmp_path / "cert.pem"
    present.write_text("x")
    assert needs_deploy(observed(), None, "o1", []) == "first deployment"
    assert needs_deploy(observed("0a:0b"), deployed(), "o1", []) == "renewed (was serial 01:02)"
    assert needs_deploy(observed(), deployed(outputs="o0"), "o1", []) == (
        "files configured differently"
    )
    assert needs_deploy(observed(), deployed(), "o1", [tmp_path / "gone.pem"]) == (
        f"missing {tmp_path / 'gone.pem'}"
    )
    assert needs_deploy(observed(), deployed(), "o1", [present]) is None
    moved = Observed(ARN, "ISSUED", "01:02", 2e9 + 86400, "w", exportable=True)
    assert needs_deploy(moved, deployed(), "o1", [present]) == "NotAfter changed"


def test_a_renewal_in_progress_is_not_a_change() -> None:
    pending = Observed(
        ARN, "ISSUED", "01:02", 2e9, "w", True, "PENDING_VALIDATION", renewal_updated_at=5.0
    )
    assert needs_deploy(pending, deployed(), "o1", []) is None


def test_the_layout_digest_follows_paths_and_modes_not_secrets() -> None:
    def entry(mode: int, passphrase: str) -> CertificateEntry:
        files = {
            "certificate": FileSpec("/t/c.pem", mode),
            "pkcs12": FileSpec("/t/c.p12", 0o600, passphrase=passphrase),
        }
        return CertificateEntry("web", ARN, None, files)

    paths = {"certificate": Path("/t/c.pem"), "pkcs12": Path("/t/c.p12")}
    assert layout_digest(entry(0o644, "a"), paths) == layout_digest(entry(0o644, "b"), paths)
    assert layout_digest(entry(0o644, "a"), paths) != layout_digest(entry(0o640, "a"), paths)


def test_the_state_file_round_trips_and_survives_damage(tmp_path: Path) -> None:
    path = tmp_path / "state" / "web.json"
    state = AgentState()
    state.put(deployed())
    save_state(path, state)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_state(path).get("web", ARN) == deployed()
    path.write_text("{not json")
    assert load_state(path).deployed == {}
    path.write_text('{"version": 1, "deployed": [{"entry": "web", "odd": 1}]}')
    assert load_state(path).deployed == {}
    assert load_state(tmp_path / "absent.json").deployed == {}


# -- what is written --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def material() -> Material:
    root = pki.issue("Root", is_ca=True)
    leaf = pki.issue("www.example.com", sans=["www.example.com"], issuer=root)
    return Material(leaf.cert_pem.decode(), root.cert_pem.decode(), leaf.key)


def test_bodies_of_each_kind(material: Material) -> None:
    certificate = render("certificate", material)
    chain = render("chain", material)
    assert render("fullchain", material) == certificate + chain
    assert certificate.count(b"BEGIN CERTIFICATE") == 1 and certificate.endswith(b"-\n")
    key = serialization.load_pem_private_key(render("key", material), password=None)
    assert render("key", material).startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert key.public_key().public_numbers() == material.certificate.public_key().public_numbers()  # type: ignore[union-attr]
    bundle = pkcs12.load_pkcs12(render("pkcs12", material, b"p12 secret"), b"p12 secret")
    assert bundle.cert is not None and bundle.cert.certificate == material.certificate
    assert len(bundle.additional_certs) == 1


def test_a_key_that_does_not_match_is_refused(material: Material) -> None:
    other = pki.new_key()
    with pytest.raises(MaterialError, match="does not match"):
        check_key_matches(Material(material.certificate_pem, material.chain_pem, other))
    with pytest.raises(MaterialError, match="no key"):
        render("key", Material(material.certificate_pem, material.chain_pem))


def test_an_exported_key_is_decrypted_in_memory(material: Material) -> None:
    assert material.private_key is not None
    encrypted = material.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"one-time"),
    ).decode()
    opened = decrypt_exported_key(encrypted, b"one-time")
    assert (
        opened.public_key().public_numbers() == material.private_key.public_key().public_numbers()
    )  # type: ignore[union-attr]
    with pytest.raises(MaterialError, match="could not be decrypted"):
        decrypt_exported_key(encrypted, b"wrong")


def test_the_serial_reads_as_describe_certificate_shows_it(material: Material) -> None:
    assert material.serial == pki.acm_serial(material.certificate)
