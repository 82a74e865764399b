"""A list of photo files shown as thumbnails, filled by drag and drop (files or folders) or by code.

The photos are read and scaled in the job pool, a few at a time, so a dropped folder of large photos
never blocks the GUI thread; each item shows its file name at once and its thumbnail when ready."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.video.imageio import IMAGE_SUFFIXES, read_image

from ..jobs import Job, JobRunner
from ..qtimage import bgr_to_qimage
from .common import THUMB

THUMBS_PER_JOB = 8
"""Photos read by one thumbnail job: the thumbnails appear in batches of this many."""

Thumbnails = list[tuple[str, QImage | None]]
"""(path, thumbnail of at most THUMB x THUMB pixels, or None when the file cannot be read)."""


def read_thumbnails(paths: Sequence[Path], cancelled: CancelFn) -> Thumbnails:
    """Read and scale ``paths`` (any thread: QImage only, no QPixmap); stops early when cancelled."""
    out: Thumbnails = []
    for path in paths:
        if cancelled():
            break
        try:
            image: QImage | None = bgr_to_qimage(read_image(path)).scaled(
                THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        except Exception:  # any unreadable file: the list says so, enrolment gives the reason
            image = None
        out.append((str(path), image))
    return out


class PhotoDropList(QListWidget):
    """Photo files as thumbnails; accepts files and folders dropped from a file manager.
    ``files_changed()`` after files were added or removed. jobs: reads the thumbnails."""

    files_changed = Signal()

    def __init__(self, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self._loading: set[Job] = set()
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

    @property
    def loading(self) -> bool:
        """Thumbnails are still being read."""
        return bool(self._loading)

    def add_paths(self, paths: Sequence[Path]) -> int:
        """Add image files (folders are expanded, non-images ignored); returns how many were added.
        Their thumbnails follow from the job pool."""
        known = {str(p) for p in self.files()}
        added: list[Path] = []
        for path in paths:
            items = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
            for p in items:
                if p.suffix.lower() not in IMAGE_SUFFIXES or str(p) in known:
                    continue
                item = QListWidgetItem(p.name)
                item.setData(Qt.ItemDataRole.UserRole, str(p))
                item.setToolTip(str(p))
                self.addItem(item)
                known.add(str(p))
                added.append(p)
        for start in range(0, len(added), THUMBS_PER_JOB):
            self._read_thumbnails(added[start:start + THUMBS_PER_JOB])
        if added:
            self.files_changed.emit()
        return len(added)

    def _read_thumbnails(self, paths: list[Path]) -> None:
        def work(progress: ProgressFn, cancelled: CancelFn) -> Thumbnails:
            return read_thumbnails(paths, cancelled)

        job = self.jobs.start(work, "photo thumbnails")
        self._loading.add(job)
        job.signals.succeeded.connect(self._show_thumbnails)
        job.signals.finished.connect(lambda: self._loading.discard(job))

    def _show_thumbnails(self, thumbnails: Thumbnails) -> None:
        rows = {str(self.item(i).data(Qt.ItemDataRole.UserRole)): i for i in range(self.count())}
        for path, image in thumbnails:
            row = rows.get(path)
            if row is None:  # removed meanwhile
                continue
            item = self.item(row)
            if image is None:
                item.setText(f"{Path(path).name}\n(unreadable)")
            else:
                item.setIcon(QIcon(QPixmap.fromImage(image)))

    def stop_loading(self) -> None:
        """Cancel the thumbnail jobs (the list is closing)."""
        for job in list(self._loading):
            job.cancel()

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
