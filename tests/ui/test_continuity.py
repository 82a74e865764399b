"""A held name stays on its person: at the clip's scene cut (frame 210 -> 211) the IoU tracker carries
Lin-Manuel Miranda's track onto a face in the audience; the door view must not draw his name there."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from desktop_app.core.engine import Analysis
from desktop_app.core.latest_frame import FINAL_STATES
from desktop_app.core.live import FrameResult, TrackedFace
from desktop_app.core.types import Detection, Face, FaceQuality, StageTimes
from desktop_app.ui.capture import LiveFrame, SourceRequest, TrackContinuity
from desktop_app.ui.main_window import MainWindow

LIN = "Lin-Manuel Miranda"
CUT = 211
SEGMENT = (196, 216)


def test_no_name_is_drawn_on_another_face_after_the_cut(qtbot: object, module_gate: object, clips: Path,
                                                        clip: Path, clip_segment: type) -> None:
    gate = module_gate
    gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"])  # type: ignore[attr-defined]
    gate.enrol_images("Alex Lacamoire", [clips / "alex-lacamoire.png"])  # type: ignore[attr-defined]
    win = MainWindow(gate, start_camera=False, realtime=False)  # type: ignore[arg-type]
    qtbot.addWidget(win)  # type: ignore[attr-defined]
    frames: list[LiveFrame] = []
    states: list[str] = []
    win.capture.worker.frame_ready.connect(frames.append)
    win.capture.worker.state_changed.connect(lambda s, _m: states.append(s))
    win.open_request(SourceRequest(str(clip), realtime=False, factory=lambda: clip_segment(clip, *SEGMENT)))
    qtbot.waitUntil(lambda: any(s in FINAL_STATES for s in states), timeout=90000)  # type: ignore[attr-defined]
    win.close()
    before = [f for f in frames if f.result.index < CUT]
    after = [f for f in frames if f.result.index >= CUT]
    assert before and after, [f.result.index for f in frames]
    assert any(t.name == LIN for f in before for t in f.result.faces), "he is named before the cut"
    named_after = [(f.result.index, t.name) for f in after for t in f.result.faces if t.name]
    assert named_after == [], f"a name drawn on someone else after the cut: {named_after}"


def _analysis(embeddings: list[np.ndarray]) -> Analysis:
    det = Detection((0.0, 0.0, 10.0, 10.0), np.zeros((5, 2), np.float32), 0.9)
    crop = np.zeros((112, 112, 3), np.uint8)
    faces = [Face(det, crop, e, FaceQuality(40, 100, 120, 0, 0, 0)) for e in embeddings]
    return Analysis(faces=faces, too_small=[], times=StageTimes(), image_shape=(100, 100))


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, np.float32)
    return a / np.linalg.norm(a)


def test_track_continuity_rule() -> None:
    guard = TrackContinuity(min_cosine=0.4)
    same1, same2, other = _unit([1, 0.1, 0]), _unit([0.9, 0.3, 0]), _unit([0, 0.2, 1])

    def frame(emb: np.ndarray, status: str = "recognised") -> FrameResult:
        tf = TrackedFace(5, (0, 0, 10, 10), LIN, 1, 0.6, status)
        small = TrackedFace(-1, (50, 50, 5, 5), None, None, -1.0, "too-small")
        return guard.apply(FrameResult(0, (tf, small), (), StageTimes()), _analysis([emb]))

    assert frame(same1).faces[0].name == LIN
    assert frame(same2).faces[0].name == LIN  # same person, pose changed a bit: cosine ~0.96
    r = frame(other)  # a different face on the same track: cosine ~0.0
    assert r.faces[0].name is None and r.faces[0].status == "unknown" and r.faces[1].status == "too-small"
    assert frame(other).faces[0].name is None, "once broken, the track never shows the held name again"
    assert frame(other, status="match").faces[0].name == LIN, "a fresh vote of this frame is not a held name"
