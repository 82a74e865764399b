"""``run_doctor``: check one FaceGate database and its data folder, and optionally repair them.

It works from the store and the model files alone, so it runs when ``FaceGate`` itself cannot
open (a damaged template, setting or model file).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from desktop_app.core.config import AppConfig
from desktop_app.core.doctor.checks import (
    CONFIG_KEY,
    check_calibrations,
    check_integrity,
    check_model,
    check_other_templates,
    check_samples,
    check_settings,
    check_strangers,
)
from desktop_app.core.doctor.context import DoctorContext
from desktop_app.core.doctor.files import check_stale_files
from desktop_app.core.doctor.protection import check_audit_chain, check_encryption, check_file_modes
from desktop_app.core.doctor.repairs import apply_repairs
from desktop_app.core.doctor.report import Check, DoctorReport, Finding, Severity
from desktop_app.core.errors import FaceGateError, StorageError
from desktop_app.core.progress import ProgressFn
from desktop_app.core.storage.store import Store

log = logging.getLogger(__name__)

CHECKS: tuple[tuple[Check, Callable[[DoctorContext], list[Finding]]], ...] = (
    (Check.INTEGRITY, check_integrity),
    (Check.SETTINGS, check_settings),
    (Check.CALIBRATIONS, check_calibrations),
    (Check.MODEL, check_model),
    (Check.TEMPLATES, check_samples),
    (Check.TEMPLATES, check_other_templates),
    (Check.STRANGERS, check_strangers),
    (Check.STALE_FILES, check_stale_files),
    (Check.FILE_MODES, check_file_modes),
    (Check.AUDIT, check_audit_chain),
    (Check.ENCRYPTION, check_encryption),
)

#: the checks that read the face data (decrypted): skipped while it is locked
FACE_DATA_CHECKS: frozenset[Callable[[DoctorContext], list[Finding]]] = frozenset(
    {check_samples, check_other_templates, check_strangers})


def _config(store: Store) -> AppConfig:
    """The stored settings, else the defaults (as FaceGate would use them; the settings check reports)."""
    try:
        raw = store.get_setting(CONFIG_KEY)  # its secrets decrypted (storage.sealed_settings)
        return AppConfig() if raw is None else AppConfig.model_validate(raw)
    except (ValueError, StorageError):
        return AppConfig()


def _run_checks(store: Store, device: str | None, progress: ProgressFn | None,
                reuse: DoctorContext | None = None) -> DoctorContext:
    """Run every check; ``reuse``: an earlier pass whose loaded embedder may serve again."""
    ctx = DoctorContext(store=store, data_dir=store.path.parent, device=device, progress=progress,
                        config=_config(store))
    if reuse is not None:
        ctx.reuse_embedder(reuse)
    findings: list[Finding] = []
    for check, fn in CHECKS:
        if store.data_locked and fn in FACE_DATA_CHECKS:
            continue  # the face data cannot be decrypted here: the encryption check says how to unlock
        try:
            findings += fn(ctx)
        except (FaceGateError, sqlite3.Error, OSError, ValueError) as exc:
            findings.append(Finding(check, Severity.ERROR, "check", f"could not run: {exc}"))
    ctx.findings = findings
    return ctx


def _empty_file(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size == 0 and not (wal.is_file() and wal.stat().st_size > 0)


def run_doctor(db_path: Path, repair: bool = False, progress: ProgressFn | None = None, *,
               device: str | None = None) -> DoctorReport:
    """Check the database ``db_path`` and its data folder; with ``repair``, fix what can be fixed
    and check again. Never raises for what it finds: every problem is a ``Finding``.

    device: ONNX Runtime device for re-embedding ("auto" | "cuda" | "cpu"; None: the stored
    setting); progress(done, total, message) reports the crop re-embedding.
    """
    path = Path(db_path)
    if not path.is_file():
        why = "is a folder" if path.is_dir() else "does not exist"
        return DoctorReport(path, (Finding(Check.FILE, Severity.ERROR, str(path), f"the database file {why}"),),
                            repair_requested=repair)
    repairs: list[str] = []
    before: tuple[Finding, ...] = ()
    if _empty_file(path):
        empty = Finding(Check.FILE, Severity.WARNING, str(path),
                        "the database file is empty (0 bytes): it holds no people or events; --repair starts "
                        "a new database in it (restore it from a backup if it should hold data)", True)
        if not repair:
            return DoctorReport(path, (empty,))
        before = (empty,)
        repairs.append("started a new, empty database in the empty file")
    try:
        store = Store(path, quick_check_s=0.0)
    except FaceGateError as exc:
        return DoctorReport(path, (*before, Finding(Check.FILE, Severity.ERROR, str(path), str(exc))),
                            tuple(repairs), repair_requested=repair)
    with store:
        ctx = _run_checks(store, device, progress)
        findings = (*before, *ctx.findings)
        if not repair:
            return DoctorReport(path, findings)
        if any(f.repairable and f.problem for f in ctx.findings):
            try:
                repairs += apply_repairs(ctx)
            except (FaceGateError, sqlite3.Error, OSError, ValueError) as exc:
                repairs.append(f"the repair failed and was undone: {exc}")
        after = _run_checks(store, device, progress, reuse=ctx)
        return DoctorReport(path, findings, tuple(repairs), tuple(after.findings), repair_requested=True)
