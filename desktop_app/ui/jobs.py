"""One-off background jobs (bulk enrolment, re-embedding, exports) in a ``QThreadPool``.

A :class:`Job` runs ``fn(progress, cancelled)`` in a pool thread; ``progress(done, total, message)``
and the outcome reach the GUI thread through queued signals. ``cancel()`` only sets a flag that the
function polls through ``cancelled()``; a job that raises
:class:`~desktop_app.core.errors.CancelledError` ends as cancelled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from desktop_app.core.errors import CancelledError
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.vocabulary import JobState

log = logging.getLogger(__name__)


class JobSignals(QObject):
    """progress(done, total, message); succeeded(result); failed(message, exception); cancelled();
    finished() always comes last."""

    progress = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(str, object)
    cancelled = Signal()
    finished = Signal()


class Job(QRunnable):
    """A cancellable function run in a QThreadPool, reporting through :attr:`signals`.

    fn: ``fn(progress, cancelled) -> result``; name: shown in logs; :attr:`state`: a
    :class:`~desktop_app.core.vocabulary.JobState` (queued, running, then succeeded, failed or
    cancelled).
    """

    def __init__(self, fn: Callable[[ProgressFn, CancelFn], Any], name: str = "job") -> None:
        super().__init__()
        self.setAutoDelete(False)  # the Python object owns it; kept alive by the JobRunner
        self.fn = fn
        self.name = name
        self.signals = JobSignals()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._state = JobState.QUEUED

    @property
    def state(self) -> JobState:
        """Where the job is in its life; final once :attr:`done`."""
        return self._state

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ended (tests, shutdown); True when it did."""
        return self._done.wait(timeout)

    def run(self) -> None:
        self._state = JobState.RUNNING
        try:
            result = self.fn(self._progress, self._cancel.is_set)
        except CancelledError:
            self._state = JobState.CANCELLED
            self.signals.cancelled.emit()
        except Exception as exc:
            log.warning("Job %s failed: %s", self.name, exc, exc_info=True)
            self._state = JobState.FAILED
            self.signals.failed.emit(str(exc) or type(exc).__name__, exc)
        else:
            if self._cancel.is_set():
                self._state = JobState.CANCELLED
                self.signals.cancelled.emit()
            else:
                self._state = JobState.SUCCEEDED
                self.signals.succeeded.emit(result)
        finally:
            self._done.set()
            self.signals.finished.emit()

    def _progress(self, done: int, total: int, message: str) -> None:
        self.signals.progress.emit(int(done), int(total), str(message))


class JobRunner(QObject):
    """Starts jobs on a thread pool and keeps them alive until they finish; ``shutdown`` cancels all."""

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool(self)
        if pool is None:
            self.pool.setMaxThreadCount(2)
        self._jobs: set[Job] = set()
        self._closed = False

    def start(self, fn: Callable[[ProgressFn, CancelFn], Any], name: str = "job",
              setup: Callable[[Job], object] | None = None) -> Job:
        """Run ``fn`` in the pool. The job is queued on the next turn of the event loop, so signals
        connected right after ``start`` returns (in the same GUI-thread call) are never missed, even
        by a job that finishes at once. ``setup(job)`` runs before that too."""
        job = Job(fn, name)
        self._jobs.add(job)
        job.signals.finished.connect(lambda j=job: self._jobs.discard(j))
        if setup is not None:
            setup(job)
        QTimer.singleShot(0, lambda: self.pool.start(job))
        return job

    @property
    def active(self) -> int:
        return sum(not j.done for j in self._jobs)

    @property
    def closed(self) -> bool:
        """``shutdown`` was called: a job's result still queued for the GUI thread may arrive after
        the database was closed, and a slot that would read it must do nothing."""
        return self._closed

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel every job and wait for the pool; True when all ended in time."""
        self._closed = True
        for job in list(self._jobs):
            job.cancel()
        return bool(self.pool.waitForDone(timeout_ms))
