"""The frame shared by the small dialogs that ask for a secret (log in, first admin, new password,
admin PIN, set PIN, unlock the face data): a modal dialog with an intro line, a form, an error line
and OK / Cancel buttons, the OK button renamed and wired to the subclass's check."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


def secret_edit(max_length: int = 256) -> QLineEdit:
    """A line edit that shows dots (passwords, PINs)."""
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setMaxLength(max_length)
    return edit


def error_label() -> QLabel:
    """The dialog's error line (red through the theme's ``role=error``), empty at first."""
    label = QLabel("")
    label.setProperty("role", "error")
    label.setWordWrap(True)
    return label


class SecretDialog(QDialog):
    """A modal dialog: ``intro`` (a word-wrapped label, hidden when empty), :attr:`form`,
    :attr:`error`, and :attr:`buttons` whose OK (``ok_text``) calls ``on_ok`` (which accepts the
    dialog itself when the secret is right) and Cancel rejects. ``width``: minimum width in pixels."""

    def __init__(self, title: str, intro: str, ok_text: str, on_ok: Callable[[], object], *, width: int = 400,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self.setMinimumWidth(width)
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        self.intro.setVisible(bool(intro))
        self.form = QFormLayout()
        self.error = error_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button.setText(ok_text)
        self.buttons.accepted.connect(on_ok)
        self.buttons.rejected.connect(self.reject)
        self.layout_ = QVBoxLayout(self)
        self.layout_.addWidget(self.intro)
        self.layout_.addLayout(self.form)
        self.layout_.addWidget(self.error)
        self.layout_.addWidget(self.buttons)

    @property
    def ok_button(self) -> QPushButton:
        button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert button is not None
        return button

    def insert_widget(self, widget: QWidget) -> None:
        """Add ``widget`` above the buttons (below the error line)."""
        self.layout_.insertWidget(self.layout_.count() - 1, widget)
