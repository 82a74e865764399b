"""The one callback vocabulary of long jobs (enrolment, calibration, re-embedding, retraining).

``ProgressFn(done, total, message)`` reports progress: ``done`` and ``total`` are counts of the job's
own units (images, crops, epochs), ``message`` a short human line. ``CancelFn()`` is polled by the
job; True asks it to stop. A job that stops early raises :class:`~desktop_app.core.errors.CancelledError`.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[int, int, str], None]
"""progress(done, total, message)"""

CancelFn = Callable[[], bool]
"""cancelled() -> True to stop a long job"""
