"""Dialogs of the named accounts: log in, create the first admin (and see the recovery code once),
and choose a new password."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QWidget

from desktop_app.core.accounts import NotAuthorisedError, Role
from desktop_app.core.accounts.policy import MIN_PASSWORD, password_problem

from .secret_dialog import SecretDialog, secret_edit
from .session import Session


class LoginDialog(SecretDialog):
    """Account name and password; accepts only once the session logged in (wrong passwords are
    refused, counted and audited by the core; a lock says how long to wait)."""

    def __init__(self, session: Session, action: str, parent: QWidget | None = None, name: str = "") -> None:
        super().__init__("Log in", f"Log in to {action}.", "Log in", self.try_login, parent=parent)
        self.session = session
        self.name = QLineEdit(name)
        self.name.setPlaceholderText("account name")
        self.password = secret_edit()
        self.form.addRow("Account", self.name)
        self.form.addRow("Password", self.password)
        (self.password if name else self.name).setFocus()

    def try_login(self) -> bool:
        try:
            self.session.login(self.name.text().strip(), self.password.text())
        except NotAuthorisedError as exc:
            self.password.clear()
            self.error.setText(str(exc))
            return False
        self.accept()
        return True


class NewPasswordForm:
    """The new-password rows of a form (new, repeat), checked against the policy."""

    def __init__(self, form: QFormLayout) -> None:
        self.new = secret_edit()
        self.confirm = secret_edit()
        form.addRow("New password", self.new)
        form.addRow("Repeat it", self.confirm)

    def problem(self, account: str) -> str | None:
        new = self.new.text()
        return password_problem(new, account) or (None if new == self.confirm.text() else "The two passwords differ.")


class FirstAdminDialog(SecretDialog):
    """Create the first account, an admin, then show its recovery code once (``code``)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(
            "Create the administrator account",
            "Welcome to FaceGate. Create the administrator account: it protects enrolment, people, settings and "
            "exports, and adds the other accounts (operators, viewers). The door view works without it."
            + (" The admin PIN is retired once the account exists." if session.has_pin else "")
            + f"\nThe password has at least {MIN_PASSWORD} characters and must not be easy to guess.",
            "Create account", self.try_create, width=460, parent=parent)
        self.session = session
        self.code: str | None = None
        self.name = QLineEdit("admin")
        self.form.addRow("Account name", self.name)
        self.passwords = NewPasswordForm(self.form)
        self.code_label = QLabel("")
        self.code_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.code_label.setWordWrap(True)
        self.code_label.hide()
        self.insert_widget(self.code_label)

    def try_create(self) -> bool:
        if self.code is not None:  # the code was shown: "I wrote it down"
            self.accept()
            return True
        name = self.name.text().strip()
        password = self.passwords.new.text()
        problem = self.passwords.problem(name)
        if problem is None:
            try:
                self.code = self.session.gate.setup_first_admin(name, password)
                self.session.login(name, password)
            except (ValueError, NotAuthorisedError) as exc:
                problem = str(exc)
        if problem:
            self.error.setText(problem)
            return False
        self.error.setText("")
        for w in (self.name, self.passwords.new, self.passwords.confirm):
            w.setEnabled(False)
        self.code_label.setText(
            f"<b>Recovery code: {self.code}</b><br>Write it down now and keep it offline (it is shown only once). "
            "If the admin password is lost, or the accounts are altered, it sets a new admin password: "
            "<tt>facegate account recover --db DB</tt>.")
        self.code_label.show()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("I have written it down")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(False)
        return False


class PasswordDialog(SecretDialog):
    """A new password for ``account``: one's own (the current password is asked) or, for an admin,
    another account's reset; also a new account (``roles``: a role is chosen)."""

    def __init__(self, title: str, account: str = "", *, ask_current: bool = False, ask_name: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(title, f"The password has at least {MIN_PASSWORD} characters and must not be easy to guess.",
                         "Save", self.check, width=420, parent=parent)
        self.account = account
        self.name = QLineEdit(account)
        self.role = QComboBox()
        for role in Role:
            self.role.addItem(role.value, role)
        self.role.setCurrentIndex(self.role.findData(Role.VIEWER))
        if ask_name:
            self.form.addRow("Account name", self.name)
            self.form.addRow("Role", self.role)
        self.current = secret_edit()
        if ask_current:
            self.form.addRow("Current password", self.current)
        self.passwords = NewPasswordForm(self.form)

    def check(self) -> bool:
        """Accept when the new password passes the policy (the caller saves it)."""
        problem = self.passwords.problem(self.name.text().strip() or self.account)
        if problem:
            self.error.setText(problem)
            return False
        self.accept()
        return True
