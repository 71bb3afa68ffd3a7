"""Throwaway SoftHSM2 tokens for tests.

SoftHSM2 reads its configuration (SOFTHSM2_CONF) and scans its token directory only when the
module is initialised, and python-pkcs11 initialises each module once per process. So
`create_token` re-initialises the module after making a token, which makes the new token
visible and also ends every open session in the process: create tokens in a fixture's setup,
before opening any `Pkcs11Token` that must outlive the fixture.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pkcs11

from openacm.adapters.ca.pkcs11 import Pkcs11Config

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",  # Debian, Ubuntu
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",  # Fedora
    "/usr/local/lib/softhsm/libsofthsm2.so",  # source builds
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",  # macOS
)
TEST_PIN = "1234"
TEST_SO_PIN = "12345678"


def softhsm_module() -> str | None:
    return next((path for path in MODULE_CANDIDATES if os.path.exists(path)), None)


def softhsm_unavailable() -> str | None:
    """Why SoftHSM2 tests cannot run here, or None when they can."""
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util is not installed"
    if softhsm_module() is None:
        return "libsofthsm2.so not found in " + ", ".join(MODULE_CANDIDATES)
    return None


def use_token_directory(directory: Path) -> Path:
    """Point SoftHSM2 at a fresh token directory under `directory`, for this process and its
    children; returns the configuration file written."""
    token_dir = directory / "tokens"
    token_dir.mkdir(parents=True, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return conf


def create_token(label: str, pin: str = TEST_PIN, so_pin: str = TEST_SO_PIN) -> Pkcs11Config:
    """Initialise a token labelled `label` in the current SOFTHSM2_CONF token directory (see
    the module docstring: this ends open PKCS#11 sessions)."""
    module = softhsm_module()
    if module is None or "SOFTHSM2_CONF" not in os.environ:
        raise RuntimeError("call use_token_directory() first, on a host with SoftHSM2")
    subprocess.run(
        [
            *("softhsm2-util", "--init-token", "--free", "--label", label),
            *("--pin", pin, "--so-pin", so_pin),
        ],
        check=True,
        capture_output=True,
    )
    pkcs11.lib(module).reinitialize()
    return Pkcs11Config(module_path=module, token_label=label, pin=pin)


def create_throwaway_token(directory: Path, label: str = "openacm-test") -> Pkcs11Config:
    """A fresh token in a fresh token directory under `directory`."""
    use_token_directory(directory)
    return create_token(label)
