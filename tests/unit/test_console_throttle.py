"""Sign-in rate limiting's window, with a clock the test moves."""

from __future__ import annotations

from pathlib import Path

from openacm.console.throttle import Limits, SignInThrottle


def test_failures_refuse_until_the_oldest_counted_one_leaves_the_window(tmp_path: Path) -> None:
    now = [1000.0]
    throttle = SignInThrottle(tmp_path, Limits(window=60, per_address=3, per_key=2), lambda: now[0])
    assert throttle.refused_until("192.0.2.1", "AKIAONE") is None
    throttle.failed("192.0.2.1", "AKIAONE")
    now[0] += 10
    throttle.failed("192.0.2.1", "AKIAONE")
    # The key's limit is reached: refused until its first failure is a window old.
    assert throttle.refused_until("192.0.2.1", "AKIAONE") == 1060.0
    assert throttle.refused_until("198.51.100.7", "AKIAONE") == 1060.0  # any address
    # Another key from the same address: one failure short of the address's limit.
    assert throttle.refused_until("192.0.2.1", "AKIATWO") is None
    throttle.failed("192.0.2.1", "AKIATWO")
    assert throttle.refused_until("192.0.2.1", "AKIATWO") == 1060.0  # the address's
    now[0] = 1060.5
    assert throttle.refused_until("192.0.2.1", "AKIAONE") is None
    assert throttle.refused_until("192.0.2.1", "AKIATWO") is None
    # A damaged count file counts nothing rather than failing sign-in.
    for path in tmp_path.iterdir():
        path.write_bytes(b"not json")
    assert throttle.refused_until("192.0.2.1", "AKIAONE") is None
