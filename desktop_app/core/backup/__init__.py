"""Backup and restore of the whole data folder: encrypted archives (``archive``), consistent
snapshots while the door runs (``snapshot``), verified atomic restores (``restore``), and the
``FaceGate`` mixin (``facade``)."""

from desktop_app.core.backup.archive import BackupDamagedError, BackupError, BackupHeader, WrongPassphraseError
from desktop_app.core.backup.records import BackupReport, RestoreReport
from desktop_app.core.backup.restore import DatabaseInUseError, database_in_use, read_backup_header

__all__ = ["BackupDamagedError", "BackupError", "BackupHeader", "BackupReport", "DatabaseInUseError",
           "RestoreReport", "WrongPassphraseError", "database_in_use", "read_backup_header"]
