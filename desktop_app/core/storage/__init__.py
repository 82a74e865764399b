"""FaceGate's event store: people, face samples and templates, events, attendance, audit log,
model registry, calibrations, stranger embeddings and settings in one SQLite file.

See ``store.Store`` for the API and ``times`` for the time conventions.
"""

from __future__ import annotations

from desktop_app.core.storage.records import (
    DECISIONS,
    AttendanceRow,
    AuditRow,
    ErasureReport,
    EventRecord,
    ModelRecord,
    Person,
    Sample,
)
from desktop_app.core.storage.schema import SCHEMA_VERSION
from desktop_app.core.storage.store import Store

__all__ = [
    "DECISIONS",
    "SCHEMA_VERSION",
    "AttendanceRow",
    "AuditRow",
    "ErasureReport",
    "EventRecord",
    "ModelRecord",
    "Person",
    "Sample",
    "Store",
]
