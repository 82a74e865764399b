"""Events (filterable, lazily paged table, snapshot of the selected event, CSV export) and the daily
attendance sheet."""

from __future__ import annotations

import html
import logging
from datetime import date, timedelta
from pathlib import Path

from PySide6.QtCore import QDate, QModelIndex, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.accounts import Action

from .context import AppContext
from .corrections_page import CorrectionActions
from .events_model import AttendanceTableModel, EventFilter, EventsTableModel
from .qtimage import bgr_to_pixmap

log = logging.getLogger(__name__)

SNAPSHOT_SIDE = 224


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


def _date_edit(d: date) -> QDateEdit:
    edit = QDateEdit(_qdate(d))
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    return edit


def _table(model: object) -> QTableView:
    view = QTableView()
    view.setModel(model)  # type: ignore[arg-type]
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return view


class EventsPage(QWidget):
    """Filter bar (dates, person, decision, door), the events table (with each decision's door,
    direction and reason), the selected event's snapshot."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = EventsTableModel(ctx.gate)
        self._dirty = True

        today = date.today()
        self.all_dates = QCheckBox("All dates")
        self.date_from = _date_edit(today - timedelta(days=6))
        self.date_to = _date_edit(today)
        self.person = QComboBox()
        self.person.setMinimumWidth(180)
        self.decision = QComboBox()
        for text, value in (("All decisions", None), ("Granted", "granted"), ("Unknown", "unknown"),
                            ("Denied", "denied"), ("Ambiguous", "ambiguous"), ("Spoof suspected", "spoof")):
            self.decision.addItem(text, value)
        self.door = QComboBox()
        self.door.setMinimumWidth(120)
        self.count = QLabel()
        self.export_btn = QPushButton("Export CSV…")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("From"))
        bar.addWidget(self.date_from)
        bar.addWidget(QLabel("to"))
        bar.addWidget(self.date_to)
        bar.addWidget(self.all_dates)
        bar.addWidget(self.person)
        bar.addWidget(self.decision)
        bar.addWidget(self.door)
        bar.addStretch(1)
        bar.addWidget(self.count)
        bar.addWidget(self.export_btn)

        self.table = _table(self.model)
        header = self.table.horizontalHeader()  # the reason beside the decision (logical columns unchanged)
        header.moveSection(header.visualIndex(self.model.REASON_COLUMN), 3)
        self.snapshot = QLabel("Select an event to see its snapshot.")
        self.snapshot.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.snapshot.setMinimumSize(SNAPSHOT_SIDE + 16, SNAPSHOT_SIDE + 16)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.addWidget(self.snapshot)
        side_lay.addWidget(self.details)
        self.correct = CorrectionActions(ctx)  # "Not this person…" / "This was…" (corrections_page.py)
        side_lay.addWidget(self.correct)
        side_lay.addStretch(1)
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)

        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(split, 1)

        for w in (self.date_from, self.date_to):
            w.dateChanged.connect(self.apply_filter)
        self.all_dates.toggled.connect(self._dates_toggled)
        self.person.currentIndexChanged.connect(self.apply_filter)
        self.decision.currentIndexChanged.connect(self.apply_filter)
        self.door.currentIndexChanged.connect(self.apply_filter)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.table.clicked.connect(lambda idx: self.show_event(idx.row()))
        self.export_btn.clicked.connect(lambda: self.export_csv())  # clicked(bool) must not become the path
        ctx.hub.events_changed.connect(self._mark_dirty)
        ctx.hub.people_changed.connect(self._people_changed)
        ctx.hub.settings_changed.connect(self.reload_doors)
        self.reload_people()
        self.reload_doors()

    # ------------------------------------------------------------------ filters
    def reload_people(self) -> None:
        current = self.person.currentData()
        self.person.blockSignals(True)
        self.person.clear()
        self.person.addItem("Everyone", None)
        for p in self.ctx.gate.people():
            self.person.addItem(p.name, p.id)
        idx = self.person.findData(current)
        self.person.setCurrentIndex(max(idx, 0))
        self.person.blockSignals(False)

    def reload_doors(self) -> None:
        """The door filter's choices: every door, and "All doors"."""
        current = self.door.currentData()
        self.door.blockSignals(True)
        self.door.clear()
        self.door.addItem("All doors", None)
        for d in sorted(self.ctx.gate.doors(), key=lambda d: d.name.lower()):
            self.door.addItem(d.name, d.name)
        self.door.setCurrentIndex(max(self.door.findData(current), 0))
        self.door.blockSignals(False)

    def current_filter(self) -> EventFilter:
        dated = not self.all_dates.isChecked()
        return EventFilter(
            day_from=_pydate(self.date_from.date()) if dated else None,
            day_to=_pydate(self.date_to.date()) if dated else None,
            person_id=self.person.currentData(), decision=self.decision.currentData(),
            door=self.door.currentData(),
        )

    def _dates_toggled(self, all_dates: bool) -> None:
        self.date_from.setEnabled(not all_dates)
        self.date_to.setEnabled(not all_dates)
        self.apply_filter()

    def apply_filter(self) -> None:
        self.model.set_filter(self.current_filter())
        self._dirty = False
        self._update_count()
        self.snapshot.setText("Select an event to see its snapshot.")
        self.details.setText("")
        self.correct.set_event(None)

    def refresh(self) -> None:
        """Reload the table (keeps the filter)."""
        self.model.refresh()
        self._dirty = False
        self._update_count()

    def _update_count(self) -> None:
        n = self.model.total
        self.count.setText(f"{n} event{'s' if n != 1 else ''}")

    def _mark_dirty(self) -> None:
        self._dirty = True
        if self.isVisible():
            self.refresh()

    def _people_changed(self) -> None:
        self.reload_people()
        self._mark_dirty()

    def showEvent(self, event: QShowEvent) -> None:
        if self._dirty:
            self.refresh()
        super().showEvent(event)

    # ------------------------------------------------------------------ selection
    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.show_event(current.row())

    def show_event(self, row: int) -> None:
        ev = self.model.event_at(row)
        self.correct.set_event(ev)
        if ev is None:
            return
        image = self.ctx.gate.event_snapshot(ev.id)
        if image is None:
            self.snapshot.setText("No snapshot stored for this event.")
        else:
            self.snapshot.setPixmap(bgr_to_pixmap(image, SNAPSHOT_SIDE))
        who = ev.who
        reason = f" ({ev.reason})" if ev.reason and ev.reason != ev.decision else ""
        door = f"<br>door {html.escape(ev.door)} · {ev.direction or 'no direction'}" if ev.door else ""
        self.details.setText(
            f"<b>{who}</b><br>{ev.decision}{reason} · score {ev.score:.3f}<br>{ev.ts.astimezone():%Y-%m-%d %H:%M:%S}"
            f"{door}<br>camera {ev.camera} · track {ev.track_id if ev.track_id is not None else '—'}"
            f"<br>event #{ev.id}"
            + (f"<br>not live: {html.escape('; '.join(ev.liveness))}" if ev.liveness else "")
        )

    # ------------------------------------------------------------------ export
    def export_csv(self, path: Path | None = None) -> int | None:
        """Export the filtered events to CSV (asks where unless ``path`` is given); rows written."""
        if not self.ctx.require(Action.EXPORT, "export events"):
            return None
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export events", str(Path.home() / "facegate-events.csv"),
                                                    "CSV files (*.csv)")
            if not chosen:
                return None
            path = Path(chosen)
        try:
            n = self.ctx.gate.export_events_csv(path, self.current_filter(), actor=self.ctx.actor)
        except Exception as exc:
            QMessageBox.warning(self, "Export failed", str(exc))
            return None
        self.count.setText(f"{self.model.total} events · {n} exported to {path.name}")
        return n


