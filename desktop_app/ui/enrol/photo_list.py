"""A list of photo files shown as thumbnails, filled by drag and drop (files or folders) or by code."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QIcon
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from desktop_app.core.video.imageio import read_image
from desktop_app.core.video.sources import IMAGE_EXTENSIONS

from ..qtimage import bgr_to_pixmap
from .common import THUMB


class PhotoDropList(QListWidget):
    """Photo files as thumbnails; accepts files and folders dropped from a file manager.
    ``files_changed()`` after files were added or removed."""

    files_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 40, THUMB + 36))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setWordWrap(True)
        self.setAcceptDrops(True)
        self.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.setMinimumHeight(220)

    def files(self) -> list[Path]:
        return [Path(self.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.count())]

    def add_paths(self, paths: Sequence[Path]) -> int:
        """Add image files (folders are expanded, non-images ignored); returns how many were added."""
        known = {str(p) for p in self.files()}
        added = 0
        for path in paths:
            items = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
            for p in items:
                if p.suffix.lower() not in IMAGE_EXTENSIONS or str(p) in known:
                    continue
                item = QListWidgetItem(p.name)
                item.setData(Qt.ItemDataRole.UserRole, str(p))
                item.setToolTip(str(p))
                try:
                    item.setIcon(QIcon(bgr_to_pixmap(read_image(p), THUMB)))
                except Exception:
                    item.setText(f"{p.name}\n(unreadable)")
                self.addItem(item)
                known.add(str(p))
                added += 1
        if added:
            self.files_changed.emit()
        return added

    def remove_selected(self) -> None:
        for item in self.selectedItems():
            self.takeItem(self.row(item))
        self.files_changed.emit()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            super().dropEvent(event)
            return
        self.add_paths([Path(u.toLocalFile()) for u in urls])
        event.acceptProposedAction()
