"""The face behind a door event: its embedding and aligned crop, kept encrypted (issue 14).

One ``event_faces`` row per event that had a face (``event_id`` is the event's id; deleting the
event deletes it, ``ON DELETE CASCADE``): the model that embedded it, the embedding (``vector``,
(D,) float32, L2-normalised) and the aligned 112x112 BGR crop (``crop_png``), both encrypted with
the store's data key and bound to the event id (``sealing``), and the face's quality measures.
The unknown-faces library (:mod:`desktop_app.core.unknowns`) groups the faces of *unknown* events
into clusters (``cluster_id``).

On its way to the database the face travels packed (:func:`pack_face`: quality, embedding, PNG in
one value) with the event, and while the event waits in the event spool the packed face is
encrypted under the event's uid (``seal_spooled_face``), like its snapshot.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import numpy as np

from desktop_app.core.errors import StorageError
from desktop_app.core.protection import envelope
from desktop_app.core.protection.errors import DataDamagedError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.storage import codecs, times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.rows import json_object
from desktop_app.core.storage.sealing import SealingBase
from desktop_app.core.storage.sqlerrors import mapped
from desktop_app.core.storage.validate import as_int, required_text

log = logging.getLogger(__name__)

_MAGIC: Final[bytes] = b"FGF1"
_HEAD: Final = struct.Struct("<4sI")


def pack_face(vector: np.ndarray, crop: np.ndarray, quality: Mapping[str, object]) -> bytes:
    """One value holding a face: ``vector`` (D,) float32 embedding, ``crop`` (112, 112, 3) uint8
    BGR aligned face (kept as PNG), ``quality`` JSON-able measures. ValueError for malformed input."""
    vec = codecs.as_vector(vector)
    png = codecs.encode_crop(crop)
    head = json.dumps({"dim": int(vec.shape[0]), "quality": json.loads(codecs.to_json(dict(quality), "quality"))},
                      separators=(",", ":")).encode()
    return _HEAD.pack(_MAGIC, len(head)) + head + codecs.vector_to_blob(vec) + png


def unpack_face(blob: bytes) -> tuple[np.ndarray, bytes, dict[str, object]]:
    """(vector (D,) float32, crop PNG bytes, quality) of a :func:`pack_face` value; ValueError when malformed."""
    if len(blob) < _HEAD.size:
        raise ValueError("a packed face is too short")
    magic, n = _HEAD.unpack_from(blob)
    if magic != _MAGIC or len(blob) < _HEAD.size + n:
        raise ValueError("not a packed face")
    try:
        head = json.loads(blob[_HEAD.size:_HEAD.size + n])
        dim = int(head["dim"])
        quality = dict(head["quality"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"a packed face has a damaged header: {exc}") from None
    start = _HEAD.size + n
    if dim < 1 or len(blob) < start + 4 * dim + 8:
        raise ValueError("a packed face is cut short")
    vec = np.frombuffer(blob[start:start + 4 * dim], dtype="<f4").astype(np.float32)
    return codecs.as_vector(vec), bytes(blob[start + 4 * dim:]), quality


@dataclass(frozen=True, eq=False)
class EventFace:
    """The face of one door event.

    vector: (D,) float32, L2-normalised embedding by ``model_sha256``; crop: (112, 112, 3) uint8
    BGR aligned face; quality: the face's measures (``FaceQuality`` fields); ts: the event's time
    (aware, UTC); decision: the event's decision; cluster_id: its unknown-faces cluster (None: not
    clustered, or not an unknown event).
    """

    event_id: int
    model_sha256: str
    vector: np.ndarray = field(repr=False)
    crop: np.ndarray = field(repr=False)
    quality: dict[str, object]
    ts: datetime
    decision: str
    cluster_id: int | None = None


_FACE_SELECT: Final[str] = (
    "SELECT f.event_id, f.model_sha256, f.dim, f.quality_json, f.cluster_id, f.vector, f.crop_png, e.ts, e.decision"
    " FROM event_faces f JOIN events e ON e.id = f.event_id"
)


class EventFacesMixin(SealingBase):
    """Event face methods of ``Store`` (``EventsMixin`` writes them with the event)."""

    def seal_spooled_face(self, uid: str, packed: bytes) -> bytes:
        """``packed`` (:func:`pack_face`) encrypted for the event spool under the event's ``uid``
        (unchanged when the database is not encrypted); ``log_event`` decrypts it."""
        with self._lock:
            self._require_unlocked()
            keys = self._keys
            return bytes(packed) if keys is None else keys.seal(SealedField.SPOOLED_FACE, required_text(uid, "uid"),
                                                                bytes(packed))

    def _put_event_face(self, event_id: int, uid: str, model_sha256: str, face: bytes) -> None:
        """Store the face of a new event (inside its transaction). ``face``: packed, possibly
        encrypted for the spool under ``uid``; a face that no longer decrypts or is malformed is
        dropped with a warning (the event is kept)."""
        try:
            if envelope.is_sealed(face):
                face = self._unseal(SealedField.SPOOLED_FACE, uid, face, f"the face of spooled event {uid}")
            vector, png, quality = unpack_face(face)
        except (DataDamagedError, ValueError) as exc:
            log.warning("The face of event %d is not stored: %s", event_id, exc)
            return
        dim = int(vector.shape[0])
        self.db.execute(
            "INSERT INTO event_faces (event_id, model_sha256, dim, quality_json, vector, crop_png)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (event_id, model_sha256, dim, codecs.to_json(quality, "quality"),
             self._seal(SealedField.EVENT_FACE_VECTOR, event_id, codecs.vector_to_blob(vector)),
             self._seal(SealedField.EVENT_FACE_CROP, event_id, png)),
        )

    def _face_from_row(self, row: Sequence[Any]) -> EventFace:
        eid, model, dim = int(row[0]), str(row[1]), int(row[2])
        vec = codecs.blob_to_vector(self._unseal(SealedField.EVENT_FACE_VECTOR, eid, bytes(row[5]),
                                                 f"the face embedding of event {eid}"), dim)
        crop = codecs.decode_crop(self._unseal(SealedField.EVENT_FACE_CROP, eid, bytes(row[6]),
                                               f"the face crop of event {eid}"))
        return EventFace(event_id=eid, model_sha256=model, vector=vec, crop=crop,
                         quality=json_object(str(row[3])), ts=times.from_db(str(row[7])), decision=str(row[8]),
                         cluster_id=None if row[4] is None else int(row[4]))

    @api("reading the face of an event")
    def event_face(self, event_id: int) -> EventFace | None:
        """The face stored with the event, None when it has none (or there is no such event).
        DataLockedError when the face data is locked; DataDamagedError / StorageError when damaged."""
        eid = as_int(event_id, "event_id")
        row = self.db.execute(_FACE_SELECT + " WHERE f.event_id = ?", (eid,)).fetchone()
        return None if row is None else self._face_from_row(tuple(row))

    @api("reading the faces of events")
    def event_faces(self, event_ids: list[int]) -> list[EventFace]:
        """The faces of these events (those that have one, in the order of ``event_ids``); a
        damaged face is left out with a warning."""
        ids = [as_int(e, "event_id") for e in event_ids]
        out: list[EventFace] = []
        for eid in ids:
            row = self.db.execute(_FACE_SELECT + " WHERE f.event_id = ?", (eid,)).fetchone()
            if row is None:
                continue
            try:
                out.append(self._face_from_row(tuple(row)))
            except (DataDamagedError, StorageError) as exc:
                if self.locked_reason is not None:
                    raise
                log.warning("The face of event %d is left out: %s", eid, exc)
        return out

    def iter_unknown_faces(self, model_sha256: str | None = None, *, clustered: bool | None = None,
                           batch: int = 256) -> Iterator[EventFace]:
        """The faces of *unknown* events (of one model, or all), oldest event first; ``clustered``
        True / False keeps only those with / without a cluster. Read in batches of ``batch`` rows
        (each under the store's lock); a damaged face is skipped with a warning."""
        where = ["e.decision = 'unknown'"]
        params: list[object] = []
        if model_sha256 is not None:
            where.append("f.model_sha256 = ?")
            params.append(required_text(model_sha256, "model_sha256"))
        if clustered is not None:
            where.append("f.cluster_id IS NOT NULL" if clustered else "f.cluster_id IS NULL")
        last = -1
        while True:
            with self._lock, mapped(self.path, "reading the faces of unknown events", self.timeout_s):
                rows = self.db.execute(
                    _FACE_SELECT + " WHERE " + " AND ".join([*where, "f.event_id > ?"])
                    + " ORDER BY f.event_id LIMIT ?", [*params, last, int(batch)]).fetchall()
                faces: list[EventFace] = []
                for row in rows:
                    try:
                        faces.append(self._face_from_row(tuple(row)))
                    except (DataDamagedError, StorageError) as exc:
                        if self.locked_reason is not None:
                            raise
                        log.warning("The face of event %s is left out: %s", row[0], exc)
            yield from faces
            if len(rows) < batch:
                return
            last = int(rows[-1][0])

    @api("counting event faces")
    def count_event_faces(self, decision: str | None = None) -> int:
        """How many events have a stored face (of one decision, or all)."""
        if decision is None:
            return int(self.db.execute("SELECT count(*) FROM event_faces").fetchone()[0])
        return int(self.db.execute("SELECT count(*) FROM event_faces f JOIN events e ON e.id = f.event_id"
                                   " WHERE e.decision = ?", (decision,)).fetchone()[0])
