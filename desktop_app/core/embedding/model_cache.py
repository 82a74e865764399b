"""Per-user cache of the default model's fp32 file, so that a new database does not convert again.

Converting the shipped int8 SFace file to fp32 costs about 0.5 s of CPU; every new database needs
the same bytes. The first conversion also stores them here, content-addressed:

- ``<cache>/<fp32 sha256>.onnx``: the converted file (0600, folder 0700, written atomically);
- ``<cache>/from-<shipped sha256>-v<CONVERTER_VERSION>.sha256``: which fp32 file the shipped file
  converts to.

A new database takes its own copy (a hard link when on the same file system, else a copy), so a
database folder stays self-contained (backups and moves need nothing outside it). The cached file
is used only when its sha256 is the recorded one and it parses as a whole ONNX model; anything
wrong with the cache (missing, damaged, unwritable, another file system) falls back to converting,
never fails the start. ``$FACEGATE_MODEL_CACHE`` names the folder (``off`` disables the cache);
default ``$XDG_CACHE_HOME/facegate/models`` (``~/.cache/facegate/models``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

from desktop_app.core.embedding.model_convert import check_onnx_file
from desktop_app.core.embedding.model_files import (
    TEMP_SUFFIX,
    copy_atomic,
    folder_lock,
    fsync_folder,
    remove_stale_temps,
    write_atomic,
)
from desktop_app.core.errors import ModelError
from desktop_app.core.file_modes import make_private_dirs

log = logging.getLogger(__name__)

#: Bump when the conversion (dequantize_blockwise) changes its output.
CONVERTER_VERSION = 1
_SHA = re.compile(r"[0-9a-f]{64}")


def cache_dir() -> Path | None:
    """The cache folder, or None when ``$FACEGATE_MODEL_CACHE=off``."""
    env = os.environ.get("FACEGATE_MODEL_CACHE")
    if env is not None and env.strip().lower() in {"off", "0", "none", ""}:
        return None
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facegate" / "models"


def _pointer(folder: Path, source_sha256: str) -> Path:
    return folder / f"from-{source_sha256}-v{CONVERTER_VERSION}.sha256"


def cached(source_sha256: str) -> tuple[Path, str] | None:
    """(file, sha256) of the verified cached conversion of the file with ``source_sha256``, or None."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        sha = _pointer(folder, source_sha256).read_text(encoding="ascii").strip()
        if not _SHA.fullmatch(sha):
            return None
        path = folder / f"{sha}.onnx"
        check_onnx_file(path, sha)
    except (OSError, ValueError, ModelError):
        return None
    return path, sha


def store(source_sha256: str, data: bytes) -> None:
    """Keep ``data`` (the conversion of the file with ``source_sha256``) in the cache; never raises."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        make_private_dirs(folder)
        with folder_lock(folder) as held:
            if not held:
                return
            remove_stale_temps(folder)
            sha = write_atomic(folder / f"{_sha256(data)}.onnx", data, what="the model cache")
            write_atomic(_pointer(folder, source_sha256), sha.encode("ascii") + b"\n", what="the model cache")
    except (OSError, ModelError) as exc:
        log.debug("The model cache %s cannot be written: %s", folder, exc)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def place(src: Path, sha256: str, dst: Path) -> str:
    """Put the verified cached file ``src`` at ``dst`` atomically: a hard link when possible, else a
    copy; returns the sha256 of ``dst`` (checked). ModelError when neither works (the caller then
    converts). Call with ``folder_lock(dst.parent)`` held."""
    make_private_dirs(dst.parent)
    fd, name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    tmp = Path(name)
    try:
        tmp.unlink()
        os.link(src, tmp)
        os.replace(tmp, dst)
        fsync_folder(dst.parent)
    except OSError:  # another file system, or links not supported: a copy
        with contextlib.suppress(OSError):
            tmp.unlink()
        copy_atomic(src, dst, what="the face recognition model")
    return check_onnx_file(dst, sha256)
