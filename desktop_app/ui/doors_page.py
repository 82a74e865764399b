"""Doors: the site's doors (cameras and their direction, output with any password left out, unlock
time, fail mode, anti-passback, state), add / edit / remove them, and open one remotely (asked
first, audited)."""

from __future__ import annotations

import logging

from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
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

from desktop_app.core.access.model import DoorSpec
from desktop_app.core.accounts import Action
from desktop_app.core.outputs.base import redact_uri
from desktop_app.core.storage.doors import COMMAND_MAX_AGE_S
from desktop_app.core.vocabulary import FailMode

from .context import AppContext
from .door_dialog import DoorDialog

log = logging.getLogger(__name__)

COLUMNS = ("Door", "Cameras", "Output", "Unlock", "If it fails", "Anti-passback", "State")
FAIL_TEXT = {FailMode.SECURE: "stays locked (fail-secure)", FailMode.SAFE: "opens (fail-safe)"}


def cameras_text(door: DoorSpec) -> str:
    """``"0 (in), rtsp://cam2/… (out)"``: each camera's source, passwords left out, and its way."""
    return ", ".join(f"{redact_uri(c.source)} ({c.direction.value})" for c in door.cameras) or "no camera"


def passback_text(door: DoorSpec) -> str:
    if door.passback == "off" or not door.passback_partner:
        return "off"
    partner = "this door" if door.passback_partner == door.name else door.passback_partner
    return f"{door.passback} (with {partner})"


def door_row(door: DoorSpec) -> tuple[str, ...]:
    """The table's cells for ``door`` but the state; the output never shows a password or the secret."""
    output = redact_uri(door.output) + (" · signed" if door.secret else "")
    return (door.name, cameras_text(door), output, f"{door.unlock_seconds:g} s", FAIL_TEXT[door.fail_mode],
            passback_text(door))


