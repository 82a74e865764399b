"""Disk space kept aside so that an erasure can run on a full disk.

Erasing is the one write that frees space, yet SQLite needs some to do it: on a full disk it cannot
even open the database (the shared-memory file of the write-ahead log cannot be allocated: "disk
I/O error"), and deleting writes the zeroed pages to the log before the checkpoint gives the space
back (with 64 KB free, erasing three shots failed with "database or disk is full"; 256 KB was
enough). So the store keeps a reserve file beside the database (``<db>.reserve``, owner-only,
``RESERVE_BYTES`` of allocated blocks) made when it opens and space allows; an erasure that failed
for lack of space deletes it and tries again, and it is made again once there is room.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

#: Size of the reserve file: erasing a person with a few hundred event snapshots writes a few MB of
#: zeroed pages to the write-ahead log before the checkpoint truncates it.
RESERVE_BYTES: Final[int] = 4 << 20
#: The reserve is only made when at least this much would stay free after it.
_HEADROOM_BYTES: Final[int] = 4 * RESERVE_BYTES
RESERVE_SUFFIX: Final[str] = ".reserve"


def reserve_path(db_path: Path) -> Path:
    """``<db>.reserve`` beside the database."""
    return db_path.with_name(db_path.name + RESERVE_SUFFIX)


def free_bytes(folder: Path) -> int | None:
    """Bytes free for this user in ``folder``'s file system; None when it cannot be told."""
    try:
        return int(shutil.disk_usage(folder).free)
    except OSError:
        return None


def short_of_space(db_path: Path) -> bool:
    """True when less than ``RESERVE_BYTES`` are free beside the database (an erase may fail for it)."""
    free = free_bytes(db_path.parent)
    return free is not None and free < RESERVE_BYTES


def ensure_reserve(db_path: Path) -> bool:
    """Make the reserve file when it is missing and the disk has room; True when it is in place.
    Never raises (a read-only folder or a full disk just leave it missing)."""
    path = reserve_path(db_path)
    try:
        if path.is_file() and path.stat().st_size >= RESERVE_BYTES:
            return True
    except OSError:
        return False
    free = free_bytes(db_path.parent)
    if free is None or free < RESERVE_BYTES + _HEADROOM_BYTES:
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
    except OSError:
        return False
    try:
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)  # real blocks, not a sparse file
        except (AttributeError, OSError):
            block = b"\0" * (1 << 20)
            os.lseek(fd, 0, os.SEEK_SET)
            for _ in range(RESERVE_BYTES // len(block)):
                os.write(fd, block)
        os.fsync(fd)
    except OSError as exc:
        log.info("Could not make the space reserve %s: %s", path, exc)
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        return False
    os.close(fd)
    return True


def release_reserve(db_path: Path) -> bool:
    """Delete the reserve file to give its space to an erasure; True when there was one."""
    try:
        reserve_path(db_path).unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("Could not free the space reserve beside %s: %s", db_path, exc)
        return False
    log.warning("The disk beside %s is full: the space reserve was freed for an erasure.", db_path)
    return True
