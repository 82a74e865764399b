"""Issue 9, item 4: while the door camera gives no picture, the door screen says "Out of service:
camera" (with the reason and the next attempt; on a kiosk without technical detail), never "Look
at the camera", and goes back to normal once frames flow again.

Driven end to end: a real MainWindow whose real capture worker reads a real HTTP MJPEG camera on
127.0.0.1 (``reliability.mjpeg_server``) that is down at start, comes up, is killed and comes back;
the door view follows the worker's ``state_changed`` signal as it does in the app.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reliability.mjpeg_server import MjpegCamera, camera_frames

from desktop_app.ui.capture import SourceRequest
from desktop_app.ui.decision_panel import OUT_OF_SERVICE, OUT_OF_SERVICE_TITLE
from desktop_app.ui.door_view import split_retry
from desktop_app.ui.main_window import MainWindow

LOOK = "Look at the camera"


@pytest.fixture()
def camera() -> Iterator[MjpegCamera]:
    cam = MjpegCamera(camera_frames(None, n=8), fps=15.0)
    yield cam
    cam.kill()


def panel_texts(win: MainWindow) -> str:
    d = win.door.decision
    return " | ".join((d.title.text(), d.name.text(), d.detail.text(), win.door.video.message))


def test_door_screen_is_out_of_service_while_the_camera_is_down(qtbot: Any, module_gate: Any,
                                                                 camera: MjpegCamera) -> None:
    win = MainWindow(module_gate, start_camera=False, realtime=True)
    qtbot.addWidget(win)
    win.show()
    door, panel = win.door, win.door.decision
    assert panel.name.text() == LOOK
    states: list[tuple[str, str]] = []
    win.capture.worker.state_changed.connect(lambda s, m: states.append((s, m)))
    try:
        win.open_request(SourceRequest(camera.url))  # the camera is down: the door waits for it
        qtbot.waitUntil(lambda: any(s == "reconnecting" for s, _ in states), timeout=20000)
        assert not any(s == "failed" for s, _ in states)
        assert panel.decision == OUT_OF_SERVICE and panel.title.text() == OUT_OF_SERVICE_TITLE
        assert panel.name.text().startswith("Reconnecting in ") and panel.name.text().endswith(" s")
        assert "Cannot open the stream" in panel.detail.text() and "(attempt " in panel.detail.text()
        assert LOOK not in panel_texts(win)
        assert "Cannot open the stream" in door.video.message

        camera.start()  # frames flow: back to normal
        qtbot.waitUntil(lambda: door.video.has_image and panel.decision == "waiting", timeout=30000)
        assert panel.title.text() == "Waiting" and panel.name.text() == LOOK
        assert door.video.message == "" and not door.video.stale
        assert states[-1][0] == "live"

        camera.kill()  # lost mid-stream: out of service again, the frozen picture is dimmed
        qtbot.waitUntil(lambda: panel.decision == OUT_OF_SERVICE, timeout=30000)
        assert panel.title.text() == OUT_OF_SERVICE_TITLE and LOOK not in panel_texts(win)
        assert door.video.stale and win.camera_label.text() == "Camera: reconnecting…"
        reason, retry, attempt = split_retry(door.state_message)
        assert retry and attempt and reason in panel.detail.text()

        camera.start()
        qtbot.waitUntil(lambda: panel.decision == "waiting" and not door.video.stale, timeout=30000)
        assert panel.name.text() == LOOK
    finally:
        win.close()
    assert not any(s == "failed" for s, _ in states)


def test_kiosk_says_out_of_service_without_technical_detail(qtbot: Any, module_gate: Any,
                                                            camera: MjpegCamera) -> None:
    win = MainWindow(module_gate, kiosk=True, start_camera=False, realtime=True)
    qtbot.addWidget(win)
    win.show()
    door, panel = win.door, win.door.decision
    seen: list[str] = []
    win.capture.worker.state_changed.connect(lambda s, m: seen.append(s))
    try:
        win.open_request(SourceRequest(camera.url))
        qtbot.waitUntil(lambda: "reconnecting" in seen, timeout=20000)
        assert panel.title.text() == OUT_OF_SERVICE_TITLE
        assert panel.name.text() == "Reconnecting to the camera…" and panel.detail.text() == ""
        shown = panel_texts(win)
        for technical in ("127.0.0.1", "http", "attempt", "Cannot open", LOOK):
            assert technical not in shown, shown
        assert door.video.message.startswith(OUT_OF_SERVICE_TITLE)
        camera.start()
        qtbot.waitUntil(lambda: door.video.has_image and panel.decision == "waiting", timeout=30000)
        assert panel.name.text() == LOOK and door.video.message == ""
    finally:
        win.close()


def test_a_decision_on_screen_fades_to_out_of_service_not_to_waiting(qtbot: Any) -> None:
    """The panel alone: a decision shown while the camera is out fades back to "Out of service"."""
    from datetime import datetime

    from desktop_app.ui.capture import DoorEvent
    from desktop_app.ui.decision_panel import DecisionPanel

    panel = DecisionPanel(hold_ms=50, fade_ms=50)
    qtbot.addWidget(panel)
    panel.show_out_of_service("Reconnecting in 5 s", "Lost the stream")
    panel.show_event(DoorEvent(1, "granted", "Ada", 1, 0.7, 1, datetime.now().astimezone()))
    assert panel.decision == "granted"
    qtbot.waitUntil(lambda: panel.decision == OUT_OF_SERVICE, timeout=5000)
    assert panel.name.text() == "Reconnecting in 5 s" and panel.detail.text() == "Lost the stream"
    panel.back_in_service()
    assert panel.decision == "waiting" and panel.name.text() == LOOK


def test_end_of_a_video_file_is_not_an_outage(qtbot: Any) -> None:
    """A video file that ends (a demo, a replay) leaves the panel alone; a failure does not."""
    from desktop_app.ui.door_view import DoorView

    door = DoorView()
    qtbot.addWidget(door)
    door.set_state("live", "Reading clip.mp4")
    door.set_state("ended", "End of clip.mp4")
    assert door.decision.decision == "waiting" and door.decision.name.text() == LOOK
    assert door.video.message == "End of the video." and door.btn_replay.isVisibleTo(door)
    door.set_state("failed", "Cannot play clip.mp4: it contains no readable frame.")
    assert door.decision.decision == OUT_OF_SERVICE and door.decision.name.text() == "No picture"
    assert door.decision.detail.text() == "Cannot play clip.mp4: it contains no readable frame."


def test_a_door_webcam_missing_at_start_is_retried(qtbot: Any, tmp_path: Any) -> None:
    """The configured door camera is a webcam index that is not plugged in: the app says so, offers a
    file or a stream, and keeps trying that camera (a USB webcam plugged in later is picked up)."""
    from desktop_app.core.config import AppConfig
    from desktop_app.core.service import FaceGate
    from desktop_app.core.video.sources import list_cameras

    if list_cameras():
        pytest.skip("this machine has a webcam")
    cfg = AppConfig()
    cfg = cfg.model_copy(update={"camera": cfg.camera.model_copy(update={"source": "7"})})
    gate = FaceGate(tmp_path / "facegate.db", device="cpu", config=cfg)
    win = MainWindow(gate, realtime=True)
    qtbot.addWidget(win)
    states: list[str] = []
    win.capture.worker.state_changed.connect(lambda s, m: states.append(s))
    win.show()
    try:
        assert "none found" in win.camera_label.text()
        assert win.door.btn_file.isVisible() and win.door.btn_url.isVisible()
        assert win.capture.request is not None and win.capture.request.spec == "7"
        qtbot.waitUntil(lambda: "reconnecting" in states, timeout=20000)
        assert "failed" not in states
        assert win.door.decision.decision == OUT_OF_SERVICE
    finally:
        win.close()
        gate.close()