class AttendancePage(QWidget):
    """First in, last out and hours per person and day, with CSV export."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = AttendanceTableModel(ctx.gate)
        today = date.today()
        self.date_from = _date_edit(today - timedelta(days=6))
        self.date_to = _date_edit(today)
        self.summary = QLabel()
        self.export_btn = QPushButton("Export CSV…")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Days from"))
        bar.addWidget(self.date_from)
        bar.addWidget(QLabel("to"))
        bar.addWidget(self.date_to)
        bar.addStretch(1)
        bar.addWidget(self.summary)
        bar.addWidget(self.export_btn)
        self.table = _table(self.model)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)
        self.date_from.dateChanged.connect(self.reload)
        self.date_to.dateChanged.connect(self.reload)
        self.export_btn.clicked.connect(lambda: self.export_csv())  # clicked(bool) must not become the path
        ctx.hub.events_changed.connect(lambda: self.reload() if self.isVisible() else None)
        ctx.hub.people_changed.connect(lambda: self.reload() if self.isVisible() else None)

    def _range(self) -> tuple[date, date]:
        a, b = _pydate(self.date_from.date()), _pydate(self.date_to.date())
        return (a, b) if a <= b else (b, a)

    def reload(self) -> None:
        a, b = self._range()
        self.model.load(a, b)
        people = {self.model.row_at(i).person_id for i in range(self.model.rowCount())}  # type: ignore[union-attr]
        self.summary.setText(f"{self.model.rowCount()} day rows · {len(people)} people")

    def showEvent(self, event: QShowEvent) -> None:
        self.reload()
        super().showEvent(event)

    def export_csv(self, path: Path | None = None) -> int | None:
        if not self.ctx.require(Action.EXPORT, "export attendance"):
            return None
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export attendance",
                                                    str(Path.home() / "facegate-attendance.csv"),
                                                    "CSV files (*.csv)")
            if not chosen:
                return None
            path = Path(chosen)
        a, b = self._range()
        try:
            n = self.ctx.gate.export_attendance_csv(path, a, b, actor=self.ctx.actor)
        except Exception as exc:
            QMessageBox.warning(self, "Export failed", str(exc))
            return None
        self.summary.setText(f"{n} rows exported to {path.name}")
        return n
