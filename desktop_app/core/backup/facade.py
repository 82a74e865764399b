"""Backup and restore in the ``FaceGate`` facade (a base class of ``FaceGate``).

``backup_to`` copies the open database (the door may keep running and writing) into an encrypted
archive and audits ``backup.create``; ``restore_backup`` (a static method: the database must not be
open, not even by this program) replaces a database by an archive and audits ``backup.restore``
in the restored one. Who may call them is the caller's check (``cli_auth.RULES``: admins; the
app's Settings page: admins)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.backup.archive import BackupHeader
from desktop_app.core.backup.records import BackupReport, RestoreReport
from desktop_app.core.backup.restore import Staged, read_backup_header, restore_backup, verify_backup
from desktop_app.core.backup.snapshot import create_backup
from desktop_app.core.errors import FaceGateError, StorageError
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.protection.password_kdf import KdfParams

if TYPE_CHECKING:
    from desktop_app.core.storage.store import Store

log = logging.getLogger(__name__)


class BackupFacade:
    """Backup methods of ``FaceGate`` (see the module docstring)."""

    store: Store
    db_path: Path
    read_only: bool
    _lock: threading.RLock

    def backup_to(self, out: Path, passphrase: str, actor: str = "admin", *, progress: ProgressFn | None = None,
                  cancelled: CancelFn | None = None, kdf: KdfParams | None = None) -> BackupReport:
        """Write an encrypted backup of this database and of what else in its data folder matters
        (pending spooled events, registered model files) to the new file ``out``; audited
        (``backup.create``: who, the file's name and sha256). ``passphrase`` (the accounts' password rules)
        derives the archive key with argon2id; the face data inside stays encrypted by the data key.
        BackupError / InputError say what is wrong; nothing is left at ``out`` then."""
        report = create_backup(self.db_path, Path(out), passphrase, progress=progress, cancelled=cancelled, kdf=kdf,
                               guard=lambda: self._lock)
        if not self.read_only:
            try:
                self.store.audit(actor, "backup.create", {
                    "file": str(report.path), "sha256": report.sha256, "bytes": report.size,
                    "created_at": report.created_at, "people": report.people, "templates": report.templates,
                    "events": report.events, "schema_version": report.schema_version})
            except StorageError as exc:  # the backup is made; say the audit row is missing
                log.warning("The backup %s was made but could not be audited: %s", report.path, exc)
        return report

    @staticmethod
    def read_backup_header(archive: Path) -> BackupHeader:
        """What ``archive`` says about itself (no passphrase needed): when it was made, from which
        database, with which schema."""
        return read_backup_header(Path(archive))

    def verify_backup(self, archive: Path, passphrase: str, progress: ProgressFn | None = None) -> Staged:
        """Check that ``passphrase`` opens ``archive`` and that all of it is intact (nothing is
        restored; the app asks this before it closes its database to restore)."""
        return verify_backup(Path(archive), passphrase, self.db_path.parent, progress)

    @staticmethod
    def restore_backup(db_path: Path, archive: Path, passphrase: str, actor: str = "admin", *,
                       progress: ProgressFn | None = None, keep_previous: bool = False) -> RestoreReport:
        """Replace the database ``db_path`` (and its spool, gallery and audit head) by the backup
        ``archive`` after verifying all of it; refused while a door or the app has the database
        open. See ``desktop_app.core.backup.restore``. Then the restored database is opened once,
        which re-applies every erasure of the erasure ledger whose person it holds
        (``ErasureLedgerFacade``; ``erasures_reapplied`` in the report); should that open fail,
        the next one does it."""
        report = restore_backup(Path(db_path), Path(archive), passphrase, actor, progress=progress,
                                keep_previous=keep_previous)
        from desktop_app.core.service import FaceGate

        try:
            with FaceGate(Path(db_path), allow_locked=True) as gate:
                done = gate.erasures_reapplied_at_start
                problem = gate.erasure_ledger_problem
        except (FaceGateError, OSError) as exc:
            log.warning("The restored database %s could not be opened to re-apply the erasures (%s); they are "
                        "re-applied at its next open.", db_path, exc)
            return report
        if problem is not None:
            log.warning("%s", problem)
        return dataclasses.replace(report, erasures_reapplied=done)
