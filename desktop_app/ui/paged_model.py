"""Table models shared by the list pages: a flat table over a list of rows with fixed headers
(:class:`RowsTableModel`), and one that pages its rows from the store as the view scrolls
(:class:`PagedTableModel`, used by the Events and the Audit pages).

Paging: the view asks for more rows as it scrolls (``canFetchMore`` / ``fetchMore``); each page is
one query of the filter with a limit and an offset (:meth:`PagedTableModel.query`), the total one
count (:meth:`PagedTableModel.count`). Rows are de-duplicated by their ``id``, so rows written while
paging (they shift the offsets) are not shown twice; an empty page (rows deleted meanwhile) stops
the paging.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex


class RowsTableModel(QAbstractTableModel):
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

    def row_at(self, row: int) -> Any:
        """The row's record, or None out of range."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def _row_of(self, index: Index) -> Any:
        """The record of a valid index, else None (the start of every ``data``)."""
        return self._rows[index.row()] if index.isValid() and 0 <= index.row() < len(self._rows) else None


class PagedTableModel(RowsTableModel):
    """Rows (records with an ``id``) of ``filter``, ``page_size`` at a time (module docstring).
    Subclasses give :meth:`count` and :meth:`query`, and ``data``."""

    def __init__(self, flt: Any, page_size: int) -> None:
        super().__init__()
        self.page_size = page_size
        self.filter = flt
        self._rows: list[Any] = []
        self._ids: set[int] = set()
        self._total = 0
        self.pages_fetched = 0

    def count(self, flt: Any) -> int:
        """Rows matching ``flt`` in the store."""
        raise NotImplementedError

    def query(self, flt: Any, limit: int, offset: int) -> list[Any]:
        """One page of rows matching ``flt``, in display order."""
        raise NotImplementedError

    @property
    def total(self) -> int:
        """Rows matching the filter in the store (at the last refresh)."""
        return self._total

    def set_filter(self, flt: Any) -> None:
        self.filter = flt
        self.refresh()

    def refresh(self) -> None:
        """Reload from the store: the count and the first page."""
        self.beginResetModel()
        self._rows, self._ids = [], set()
        self._total = self.count(self.filter)
        self.pages_fetched = 0
        self.endResetModel()
        if self.canFetchMore(QModelIndex()):
            self.fetchMore(QModelIndex())

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and len(self._rows) < self._total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid():
            return
        page = self.query(self.filter, self.page_size, len(self._rows))
        self.pages_fetched += 1
        if not page:
            self._total = len(self._rows)  # rows were deleted meanwhile: stop asking
            return
        new = [r for r in page if r.id not in self._ids]  # rows written while paging shift the offsets
        if not new:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        self._rows.extend(new)
        self._ids.update(r.id for r in new)
        self.endInsertRows()
