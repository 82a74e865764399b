"""Table models of events (lazily paged from the store) and of the daily attendance sheet.

:class:`EventsTableModel` is a ``QAbstractTableModel``: the view asks for more rows as it scrolls
(``canFetchMore`` / ``fetchMore``), each page one ``FaceGate.query_events`` of the filter with a
limit and offset; the total comes from ``FaceGate.count_events``. Rows are de-duplicated by event
id, so events logged while paging (they shift offsets) are not shown twice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktop_app.core.storage.event_filter import EventFilter
from desktop_app.core.storage.records import AttendanceRow, EventRecord
from desktop_app.core.wording import hours_minutes

from . import theme

Index = QModelIndex | QPersistentModelIndex

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


class _RowsTableModel(QAbstractTableModel):
    """A flat table over ``self._rows`` with fixed ``COLUMNS`` headers: the shared model plumbing."""

    COLUMNS: tuple[str, ...] = ()
    _rows: list[Any]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None


class EventsTableModel(_RowsTableModel):
    """Events, newest first, ``page_size`` rows fetched at a time. Role ``Qt.UserRole`` gives the
    ``EventRecord`` of a row."""

    COLUMNS = ("Time", "Person", "Decision", "Score", "Camera", "Door", "Direction", "Reason")
    REASON_COLUMN = 7
    """Why the door decided so (an AccessReason value); "—" for events stored before access control."""

    def __init__(self, source: EventSource, page_size: int = 100) -> None:
        super().__init__()
        self.source = source
        self.page_size = page_size
        self.filter = EventFilter()
        self._rows: list[EventRecord] = []
        self._ids: set[int] = set()
        self._total = 0
        self.pages_fetched = 0

    # ------------------------------------------------------------------ loading
    @property
    def total(self) -> int:
        """Events matching the filter in the store (at the last refresh)."""
        return self._total

    def set_filter(self, flt: EventFilter) -> None:
        self.filter = flt
        self.refresh()

    def refresh(self) -> None:
        """Reload from the store: the count and the first page."""
        self.beginResetModel()
        self._rows = []
        self._ids = set()
        self._total = self.source.count_events(self.filter)
        self.pages_fetched = 0
        self.endResetModel()
        if self.canFetchMore(QModelIndex()):
            self.fetchMore(QModelIndex())

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and len(self._rows) < self._total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid():
            return
        page = self.source.query_events(replace(self.filter, limit=self.page_size, offset=len(self._rows)))
        self.pages_fetched += 1
        new = [ev for ev in page if ev.id not in self._ids]
        if not page:
            self._total = len(self._rows)  # events were deleted meanwhile: stop asking
            return
        if not new:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        self._rows.extend(new)
        self._ids.update(ev.id for ev in new)
        self.endInsertRows()

    def event_at(self, row: int) -> EventRecord | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    # ------------------------------------------------------------------ model API
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        ev = self._rows[index.row()]
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


class AttendanceTableModel(_RowsTableModel):
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
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
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
