"""Passive liveness on real media: real face videos are live, generated print and screen attacks and
the real attack stills are not. The generator's parameters are kept here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop_app.core.evaluation.attack_media import AttackKind, AttackParams, generate
from desktop_app.core.face.detector import FaceDetector
from desktop_app.core.liveness import LivenessSettings, check_sequence
from desktop_app.core.liveness.border import find_border
from desktop_app.core.liveness.media import input_frames
from desktop_app.core.liveness.observation import FaceObservation
from desktop_app.core.liveness.passive import BORDER, PLANAR, PassiveLiveness
from desktop_app.core.vocabulary import LivenessMode

PASSIVE = LivenessSettings(mode=LivenessMode.PASSIVE)
#: attacks made from Lin-Manuel Miranda's enrolment photo (3 s at 15 fps)
PRINT = AttackParams(kind=AttackKind.PRINT, frames=45, fps=15.0, seed=5, sway_deg=8.0, roll_deg=3.0, shift=0.03,
                     bend=0.03, media_height=0.8)
CUTOUT_FLAT = replace(PRINT, kind=AttackKind.CUTOUT, bend=0.0, seed=6)
SCREEN = replace(PRINT, kind=AttackKind.SCREEN, seed=7, moire=0.6, glare=0.3, banding=0.05, bezel=0.05)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="module")
def lin(clips: Path, detector: FaceDetector) -> tuple[np.ndarray, np.ndarray]:
    photo = cv2.imread(str(clips / "lin-manuel-miranda.png"))
    return photo, detector.detect(photo)[0].landmarks


def _frames(clip_frames: tuple[np.ndarray, ...], fps: float) -> list[tuple[np.ndarray, float]]:
    return [(f, i / fps) for i, f in enumerate(clip_frames)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["videoretalking_1", "liveportrait_d12", "liveportrait_d6"])
def test_real_face_videos_are_live(shared_data: Path, detector: FaceDetector, name: str) -> None:
    """Talking heads with little head motion (d6, videoretalking) included."""
    video = shared_data / "liveness" / "bonafide" / f"{name}.mp4"
    result = check_sequence(input_frames(video), detector.detect, PASSIVE)
    v = result.verdict
    assert v.live is True, (v.reasons, v.cues)
    assert v.elapsed_s <= 3.0 and 0.5 <= v.score <= 1.0


@pytest.mark.slow
def test_lin_on_the_hamilton_clip_is_live(clips: Path, detector: FaceDetector) -> None:
    result = check_sequence(input_frames(clips / "short_hamilton_clip.mp4"), detector.detect, PASSIVE)
    assert result.verdict.live is True, (result.verdict.reasons, result.verdict.cues)


@pytest.mark.slow
@pytest.mark.parametrize("params", [PRINT, CUTOUT_FLAT, SCREEN], ids=["print", "cutout", "screen"])
def test_attacks_from_the_enrolment_photo_are_not_live(lin: tuple[np.ndarray, np.ndarray], detector: FaceDetector,
                                                      params: AttackParams) -> None:
    clip = generate(lin[0], lin[1], params)
    result = check_sequence(_frames(clip.frames, params.fps), detector.detect, PASSIVE)
    v = result.verdict
    assert v.live is False, (v.reasons, v.cues)
    assert v.score <= 0.2 and v.reasons
    if params.kind is AttackKind.PRINT:
        assert BORDER in v.reasons or PLANAR in v.reasons


def test_a_still_photo_held_still_is_not_live(lin: tuple[np.ndarray, np.ndarray], detector: FaceDetector) -> None:
    """A printed photo on a stand: no motion, no change, so no sign of life in time."""
    photo, _ = lin
    frame = cv2.copyMakeBorder(photo, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(200, 200, 200))
    settings = LivenessSettings(mode=LivenessMode.PASSIVE, still_seconds=2.0, max_seconds=3.0)
    result = check_sequence([(frame, i / 10) for i in range(40)], detector.detect, settings)
    assert result.verdict.live is False and result.verdict.elapsed_s <= 3.05, result.verdict


def _held(image: np.ndarray, n: int = 12) -> list[tuple[np.ndarray, float]]:
    """The still as a short hand-held sequence (whole pixels of shake per frame)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        dx, dy = np.round(rng.normal(0, 1.5, 2))
        m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        out.append((cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE),
                    i / 15))
    return out


@pytest.mark.parametrize("name", ["sfas_image_F2.jpg", "hyperfas_fake_screen.png"])
def test_real_screen_stills_show_a_border(shared_data: Path, detector: FaceDetector, name: str) -> None:
    image = cv2.imread(str(shared_data / "liveness" / "attack_stills" / name))
    face = detector.detect(image)[0]
    assert find_border(image, face.box).framed
    result = check_sequence(_held(image), detector.detect, PASSIVE)
    assert result.verdict.live is False and BORDER in result.verdict.reasons, result.verdict


def test_real_bona_fide_still_shows_no_border(shared_data: Path, detector: FaceDetector) -> None:
    image = cv2.imread(str(shared_data / "liveness" / "attack_stills" / "sfas_image_T1.jpg"))
    face = detector.detect(image)[0]
    assert not find_border(image, face.box).framed
    one = check_sequence([(image, 0.0)], detector.detect, PASSIVE).verdict
    assert one.live is None  # a single frame decides nothing


def test_recorded_cues_replay_to_the_same_verdict(lin: tuple[np.ndarray, np.ndarray], detector: FaceDetector) -> None:
    """What benches rely on: the decision is a function of the measured cues alone."""
    clip = generate(lin[0], lin[1], replace(PRINT, frames=20))
    live = PassiveLiveness(PASSIVE)
    cues = []
    for image, ts in _frames(clip.frames, PRINT.fps):
        face = detector.detect(image)[0]
        live.update(FaceObservation.from_detection(image, face, ts))
        cues.append(live._frames[-1])
    again = PassiveLiveness(PASSIVE)
    for c in cues:
        v = again.add(c)
    assert (v.live, v.reasons, v.score) == (live.verdict.live, live.verdict.reasons, live.verdict.score)
