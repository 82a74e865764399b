"""Dialogs of the admin lock: enter the PIN, and set (first run) or change it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QLineEdit, QWidget

from desktop_app.core.accounts.policy import MIN_NEW_PIN, pin_problem

from .pin import MAX_LENGTH, AdminLock
from .secret_dialog import SecretDialog, secret_edit


def _pin_edit() -> QLineEdit:
    edit = secret_edit(MAX_LENGTH)
    edit.setValidator(QRegularExpressionValidator(r"\d*"))
    edit.setInputMethodHints(Qt.InputMethodHint.ImhDigitsOnly)
    font = edit.font()
    font.setPixelSize(22)
    edit.setFont(font)
    return edit


class PinDialog(SecretDialog):
    """Asks for the admin PIN; accepts only when it is right (wrong ones are refused and counted)."""

    def __init__(self, lock: AdminLock, action: str, parent: QWidget | None = None) -> None:
        super().__init__("Administrator PIN", f"Enter the administrator PIN to {action}.", "Unlock", self.try_unlock,
                         width=380, parent=parent)
        self.lock = lock
        self.pin = _pin_edit()
        self.form.addRow(self.pin)
        self.attempts = 0

    def try_unlock(self) -> bool:
        wait = self.lock.retry_in()
        if wait > 0:
            self.error.setText(f"Too many wrong PINs: wait {wait:.0f} s.")
            return False
        self.attempts += 1
        if self.lock.unlock(self.pin.text()):
            self.accept()
            return True
        self.pin.clear()
        self.error.setText("Wrong PIN. Try again.")
        return False


class SetPinDialog(SecretDialog):
    """Set the admin PIN on first run, or change it (the current PIN is asked then)."""

    def __init__(self, lock: AdminLock, parent: QWidget | None = None, first_run: bool | None = None) -> None:
        first = not lock.has_pin if first_run is None else first_run
        super().__init__(
            "Set the administrator PIN" if first else "Change the administrator PIN",
            ("Welcome to FaceGate. Choose an administrator PIN: it protects enrolment, people, settings "
             "and exports. The door view works without it." if first else
             "Enter the current PIN, then the new one twice.")
            + f"\nThe PIN has {MIN_NEW_PIN} to {MAX_LENGTH} digits, without a pattern (not 123456 or 111111).",
            "Save PIN", self.try_set, width=420, parent=parent)
        self.lock = lock
        self.current = _pin_edit()
        self.new = _pin_edit()
        self.confirm = _pin_edit()
        if not first:
            self.form.addRow("Current PIN", self.current)
        self.form.addRow("New PIN", self.new)
        self.form.addRow("Repeat it", self.confirm)
        self.first = first

    def try_set(self) -> bool:
        new, again = self.new.text(), self.confirm.text()
        problem = pin_problem(new)
        if problem is None and new != again:
            problem = "The two new PINs differ."
        if problem is None:
            try:
                self.lock.set_pin(new, None if self.first else self.current.text())
            except ValueError as exc:
                problem = str(exc)
        if problem:
            self.error.setText(problem)
            return False
        self.accept()
        return True
