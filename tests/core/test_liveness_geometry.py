"""Liveness geometry and the challenge state machine on synthetic landmarks (no data needed)."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from desktop_app.core.liveness.challenge import ChallengeLiveness, random_actions
from desktop_app.core.liveness.geometry import nose_parallax, parallax_spread, pose
from desktop_app.core.liveness.observation import FaceObservation
from desktop_app.core.liveness.settings import LivenessSettings
from desktop_app.core.liveness.tracks import NOT_CHECKED, LivenessTracks
from desktop_app.core.vocabulary import ChallengeAction, LivenessMode

#: a frontal face's landmarks (right eye, left eye, nose, right and left mouth corner), pixels
FACE = np.array([[280, 220], [360, 220], [320, 265], [290, 310], [350, 310]], np.float32)


def _warp(points: np.ndarray, hom: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), hom).reshape(-1, 2)


def test_flat_face_has_no_parallax_a_turned_nose_has() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        hom = np.eye(3) + rng.normal(0, [[0.05, 0.05, 5], [0.05, 0.05, 5], [2e-4, 2e-4, 0]])
        flat = _warp(FACE, hom)
        assert np.linalg.norm(nose_parallax(FACE, flat)) < 1e-6
        turned = flat.copy()
        turned[2, 0] += 0.1 * np.linalg.norm(flat[0] - flat[1])  # the nose leaves the plane by 0.1 IOD
        assert np.linalg.norm(nose_parallax(FACE, turned)) == pytest.approx(0.1, rel=1e-3)


def test_parallax_spread_tells_a_turning_head_from_a_moving_picture() -> None:
    t = np.linspace(0, 2 * np.pi, 30)
    picture = np.stack([_warp(FACE, np.array([[1 + 0.05 * np.sin(a), 0.03, 20 * np.sin(a)],
                                              [0.0, 1.0, 10 * np.cos(a)], [1e-4 * np.sin(a), 0, 1]])) for a in t])
    head = picture.copy()
    head[:, 2, 0] += 12 * np.sin(t)  # the nose swings against the eyes and mouth: a yaw
    assert parallax_spread(picture) < 0.005
    assert parallax_spread(head) > 0.1
    assert parallax_spread(picture[:2]) == 0.0


def _turned(yaw_shift: float = 0.0, pitch_shift: float = 0.0) -> np.ndarray:
    lm = FACE.copy()
    lm[2, 0] += yaw_shift
    lm[2, 1] += pitch_shift
    return lm


def _obs(lm: np.ndarray, ts: float) -> FaceObservation:
    return FaceObservation(image=np.full((480, 640, 3), 128, np.uint8), box=(260.0, 170.0, 120.0, 160.0),
                           landmarks=lm, ts=ts)


def test_pose_signs() -> None:
    assert pose(_turned(20))[0] > 10  # nose to the image's right
    assert pose(_turned(-20))[0] < -10
    assert pose(_turned(0, -15))[1] < -5  # nose up: looking up


SHIFTS = {ChallengeAction.TURN_LEFT: (30.0, 0.0), ChallengeAction.TURN_RIGHT: (-30.0, 0.0),
          ChallengeAction.LOOK_UP: (0.0, -18.0)}


def _run(check: ChallengeLiveness, moves: list[tuple[float, float]], fps: float = 10.0) -> list[object]:
    verdicts = []
    for i, (dx, dy) in enumerate(moves):
        verdicts.append(check.update(_obs(_turned(dx, dy), i / fps)))
    return verdicts


def test_challenge_passes_when_followed_in_order() -> None:
    settings = LivenessSettings(mode=LivenessMode.CHALLENGE)
    check = ChallengeLiveness(settings, actions=(ChallengeAction.TURN_LEFT, ChallengeAction.LOOK_UP))
    assert check.prompt is None  # baseline first
    _run(check, [(0, 0)] * 3)
    assert check.prompt is ChallengeAction.TURN_LEFT
    _run(check, [(10, 0), SHIFTS[ChallengeAction.TURN_LEFT], (0, 0)])
    assert check.prompt is ChallengeAction.LOOK_UP and not check.verdict.decided
    v = check.update(_obs(_turned(*SHIFTS[ChallengeAction.LOOK_UP]), 1.0))
    assert v.live is True and "turn left, look up" in v.reasons[0]
    assert check.prompt is None


def test_challenge_fails_on_the_wrong_action_and_on_timeout() -> None:
    settings = LivenessSettings(mode=LivenessMode.CHALLENGE, challenge_step_s=2.0)
    wrong = ChallengeLiveness(settings, actions=(ChallengeAction.TURN_LEFT,))
    v = _run(wrong, [(0, 0)] * 3 + [SHIFTS[ChallengeAction.TURN_RIGHT]])[-1]
    assert v.live is False and "did turn right" in v.reasons[0]  # type: ignore[attr-defined]
    slow = ChallengeLiveness(settings, actions=(ChallengeAction.LOOK_UP,))
    verdicts = _run(slow, [(0, 0)] * 40)
    assert verdicts[20].live is None  # type: ignore[attr-defined]
    assert verdicts[-1].live is False and "within 2 s" in verdicts[-1].reasons[0]  # type: ignore[attr-defined]


def test_random_actions_never_repeat_back_to_back_and_are_seeded() -> None:
    a = random_actions(4, np.random.default_rng(5))
    assert a == random_actions(4, np.random.default_rng(5))
    assert all(x is not y for x, y in itertools.pairwise(a))
    seen = {random_actions(2, np.random.default_rng(s)) for s in range(30)}
    assert len(seen) > 3


def test_tracks_follow_the_mode() -> None:
    off = LivenessTracks(LivenessSettings())
    assert off.update(1, _obs(FACE, 0.0)) is NOT_CHECKED and off.verdict(1).live is True
    chal = LivenessTracks(LivenessSettings(mode=LivenessMode.CHALLENGE), rng=np.random.default_rng(1))
    for i in range(3):
        chal.update(7, _obs(FACE, i / 10))
    assert chal.prompt(7) in set(ChallengeAction)
    assert chal.verdict(8).live is None  # a track never fed is undecided
    chal.keep_only([8])
    assert chal.prompt(7) is None and chal.verdict(7).live is None


def test_settings_are_an_app_config_section() -> None:
    from desktop_app.core.config import AppConfig

    cfg = AppConfig()
    assert cfg.liveness.mode is LivenessMode.OFF
    stored = cfg.model_dump(mode="json")
    stored["liveness"] = {"mode": "passive", "max_seconds": 0.5}  # below min_seconds: invalid
    fixed, problems = AppConfig.from_stored(stored, warn=False)
    assert fixed.liveness == LivenessSettings() and any("liveness" in p for p in problems)
    stored["liveness"] = {"mode": "challenge", "challenge_steps": 3}
    assert AppConfig.from_stored(stored, warn=False)[0].liveness.mode is LivenessMode.CHALLENGE


def _cues(ts: float, moved: float, residual: float, border: bool = False) -> object:
    from desktop_app.core.liveness.motion import MotionSample
    from desktop_app.core.liveness.passive import FrameCues

    return FrameCues(ts=ts, landmarks=FACE.astype(np.float64), motion=MotionSample(moved, residual, 40),
                     border=border, moire=3.0, banding=3.0, glare=0.0)


def test_passive_decisions_from_cues() -> None:
    """Live needs non-planar motion for min_seconds; live holds; a border later makes it not live, for good;
    a clear planar move is refused."""
    from desktop_app.core.liveness.passive import BORDER, PLANAR, PassiveLiveness

    settings = LivenessSettings(mode=LivenessMode.PASSIVE)
    check = PassiveLiveness(settings)
    verdicts = [check.add(_cues(i / 10, 2.0, 1.5)) for i in range(12)]  # talking: strays while hardly moving
    assert verdicts[3].live is None and verdicts[-1].live is True  # not before min_seconds (0.8 s)
    held = [check.add(_cues(1.2 + i / 10, 0.1, 0.05)) for i in range(30)]  # then stands still
    assert all(v.live is True for v in held)
    spoof = [check.add(_cues(4.2 + i / 10, 0.1, 0.05, border=True)) for i in range(15)]
    assert spoof[-1].live is False and BORDER in spoof[-1].reasons
    assert check.add(_cues(6.0, 2.0, 1.5)).live is False  # final
    flat = PassiveLiveness(settings)
    last = [flat.add(_cues(i / 10, 15.0, 0.3)) for i in range(12)][-1]  # moves a lot, all planar
    assert last.live is False and last.reasons == (PLANAR,)
    still = PassiveLiveness(settings)
    out = [still.add(_cues(i / 10, 0.1, 0.05)) for i in range(60)]
    assert out[30].live is None and out[-1].live is False and "neither moved" in out[-1].reasons[0]
