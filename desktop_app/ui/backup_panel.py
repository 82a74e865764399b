"""The Backup box of the Settings page: "Back up…" and "Restore…" for admins.

Both run off the GUI thread (``JobRunner``) with a progress bar. A backup runs while the door
keeps working. A restore first checks the whole archive with the app still open (a wrong
passphrase or a damaged file changes nothing), then asks, then stops the cameras and doors and
closes the database (a restore is refused while any program holds it), restores, and ends the
app: it must be started again on the restored data (``on_restored``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.accounts import Action
from desktop_app.core.backup import BackupReport, RestoreReport
from desktop_app.core.backup.restore import Staged, check_schema
from desktop_app.core.backup.snapshot import passphrase_problem
from desktop_app.core.protection.password_kdf import MIN_PASSWORD_CHARS
from desktop_app.core.service import FaceGate

from .context import AppContext
from .jobs import JobRunner

log = logging.getLogger(__name__)
FILE_FILTER = "FaceGate backups (*.fgbak);;All files (*)"


class PassphraseDialog(QDialog):
    """Asks for the backup passphrase (twice when ``confirm``); ``passphrase`` once accepted."""

    def __init__(self, title: str, words: str, confirm: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self.setMinimumWidth(420)
        text = QLabel(words)
        text.setWordWrap(True)
        self.phrase = QLineEdit()
        self.phrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.again = QLineEdit()
        self.again.setEchoMode(QLineEdit.EchoMode.Password)
        self.error = QLabel("")
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Backup passphrase", self.phrase)
        if confirm:
            form.addRow("Again", self.again)
        self.confirm = confirm
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.check)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.passphrase = ""

    def check(self) -> None:
        value = self.phrase.text()
        weak = passphrase_problem(value) if self.confirm else None  # a new backup's: the password rules
        if len(value) < MIN_PASSWORD_CHARS:
            self.error.setText(f"Use at least {MIN_PASSWORD_CHARS} characters.")
        elif weak is not None:
            self.error.setText(weak)
        elif self.confirm and self.again.text() != value:
            self.error.setText("The two passphrases differ.")
        else:
            self.passphrase = value
            self.accept()


class BackupBox(QGroupBox):
    """Back up / Restore buttons with a progress bar and a status line (module docstring).
    ``on_restored`` runs after a successful restore (default: quit the app)."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Backup", parent)
        self.ctx = ctx
        self.backup_btn = QPushButton("Back up…")
        self.backup_btn.clicked.connect(self.back_up)
        self.restore_btn = QPushButton("Restore…")
        self.restore_btn.clicked.connect(self.restore)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel("An encrypted copy of the database and its data folder, made while the door runs.")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.backup_btn)
        row.addWidget(self.restore_btn)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        self.restore_jobs = JobRunner(parent=self)  # the app's own runner is shut down before a restore
        self.on_restored: Callable[[], None] = QApplication.quit
        self.last_report: BackupReport | RestoreReport | None = None

    # ------------------------------------------------------------------ helpers
    def _busy(self, busy: bool) -> None:
        self.backup_btn.setEnabled(not busy)
        self.restore_btn.setEnabled(not busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)

    def _show_progress(self, done: int, total: int, message: str) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))
        self.status.setText(message[:1].upper() + message[1:] + "…")

    def _choose(self, save: bool) -> Path | None:
        dialog = QFileDialog(self, "Save the backup as" if save else "Choose a backup to restore",
                             str(Path.home()), FILE_FILTER)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        if save:
            dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
            dialog.setDefaultSuffix("fgbak")
        else:
            dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        chosen = dialog.exec() == QDialog.DialogCode.Accepted and dialog.selectedFiles()
        path = Path(dialog.selectedFiles()[0]) if chosen else None
        dialog.deleteLater()
        return path

    def _ask_passphrase(self, title: str, words: str, confirm: bool) -> str | None:
        dialog = PassphraseDialog(title, words, confirm, self)
        ok = dialog.exec() == QDialog.DialogCode.Accepted
        value = dialog.passphrase
        dialog.deleteLater()
        return value if ok else None

    def _failed(self, what: str, message: str) -> None:
        self._busy(False)
        self.status.setText(f"{what} failed: {message}")
        QMessageBox.warning(self, what, message)

    # ------------------------------------------------------------------ backup
    def back_up(self) -> None:
        if not self.ctx.require(Action.MAINTAIN, "back up the data"):
            return
        out = self._choose(save=True)
        if out is None:
            return
        if out.exists():
            QMessageBox.warning(self, "Back up", f"{out} already exists; choose a new file name.")
            return
        phrase = self._ask_passphrase("Backup passphrase", "The backup is encrypted with this passphrase. Keep it "
                                      "apart from the file: without it nobody can restore the backup.", True)
        if phrase is None:
            return
        gate, actor = self.ctx.gate, self.ctx.actor
        self._busy(True)
        job = self.ctx.jobs.start(lambda progress, cancelled: gate.backup_to(
            out, phrase, actor=actor, progress=progress, cancelled=cancelled), "backup")
        job.signals.progress.connect(self._show_progress)
        job.signals.succeeded.connect(self._backed_up)
        job.signals.failed.connect(lambda msg, _e: self._failed("Back up", msg))

    def _backed_up(self, report: BackupReport) -> None:
        self._busy(False)
        self.last_report = report
        text = (f"Backup written to {report.path} ({report.size / 1e6:.1f} MB): {report.people} people, "
                f"{report.templates} templates, {report.events} events.")
        self.status.setText(text + "".join(f"\nWarning: {w}" for w in report.warnings))

    # ------------------------------------------------------------------ restore
    def restore(self) -> None:
        if not self.ctx.require(Action.MAINTAIN, "restore a backup"):
            return
        archive = self._choose(save=False)
        if archive is None:
            return
        try:
            header = FaceGate.read_backup_header(archive)
            check_schema(header)  # a newer FaceGate's backup: said before the passphrase is asked for
        except Exception as exc:  # any reason is said to the admin
            QMessageBox.warning(self, "Restore", str(exc))
            return
        phrase = self._ask_passphrase("Backup passphrase", f"The passphrase of the backup made {header.created_at}.",
                                      False)
        if phrase is None:
            return
        gate = self.ctx.gate
        self._busy(True)
        job = self.ctx.jobs.start(lambda progress, cancelled: gate.verify_backup(archive, phrase, progress),
                                  "verify backup")
        job.signals.progress.connect(self._show_progress)
        job.signals.succeeded.connect(lambda staged: self._confirm_restore(archive, phrase, staged))
        job.signals.failed.connect(lambda msg, _e: self._failed("Restore", msg + " Nothing was changed."
                                                               if "nothing" not in msg.lower() else msg))

    def _confirm_restore(self, archive: Path, phrase: str, staged: Staged) -> None:
        self._busy(False)
        m = staged.manifest
        answer = QMessageBox.question(
            self, "Restore",
            f"Replace the data in {self.ctx.gate.db_path} by the backup made {staged.header.created_at} "
            f"({m.get('people')} people, {m.get('events')} events)? Everything changed since is lost. FaceGate "
            "stops the cameras and doors, restores, then closes: start it again afterwards.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            self.status.setText("Nothing was restored.")
            return
        db, actor = self.ctx.gate.db_path, self.ctx.actor
        window = self.window()
        shutdown = getattr(window, "shutdown", None)
        if callable(shutdown):
            shutdown()  # cameras, doors and the app's jobs
        self.ctx.gate.close()
        self._busy(True)
        job = self.restore_jobs.start(lambda progress, cancelled: FaceGate.restore_backup(
            db, archive, phrase, actor=actor, progress=progress), "restore")
        job.signals.progress.connect(self._show_progress)
        job.signals.succeeded.connect(self._restored)
        job.signals.failed.connect(lambda msg, _e: self._failed(
            "Restore", msg + " FaceGate closes now; start it again."))
        job.signals.failed.connect(lambda _m, _e: self.on_restored())

    def _restored(self, report: RestoreReport) -> None:
        self._busy(False)
        self.last_report = report
        text = (f"Restored from {report.archive.name} (made {report.created_at}): {report.people} people, "
                f"{report.templates} templates, {report.events} events. FaceGate closes now; start it again.")
        if report.locked:
            text += (" The face data is locked on this computer: unlock it with an admin password of the backup "
                     "(facegate unlock).")
        self.status.setText(text)
        QMessageBox.information(self, "Restore", text)
        self.on_restored()
