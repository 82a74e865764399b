"""Accounts (admin): the named accounts and their roles; add, change the role, disable or enable,
reset a password, remove; change one's own password; issue a new recovery code. On a database
without accounts (the legacy PIN), it offers to create the first administrator account."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.accounts import Account, AccountsMode, NotAuthorisedError, Role
from desktop_app.core.accounts.roles import matrix

from .context import AppContext
from .login_dialog import FirstAdminDialog, PasswordDialog

COLUMNS = ("Account", "Role", "State", "Last login")
ROLE_HINT = ("Roles: viewer sees events, attendance and the doors; operator also sees people, identifies faces, "
             "opens doors and runs them; admin does everything (enrolment, erasure, exports, settings, models, "
             "accounts).")


def state_text(account: Account, wait_s: float) -> str:
    if account.disabled:
        return "disabled"
    if not account.has_password:
        return "needs a password reset"
    if wait_s >= 60:
        return f"locked ({wait_s / 60:.0f} min left)"
    return "waiting after wrong passwords" if wait_s > 0 else "enabled"


class AccountsPage(QWidget):
    """The accounts table and its buttons. ``session_changed`` after the first admin was created
    (the window then shows the account logged in)."""

    session_changed = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.accounts: list[Account] = []
        title = QLabel("Accounts")
        title.setProperty("role", "title")
        self.hint = QLabel(ROLE_HINT)
        self.hint.setProperty("role", "hint")
        self.hint.setWordWrap(True)
        self.hint.setToolTip("\n".join(f"{a.value}: {', '.join(r.value for r in roles)}" for a, roles in matrix()))
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

        self.first_btn = QPushButton("Create the administrator account…")
        self.first_btn.setProperty("primary", True)
        self.add_btn = QPushButton("Add an account…")
        self.add_btn.setProperty("primary", True)
        self.role_box = QComboBox()
        for role in Role:
            self.role_box.addItem(role.value, role)
        self.role_btn = QPushButton("Set role")
        self.disable_btn = QPushButton("Disable")
        self.reset_btn = QPushButton("Reset password…")
        self.remove_btn = QPushButton("Remove…")
        self.remove_btn.setProperty("danger", True)
        self.own_btn = QPushButton("Change my password…")
        self.code_btn = QPushButton("New recovery code…")
        row1 = QHBoxLayout()
        for w in (self.first_btn, self.add_btn, self.role_box, self.role_btn, self.disable_btn, self.reset_btn):
            row1.addWidget(w)
        row1.addStretch(1)
        row1.addWidget(self.remove_btn)
        row2 = QHBoxLayout()
        row2.addWidget(self.own_btn)
        row2.addWidget(self.code_btn)
        row2.addStretch(1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(title)
        lay.addWidget(self.hint)
        lay.addWidget(self.table, 1)
        lay.addLayout(row1)
        lay.addLayout(row2)
        lay.addWidget(self.status)

        self.first_btn.clicked.connect(lambda: self.create_first_admin())
        self.add_btn.clicked.connect(lambda: self.add_account())
        self.role_btn.clicked.connect(lambda: self.set_role())
        self.disable_btn.clicked.connect(lambda: self.toggle_disabled())
        self.reset_btn.clicked.connect(lambda: self.reset_password())
        self.remove_btn.clicked.connect(lambda: self.remove_account())
        self.own_btn.clicked.connect(lambda: self.change_own_password())
        self.code_btn.clicked.connect(lambda: self.new_recovery_code())
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.reload()

    # ------------------------------------------------------------------ loading
    def reload(self) -> None:
        keep = self.selected()
        mode = self.ctx.gate.accounts_state().mode
        self.accounts = self.ctx.gate.accounts() if mode != AccountsMode.OPEN else []
        self.table.setRowCount(len(self.accounts))
        for row, a in enumerate(self.accounts):
            last = f"{a.last_login_at.astimezone():%Y-%m-%d %H:%M}" if a.last_login_at else "never"
            cells = (a.name, a.role.value, state_text(a, self.ctx.gate.login_retry_in(a.name)), last)
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        open_mode = mode == AccountsMode.OPEN
        self.first_btn.setVisible(open_mode)
        for w in (self.add_btn, self.role_box, self.role_btn, self.disable_btn, self.reset_btn, self.remove_btn,
                  self.own_btn, self.code_btn):
            w.setVisible(not open_mode)
        if open_mode:
            self.status.setText("This database has no accounts yet: the admin PIN protects it. Create the "
                                "administrator account to use named accounts with roles (the PIN is then retired).")
        if keep is not None:
            self.select(keep.name)
        self._update_buttons()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.reload()

    def selected(self) -> Account | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.accounts[rows[0].row()] if rows and rows[0].row() < len(self.accounts) else None

    def select(self, name: str) -> bool:
        for row, a in enumerate(self.accounts):
            if a.name.casefold() == name.casefold():
                self.table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        account = self.selected()
        for b in (self.role_btn, self.disable_btn, self.reset_btn, self.remove_btn):
            b.setEnabled(account is not None)
        if account is not None:
            self.disable_btn.setText("Enable" if account.disabled else "Disable")
            self.role_box.setCurrentIndex(self.role_box.findData(account.role))

    # ------------------------------------------------------------------ actions
    def _by(self) -> Account | None:
        """The admin logged in (after the window's check); None (said) when there is none."""
        if not self.ctx.require(None, "manage accounts") or self.ctx.lock.account is None:
            self.status.setText("Log in with an admin account first.")
            return None
        return self.ctx.lock.account

    def _done(self, text: str) -> None:
        self.reload()
        self.status.setText(text)

    def _failed(self, exc: Exception) -> None:
        self.status.setText(f"Not done: {exc}")

    def create_first_admin(self) -> bool:
        if not self.ctx.require(None, "create the administrator account"):
            return False
        dialog = FirstAdminDialog(self.ctx.lock, self)
        accepted = dialog.exec() == FirstAdminDialog.DialogCode.Accepted
        dialog.deleteLater()
        if dialog.code is None:
            return False
        self.session_changed.emit()
        self._done(f"Account {self.ctx.lock.actor!r} (admin) created and logged in; the admin PIN is retired."
                   + ("" if accepted else " Keep the recovery code you were shown."))
        return True

    def add_account(self) -> Account | None:
        by = self._by()
        if by is None:
            return None
        dialog = PasswordDialog("Add an account", ask_name=True, parent=self)
        accepted = dialog.exec() == PasswordDialog.DialogCode.Accepted
        dialog.deleteLater()
        if not accepted:
            return None
        try:
            added = self.ctx.gate.add_account(by, dialog.name.text().strip(), dialog.role.currentData(),
                                              dialog.passwords.new.text())
        except (ValueError, NotAuthorisedError) as exc:
            self._failed(exc)
            return None
        self._done(f"Account {added.name!r} ({added.role.value}) added.")
        self.select(added.name)
        return added

    def set_role(self) -> bool:
        account, by = self.selected(), self._by()
        if account is None or by is None:
            return False
        try:
            done = self.ctx.gate.update_account(by, account.name, role=self.role_box.currentData())
        except (ValueError, NotAuthorisedError) as exc:
            self._failed(exc)
            return False
        self._done(f"{done.name} is now {done.role.value}.")
        return True

    def toggle_disabled(self) -> bool:
        account, by = self.selected(), self._by()
        if account is None or by is None:
            return False
        try:
            done = self.ctx.gate.update_account(by, account.name, disabled=not account.disabled)
        except (ValueError, NotAuthorisedError) as exc:
            self._failed(exc)
            return False
        self._done(f"{done.name} is {'disabled' if done.disabled else 'enabled again'}.")
        return True

    def reset_password(self) -> bool:
        account, by = self.selected(), self._by()
        if account is None or by is None:
            return False
        own = account.name.casefold() == by.name.casefold()
        dialog = PasswordDialog(f"{'Change' if own else 'Reset'} the password of {account.name}", account.name,
                                ask_current=own, parent=self)
        accepted = dialog.exec() == PasswordDialog.DialogCode.Accepted
        dialog.deleteLater()
        if not accepted:
            return False
        try:
            self.ctx.gate.set_account_password(by, account.name, dialog.passwords.new.text(),
                                               dialog.current.text() if own else None)
        except (ValueError, NotAuthorisedError) as exc:
            self._failed(exc)
            return False
        self._done(f"Password of {account.name} {'changed' if own else 'reset (its lock is cleared)'}.")
        return True

    def change_own_password(self) -> bool:
        if self._by() is None:
            return False
        by = self.ctx.lock.account
        assert by is not None
        self.select(by.name)
        return self.reset_password()

    def remove_account(self) -> bool:
        account, by = self.selected(), self._by()
        if account is None or by is None:
            return False
        if QMessageBox.question(self, "Remove account", f"Remove the account {account.name}? It can no longer log "
                                "in; its history stays in the audit log.") != QMessageBox.StandardButton.Yes:
            return False
        try:
            self.ctx.gate.remove_account(by, account.name)
        except (ValueError, NotAuthorisedError) as exc:
            self._failed(exc)
            return False
        self._done(f"Account {account.name} removed.")
        return True

    def new_recovery_code(self) -> str | None:
        by = self._by()
        if by is None:
            return None
        if QMessageBox.question(self, "New recovery code", "Issue a new recovery code? The previous one stops "
                                "working.") != QMessageBox.StandardButton.Yes:
            return None
        try:
            code = self.ctx.gate.new_recovery_code(by)
        except (ValueError, NotAuthorisedError) as exc:
            self._failed(exc)
            return None
        QMessageBox.information(self, "Recovery code", f"New recovery code: {code}\n\nWrite it down and keep it "
                                "offline: it is shown only once. With it, `facegate account recover --db DB` sets a "
                                "new admin password.")
        self._done("A new recovery code was issued; the previous one no longer works.")
        return code
