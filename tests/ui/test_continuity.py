"""A held name stays on its person: at the clip's scene cut (frame 210 -> 211) a face in the audience
appears where Lin-Manuel Miranda's box was; the core's tracker (IoU gated by face similarity) must not
hand it his track, and the door view must not draw his name there."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.video.latest_frame import FINAL_STATES
from desktop_app.ui.capture import LiveFrame, SourceRequest
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
