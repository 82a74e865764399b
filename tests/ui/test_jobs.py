"""Background jobs report their state in the core's vocabulary (JobState) through real pool threads."""

from __future__ import annotations

import threading
from typing import Any

from desktop_app.core.errors import CancelledError
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.vocabulary import JobState
from desktop_app.ui.jobs import JobRunner


def test_jobs_go_from_queued_through_running_to_one_final_state(qtbot: Any) -> None:
    runner = JobRunner()
    gate = threading.Event()
    seen_running: list[JobState] = []

    def work(progress: ProgressFn, cancelled: CancelFn) -> int:
        seen_running.append(job.state)
        gate.wait(5)
        return 42

    def fail(progress: ProgressFn, cancelled: CancelFn) -> None:
        raise ValueError("the disk is full")

    def stop(progress: ProgressFn, cancelled: CancelFn) -> None:
        raise CancelledError("cancelled by the user")

    job = runner.start(work, "work")
    assert job.state is JobState.QUEUED and not job.state.final
    with qtbot.waitSignal(job.signals.succeeded, timeout=5000) as ok:
        gate.set()
    assert ok.args == [42] and seen_running == [JobState.RUNNING] and job.state is JobState.SUCCEEDED
    bad = runner.start(fail, "fail")
    with qtbot.waitSignal(bad.signals.failed, timeout=5000):
        pass
    assert bad.state == "failed" and bad.state.final
    halted = runner.start(stop, "stop")
    with qtbot.waitSignal(halted.signals.cancelled, timeout=5000):
        pass
    assert halted.state is JobState.CANCELLED
    assert runner.shutdown(5000)


def test_a_result_still_queued_when_the_runner_shuts_down_is_dropped(qtbot: Any) -> None:
    """The window closes (``shutdown``) after a job finished in its pool thread but before the GUI
    thread got its result: the result and ``finished`` are dropped, not delivered to pages whose
    database is closed by then. The same job, not shut down, delivers them."""
    from PySide6.QtCore import QCoreApplication

    for shut in (False, True):
        release = threading.Event()

        def work(progress: ProgressFn, cancelled: CancelFn, release: threading.Event = release) -> int:
            release.wait(5)
            progress(1, 1, "done")
            return 7

        runner = JobRunner()
        got: list[object] = []
        job = runner.start(work, "late", setup=lambda j, got=got: (
            j.signals.succeeded.connect(got.append), j.signals.progress.connect(lambda *a: got.append(a)),
            j.signals.finished.connect(lambda: got.append("end"))))
        qtbot.waitUntil(lambda job=job: job.state is JobState.RUNNING, timeout=5000)  # the pool started it
        release.set()
        # the pool thread has left run() (every report emitted); the reports wait in the GUI queue
        assert runner.pool.waitForDone(5000) and got == []
        if shut:
            runner.shutdown()
        for _ in range(5):
            QCoreApplication.processEvents()
        assert got == ([] if shut else [(1, 1, "done"), 7, "end"]), got
