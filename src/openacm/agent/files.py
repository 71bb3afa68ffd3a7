"""Atomic file writes with the final mode and owner from the first byte.

A reader (a web server reloading, a backup, another user) sees either the old file or the
new one, never a partial one, and never a moment where a key is readable with looser rights:
the temporary file lives in the target's directory (so the rename is atomic and no copy of a
key lands anywhere else), is created with O_EXCL and the final mode, gets its owner and group
before any byte is written, is fsynced, renamed over the target, and the directory is fsynced
so the rename survives a crash.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
from pathlib import Path

from openacm.agent.config import FileSpec

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW


class FileError(OSError):
    """A file could not be written; the message names it."""


def resolve_uid(owner: str | None) -> int:
    """-1 (leave as is) when no owner is configured; a name or a numeric id otherwise."""
    if owner is None:
        return -1
    if owner.isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise FileError(f"no user named {owner!r}") from None


def resolve_gid(group: str | None) -> int:
    if group is None:
        return -1
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise FileError(f"no group named {group!r}") from None


def write_atomically(path: Path, data: bytes, spec: FileSpec) -> None:
    """Replace `path` with `data`, mode `spec.mode`, owner/group `spec.owner`/`spec.group`."""
    uid, gid = resolve_uid(spec.owner), resolve_gid(spec.group)
    directory = path.parent
    if not directory.is_dir():
        raise FileError(f"{path}: directory {directory} does not exist")
    temporary = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(temporary, _OPEN_FLAGS, spec.mode)
    except OSError as exc:
        raise FileError(f"{temporary}: {exc.strerror}") from None
    try:
        try:
            # The umask may have narrowed the mode given to open(); fchmod sets it exactly.
            os.fchmod(fd, spec.mode)
            if uid != -1 or gid != -1:
                os.fchown(fd, uid, gid)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise FileError(f"{path}: {exc.strerror or exc}") from None
    _fsync_directory(directory)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
