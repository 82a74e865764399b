"""The template-refresh policy as pure functions (no store, no model): which capture may become an
automatic template, and which automatic template it replaces. ``CorrectionsFacade.refresh_templates``
applies them (docs/corrections.md).

Rules, each a reason when it fails (in this order):

1. quality: the capture passes the door's recognition checks (pose, sharpness:
   ``recognition_issues``) and its eyes are at least ``min_eye_px`` apart;
2. still the person: re-matched against today's gallery the capture's best person is the event's;
3. confidence: its score is at least ``threshold + min_score_above``;
4. outside the ambiguity margin: its lead over the second person is at least
   ``max(min_margin, recognition margin)``;
5. diversity: its cosine to each of the person's templates is at most ``max_similarity``.

Then the cap: a person keeps at most ``max_auto_per_person`` automatic templates; a new one
replaces their *oldest automatic* one (enrolment templates are never touched).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from desktop_app.core.config import TemplateRefreshSettings
from desktop_app.core.face.quality import recognition_issues
from desktop_app.core.types import FaceQuality, PersonMatch


def refusal(person_id: int, quality: Mapping[str, object], match: PersonMatch | None, vector: np.ndarray,
            person_templates: np.ndarray, *, threshold: float, recognition_margin: float,
            settings: TemplateRefreshSettings) -> str | None:
    """Why a capture may not become a template of ``person_id`` (None: it may).

    vector: (D,) float32 unit embedding of the capture; person_templates: (T, D) float32 unit
    templates the person has now (enrolment and automatic); threshold: the calibrated cosine
    threshold in force; match: the capture's best match in today's gallery."""
    why = _quality_problem(quality, settings.min_eye_px)
    if why is not None:
        return why
    if match is None or match.person_id != person_id:
        return "no longer matches the person"
    need = threshold + settings.min_score_above
    if match.score < need:
        return f"score {match.score:.3f} below {need:.3f} (threshold + {settings.min_score_above:.2f})"
    margin_needed = max(settings.min_margin, recognition_margin)
    if match.second_person_id is not None and match.margin < margin_needed:
        return f"inside the ambiguity margin (lead {match.margin:.3f} < {margin_needed:.2f})"
    if len(person_templates):
        closest = float(np.max(person_templates.astype(np.float64) @ vector.astype(np.float64)))
        if closest > settings.max_similarity:
            return f"too similar to a template ({closest:.3f} > {settings.max_similarity:.2f})"
    return None


def _quality_problem(quality: Mapping[str, object], min_eye_px: float) -> str | None:
    """Why a capture's quality measures (``FaceQuality`` fields) rule it out, None when they do not."""
    try:
        q = FaceQuality(**{k: float(quality[k]) for k in _MEASURES})  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return "quality not measured"
    if q.inter_ocular_px < min_eye_px:
        return f"too small (eyes {q.inter_ocular_px:.0f} px apart, need {min_eye_px:g})"
    issues = recognition_issues(q)
    return f"quality: {', '.join(issues)}" if issues else None


_MEASURES: tuple[str, ...] = ("inter_ocular_px", "sharpness", "brightness", "yaw", "pitch", "roll")


def to_replace(auto_sample_ids_oldest_first: Sequence[int], cap: int) -> int | None:
    """The automatic sample a new one replaces (the oldest) when the person is at the ``cap``, else None."""
    if cap < 1:
        raise ValueError(f"the cap must be at least 1, got {cap}")
    return int(auto_sample_ids_oldest_first[0]) if len(auto_sample_ids_oldest_first) >= cap else None
