"""Unlock the face data in the app (issue 12): when the data folder was moved to another computer
its machine key is missing, so the face data is locked (``FaceGate.data_locked``) and nobody is
recognised. :class:`UnlockBanner` says so above every page with an **Unlock…** button;
:class:`UnlockDialog` asks for an admin's password (or the recovery code) and calls
``FaceGate.unlock_with_password`` in a pool thread (argon2id takes about half a second and 64 MiB),
so the window stays responsive. Once unlocked, a machine key of this computer wraps the data key
(the door starts by itself from now on) and the gallery is loaded."""

from __future__ import annotations

from PySide6.QtCore import QThreadPool, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from desktop_app.core.accounts.hashing import normalise_code
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.service import FaceGate

from .jobs import Job
from .secret_dialog import SecretDialog, secret_edit

BANNER_TEXT = ("The face data is locked on this computer (it was encrypted on another one, or its machine key is "
               "missing): nobody is recognised until an administrator unlocks it.")


def _candidates(typed: str) -> list[str]:
    """What to try: the text as typed, then its recovery-code form when it looks like one."""
    code = normalise_code(typed)
    return [typed] + ([code] if code and code != typed else [])


class UnlockDialog(SecretDialog):
    """An admin's password (or the recovery code); Unlock runs the unlock off the GUI thread and
    accepts when it worked; a wrong password leaves the dialog open with the reason. ``actor``: the
    name written to the audit log."""

    def __init__(self, gate: FaceGate, actor: str = "app", parent: QWidget | None = None) -> None:
        super().__init__("Unlock the face data",
                         "The face data of this database is encrypted and its machine key is not on this computer. "
                         "Enter the password of an administrator account (or the recovery code) to unlock it once: "
                         "a machine key is then kept here, and the door starts by itself again.",
                         "Unlock", self.try_unlock, width=480, parent=parent)
        self.gate = gate
        self.actor = actor
        self.password = secret_edit()
        self.form.addRow("Admin password", self.password)
        self.job: Job | None = None

    def try_unlock(self) -> None:
        typed = self.password.text()
        if not typed:
            self.error.setText("Enter an administrator's password.")
            return
        gate, actor = self.gate, self.actor

        def work(progress: ProgressFn, cancelled: CancelFn) -> bool:
            last: Exception | None = None
            for secret in _candidates(typed):
                try:
                    gate.unlock_with_password(secret, actor=actor)
                    return True
                except ValueError as exc:  # InputError: this secret opens nothing
                    last = exc
            assert last is not None
            raise last

        self.ok_button.setEnabled(False)
        self.password.setEnabled(False)
        self.error.setText("Unlocking…")
        self.job = Job(work, "unlock face data")
        self.job.signals.succeeded.connect(lambda _r: self.accept())
        self.job.signals.failed.connect(self._failed)
        QThreadPool.globalInstance().start(self.job)

    def _failed(self, message: str, _exc: object) -> None:
        self.password.setEnabled(True)
        self.password.clear()
        self.password.setFocus()
        self.ok_button.setEnabled(True)
        self.error.setText(message)

    def reject(self) -> None:
        if self.job is not None and not self.job.done:
            return  # the unlock is running: wait for it
        super().reject()


class UnlockBanner(QFrame):
    """A warning strip shown while ``gate.data_locked``; its button opens :class:`UnlockDialog`.
    ``unlocked()`` once the data opened (the strip hides itself)."""

    unlocked = Signal()

    def __init__(self, gate: FaceGate, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gate = gate
        self.setObjectName("unlockBanner")
        self.setStyleSheet("#unlockBanner { background: #fff3e0; border-bottom: 2px solid #ef6c00; }"
                           "#unlockBanner QLabel { color: #4e342e; }")
        self.label = QLabel(BANNER_TEXT)
        self.label.setWordWrap(True)
        self.button = QPushButton("Unlock…")
        self.button.clicked.connect(self.open_dialog)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.button)
        self.dialog: UnlockDialog | None = None
        self.refresh()

    def refresh(self) -> None:
        """Show the strip while the face data is locked."""
        self.setVisible(self.gate.data_locked is not None)

    def open_dialog(self) -> bool:
        """Ask for the password (modal); True when the data was unlocked."""
        self.dialog = UnlockDialog(self.gate, parent=self.window())
        done = self.dialog.exec() == UnlockDialog.DialogCode.Accepted
        self.refresh()
        if done:
            self.unlocked.emit()
        return done
