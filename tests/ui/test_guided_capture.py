"""Guided webcam enrolment logic: pose targets, quality feedback, automatic capture after a steady run
of good frames (the sharpest kept), skip and retake."""

from __future__ import annotations

import numpy as np

from desktop_app.core.types import Detection, Face, FaceQuality
from desktop_app.ui.guided_capture import POSES, GuidedCapture, friendly_reason


def face(yaw: float = 0.0, pitch: float = 0.0, sharp: float = 100.0, reasons: tuple[str, ...] = ()) -> Face:
    det = Detection(box=(10.0, 10.0, 80.0, 100.0), landmarks=np.zeros((5, 2), np.float32), score=0.9)
    q = FaceQuality(inter_ocular_px=40.0, sharpness=sharp, brightness=120.0, yaw=yaw, pitch=pitch, roll=0.0,
                    reasons=reasons)
    return Face(detection=det, crop=np.zeros((112, 112, 3), np.uint8), embedding=np.ones(128, np.float32) / 128**0.5,
                quality=q)


def test_auto_capture_after_steady_good_frames_keeps_the_sharpest() -> None:
    g = GuidedCapture(hold_frames=3)
    assert g.pose is POSES[0] and g.pose.key == "frontal"
    assert g.feed(face(sharp=50), None).level == "hold"
    assert g.feed(face(sharp=90), None).level == "hold"
    fb = g.feed(face(sharp=70), None)
    assert fb.level == "captured" and fb.shot is not None and fb.shot.pose == "frontal"
    assert fb.shot.face.quality.sharpness == 90
    assert g.pose is not None and g.pose.key == "left" and "left" in fb.text


def test_a_bad_frame_restarts_the_run() -> None:
    g = GuidedCapture(hold_frames=3)
    g.feed(face(), None)
    g.feed(face(), None)
    fb = g.feed(face(reasons=("blurred (sharpness 12 < 40)",)), None)
    assert fb.level == "bad" and fb.text.startswith("Blurred")
    assert g.feed(face(), None).level == "hold"
    assert g.feed(face(), None).level == "hold"
    assert g.feed(face(), None).level == "captured"


def test_problems_and_pose_hints() -> None:
    g = GuidedCapture(hold_frames=1)
    assert g.feed(None, "2 faces in view").text == "2 faces in view"
    assert g.feed(None, None).level == "bad"
    assert g.feed(face(yaw=25), None).level == "adjust"  # frontal wanted
    assert g.feed(face(yaw=2), None).level == "captured"
    fb = g.feed(face(yaw=3), None)  # "slight left" wanted: not turned enough
    assert fb.level == "adjust" and "more to your left" in fb.text
    assert g.feed(face(yaw=-15), None).level == "adjust"  # the wrong side
    assert g.feed(face(yaw=15), None).shot.pose == "left"  # type: ignore[union-attr]
    assert g.feed(face(yaw=-15), None).shot.pose == "right"  # type: ignore[union-attr]
    assert g.feed(face(pitch=-12), None).shot.pose == "up"  # type: ignore[union-attr]
    fb = g.feed(face(pitch=12), None)
    assert fb.shot is not None and fb.shot.pose == "down" and g.done
    assert g.feed(face(), None).level == "done"
    assert set(g.shots) == {p.key for p in POSES}


def test_turns_and_tilts_are_relative_to_the_frontal_shot() -> None:
    g = GuidedCapture(hold_frames=1)
    assert g.feed(face(yaw=-10, pitch=15), None).shot is not None  # camera above: "frontal" reads tilted
    assert g.baseline == (-10, 15)
    assert g.feed(face(yaw=-4, pitch=15), None).level == "adjust"  # only 6 degrees to the left of frontal
    assert g.feed(face(yaw=0, pitch=15), None).shot.pose == "left"  # type: ignore[union-attr]
    assert g.feed(face(yaw=-25, pitch=12), None).shot.pose == "right"  # type: ignore[union-attr]
    assert g.feed(face(yaw=-10, pitch=12), None).level == "adjust"  # up: not higher than frontal
    assert g.feed(face(yaw=-10, pitch=3), None).shot.pose == "up"  # type: ignore[union-attr]


def test_skip_retake_and_manual_capture() -> None:
    g = GuidedCapture(hold_frames=5)
    assert g.capture(face(reasons=("too dark (brightness 20)",)), "camera 0") is None
    shot = g.capture(face(), "camera 0")
    assert shot is not None and shot.pose == "frontal" and shot.source == "camera 0 (frontal)"
    g.skip()
    g.skip()
    assert g.pose is not None and g.pose.key == "up" and g.skipped == {"left", "right"}
    g.retake("frontal")
    assert g.pose is not None and g.pose.key == "frontal" and "frontal" not in g.shots
    g.capture(face(), "camera 0")
    assert g.pose is not None and g.pose.key == "up", "skipped poses stay skipped"


def test_friendly_reasons_cover_the_core_wording() -> None:
    assert friendly_reason("too far: eyes 20 px apart, need 28").startswith("Too far")
    assert friendly_reason("too dark (brightness 30)").startswith("Too dark")
    assert friendly_reason("too bright (brightness 240)").startswith("Too bright")
    assert friendly_reason("not frontal: head turned +40 degrees").startswith("Not frontal")
    assert friendly_reason("head leaning +30 degrees").startswith("Not frontal")
