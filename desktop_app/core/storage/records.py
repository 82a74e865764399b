"""Rows returned by the event store: frozen dataclasses, plain Python values.

Times are timezone-aware ``datetime`` objects in UTC (convert with ``.astimezone()`` for display);
attendance days are ``date`` objects in the store's local time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from desktop_app.core.vocabulary import Decision

DECISIONS: Final[frozenset[str]] = frozenset(d.value for d in Decision)
"""Allowed values of an event's ``decision``."""


@dataclass(frozen=True)
class Person:
    """An enrolled person.

    name: unique case-insensitively among people without an employee ID; people who each have one
    may share a name (the employee ID then tells them apart); employee_id: unique when set; active: inactive people keep
    their samples but are left out of recognition; n_samples: face samples stored for them.
    """

    id: int
    name: str
    employee_id: str | None
    department: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    n_samples: int = 0


@dataclass(frozen=True)
class Sample:
    """One enrolled face sample, without its crop bytes (see ``Store.sample_crop``).

    quality: the quality measures given at enrolment (JSON object); source: where the face came
    from (file name, "camera:0", ...); models: sha256 of every model a template exists for.
    """

    id: int
    person_id: int
    quality: Mapping[str, object]
    source: str
    created_at: datetime
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventRecord:
    """One recognition event.

    name: the person's current name, None for unknown faces and erased people; person_ref:
    ``"person-<id>"`` for a known person, ``"erased-<8 hex>"`` once that person was erased, None for
    unknown faces; score: cosine similarity of the best match; has_snapshot: a JPEG is stored;
    candidates: for an "ambiguous" event, the current names of the two people the face matched
    too closely to tell apart (an erased one shows as "an erased person"), else ().
    door: the door's name, None for an event of a camera that serves no door (``run --source``);
    direction: "in" or "out", the way the door's camera faces, None without a door; reason: why
    the door decided so (an :class:`~desktop_app.core.vocabulary.AccessReason` value, e.g.
    "outside schedule"), None for events stored before access control; liveness: for a "spoof"
    event, why the liveness check refused the face (sentences), else ().
    """

    id: int
    ts: datetime
    person_id: int | None
    person_ref: str | None
    name: str | None
    score: float
    decision: str
    camera: str
    model_sha256: str
    track_id: int | None
    has_snapshot: bool
    candidates: tuple[str, ...] = ()
    door: str | None = None
    direction: str | None = None
    reason: str | None = None
    liveness: tuple[str, ...] = ()

    @property
    def who(self) -> str:
        """Who the event is about, in words: the name, "ambiguous: A or B", the erased or unknown face."""
        if self.candidates:
            return "ambiguous: " + " or ".join(self.candidates)
        if self.decision == "ambiguous":
            return "ambiguous face"
        if self.name:
            return self.name
        if self.person_ref and self.person_ref.startswith("erased"):
            return "(erased person)"
        return "unknown face"


@dataclass(frozen=True)
class AttendanceRow:
    """First arrival and last departure of a person on one local day.

    Granted passages count by the direction of the camera that saw them: an entry camera ("in")
    moves only first_in (the earliest), an exit camera ("out") only last_out (the latest); a
    passage without a direction (a single camera, ``run --source``) moves both.
    first_in/last_out: aware UTC datetimes, None when the day has no entry (only an exit) or no
    exit (only an entry); hours: ``last_out - first_in`` in hours (0.0 for a single passage seen
    by a camera without direction), None when one end is missing or the exit came first.
    """

    person_id: int
    name: str
    day: date
    first_in: datetime | None
    last_out: datetime | None
    hours: float | None


@dataclass(frozen=True)
class ModelRecord:
    """A registered embedding model (its file lives in a folder managed elsewhere).

    path: file location as text; input_size: side of the square aligned face in pixels (112);
    embedding_dim: length D of its embeddings; threshold: calibrated cosine threshold or None;
    target_fpir: false positive identification rate the threshold was chosen for; gallery_size:
    persons in the gallery at calibration; parent_sha256: model it was fine-tuned from;
    metrics_json: free-form evaluation results as JSON text.
    """

    name: str
    sha256: str
    path: str
    input_size: int = 112
    embedding_dim: int = 128
    threshold: float | None = None
    target_fpir: float | None = None
    gallery_size: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    parent_sha256: str | None = None
    metrics_json: str | None = None


@dataclass(frozen=True)
class AuditRow:
    """One administrative action: who did what, when, with JSON details; row_hash: its link in
    the audit log's hash chain (64 hex; see ``audit_chain``), None for a row written outside FaceGate."""

    id: int
    ts: datetime
    actor: str
    action: str
    details: Mapping[str, object]
    row_hash: str | None = None


@dataclass(frozen=True)
class ErasureReport:
    """What ``Store.erase_person`` (or ``FaceGate.erase_person``) did, and what is still pending.

    person_ref: the anonymous reference now held by the person's former events; samples /
    templates / attendance_days: rows deleted; events_anonymised: events whose person link was
    cut; snapshots_deleted: event JPEGs removed; audit_rows_scrubbed: audit rows whose details
    named the person.

    purged: no copy of the erased data is left on disk: the write-ahead log was checkpointed and
    truncated (and, for ``FaceGate.erase_person``, the saved gallery index rewritten or deleted).
    pending: when not purged, one sentence per thing not done yet and why (for example
    "write-ahead log not yet checkpointed: another program is reading the database ..."); the
    rows are deleted either way, and the pending purge is recorded in the database and finished
    by the next open of the store or by ``FaceGate.finish_pending_purges``. It may also say that
    the audit row could not be written yet (it is written with the purge).
    """

    person_id: int
    person_ref: str
    samples: int
    templates: int
    attendance_days: int
    events_anonymised: int
    snapshots_deleted: int
    audit_rows_scrubbed: int
    purged: bool
    pending: tuple[str, ...] = ()
    #: faces stored with their events (``event_faces``) deleted
    event_faces_deleted: int = 0
