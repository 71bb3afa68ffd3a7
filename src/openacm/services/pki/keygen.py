"""RSA key pairs generated in a child process of the server process that needs them.

Generating an RSA-2048 key takes tens of milliseconds, all of it inside one call that holds
the GIL. In the server process that call stalls every other thread: requests wait, and a
request thread that holds SQLite's write lock while waiting for the GIL stalls every
writer of every process; the Python code around it also runs measurably slower for sharing
the core's caches with it. In a child the generation runs beside the server's threads, and
the thread that asked waits on a pipe, without the GIL.

The child is started on first use and only ever talks to its parent: one line with the key
size in, the key out as length-prefixed PKCS#8 DER. It exits when its input closes, which
also happens when the parent dies (even by kill -9), so it never outlives the server.
`python -m openacm.services.pki.keygen` is the child.

Each time a key is handed out, the next one of that size is asked for at once (one key of
lookahead): the child then generates while the parent signs, stores and answers requests,
instead of idling until the next certificate needs a key. The key waiting in the pipe lives
in memory only, like any key between generation and use, and is never written anywhere.
"""

from __future__ import annotations

import collections
import logging
import subprocess
import sys
import threading
from typing import IO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

log = logging.getLogger("openacm.keygen")
_LENGTH_BYTES = 4
_MAX_KEY_BITS = 16384


class RsaKeyProcess:
    """A child process that generates RSA keys, one request at a time (thread-safe), one key
    ahead of demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._failed = False
        self._asked: collections.deque[int] = collections.deque()  # sizes in the pipe, in order

    def generate(self, bits: int) -> rsa.RSAPrivateKey:
        """A fresh RSA key of `bits` bits, from the child; generated here if the child
        cannot be used (and from then on in this process)."""
        with self._lock:
            if not self._failed:
                try:
                    der = self._ask(bits)
                except (OSError, EOFError, ValueError) as exc:
                    log.warning("RSA key process failed; keys are generated in-process: %s", exc)
                    self._failed = True
                    self._stop()
                else:
                    return _rsa_key(der)
        return rsa.generate_private_key(65537, bits)

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _ask(self, bits: int) -> bytes:
        """The next key of `bits` from the child, asking for the one after it too."""
        child = self._running()
        assert child.stdin is not None and child.stdout is not None
        while True:
            if not self._asked:
                self._request(child, bits)
            size = self._asked.popleft()
            length = int.from_bytes(_read_exactly(child.stdout, _LENGTH_BYTES), "big")
            der = _read_exactly(child.stdout, length)
            if size == bits:
                self._request(child, bits)
                return der
            # A lookahead key of another size: not wanted now, dropped.

    def _request(self, child: subprocess.Popen[bytes], bits: int) -> None:
        assert child.stdin is not None
        child.stdin.write(b"%d\n" % bits)
        child.stdin.flush()
        self._asked.append(bits)

    def _running(self) -> subprocess.Popen[bytes]:
        if self._child is None or self._child.poll() is not None:
            self._asked.clear()
            self._child = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,  # the server's log: a crash in the child shows there
            )
        return self._child

    def _stop(self) -> None:
        child, self._child = self._child, None
        self._asked.clear()
        if child is None:
            return
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()  # the child sees its input end and exits
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _rsa_key(der: bytes) -> rsa.RSAPrivateKey:
    # Our own child made the key a moment ago with the same OpenSSL: OpenSSL's full RSA key
    # check (longer than generating the key on OpenSSL 4) would prove nothing.
    key = serialization.load_der_private_key(der, None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the key process answered with something else than an RSA key")
    return key


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) != size:
        raise EOFError("the key process stopped answering")
    return data


def main() -> None:
    """The child: a key for every size read from stdin, until stdin closes."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    for line in source:
        bits = int(line)
        if not 1024 <= bits <= _MAX_KEY_BITS:
            raise SystemExit(f"unexpected key size {bits}")
        der = rsa.generate_private_key(65537, bits).private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        sink.write(len(der).to_bytes(_LENGTH_BYTES, "big") + der)
        sink.flush()


if __name__ == "__main__":
    main()
