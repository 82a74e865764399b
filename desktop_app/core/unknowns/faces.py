"""The face the door keeps with an event (``event_faces``): one value packing its embedding,
aligned crop and quality measures (:func:`desktop_app.core.storage.event_faces.pack_face`)."""

from __future__ import annotations

import dataclasses
import logging

from desktop_app.core.storage.event_faces import pack_face
from desktop_app.core.types import Face

log = logging.getLogger(__name__)


def quality_dict(face: Face) -> dict[str, object]:
    """The face's quality measures as JSON-able values (``FaceQuality`` field names)."""
    out: dict[str, object] = dataclasses.asdict(face.quality)
    out["reasons"] = list(face.quality.reasons)
    out["flip_averaged"] = bool(face.flip_averaged)
    out["views"] = int(face.views)
    return out


def pack_event_face(face: Face | None) -> bytes | None:
    """The packed value of ``face`` (embedding (D,) float32, crop (112, 112, 3) uint8 BGR, quality);
    None for no face, or one that cannot be kept (malformed: logged, the event goes on without it)."""
    if face is None:
        return None
    try:
        return pack_face(face.embedding, face.crop, quality_dict(face))
    except ValueError as exc:
        log.warning("The face of an event is not kept: %s", exc)
        return None
