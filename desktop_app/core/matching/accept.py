"""The one accept rule: when a gallery match counts as that person.

A match is accepted when its score reaches the calibrated threshold AND leads the runner-up person
by at least the margin. Used by ``FaceGate.accepts`` / ``identify`` and by every vote of the
live decision policy, so the CLI, the door and the API can never disagree.
"""

from __future__ import annotations

from desktop_app.core.types import PersonMatch


def accepts(match: PersonMatch | None, threshold: float, margin: float) -> bool:
    """True when ``match`` has ``score >= threshold`` and ``score - second_score >= margin``.

    threshold: cosine in [-1, 1]; margin: cosine difference >= 0; None (no match) is never accepted.
    """
    return match is not None and match.score >= threshold and match.score - match.second_score >= margin
