"""Schedules and groups: weekly schedules (text such as "Mon-Fri 08:00-18:00", holidays, time
zone) checked as they are typed, with the parse error inline and a preview of the windows; groups
and where and when their members may pass (group × doors × schedule); and the overview of every
group's permissions."""

from __future__ import annotations

import logging
from datetime import date
from functools import cache
from zoneinfo import available_timezones

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.access.model import Group, Permission
from desktop_app.core.access.schedule import ALWAYS, Schedule
from desktop_app.core.accounts import Action

from .context import AppContext
from .week_chart import WeekChart, describe_windows

log = logging.getLogger(__name__)

ALWAYS_LABEL = "Always (every day, all day)"
EXAMPLES = "e.g. Mon-Fri 08:00-18:00 · Mon-Fri 08:00-12:30, 13:30-18:00; Sat 09:00-13:00 · Fri 22:00-02:00"


@cache
def zone_names() -> tuple[str, ...]:
    """"local" then the IANA time zones, sorted."""
    return ("local", *sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/")))


def parse_holidays(text: str) -> frozenset[date]:
    """``"2025-12-25, 2026-01-01"`` (commas, spaces or new lines between) -> dates; ValueError
    naming the entry that is not a YYYY-MM-DD date."""
    out: set[date] = set()
    for token in text.replace(",", " ").replace(";", " ").split():
        try:
            out.add(date.fromisoformat(token))
        except ValueError:
            raise ValueError(f"holiday {token!r} is not a date: write YYYY-MM-DD, e.g. 2025-12-25") from None
    return frozenset(out)


def holidays_text(days: frozenset[date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(days))


def _confirm(parent: QWidget, title: str, text: str, yes: str) -> bool:
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(text)
    ok = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    box.deleteLater()
    return box.clickedButton() is ok


def _title(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "title")
    return label


class SchedulesPage(QWidget):
    """Left: the schedules and the schedule form; right: the groups and the group form (doors and
    schedule); below: who may pass where (groups × doors)."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.schedules: list[Schedule] = []
        self.groups: list[Group] = []
        self.permissions: list[Permission] = []
        self.door_names: list[str] = []

        # ---------------------------------------------------------------- schedules
        self.schedule_list = QListWidget()
        self.schedule_list.setMaximumHeight(140)
        self.new_schedule_btn = QPushButton("New schedule")
        self.remove_schedule_btn = QPushButton("Remove…")
        self.schedule_name = QLineEdit()
        self.schedule_name.setPlaceholderText("e.g. office hours")
        self.schedule_text = QLineEdit()
        self.schedule_text.setPlaceholderText("Mon-Fri 08:00-18:00")
        self.schedule_text.setToolTip(EXAMPLES)
        examples = QLabel(EXAMPLES)
        examples.setProperty("role", "hint")
        examples.setWordWrap(True)
        self.holidays = QLineEdit()
        self.holidays.setPlaceholderText("closed days, YYYY-MM-DD, e.g. 2025-12-25, 2026-01-01")
        self.timezone = QComboBox()
        self.timezone.setEditable(True)
        self.timezone.addItems(list(zone_names()))
        self.timezone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.schedule_error = QLabel("")
        self.schedule_error.setProperty("role", "error")
        self.schedule_error.setWordWrap(True)
        self.preview = QLabel("")
        self.preview.setWordWrap(True)
        self.chart = WeekChart()
        self.save_schedule_btn = QPushButton("Save schedule")
        self.save_schedule_btn.setProperty("primary", True)
        self.schedule_status = QLabel("")
        self.schedule_status.setWordWrap(True)
        sform = QFormLayout()
        sform.addRow("Name", self.schedule_name)
        sform.addRow("Open", self.schedule_text)
        sform.addRow("", examples)
        sform.addRow("Holidays", self.holidays)
        sform.addRow("Time zone", self.timezone)
        srow = QHBoxLayout()
        srow.addWidget(self.new_schedule_btn)
        srow.addWidget(self.remove_schedule_btn)
        srow.addStretch(1)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_schedule_btn)
        save_row.addWidget(self.schedule_status, 1)
        sbox = QGroupBox("Schedules")
        sl = QVBoxLayout(sbox)
        sl.addWidget(self.schedule_list)
        sl.addLayout(srow)
        sl.addLayout(sform)
        sl.addWidget(self.schedule_error)
        sl.addWidget(self.preview)
        sl.addWidget(self.chart)
        sl.addLayout(save_row)
        sl.addStretch(1)

        # ---------------------------------------------------------------- groups
        self.group_list = QListWidget()
        self.group_list.setMaximumHeight(140)
        self.new_group_btn = QPushButton("New group")
        self.remove_group_btn = QPushButton("Remove…")
        self.group_name = QLineEdit()
        self.group_name.setPlaceholderText("e.g. staff")
        self.group_description = QLineEdit()
        self.group_description.setPlaceholderText("optional")
        self.group_doors = QListWidget()
        self.group_doors.setMaximumHeight(120)
        self.group_schedule = QComboBox()
        self.save_group_btn = QPushButton("Save group")
        self.save_group_btn.setProperty("primary", True)
        self.group_status = QLabel("")
        self.group_status.setWordWrap(True)
        gform = QFormLayout()
        gform.addRow("Name", self.group_name)
        gform.addRow("Description", self.group_description)
        gform.addRow("May pass", self.group_doors)
        gform.addRow("When", self.group_schedule)
        grow = QHBoxLayout()
        grow.addWidget(self.new_group_btn)
        grow.addWidget(self.remove_group_btn)
        grow.addStretch(1)
        gsave = QHBoxLayout()
        gsave.addWidget(self.save_group_btn)
        gsave.addWidget(self.group_status, 1)
        gbox = QGroupBox("Groups and their doors")
        gl = QVBoxLayout(gbox)
        gl.addWidget(self.group_list)
        gl.addLayout(grow)
        gl.addLayout(gform)
        gl.addLayout(gsave)
        gl.addStretch(1)

        # ---------------------------------------------------------------- overview
        self.matrix = QTableWidget(0, 0)
        self.matrix.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.matrix.setMinimumHeight(120)
        self.matrix_hint = QLabel("")
        self.matrix_hint.setProperty("role", "hint")
        mbox = QGroupBox("Who may pass where (group × door: schedule)")
        ml = QVBoxLayout(mbox)
        ml.addWidget(self.matrix)
        ml.addWidget(self.matrix_hint)

        top = QSplitter()
        top.addWidget(sbox)
        top.addWidget(gbox)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        page = QSplitter(Qt.Orientation.Vertical)
        page.addWidget(top)
        page.addWidget(mbox)
        page.setStretchFactor(0, 3)
        page.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(page)

        for edit in (self.schedule_name, self.schedule_text, self.holidays):
            edit.textChanged.connect(self.validate_schedule)
        self.timezone.currentTextChanged.connect(self.validate_schedule)
        self.schedule_list.currentRowChanged.connect(self._schedule_selected)
        self.new_schedule_btn.clicked.connect(lambda: self.new_schedule())
        self.save_schedule_btn.clicked.connect(lambda: self.save_schedule())
        self.remove_schedule_btn.clicked.connect(lambda: self.remove_schedule())
        self.group_list.currentRowChanged.connect(self._group_selected)
        self.new_group_btn.clicked.connect(lambda: self.new_group())
        self.save_group_btn.clicked.connect(lambda: self.save_group())
        self.remove_group_btn.clicked.connect(lambda: self.remove_group())
        ctx.hub.settings_changed.connect(lambda: self.reload() if self.isVisible() else None)
        self.reload()
        self.new_schedule()
        self.new_group()

    # ------------------------------------------------------------------ loading
    def reload(self) -> None:
        """Read schedules, groups, doors and permissions again (keeps the selections)."""
        gate = self.ctx.gate
        self.schedules = sorted(gate.schedules(), key=lambda s: s.name.lower())
        self.groups = sorted(gate.groups(), key=lambda g: g.name.lower())
        self.permissions = list(gate.permissions())
        self.door_names = sorted((d.name for d in gate.doors()), key=str.lower)
        keep_s = self.schedule_list.currentItem().text() if self.schedule_list.currentItem() else None
        keep_g = self.group_list.currentItem().text() if self.group_list.currentItem() else None
        for widget, names, keep in ((self.schedule_list, [s.name for s in self.schedules], keep_s),
                                    (self.group_list, [g.name for g in self.groups], keep_g)):
            widget.blockSignals(True)
            widget.clear()
            widget.addItems(names)
            if keep in names:
                widget.setCurrentRow(names.index(keep))
            widget.blockSignals(False)
        self._fill_schedule_choices()
        if not self.group_doors.count() or self._door_items() != self.door_names:
            self._fill_doors(self._checked_doors())
        self._fill_matrix()
        self.remove_schedule_btn.setEnabled(self.schedule_list.currentRow() >= 0)
        self.remove_group_btn.setEnabled(self.group_list.currentRow() >= 0)

    def showEvent(self, event: QShowEvent) -> None:
        self.reload()
        super().showEvent(event)

    def _fill_schedule_choices(self, choose: str | None = None) -> None:
        current = choose if choose is not None else self.group_schedule.currentData()
        self.group_schedule.clear()
        self.group_schedule.addItem(ALWAYS_LABEL, ALWAYS.name)
        for s in self.schedules:
            if s.name != ALWAYS.name:
                self.group_schedule.addItem(f"{s.name}: {'; '.join(describe_windows(s.windows))}", s.name)
        self.group_schedule.setCurrentIndex(max(self.group_schedule.findData(current), 0))

    def _door_items(self) -> list[str]:
        return [self.group_doors.item(i).text() for i in range(self.group_doors.count())]

    def _checked_doors(self) -> list[str]:
        return [self.group_doors.item(i).text() for i in range(self.group_doors.count())
                if self.group_doors.item(i).checkState() == Qt.CheckState.Checked]

    def _fill_doors(self, checked: list[str]) -> None:
        self.group_doors.clear()
        for name in self.door_names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in checked else Qt.CheckState.Unchecked)
            self.group_doors.addItem(item)
        if not self.door_names:
            item = QListWidgetItem("No door yet: add doors on the Doors page")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.group_doors.addItem(item)

    def set_door_checked(self, door: str, checked: bool) -> None:
        """Tick (or untick) ``door`` in the group form, as a click on its box does."""
        for i in range(self.group_doors.count()):
            item = self.group_doors.item(i)
            if item.text() == door:
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                return
        raise KeyError(door)

    def _fill_matrix(self) -> None:
        doors = self.door_names
        groups = [g.name for g in self.groups]
        self.matrix.clear()
        self.matrix.setRowCount(len(groups))
        self.matrix.setColumnCount(len(doors))
        self.matrix.setHorizontalHeaderLabels(doors)
        self.matrix.setVerticalHeaderLabels(groups)
        where: dict[tuple[str, str], list[str]] = {}
        for p in self.permissions:
            where.setdefault((p.group, p.door), []).append("always" if p.schedule.name == ALWAYS.name
                                                           else p.schedule.name)
        for r, g in enumerate(groups):
            for c, d in enumerate(doors):
                names = where.get((g, d))
                item = QTableWidgetItem(", ".join(names) if names else "—  (not allowed)")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if not names:
                    item.setForeground(Qt.GlobalColor.gray)
                self.matrix.setItem(r, c, item)
        self.matrix_hint.setText("" if groups and doors else
                                 "Add doors (Doors page) and groups (above) to give permissions.")

    # ------------------------------------------------------------------ schedules
    def new_schedule(self) -> None:
        self.schedule_list.clearSelection()
        self.schedule_list.setCurrentRow(-1)
        self.schedule_name.setReadOnly(False)
        self.schedule_name.clear()
        self.schedule_text.clear()
        self.holidays.clear()
        self.timezone.setCurrentText("local")
        self.schedule_status.setText("")
        self.remove_schedule_btn.setEnabled(False)
        self.validate_schedule()

    def _schedule_selected(self, row: int) -> None:
        self.remove_schedule_btn.setEnabled(row >= 0)
        if not 0 <= row < len(self.schedules):
            return
        s = self.schedules[row]
        self.schedule_name.setText(s.name)
        self.schedule_text.setText(s.text)
        self.holidays.setText(holidays_text(s.holidays))
        self.timezone.setCurrentText(s.timezone)
        self.schedule_status.setText("")

    def form_schedule(self) -> Schedule:
        """The schedule the form describes; ValueError (readable) when it is not valid."""
        name = self.schedule_name.text().strip()
        if not name:
            raise ValueError("a schedule needs a name")
        return Schedule(name=name, text=self.schedule_text.text(), holidays=parse_holidays(self.holidays.text()),
                        timezone=self.timezone.currentText().strip() or "local")

    def validate_schedule(self) -> Schedule | None:
        """Check the form now: the error inline, or the preview of the windows. The schedule or None."""
        text = self.schedule_text.text()
        try:
            schedule = self.form_schedule()
        except ValueError as exc:
            nothing_typed = not text.strip() and not self.schedule_name.text().strip()
            self.schedule_error.setText("" if nothing_typed else str(exc))
            try:  # the windows are still worth showing while only the name or holidays are wrong
                windows = Schedule("preview", text).windows if text.strip() else ()
            except ValueError:
                windows = ()
            self.chart.set_windows(windows)
            self.preview.setText("Open: " + "; ".join(describe_windows(windows)) if windows else "")
            return None
        self.schedule_error.setText("")
        lines = describe_windows(schedule.windows)
        extra = []
        if schedule.holidays:
            extra.append(f"closed on {len(schedule.holidays)} holiday{'s' if len(schedule.holidays) != 1 else ''}")
        extra.append(f"time zone: {schedule.timezone}")
        self.preview.setText("Open: " + "; ".join(lines) + " (" + ", ".join(extra) + ")")
        self.chart.set_windows(schedule.windows)
        return schedule

    def save_schedule(self) -> Schedule | None:
        if not self.ctx.require(Action.ACCESS_RULES, "change schedules"):
            return None
        try:
            schedule = self.form_schedule()
        except ValueError as exc:
            self.schedule_error.setText(str(exc))
            self.schedule_status.setText("Not saved.")
            return None
        try:
            self.ctx.gate.save_schedule(schedule, actor=self.ctx.actor)
        except Exception as exc:
            self.schedule_status.setText(f"Not saved: {exc}")
            return None
        self.reload()
        names = [s.name for s in self.schedules]
        if schedule.name in names:
            self.schedule_list.setCurrentRow(names.index(schedule.name))
        self.schedule_status.setText(f"Schedule {schedule.name!r} saved.")
        self.ctx.hub.settings_changed.emit()
        return schedule

    def remove_schedule(self) -> bool:
        row = self.schedule_list.currentRow()
        if not 0 <= row < len(self.schedules) or not self.ctx.require(Action.ACCESS_RULES, "change schedules"):
            return False
        name = self.schedules[row].name
        if not _confirm(self, "Remove schedule", f"Remove the schedule {name!r}?", "Remove"):
            return False
        try:
            self.ctx.gate.remove_schedule(name, actor=self.ctx.actor)
        except Exception as exc:
            self.schedule_status.setText(f"Not removed: {exc}")
            return False
        self.reload()
        self.new_schedule()
        self.schedule_status.setText(f"Schedule {name!r} removed.")
        self.ctx.hub.settings_changed.emit()
        return True

    # ------------------------------------------------------------------ groups
    def new_group(self) -> None:
        self.group_list.clearSelection()
        self.group_list.setCurrentRow(-1)
        self.group_name.setReadOnly(False)
        self.group_name.clear()
        self.group_description.clear()
        self._fill_doors([])
        self.group_schedule.setCurrentIndex(0)
        self.group_status.setText("")
        self.remove_group_btn.setEnabled(False)

    def _group_selected(self, row: int) -> None:
        self.remove_group_btn.setEnabled(row >= 0)
        if not 0 <= row < len(self.groups):
            return
        g = self.groups[row]
        self.group_name.setText(g.name)
        self.group_description.setText(g.description)
        mine = [p for p in self.permissions if p.group == g.name]
        self._fill_doors([p.door for p in mine])
        schedule = mine[0].schedule.name if mine else ALWAYS.name
        self.group_schedule.setCurrentIndex(max(self.group_schedule.findData(schedule), 0))
        self.group_status.setText("")

    def save_group(self) -> Group | None:
        """Save the group, then its permissions: the ticked doors under the chosen schedule."""
        if not self.ctx.require(Action.ACCESS_RULES, "change groups"):
            return None
        try:
            group = Group(name=self.group_name.text(), description=self.group_description.text().strip())
        except ValueError as exc:
            self.group_status.setText(f"Not saved: {exc}")
            return None
        doors = self._checked_doors()
        schedule = str(self.group_schedule.currentData() or ALWAYS.name)
        gate = self.ctx.gate
        try:
            gate.save_group(group, actor=self.ctx.actor)
            gate.set_permissions(group.name, doors, None if schedule == ALWAYS.name else schedule, actor=self.ctx.actor)
        except Exception as exc:
            self.group_status.setText(f"Not saved: {exc}")
            return None
        self.reload()
        names = [g.name for g in self.groups]
        if group.name in names:
            self.group_list.setCurrentRow(names.index(group.name))
        where = ", ".join(doors) if doors else "no door yet"
        self.group_status.setText(f"Group {group.name!r} saved: {where}.")
        self.ctx.hub.settings_changed.emit()
        self.ctx.hub.people_changed.emit()
        return group

    def remove_group(self) -> bool:
        row = self.group_list.currentRow()
        if not 0 <= row < len(self.groups) or not self.ctx.require(Action.ACCESS_RULES, "change groups"):
            return False
        name = self.groups[row].name
        if not _confirm(self, "Remove group", f"Remove the group {name!r}?",
                        "Remove"):
            return False
        try:
            self.ctx.gate.remove_group(name, actor=self.ctx.actor)
        except Exception as exc:
            self.group_status.setText(f"Not removed: {exc}")
            return False
        self.reload()
        self.new_group()
        self.group_status.setText(f"Group {name!r} removed; its members lose the doors it gave them.")
        self.ctx.hub.settings_changed.emit()
        self.ctx.hub.people_changed.emit()
        return True
