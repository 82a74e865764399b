"""Challenge liveness: a short random sequence of head actions, checked from the five landmarks.

The door screen shows :attr:`ChallengeLiveness.prompt` ("turn left", ...). Each action must reach
its angle (``challenge_yaw_deg`` / ``challenge_pitch_deg`` from the pose the face had when the
challenge began) within ``challenge_step_s`` seconds, in the order asked; the opposite or another
action done instead fails the challenge, so a replayed video cannot pass it by chance movements.
The passive cues run alongside: a border, moiré, banding, glare or purely planar motion fails
the challenge too (a photo turned by hand does not turn a head, but it is refused earlier).

States: waiting for a baseline (the first ``BASELINE_FRAMES`` frames), then one step per action,
then passed (live) or failed (not live). Angles come from
:func:`~desktop_app.core.liveness.geometry.pose`: yaw > 0 when the nose points to the image's right,
which is the person's own left for a camera that is not mirrored.
"""

from __future__ import annotations

import numpy as np

from desktop_app.core.liveness.geometry import pose
from desktop_app.core.liveness.observation import FaceObservation
from desktop_app.core.liveness.passive import BANDING, BORDER, GLARE, MOIRE, PLANAR, PassiveLiveness
from desktop_app.core.liveness.settings import LivenessSettings
from desktop_app.core.liveness.verdict import LivenessVerdict
from desktop_app.core.vocabulary import ChallengeAction

#: the passive reasons that also fail a challenge (a held picture or screen)
_REFUSING = frozenset({BORDER, MOIRE, BANDING, GLARE, PLANAR})
#: frames whose median pose is the neutral pose the actions are measured from
BASELINE_FRAMES = 3


def random_actions(count: int, rng: np.random.Generator) -> tuple[ChallengeAction, ...]:
    """``count`` actions drawn at random, never the same twice in a row."""
    actions = list(ChallengeAction)
    out: list[ChallengeAction] = []
    for _ in range(count):
        choices = [a for a in actions if not out or a is not out[-1]]
        out.append(choices[int(rng.integers(len(choices)))])
    return tuple(out)


class ChallengeLiveness:
    """One face's challenge. ``update(observation)`` per frame; :attr:`prompt` is what to show.

    actions: the sequence to ask (default: ``settings.challenge_steps`` random actions from
    ``rng``, itself seeded from the operating system when not given).
    """

    def __init__(self, settings: LivenessSettings | None = None, *, rng: np.random.Generator | None = None,
                 actions: tuple[ChallengeAction, ...] | None = None) -> None:
        self.settings = settings or LivenessSettings()
        gen = rng if rng is not None else np.random.default_rng()
        self.actions = actions if actions is not None else random_actions(self.settings.challenge_steps, gen)
        if not self.actions:
            raise ValueError("a challenge needs at least one action")
        self._passive = PassiveLiveness(self.settings)
        self._poses: list[tuple[float, float]] = []
        self._base: tuple[float, float] | None = None
        self._step = 0
        self._step_start = 0.0
        self._first_ts: float | None = None
        self._frames = 0
        self._verdict = LivenessVerdict(live=None, score=0.0)

    @property
    def prompt(self) -> ChallengeAction | None:
        """The action to ask for now; None before the baseline and once decided."""
        if self._base is None or self._verdict.decided or self._step >= len(self.actions):
            return None
        return self.actions[self._step]

    @property
    def verdict(self) -> LivenessVerdict:
        return self._verdict

    def _done(self, action: ChallengeAction, dyaw: float, dpitch: float) -> bool:
        st = self.settings
        if action is ChallengeAction.TURN_LEFT:
            return dyaw >= st.challenge_yaw_deg
        if action is ChallengeAction.TURN_RIGHT:
            return dyaw <= -st.challenge_yaw_deg
        return dpitch <= -st.challenge_pitch_deg

    def update(self, obs: FaceObservation) -> LivenessVerdict:
        """Take one frame of the face; the verdict so far (None while the challenge runs)."""
        if self._verdict.decided:
            return self._verdict
        if self._first_ts is None:
            self._first_ts = obs.ts
        self._frames += 1
        elapsed = obs.ts - self._first_ts
        passive = self._passive.update(obs)
        if passive.live is False and any(r in _REFUSING for r in passive.reasons):
            return self._finish(False, passive.reasons, elapsed, passive.cues)
        yaw, pitch = pose(obs.landmarks)
        if self._base is None:
            self._poses.append((yaw, pitch))
            if len(self._poses) >= BASELINE_FRAMES:
                arr = np.asarray(self._poses)
                self._base = (float(np.median(arr[:, 0])), float(np.median(arr[:, 1])))
                self._step_start = obs.ts
            return self._progress(elapsed, passive.cues)
        dyaw, dpitch = yaw - self._base[0], pitch - self._base[1]
        action = self.actions[self._step]
        if self._done(action, dyaw, dpitch):
            self._step += 1
            self._step_start = obs.ts
            if self._step == len(self.actions):
                done = ", ".join(a.value for a in self.actions)
                return self._finish(True, (f"followed the challenge: {done}",), elapsed, passive.cues)
            return self._progress(elapsed, passive.cues)
        wrong = [a for a in ChallengeAction if a is not action and self._done(a, dyaw, dpitch)]
        if wrong:
            return self._finish(False, (f"asked to {action.value}, did {wrong[0].value}",), elapsed, passive.cues)
        if obs.ts - self._step_start > self.settings.challenge_step_s:
            return self._finish(False, (f"did not {action.value} within {self.settings.challenge_step_s:g} s",),
                                elapsed, passive.cues)
        return self._progress(elapsed, passive.cues)

    def _progress(self, elapsed: float, cues: dict[str, float]) -> LivenessVerdict:
        self._verdict = LivenessVerdict(live=None, score=self._step / len(self.actions), frames=self._frames,
                                        elapsed_s=elapsed, cues=cues)
        return self._verdict

    def _finish(self, live: bool, reasons: tuple[str, ...], elapsed: float, cues: dict[str, float]) -> LivenessVerdict:
        self._verdict = LivenessVerdict(live=live, score=1.0 if live else 0.0, reasons=reasons, frames=self._frames,
                                        elapsed_s=elapsed, cues=cues)
        return self._verdict

