"""Stale files in FaceGate's data folder: temporary files left by a crash, gallery indexes of
unknown models or out of date with the database.

Only FaceGate's own places are looked at: the ``models`` and ``gallery`` folders beside the
database, and files beside it whose name starts with the database's file name (the event spool).
The data folder may be a user's folder with other programs' files in it.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Final

import numpy as np

from desktop_app.core.doctor.context import DoctorContext
from desktop_app.core.doctor.report import Check, Finding, Severity
from desktop_app.core.errors import GalleryError
from desktop_app.core.matching.gallery import SIDECAR_SUFFIX, HnswGallery
from desktop_app.core.protection.errors import DataDamagedError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.storage import codecs

#: "<name>.tmp" or "<name>.tmp-<pid>[-<more>]" (atomic writes of models, galleries, the spool).
_TMP: Final = re.compile(r"\.tmp(?:-(\d+)(?:-[\w.]*)?)?$")
#: A temporary file of a live process is in use, unless it is older than this (then the pid was reused).
TMP_IN_USE_S: Final[float] = 3600.0
#: A temporary file without a pid is in use for this long after its last write.
TMP_NO_PID_S: Final[float] = 600.0


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (unknown on Windows: True, so age decides)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tmp_stale(path: Path, now: float) -> str | None:
    """Why a temporary file is stale, or None when it may be in use."""
    m = _TMP.search(path.name)
    if m is None:
        return None
    age = now - path.stat().st_mtime
    if m.group(1) is not None:
        pid = int(m.group(1))
        if pid != os.getpid() and not pid_alive(pid):
            return f"temporary file of process {pid}, which is gone"
        if age > TMP_IN_USE_S:
            return f"temporary file last written {age / 3600:.1f} h ago"
        return None
    if age > TMP_NO_PID_S:
        return f"temporary file last written {age / 60:.0f} min ago"
    return None


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete the stale temporary files directly in ``folder`` (those ``--repair`` would delete:
    of dead processes, or long untouched); returns the files deleted. Never raises."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = [p for p in folder.iterdir() if _TMP.search(p.name) and p.is_file()]
    except OSError:
        return removed
    for path in entries:
        try:
            if _tmp_stale(path, now) is not None:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed


def _candidates(ctx: DoctorContext) -> list[Path]:
    db_name = ctx.store.path.name
    out = [p for p in ctx.data_dir.glob(f"{db_name}*") if p.is_file()]
    for folder in (ctx.data_dir / "models", ctx.data_dir / "gallery"):
        if folder.is_dir():
            out += [p for p in folder.iterdir() if p.is_file()]
    return sorted(out)


def _gallery_problem(ctx: DoctorContext, path: Path, models: list[str]) -> str | None:
    """Why a saved gallery index is stale, or None when it matches the database."""
    owners = [m for m in models if m.startswith(path.stem)]
    if not owners:
        return "gallery index of a model that is not registered"
    if ctx.store.data_locked:
        return None  # it cannot be decrypted here to compare: the encryption check reports why
    try:
        saved = HnswGallery.load(path, model_sha256=owners[0], sealer=ctx.store.gallery_sealer())
    except GalleryError as exc:
        return f"unusable gallery index ({exc})"
    dims = ctx.store.db.execute("SELECT embedding_dim FROM models WHERE sha256 = ?", (owners[0],)).fetchone()
    rows = ctx.store.db.execute("SELECT sample_id, dim, vector FROM templates WHERE model_sha256 = ?",
                                (owners[0],)).fetchall()
    ids: list[int] = []
    for sid, dim, blob in rows:
        try:
            plain = ctx.store.decrypt_value(SealedField.TEMPLATE_VECTOR, f"{sid}:{owners[0]}", bytes(blob), "it")
        except DataDamagedError:
            continue
        if codecs.vector_problem(plain, int(dim), int(dims[0]), unit=True) is None:
            ids.append(int(sid))
    if not np.array_equal(saved.template_ids(), np.sort(np.array(ids, dtype=np.int64))):
        return "gallery index out of date with the database (FaceGate would rebuild it)"
    return None


def check_stale_files(ctx: DoctorContext) -> list[Finding]:
    """Temporary files of dead processes or long untouched, and gallery indexes (``*.hnsw`` with
    their sidecar) of unregistered models or out of date. Repair: they are deleted."""
    now = time.time()
    models = [str(r[0]) for r in ctx.store.db.execute("SELECT sha256 FROM models").fetchall()]
    out: list[Finding] = []
    for path in _candidates(ctx):
        try:
            if _TMP.search(path.name):
                why = _tmp_stale(path, now)
            elif path.parent.name == "gallery" and path.suffix == ".hnsw":
                why = _gallery_problem(ctx, path, models)
            elif path.parent.name == "gallery" and path.name.endswith(".hnsw" + SIDECAR_SUFFIX):
                index = path.with_name(path.name[: -len(SIDECAR_SUFFIX)])
                why = None if index.is_file() else "gallery sidecar without its index"
            else:
                why = None
        except OSError:
            continue  # vanished meanwhile
        if why is None:
            continue
        out.append(Finding(Check.STALE_FILES, Severity.WARNING, str(path), f"{why}; --repair deletes it", True))
        ctx.plan.delete_files.add(path)
        if path.suffix == ".hnsw":
            ctx.plan.delete_files.add(path.with_name(path.name + SIDECAR_SUFFIX))
    if not out:
        out.append(Finding(Check.STALE_FILES, Severity.INFO, str(ctx.data_dir), "no stale files"))
    return out
