"""Table models of events (lazily paged from the store) and of the daily attendance sheet.

:class:`EventsTableModel` is a :class:`~desktop_app.ui.paged_model.PagedTableModel`: the view asks
for more rows as it scrolls, each page one ``FaceGate.query_events`` of the filter with a limit and
offset; the total comes from ``FaceGate.count_events``. Rows are de-duplicated by event id, so
events logged while paging (they shift offsets) are not shown twice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from desktop_app.core.storage.event_filter import EventFilter
from desktop_app.core.storage.records import AttendanceRow, EventRecord
from desktop_app.core.wording import hours_minutes

from . import theme
from .paged_model import Index, PagedTableModel, RowsTableModel

__all__ = ["AttendanceSource", "AttendanceTableModel", "EventFilter", "EventSource", "EventsTableModel"]


class EventSource(Protocol):
    """The part of ``FaceGate`` the events table reads."""

    def query_events(self, flt: EventFilter | None = None) -> list[EventRecord]: ...

    def count_events(self, flt: EventFilter | None = None) -> int: ...


class AttendanceSource(Protocol):
    """The part of ``FaceGate`` the attendance sheet reads."""

    def attendance(self, day_from: date, day_to: date) -> list[AttendanceRow]: ...


def _local(ts: datetime) -> datetime:
    return ts.astimezone()


class EventsTableModel(PagedTableModel):
    """Events, newest first, ``page_size`` rows fetched at a time. Role ``Qt.UserRole`` gives the
    ``EventRecord`` of a row."""

    COLUMNS = ("Time", "Person", "Decision", "Score", "Camera", "Door", "Direction", "Reason")
    REASON_COLUMN = 7
    """Why the door decided so (an AccessReason value); "—" for events stored before access control."""

    def __init__(self, source: EventSource, page_size: int = 100) -> None:
        super().__init__(EventFilter(), page_size)
        self.source = source

    def count(self, flt: EventFilter) -> int:
        return self.source.count_events(flt)

    def query(self, flt: EventFilter, limit: int, offset: int) -> list[EventRecord]:
        return self.source.query_events(replace(flt, limit=limit, offset=offset))

    def event_at(self, row: int) -> EventRecord | None:
        ev: EventRecord | None = self.row_at(row)
        return ev

    # ------------------------------------------------------------------ model API
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        ev: EventRecord | None = self._row_of(index)
        if ev is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return f"{_local(ev.ts):%Y-%m-%d %H:%M:%S}"
            if col == 1:
                return ev.who  # the name, "ambiguous: A or B", "(erased person)" or "unknown face"
            if col == 2:
                return ev.decision
            if col == 3:
                return f"{ev.score:.2f}"
            if col == 4:
                return ev.camera
            if col == 5:
                return ev.door or "—"
            if col == 6:
                return ev.direction or "—"
            if col == 7:  # a spoof event also says why the liveness check refused the face
                return (ev.reason or "—") + (": " + "; ".join(ev.liveness) if ev.liveness else "")
        elif role == Qt.ItemDataRole.ForegroundRole and col in (2, self.REASON_COLUMN):
            return QColor(theme.DECISION_COLOURS.get(ev.decision, theme.DENIED)).darker(120)
        elif role == Qt.ItemDataRole.TextAlignmentRole and col == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        elif role == Qt.ItemDataRole.UserRole:
            return ev
        return None


class AttendanceTableModel(RowsTableModel):
    """The attendance sheet: one row per person and local day (first in, last out, hours)."""

    COLUMNS = ("Day", "Person", "First in", "Last out", "Hours (h:mm)")

    def __init__(self, source: AttendanceSource) -> None:
        super().__init__()
        self.source = source
        self._rows: list[AttendanceRow] = []
        self.day_from = date.today() - timedelta(days=6)
        self.day_to = date.today()

    def load(self, day_from: date, day_to: date) -> None:
        self.beginResetModel()
        self.day_from, self.day_to = day_from, day_to
        self._rows = self.source.attendance(day_from, day_to)
        self.endResetModel()

    def row_at(self, row: int) -> AttendanceRow | None:
        r: AttendanceRow | None = super().row_at(row)
        return r

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        r: AttendanceRow | None = self._row_of(index)
        if r is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                f"{r.day:%a %Y-%m-%d}", r.name,
                "" if r.first_in is None else f"{_local(r.first_in):%H:%M:%S}",  # only an exit that day
                "" if r.last_out is None else f"{_local(r.last_out):%H:%M:%S}",  # only an entry that day
                "" if r.hours is None else hours_minutes(r.hours),
            )[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 4:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return r
        return None