class DoorsPage(QWidget):
    """The doors table and its buttons (Add, Edit, Remove, Open door)."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.doors: list[DoorSpec] = []
        self.states: dict[str, str] = {}

        title = QLabel("Doors")
        title.setProperty("role", "title")
        hint = QLabel("Each door has its cameras (entry or exit), the output that works its lock, and what the "
                      "lock does when something fails. Who may pass which door, and when, is set on the "
                      "Schedules page.")
        hint.setProperty("role", "hint")
        hint.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

        self.add_btn = QPushButton("Add a door…")
        self.add_btn.setProperty("primary", True)
        self.edit_btn = QPushButton("Edit…")
        self.remove_btn = QPushButton("Remove…")
        self.remove_btn.setProperty("danger", True)
        self.open_btn = QPushButton("Open door…")
        self.open_btn.setToolTip("Release the lock once, from here (asks first; written to the audit log)")
        buttons = QHBoxLayout()
        for b in (self.add_btn, self.edit_btn, self.open_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.remove_btn)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.addWidget(title)
        lay.addWidget(hint)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.status)

        self.add_btn.clicked.connect(lambda: self.add_door())
        self.edit_btn.clicked.connect(lambda: self.edit_door())
        self.remove_btn.clicked.connect(lambda: self.remove_door())
        self.open_btn.clicked.connect(lambda: self.open_door())
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _i: self.edit_door())
        self.reload()

    # ------------------------------------------------------------------ loading
    def reload(self) -> None:
        """Read the doors again (keeps the selection)."""
        keep = self.selected_name()
        self.doors = sorted(self.ctx.gate.doors(), key=lambda d: d.name.lower())
        self.table.setRowCount(len(self.doors))
        for row, door in enumerate(self.doors):
            cells = (*door_row(door), self.states.get(door.name, "not running here"))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 2 or col == 1:
                    item.setToolTip(text)
                if col == 4 and door.fail_mode == FailMode.SAFE:
                    item.setForeground(QColor("#8d6e00"))
                self.table.setItem(row, col, item)
        if keep is not None:
            self.select_door(keep)
        self._update_buttons()
        if not self.doors:
            self.status.setText("No door yet: add one with its camera and output. "
                                "Until then FaceGate runs its single camera as before.")

    def set_states(self, states: dict[str, str]) -> None:
        """Show each door's state (name -> "locked", "unlocked", "out of service …")."""
        self.states = dict(states)
        for row, door in enumerate(self.doors):
            item = self.table.item(row, len(COLUMNS) - 1)
            if item is not None:
                item.setText(self.states.get(door.name, "not running here"))

    def showEvent(self, event: QShowEvent) -> None:
        self.reload()
        super().showEvent(event)

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        row = rows[0].row()
        return self.doors[row].name if 0 <= row < len(self.doors) else None

    def select_door(self, name: str) -> bool:
        for row, door in enumerate(self.doors):
            if door.name == name:
                self.table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        chosen = self.selected_name() is not None
        for b in (self.edit_btn, self.remove_btn, self.open_btn):
            b.setEnabled(chosen)

    def _door(self, name: str | None) -> DoorSpec | None:
        return next((d for d in self.doors if d.name == name), None)

    # ------------------------------------------------------------------ editing
    def _run_dialog(self, door: DoorSpec | None) -> DoorSpec | None:
        dialog = DoorDialog(door, [d.name for d in self.doors], self)
        dialog.setObjectName("doorDialog")
        accepted = dialog.exec() == DoorDialog.DialogCode.Accepted
        spec = dialog.result_spec
        dialog.deleteLater()
        return spec if accepted else None

    def add_door(self) -> DoorSpec | None:
        """Ask for a new door and save it; the saved door, or None."""
        if not self.ctx.require(Action.ACCESS_RULES, "add a door"):
            return None
        spec = self._run_dialog(None)
        if spec is None:
            return None
        if self._door(spec.name) is not None:
            self.status.setText(f"Not saved: a door called {spec.name!r} exists already; edit it instead.")
            return None
        return self._save(spec, f"Door {spec.name!r} added.")

    def edit_door(self) -> DoorSpec | None:
        door = self._door(self.selected_name())
        if door is None or not self.ctx.require(Action.ACCESS_RULES, "edit a door"):
            return None
        spec = self._run_dialog(door)
        return None if spec is None else self._save(spec, f"Door {spec.name!r} saved.")

    def _save(self, spec: DoorSpec, done: str) -> DoorSpec | None:
        try:
            self.ctx.gate.save_door(spec, actor=self.ctx.actor)
        except Exception as exc:  # the store's own check (readable)
            self.status.setText(f"Not saved: {exc}")
            return None
        self.reload()
        self.select_door(spec.name)
        self.status.setText(done + " A running door picks the change up at its next start.")
        self.ctx.hub.settings_changed.emit()
        return spec

    def confirm(self, title: str, text: str, info: str, yes: str) -> bool:
        """A modal question with a ``yes`` button and Cancel (the default); True for ``yes``."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(title)
        box.setText(text)
        box.setInformativeText(info)
        ok = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        box.deleteLater()
        return box.clickedButton() is ok

    def remove_door(self) -> bool:
        name = self.selected_name()
        if name is None or not self.ctx.require(Action.ACCESS_RULES, "remove a door"):
            return False
        if not self.confirm("Remove door", f"Remove the door {name!r}?",
                            "Its permissions go with it. Past events keep the door's name.", "Remove"):
            return False
        try:
            self.ctx.gate.remove_door(name, actor=self.ctx.actor)
        except Exception as exc:
            self.status.setText(f"Not removed: {exc}")
            return False
        self.reload()
        self.status.setText(f"Door {name!r} removed.")
        self.ctx.hub.settings_changed.emit()
        return True

    def open_door(self) -> bool:
        """Remote open of the selected door, after a confirmation; audited by the core."""
        name = self.selected_name()
        if name is None or not self.ctx.require(Action.OPEN_DOOR, "open a door"):
            return False
        door = self._door(name)
        seconds = f"{door.unlock_seconds:g} s" if door is not None else "its unlock time"
        if not self.confirm("Open door", f"Open the door {name!r} now?",
                            f"The lock is released for {seconds}. This is written to the audit log.", "Open"):
            return False
        try:
            self.ctx.gate.request_door_open(name, actor=self.ctx.actor)
        except Exception as exc:
            self.status.setText(f"Not opened: {exc}")
            return False
        self.status.setText(f"Open command sent to {name!r}: the running door releases its lock for {seconds}. "
                            f"If no FaceGate runs this door, the command expires unused after "
                            f"{COMMAND_MAX_AGE_S:g} s.")
        return True
