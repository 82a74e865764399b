"""Door view widgets without models: the decision panel's colours and fade, the event list, the face
overlays, and the numpy -> QImage conversion (against a per-pixel reference)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from desktop_app.core.live.session import TrackedFace
from desktop_app.ui import theme
from desktop_app.ui.capture import DoorEvent
from desktop_app.ui.decision_panel import DecisionPanel
from desktop_app.ui.door_view import MAX_RECENT, DoorView
from desktop_app.ui.qtimage import bgr_to_qimage
from desktop_app.ui.video_view import overlays_for_faces


def event(decision: str, name: str | None = None, eid: int = 1) -> DoorEvent:
    photo = np.full((112, 112, 3), (30, 160, 90), np.uint8)
    return DoorEvent(event_id=eid, decision=decision, name=name, person_id=7 if name else None, score=0.61,
                     track_id=3, ts=datetime.now().astimezone(), photo=photo if name else None,
                     snapshot=np.zeros((60, 50, 3), np.uint8))


def test_decision_panel_colours_and_fades_back(qtbot: object) -> None:
    panel = DecisionPanel(hold_ms=60, fade_ms=60)
    qtbot.addWidget(panel)  # type: ignore[attr-defined]
    panel.show()
    seen: list[tuple[str, str]] = []
    panel.announced.connect(lambda d, n: seen.append((d, n)))
    assert panel.decision == "waiting" and panel.colour == theme.WAITING
    panel.show_event(event("granted", "Ada Lovelace"))
    assert panel.colour == theme.GRANTED and panel.title.text() == "ACCESS GRANTED"
    assert panel.name.text() == "Ada Lovelace" and panel.photo.isVisible()
    assert seen == [("granted", "Ada Lovelace")]
    qtbot.waitUntil(lambda: panel.decision == "waiting", timeout=3000)  # type: ignore[attr-defined]
    assert panel.colour == theme.WAITING and panel.title.text() == "Waiting"
    panel.show_event(event("unknown"))
    assert panel.colour == theme.UNKNOWN and panel.title.text() == "UNKNOWN"
    panel.show_event(event("denied", "Mallory"))
    assert panel.colour == theme.DENIED and panel.title.text() == "DENIED"


def test_door_view_prefers_granted_and_caps_the_list(qtbot: object) -> None:
    door = DoorView()
    qtbot.addWidget(door)  # type: ignore[attr-defined]
    door.add_events([event("granted", "Ada Lovelace", 1), event("unknown", None, 2)])
    assert door.decision.decision == "granted" and door.decision.name.text() == "Ada Lovelace"
    assert door.recent.count() == 2 and "Unknown face" in door.recent.item(0).text()
    door.add_events([event("unknown", None, i) for i in range(3, 3 + MAX_RECENT)])
    assert door.recent.count() == MAX_RECENT
    door.set_state("failed", "No camera at index 0.")
    assert "No camera at index 0." in door.video.message
    door.set_state("live", "Reading camera 0")
    assert door.video.message == ""
    door.set_state("ended", "End of clip")
    assert door.btn_replay.isVisibleTo(door)


def test_overlays_follow_face_status() -> None:
    faces = [
        TrackedFace(1, (10, 10, 50, 60), "Ada Lovelace", 7, 0.71, "recognised"),
        TrackedFace(2, (80, 10, 50, 60), "Ada Lovelace", 7, 0.55, "match"),
        TrackedFace(3, (150, 10, 50, 60), None, None, -0.04, "unknown"),
        TrackedFace(-1, (220, 10, 8, 9), None, None, -1.0, "too-small"),
    ]
    ov = overlays_for_faces(faces)
    assert [o.color for o in ov] == [theme.GRANTED, theme.MATCH, theme.UNKNOWN, theme.TOO_SMALL]
    assert ov[0].label == "Ada Lovelace  0.71" and ov[1].label.startswith("Ada Lovelace?")
    assert ov[2].label == "Unknown  -0.04" and ov[3].label == "" and ov[3].dashed
    assert ov[0].box == (10.0, 10.0, 50.0, 60.0)


@pytest.mark.parametrize("shape", [(5, 7, 3), (4, 9)])
def test_bgr_to_qimage_pixels(qtbot: object, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
    img = bgr_to_qimage(arr[:, ::-1] if arr.ndim == 3 else arr)  # a non-contiguous view on purpose
    src = arr[:, ::-1] if arr.ndim == 3 else arr
    assert (img.width(), img.height()) == (shape[1], shape[0])
    for y in range(shape[0]):
        for x in range(shape[1]):
            c = img.pixelColor(x, y)
            if arr.ndim == 3:
                b, g, r = (int(v) for v in src[y, x])
                assert (c.red(), c.green(), c.blue()) == (r, g, b)
            else:
                assert c.red() == c.green() == c.blue() == int(src[y, x])
    before = [img.pixelColor(x, 0).name() for x in range(shape[1])]
    arr[...] = 255 - arr  # the QImage owns a copy: changing the array does not change it
    assert [img.pixelColor(x, 0).name() for x in range(shape[1])] == before
    with pytest.raises(ValueError):
        bgr_to_qimage(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError):
        bgr_to_qimage(np.zeros((4, 4, 3), np.float32))
