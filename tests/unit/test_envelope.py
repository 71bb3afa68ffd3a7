"""Envelope encryption: what is sealed opens only with the same master key and context."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from openacm.adapters.envelope import EnvelopeCipher, MasterKey, MasterKeyError


def test_seal_and_open_round_trip() -> None:
    cipher = EnvelopeCipher(MasterKey(os.urandom(32)))
    sealed = cipher.seal(b"private key bytes", "arn:aws:acm:us-east-1:1:certificate/a")
    assert b"private key bytes" not in sealed
    assert cipher.open(sealed, "arn:aws:acm:us-east-1:1:certificate/a") == b"private key bytes"


def test_each_seal_uses_a_fresh_data_key_and_nonce() -> None:
    cipher = EnvelopeCipher(MasterKey(os.urandom(32)))
    assert cipher.seal(b"same", "ctx") != cipher.seal(b"same", "ctx")


def test_a_blob_moved_to_another_row_does_not_open() -> None:
    cipher = EnvelopeCipher(MasterKey(os.urandom(32)))
    sealed = cipher.seal(b"secret", "arn-one")
    with pytest.raises(MasterKeyError, match="does not open"):
        cipher.open(sealed, "arn-two")


def test_another_master_key_is_recognised() -> None:
    sealed = EnvelopeCipher(MasterKey(os.urandom(32))).seal(b"secret", "ctx")
    with pytest.raises(MasterKeyError, match="another master key"):
        EnvelopeCipher(MasterKey(os.urandom(32))).open(sealed, "ctx")


def test_tampered_ciphertext_is_refused() -> None:
    cipher = EnvelopeCipher(MasterKey(os.urandom(32)))
    sealed = bytearray(cipher.seal(b"secret", "ctx"))
    sealed[-1] ^= 1
    with pytest.raises(MasterKeyError):
        cipher.open(bytes(sealed), "ctx")


def test_key_file_is_created_owner_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    first = MasterKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = MasterKey.load_or_create(path)
    sealed = EnvelopeCipher(first).seal(b"x", "ctx")
    assert EnvelopeCipher(second).open(sealed, "ctx") == b"x"


def test_world_readable_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    MasterKey.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(MasterKeyError, match="readable by others"):
        MasterKey.load_or_create(path)


def test_environment_key_wins_over_the_file(tmp_path: Path) -> None:
    material = os.urandom(32)
    from_env = MasterKey.load_or_create(
        tmp_path / "absent.key", base64.b64encode(material).decode()
    )
    assert not (tmp_path / "absent.key").exists()
    assert from_env.key_id == MasterKey(material).key_id
    assert MasterKey.from_text(material.hex()).key_id == from_env.key_id


@pytest.mark.parametrize("text", ["not base64 at all!", base64.b64encode(b"short").decode()])
def test_malformed_keys_are_refused(text: str) -> None:
    with pytest.raises(MasterKeyError):
        MasterKey.from_text(text)
