"""The one "several faces" rule of enrolment: a shot is refused when another face in it is big enough
to be a second person in front of the camera (not a poster far behind).

Used by ``FaceGate.enrol_face_from_image`` (photo files, the webcam wizard) and by the capture
worker's live enrolment feedback, with one message.
"""

from __future__ import annotations

from collections.abc import Sequence

from desktop_app.core.types import Face

#: A second face counts as "another person in the photo" when its area is at least this share of the largest.
MANY_FACES_AREA_RATIO = 0.35


def several_faces_problem(faces: Sequence[Face]) -> str | None:
    """Why these faces (largest first, as ``FaceEngine.analyze`` gives them) are not one person's
    shot, or None when the largest face is alone enough to enrol."""
    if len(faces) > 1 and faces[1].detection.area >= MANY_FACES_AREA_RATIO * faces[0].detection.area:
        return (f"{len(faces)} faces found: only the person being enrolled may be in the picture "
                f"(use a photo of them alone).")
    return None
