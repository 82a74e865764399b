"""Conversion of database rows (dicts from ``Database.query``) into the records of ``records``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from desktop_app.core.storage import codecs, times
from desktop_app.core.storage.records import EventRecord, ModelRecord, Person

PERSON_SELECT: Final[str] = (
    "SELECT p.*, (SELECT count(*) FROM samples s WHERE s.person_id = p.id) AS n_samples FROM people p"
)
EVENT_SELECT: Final[str] = (
    "SELECT e.id, e.ts, e.person_id, e.person_ref, p.name, e.score, e.decision, e.camera, "
    "e.model_sha256, e.track_id, e.snapshot_jpg IS NOT NULL AS has_snapshot, e.door, e.direction, e.reason, "
    # an ambiguous event's candidates: ids in detail_json, names read now (erased: a placeholder)
    "(SELECT group_concat(coalesce(c.name, 'an erased person'), char(31)) FROM ("
    "SELECT j.key, j.value FROM json_each(CASE WHEN json_valid(e.detail_json) THEN e.detail_json ELSE '{}' END,"
    " '$.candidates') j ORDER BY j.key) jc LEFT JOIN people c ON c.id = jc.value) AS candidate_names, "
    # a spoof event's liveness reasons (sentences), joined the same way
    "(SELECT group_concat(j.value, char(31)) FROM json_each(CASE WHEN json_valid(e.detail_json)"
    " THEN e.detail_json ELSE '{}' END, '$.liveness') j) AS liveness_reasons "
    "FROM events e LEFT JOIN people p ON p.id = e.person_id"
)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def person_from_row(row: Mapping[str, Any]) -> Person:
    """Person of a ``PERSON_SELECT`` row."""
    return Person(
        id=int(row["id"]),
        name=str(row["name"]),
        employee_id=row["employee_id"],
        department=row["department"],
        active=bool(row["active"]),
        created_at=times.from_db(row["created_at"]),
        updated_at=times.from_db(row["updated_at"]),
        n_samples=int(row["n_samples"]),
    )


def event_from_row(row: Mapping[str, Any]) -> EventRecord:
    """EventRecord of an ``EVENT_SELECT`` row."""
    return EventRecord(
        id=int(row["id"]),
        ts=times.from_db(row["ts"]),
        person_id=_opt_int(row["person_id"]),
        person_ref=row["person_ref"],
        name=row["name"],
        score=float(row["score"]),
        decision=str(row["decision"]),
        camera=str(row["camera"]),
        model_sha256=str(row["model_sha256"]),
        track_id=_opt_int(row["track_id"]),
        has_snapshot=bool(row["has_snapshot"]),
        candidates=tuple(str(row["candidate_names"]).split("\x1f")) if row.get("candidate_names") else (),
        door=row.get("door"),
        direction=row.get("direction"),
        reason=row.get("reason"),
        liveness=tuple(str(row["liveness_reasons"]).split("\x1f")) if row.get("liveness_reasons") else (),
    )


def model_from_row(row: Mapping[str, Any]) -> ModelRecord:
    """ModelRecord of a ``models`` row."""
    return ModelRecord(
        name=str(row["name"]),
        sha256=str(row["sha256"]),
        path=str(row["path"]),
        input_size=int(row["input_size"]),
        embedding_dim=int(row["embedding_dim"]),
        threshold=_opt_float(row["threshold"]),
        target_fpir=_opt_float(row["target_fpir"]),
        gallery_size=_opt_int(row["gallery_size"]),
        created_at=times.from_db(row["created_at"]),
        parent_sha256=row["parent_sha256"],
        metrics_json=row["metrics_json"],
    )


def json_object(text: str) -> dict[str, object]:
    """Stored JSON text as a dict (a non-object value is wrapped as ``{"value": ...}``)."""
    value = codecs.from_json(text)
    return dict(value) if isinstance(value, dict) else {"value": value}
