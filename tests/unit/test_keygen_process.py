"""RSA keys from the key child process: fresh, of the size asked, one key of lookahead."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from openacm.services.pki.keygen import RsaKeyProcess


def test_keys_are_fresh_and_of_the_size_asked() -> None:
    process = RsaKeyProcess()
    try:
        keys = [process.generate(2048) for _ in range(3)]
        assert all(isinstance(key, rsa.RSAPrivateKey) for key in keys)
        assert {key.key_size for key in keys} == {2048}
        assert len({key.private_numbers().d for key in keys}) == 3
        # The next 2048-bit key is already asked for; another size still comes out right.
        assert process.generate(1024).key_size == 1024
        assert process.generate(2048).key_size == 2048
    finally:
        process.close()


def test_a_dead_child_is_replaced() -> None:
    process = RsaKeyProcess()
    try:
        process.generate(1024)
        child = process._child
        assert child is not None
        child.kill()
        child.wait()
        assert process.generate(1024).key_size == 1024
        assert process._child is not None and process._child is not child
    finally:
        process.close()
    assert process._child is None
