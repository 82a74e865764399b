"""A person's access on the People page: their groups and their validity period (first and last
day, each optional), and how the people list words them ("expired" marked in text, not colour
alone)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Literal

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QWidget,
)

from desktop_app.core.access.model import PersonAccess

Validity = Literal["valid", "expired", "not yet valid"]


def validity_state(access: PersonAccess | None, today: date | None = None) -> Validity:
    """Whether ``today`` (local, default now) falls in the person's validity period."""
    if access is None:
        return "valid"
    day = today or date.today()
    if access.valid_until is not None and day > access.valid_until:
        return "expired"
    if access.valid_from is not None and day < access.valid_from:
        return "not yet valid"
    return "valid"


def validity_text(access: PersonAccess | None) -> str:
    """``"valid 2025-01-01 to 2025-12-31"``, ``"valid until 2025-12-31"``, ``"valid from …"``, or ""."""
    if access is None or (access.valid_from is None and access.valid_until is None):
        return ""
    if access.valid_from and access.valid_until:
        return f"valid {access.valid_from:%Y-%m-%d} to {access.valid_until:%Y-%m-%d}"
    if access.valid_until:
        return f"valid until {access.valid_until:%Y-%m-%d}"
    return f"valid from {access.valid_from:%Y-%m-%d}"


def access_line(access: PersonAccess | None, today: date | None = None) -> str:
    """The people list's access line: EXPIRED / NOT YET VALID first when so (seen in a narrow
    list), then the groups and the validity."""
    groups = ", ".join(sorted(access.groups)) if access and access.groups else "no group"
    state = validity_state(access, today)
    parts = [] if state == "valid" else [state.upper()]
    parts.append(f"Groups: {groups}")
    valid = validity_text(access)
    if valid:
        parts.append(valid)
    return " · ".join(parts)


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


class AccessBox(QGroupBox):
    """Groups (tick boxes) and the optional first and last valid day of the selected person."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Access", parent)
        self.groups = QListWidget()
        self.groups.setMaximumHeight(96)
        self.no_groups = QLabel("No groups yet: create them on the Schedules page.")
        self.no_groups.setProperty("role", "hint")
        self.has_from = QCheckBox("From")
        self.has_until = QCheckBox("Until")
        self.valid_from = QDateEdit()
        self.valid_until = QDateEdit()
        for edit in (self.valid_from, self.valid_until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(_qdate(date.today()))
            edit.setEnabled(False)
        self.has_from.toggled.connect(self.valid_from.setEnabled)
        self.has_until.toggled.connect(self.valid_until.setEnabled)
        self.state = QLabel("")
        dates = QWidget()
        dl = QHBoxLayout(dates)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.has_from)
        dl.addWidget(self.valid_from)
        dl.addSpacing(12)
        dl.addWidget(self.has_until)
        dl.addWidget(self.valid_until)
        dl.addSpacing(12)
        dl.addWidget(self.state)
        dl.addStretch(1)
        form = QFormLayout(self)
        form.addRow("Groups", self.groups)
        form.addRow("", self.no_groups)
        form.addRow("Valid", dates)

    def load(self, access: PersonAccess | None, all_groups: Iterable[str]) -> None:
        """Show ``access`` (None: no person) with every group of the site as a tick box."""
        mine = access.groups if access else frozenset()
        self.groups.clear()
        names = sorted(set(all_groups) | set(mine), key=str.lower)
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in mine else Qt.CheckState.Unchecked)
            self.groups.addItem(item)
        self.no_groups.setVisible(not names)
        for box, edit, value in ((self.has_from, self.valid_from, access.valid_from if access else None),
                                 (self.has_until, self.valid_until, access.valid_until if access else None)):
            box.setChecked(value is not None)
            edit.setEnabled(value is not None)
            edit.setDate(_qdate(value or date.today()))
        state = validity_state(access)
        self.state.setText("" if state == "valid" else state.upper())
        self.state.setProperty("role", "error" if state != "valid" else "")
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)

    def set_group_checked(self, name: str, checked: bool) -> None:
        """Tick (or untick) group ``name``, as a click on its box does."""
        for i in range(self.groups.count()):
            item = self.groups.item(i)
            if item.text() == name:
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                return
        raise KeyError(name)

    def chosen_groups(self) -> list[str]:
        return [self.groups.item(i).text() for i in range(self.groups.count())
                if self.groups.item(i).checkState() == Qt.CheckState.Checked]

    def chosen_validity(self) -> tuple[date | None, date | None]:
        """(first valid day, last valid day), None where not limited; ValueError when the last
        day is before the first."""
        start = _pydate(self.valid_from.date()) if self.has_from.isChecked() else None
        end = _pydate(self.valid_until.date()) if self.has_until.isChecked() else None
        if start and end and end < start:
            raise ValueError(f"the validity ends ({end}) before it starts ({start})")
        return start, end
