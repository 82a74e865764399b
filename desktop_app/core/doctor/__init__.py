"""``facegate doctor``: find and repair damaged state in a FaceGate database and its data folder.

``run_doctor(db_path, repair=False, progress=None)`` is the one entry point; it needs no
``FaceGate`` (which may be unable to open) and returns a ``DoctorReport`` of ``Finding``s.
"""

from __future__ import annotations

from desktop_app.core.doctor.report import Check, DoctorReport, Finding, Severity
from desktop_app.core.doctor.run import run_doctor

__all__ = ["Check", "DoctorReport", "Finding", "Severity", "run_doctor"]
