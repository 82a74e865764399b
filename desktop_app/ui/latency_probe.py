"""Event-loop responsiveness of the GUI thread: a precise timer fires every ``interval_ms`` and records
how late each tick was. A frozen GUI shows up as large lateness (the tick waits for the loop)."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer


class LoopLatencyProbe(QObject):
    """Measures event-loop lateness in the thread it is created in (the GUI thread).

    lateness of a tick = time since the previous tick - interval, in milliseconds (>= 0).
    """

    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.lateness_ms: list[float] = []
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.lateness_ms.clear()
        self._last = None
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.lateness_ms.append(max(0.0, (now - self._last) * 1e3 - self.interval_ms))
        self._last = now

    def figures(self) -> dict[str, float]:
        """{"ticks", "mean", "p50", "p95", "p99", "max"} of the lateness, milliseconds."""
        if not self.lateness_ms:
            return {"ticks": 0.0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
        a = np.asarray(self.lateness_ms)
        return {"ticks": float(a.size), "mean": float(a.mean()), "p50": float(np.percentile(a, 50)),
                "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99)), "max": float(a.max())}
