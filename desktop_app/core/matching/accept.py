"""The one accept rule: when a gallery match counts as that person.

A match is accepted when its score reaches the calibrated threshold (plus the quality rule's raise
for a face seen in poor conditions, :func:`~desktop_app.core.face.quality.threshold_raise`) AND
leads the runner-up person by at least the margin. Used by ``FaceGate.accepts`` / ``identify`` and
by every vote of the live decision policy, so the CLI, the door and the API can never disagree.
A face the quality rule refuses outright never gets here: it fails
:func:`~desktop_app.core.face.quality.recognition_issues` and is not matched.
"""

from __future__ import annotations

from desktop_app.core.face.quality import OpenSetQuality, threshold_raise
from desktop_app.core.types import FaceQuality, PersonMatch


def required_score(threshold: float, quality: FaceQuality | None = None, rule: OpenSetQuality | None = None) -> float:
    """The score a face of this ``quality`` must reach: ``threshold`` plus the quality raise (cosine)."""
    return threshold + threshold_raise(quality, rule)


def accepts(match: PersonMatch | None, threshold: float, margin: float, quality: FaceQuality | None = None,
            rule: OpenSetQuality | None = None) -> bool:
    """True when ``match`` has ``score >= required_score(threshold, quality)`` and
    ``score - second_score >= margin``.

    threshold: cosine in [-1, 1]; margin: cosine difference >= 0; quality: the face's, None when
    unknown (no raise); None (no match) is never accepted.
    """
    return (match is not None and match.score >= required_score(threshold, quality, rule)
            and match.score - match.second_score >= margin)


def near_decision(match: PersonMatch | None, threshold: float, margin: float, band: float,
                  quality: FaceQuality | None = None, rule: OpenSetQuality | None = None) -> bool:
    """True when a small change of the scores (up to ``band``, a cosine) could change what the door
    decides about ``match``: its score is within ``band`` of the threshold or of the required score
    (:func:`required_score`), its lead over the second person within ``band`` of ``margin`` while the
    score is about high enough, or the second person's score within ``band`` of the threshold while
    the best one is about high enough (the "ambiguous" rule). The door re-embeds such a face with
    the test-time flip (``flip_tta="near-threshold"``); None is never near."""
    if match is None or band <= 0.0:
        return False
    s, s2 = match.score, match.second_score
    req = required_score(threshold, quality, rule)
    if abs(s - threshold) < band or abs(s - req) < band:
        return True
    high = s >= min(threshold, req) - band
    if high and abs((s - s2) - margin) < band:
        return True
    return high and match.second_person_id is not None and abs(s2 - threshold) < band
