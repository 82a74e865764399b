"""What the pages of the enrolment wizard share: who is enrolled (:class:`EnrolDetails`), label
helpers, and :class:`SavingPage`, a page that saves an enrolment in the job pool (never on the
GUI thread)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QWidget

from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.service import EnrolReport

from ..jobs import Job, JobRunner

THUMB = 96
"""Side of the photo and result thumbnails, pixels."""

EnrolWork = Callable[[ProgressFn, CancelFn], EnrolReport]
"""An enrolment run in the job pool: ``work(progress, cancelled) -> EnrolReport``."""


@dataclass(frozen=True)
class EnrolDetails:
    """Who is enrolled: name (stripped, never empty), employee id and department (None when blank)."""

    name: str
    employee_id: str | None
    department: str | None


def title_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "title")
    return label


def hint_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "hint")
    label.setWordWrap(True)
    return label


class SavingPage(QWidget):
    """A wizard page whose enrolment runs as one job of the pool.

    Signals: ``busy_changed(bool)`` when the job starts and ends; ``enrolled(EnrolReport)`` after a
    save, once the page is no longer busy. Subclasses show progress and failures through
    ``_on_progress``, ``_on_failed`` and ``_on_cancelled``, and tidy up in ``_on_ended``.
    """

    enrolled = Signal(object)
    busy_changed = Signal(bool)
    #: the name the audit log gets for the enrolment (the wizard sets the account logged in)
    actor: str = "admin"

    def __init__(self, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.job: Job | None = None
        self._report: object | None = None

    @property
    def busy(self) -> bool:
        return self.job is not None

    def _start(self, work: EnrolWork, name: str) -> None:
        job = self.jobs.start(work, name)
        self.job = job
        job.signals.progress.connect(self._on_progress)
        self._report = None
        job.signals.succeeded.connect(self._keep_report)
        job.signals.failed.connect(lambda message, _exc: self._on_failed(message))
        job.signals.cancelled.connect(self._on_cancelled)
        job.signals.finished.connect(self._ended)
        self.busy_changed.emit(True)

    def cancel(self) -> None:
        """Ask the running job to stop (it stops before anything is stored, or not at all)."""
        if self.job is not None:
            self.job.cancel()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel the running job and wait for it (the dialog is closing)."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait(timeout_s)

    def _keep_report(self, report: object) -> None:
        self._report = report

    def _ended(self) -> None:
        # ``enrolled`` comes after the page stopped being busy, so whatever it shows (the result
        # page and its "add anyway" button) can act at once
        self.job, report, self._report = None, self._report, None
        self._on_ended()
        self.busy_changed.emit(False)
        if report is not None:
            self.enrolled.emit(report)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        """A progress report of the job (GUI thread)."""

    def _on_failed(self, message: str) -> None:
        """The job raised: ``message`` says why; nothing was stored."""

    def _on_cancelled(self) -> None:
        """The job was cancelled before it stored anything."""

    def _on_ended(self) -> None:
        """The job ended, whatever the outcome (before ``busy_changed(False)``)."""
