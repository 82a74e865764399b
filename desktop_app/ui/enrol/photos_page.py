"""The wizard's photo path: photo files dropped or chosen in a file dialog, enrolled in the job pool
with a progress bar and a cancel button (a cancel stores nothing)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QProgressBar, QPushButton, QVBoxLayout, QWidget

from desktop_app.core.errors import CancelledError
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.service import EnrolReport, FaceGate
from desktop_app.core.video.imageio import IMAGE_SUFFIXES

from ..jobs import JobRunner
from .common import EnrolDetails, SavingPage, hint_label, title_label
from .photo_list import PhotoDropList

CANCELLED = "Enrolment cancelled: nothing was saved."


class PhotosPage(SavingPage):
    """Photo files to enrol (:attr:`photo_list`, whose ``files_changed()`` tells when the list changed)."""

    def __init__(self, gate: FaceGate, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(jobs, parent)
        self.gate = gate
        self.photo_list = PhotoDropList(jobs)
        self.add_btn = QPushButton("Add photos…")
        self.remove_btn = QPushButton("Remove selected")
        self.add_btn.clicked.connect(self.choose_photos)
        self.remove_btn.clicked.connect(self.photo_list.remove_selected)
        self.progress = QProgressBar()
        self.progress.hide()
        self.progress_label = hint_label("")
        self.cancel_btn = QPushButton("Cancel enrolment")
        self.cancel_btn.hide()
        self.cancel_btn.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_btn)
        buttons.addWidget(self.remove_btn)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(title_label("Photos"))
        lay.addWidget(hint_label("Drop photos or folders here, or use “Add photos…”. One person per photo, face "
                                 "clearly visible; several photos (different days, light) recognise better."))
        lay.addWidget(self.photo_list, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.progress_label)
        lay.addWidget(self.cancel_btn)

    def choose_photos(self) -> None:
        """The "Add photos…" button: a file dialog for image files."""
        files, _ = QFileDialog.getOpenFileNames(
            self, "Choose photos", str(Path.home()),
            "Images (" + " ".join(f"*{e}" for e in sorted(IMAGE_SUFFIXES)) + ")")
        self.photo_list.add_paths([Path(f) for f in files])

    def add_photos(self, paths: Sequence[Path]) -> int:
        """Add image files or folders; returns how many files were added."""
        return self.photo_list.add_paths(list(paths))

    def enrol(self, details: EnrolDetails, *, only: Sequence[str] | None = None, force: bool = False) -> None:
        """Enrol the listed photos (``only`` these sources) for ``details`` in the job pool;
        ``enrolled`` follows. ``force``: store shots the identity check refuses (audited)."""
        files = self.photo_list.files() if only is None else [Path(s) for s in only]
        if not files or self.busy:
            return
        gate = self.gate

        actor = self.actor

        def work(progress: ProgressFn, cancelled: CancelFn) -> EnrolReport:
            def step(done: int, total: int, message: str) -> None:
                progress(done, total, message)
                if cancelled():
                    # before anything is stored: a cancel keeps the database as it was
                    raise CancelledError(CANCELLED)

            return gate.enrol_images(details.name, files, employee_id=details.employee_id,
                                     department=details.department, progress=step, force=force, actor=actor)

        self.progress.setRange(0, len(files))
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_btn.show()
        self.progress_label.setText("Finding and checking the face in each photo…")
        self._start(work, "enrol photos")

    def cancel(self) -> None:
        if self.busy:
            super().cancel()
            self.progress_label.setText("Cancelling…")

    def stop(self, timeout_s: float = 10.0) -> None:
        self.photo_list.stop_loading()
        super().stop(timeout_s)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress_label.setText(f"{done} of {total}: {Path(message).name}")

    def _on_failed(self, message: str) -> None:
        self.progress_label.setText(f"Enrolment failed: {message}")

    def _on_cancelled(self) -> None:
        self.progress_label.setText(CANCELLED)

    def _on_ended(self) -> None:
        self.progress.hide()
        self.cancel_btn.hide()
