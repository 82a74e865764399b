"""One-off background jobs (bulk enrolment, re-embedding, exports) in a ``QThreadPool``.

A :class:`Job` runs ``fn(progress, cancelled)`` in a pool thread; ``progress(done, total, message)``
and the outcome reach the GUI thread through queued signals. ``cancel()`` only sets a flag that the
function polls through ``cancelled()``; a job that raises
:class:`~desktop_app.core.errors.CancelledError` ends as cancelled.

The public :class:`JobSignals` are emitted in the GUI thread by the job's relay, which drops what
arrives after the job was detached (``JobRunner.shutdown``): a result still queued when the window
closed never reaches a page whose database is closed by then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

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


class _Relay(QObject):
    """Lives in the GUI thread: the pool thread emits the ``raw_*`` signals (queued to here), and
    the public signals follow unless the job was detached."""

    raw_progress = Signal(int, int, str)
    raw_succeeded = Signal(object)
    raw_failed = Signal(str, object)
    raw_cancelled = Signal()
    raw_finished = Signal()

    def __init__(self, public: JobSignals) -> None:
        super().__init__()
        self.public = public
        self.detached = False
        self.raw_progress.connect(self._progress)
        self.raw_succeeded.connect(self._succeeded)
        self.raw_failed.connect(self._failed)
        self.raw_cancelled.connect(self._cancelled)
        self.raw_finished.connect(self._finished)

    @Slot(int, int, str)
    def _progress(self, done: int, total: int, message: str) -> None:
        if not self.detached:
            self.public.progress.emit(done, total, message)

    @Slot(object)
    def _succeeded(self, result: object) -> None:
        if not self.detached:
            self.public.succeeded.emit(result)

    @Slot(str, object)
    def _failed(self, message: str, exc: object) -> None:
        if not self.detached:
            self.public.failed.emit(message, exc)

    @Slot()
    def _cancelled(self) -> None:
        if not self.detached:
            self.public.cancelled.emit()

    @Slot()
    def _finished(self) -> None:
        if not self.detached:
            self.public.finished.emit()


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
        self._relay = _Relay(self.signals)
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

    def detach(self) -> None:
        """Deliver nothing more (GUI thread): the receivers are going away."""
        self._relay.detached = True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ended (tests, shutdown); True when it did."""
        return self._done.wait(timeout)

    def run(self) -> None:
        self._state = JobState.RUNNING
        try:
            result = self.fn(self._progress, self._cancel.is_set)
        except CancelledError:
            self._state = JobState.CANCELLED
            self._relay.raw_cancelled.emit()
        except Exception as exc:
            log.warning("Job %s failed: %s", self.name, exc, exc_info=True)
            self._state = JobState.FAILED
            self._relay.raw_failed.emit(str(exc) or type(exc).__name__, exc)
        else:
            if self._cancel.is_set():
                self._state = JobState.CANCELLED
                self._relay.raw_cancelled.emit()
            else:
                self._state = JobState.SUCCEEDED
                self._relay.raw_succeeded.emit(result)
        finally:
            self._done.set()
            self._relay.raw_finished.emit()

    def _progress(self, done: int, total: int, message: str) -> None:
        self._relay.raw_progress.emit(int(done), int(total), str(message))


class JobRunner(QObject):
    """Starts jobs on a thread pool and keeps them alive until they finish; ``shutdown`` cancels all."""

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool(self)
        if pool is None:
            self.pool.setMaxThreadCount(2)
        self._jobs: set[Job] = set()

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

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel and detach every job (what they still report is dropped: the window and its
        database are going away) and wait for the pool; True when all ended in time."""
        for job in list(self._jobs):
            job.cancel()
            job.detach()
        return bool(self.pool.waitForDone(timeout_ms))
