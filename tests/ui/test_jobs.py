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
