"""Liveness for every face track of one camera: what a door's live loop holds.

The loop feeds each tracked face once per frame (:meth:`LivenessTracks.update`) and asks
:meth:`LivenessTracks.verdict` before it grants: a recognised face whose verdict is still undecided
waits (shown as "checking: keep looking at the camera", or the challenge prompt), one judged not
live is a "spoof suspected" event, and only a live one may be granted. Tracks that ended are
dropped (:meth:`LivenessTracks.forget`), and a new track always starts a new check.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from desktop_app.core.liveness.challenge import ChallengeLiveness
from desktop_app.core.liveness.observation import FaceObservation
from desktop_app.core.liveness.passive import PassiveLiveness
from desktop_app.core.liveness.settings import LivenessSettings
from desktop_app.core.liveness.verdict import LivenessVerdict
from desktop_app.core.vocabulary import ChallengeAction, LivenessMode

#: the verdict of every face when the mode is off: live, so that nothing waits
NOT_CHECKED = LivenessVerdict(live=True, score=1.0, reasons=("liveness not checked (off)",))


class LivenessTracks:
    """One passive or challenge check per track id. Not thread-safe: the camera loop's thread only.

    settings: the door's liveness settings (``mode`` off: every verdict is :data:`NOT_CHECKED`
    and nothing is measured); rng: draws the challenge actions (seeded by the OS when None).
    """

    def __init__(self, settings: LivenessSettings, rng: np.random.Generator | None = None) -> None:
        self.settings = settings
        self._rng = rng if rng is not None else np.random.default_rng()
        self._checks: dict[int, PassiveLiveness | ChallengeLiveness] = {}

    @property
    def mode(self) -> LivenessMode:
        return self.settings.mode

    def update(self, track_id: int, obs: FaceObservation) -> LivenessVerdict:
        """Feed one frame of track ``track_id``; its verdict so far."""
        if self.settings.mode is LivenessMode.OFF:
            return NOT_CHECKED
        check = self._checks.get(track_id)
        if check is None:
            check = (ChallengeLiveness(self.settings, rng=self._rng) if self.settings.mode is LivenessMode.CHALLENGE
                     else PassiveLiveness(self.settings))
            self._checks[track_id] = check
        return check.update(obs)

    def verdict(self, track_id: int) -> LivenessVerdict:
        """The track's verdict so far (undecided for a track not fed yet; live when the mode is off)."""
        if self.settings.mode is LivenessMode.OFF:
            return NOT_CHECKED
        check = self._checks.get(track_id)
        return check.verdict if check is not None else LivenessVerdict(live=None, score=0.0)

    def prompt(self, track_id: int) -> ChallengeAction | None:
        """The challenge action to show for the track now (None outside challenge mode or when none is due)."""
        check = self._checks.get(track_id)
        return check.prompt if isinstance(check, ChallengeLiveness) else None

    def forget(self, track_ids: Iterable[int]) -> None:
        """Drop the checks of tracks that ended."""
        for tid in track_ids:
            self._checks.pop(tid, None)

    def keep_only(self, live_track_ids: Iterable[int]) -> None:
        """Drop every check whose track is not in ``live_track_ids``."""
        keep = set(live_track_ids)
        self.forget([t for t in self._checks if t not in keep])
