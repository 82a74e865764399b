"""Fixtures of the GUI tests: the real clip as the camera, a real FaceGate on a SQLite file in tmp."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.video.sources import Frame, VideoFileSource


class ClipSegment:
    """Frames ``start..stop-1`` of a real video file, as a (non-live) frame source.

    Frame indices and timestamps are those the VideoFileSource gives (index counts from the first
    frame delivered). Used to keep the GUI tests short on a slow machine: the part of the Hamilton
    clip where Lin-Manuel Miranda faces the camera.
    """

    def __init__(self, path: Path, start: int, stop: int) -> None:
        self.inner = VideoFileSource(path)
        self.start = start
        self.stop = stop
        self.name = f"{path.name}[{start}:{stop}]"
        self._pos = 0

    @property
    def is_live(self) -> bool:
        return False

    def open(self) -> None:
        self.inner.open()
        self._pos = 0
        while self._pos < self.start and self.inner.read() is not None:
            self._pos += 1

    def read(self) -> Frame | None:
        if self._pos >= self.stop:
            return None
        frame = self.inner.read()
        self._pos += 1
        return frame

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="session")
def clip(clips: Path) -> Path:
    path = clips / "short_hamilton_clip.mp4"
    if not path.is_file():
        pytest.skip(f"the Hamilton clip is missing: {path}")
    return path


@pytest.fixture(scope="session")
def synthetic_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated video (MJPG .avi, 40 frames of 320x240 at 20 fps, moving shapes, no face) for the
    tests that need a picture on screen but no face: they run without the shared data."""
    import cv2
    import numpy as np

    path = tmp_path_factory.mktemp("clips") / "shapes.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 20.0, (320, 240))
    assert writer.isOpened(), "OpenCV cannot write MJPG video here"
    for i in range(40):
        frame = np.full((240, 320, 3), (40 + 4 * i, 90, 160), np.uint8)
        cv2.circle(frame, (20 + 7 * i, 120), 30, (230, 230, 230), -1)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="session")
def clip_segment(clip: Path) -> type[ClipSegment]:
    """The ClipSegment class (test modules are not a package, so they get it from here)."""
    return ClipSegment


@pytest.fixture(scope="module")
def module_gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One FaceGate (real models, CPU) on a fresh database per test module (the models ship with the
    app: no shared data needed)."""
    from desktop_app.core.service import FaceGate

    gate = FaceGate(tmp_path_factory.mktemp("facegate") / "facegate.db", device="cpu")
    yield gate
    gate.close()


@pytest.fixture()
def open_admin_window(qtbot: Any) -> Any:
    """``open(gate, pin)``: a shown MainWindow on ``gate`` (camera not started, files read in
    lock-step) with the admin unlocked by ``pin`` (set on first use)."""
    from desktop_app.ui.main_window import MainWindow

    def open_window(gate: Any, pin: str) -> MainWindow:
        win = MainWindow(gate, start_camera=False, realtime=False)
        qtbot.addWidget(win)
        win.show()
        if not win.lock.has_pin:
            win.lock.set_pin(pin)
        elif not win.lock.unlocked:
            assert win.lock.unlock(pin)
        return win

    return open_window


class Clicks:
    """Clicks on real widgets, and answers to the modal dialogs they open (``exec()`` blocks the
    test: the answer is scheduled first, then runs inside the dialog's own event loop)."""

    def __init__(self, qtbot: Any) -> None:
        from PySide6.QtCore import Qt

        self.qtbot = qtbot
        self.left = Qt.MouseButton.LeftButton

    def click(self, widget: Any) -> None:
        """A left click on ``widget``, which must be visible and enabled."""
        assert widget.isVisible() and widget.isEnabled(), f"{widget!r} cannot be clicked"
        self.qtbot.mouseClick(widget, self.left)

    def nav(self, win: Any, name: str) -> None:
        """Click the toolbar button of page ``name``."""
        self.click(win.toolbar.widgetForAction(win.nav_actions[name]))

    def on_next_modal(self, action: Any, tries: int = 250) -> list[Any]:
        """Run ``action(dialog)`` once the next modal dialog is open; the list holds the dialog
        once answered (empty: none opened)."""
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        seen: list[Any] = []

        def poll(left: int = tries) -> None:
            dialog = QApplication.activeModalWidget()
            if dialog is not None:
                seen.append(dialog)
                action(dialog)
            elif left > 0:
                QTimer.singleShot(20, lambda: poll(left - 1))

        QTimer.singleShot(0, poll)
        return seen

    def press(self, label: str, expect: str = "") -> Any:
        """An answer for ``on_next_modal``: click the message box's button ``label`` (after
        checking that its text holds ``expect``)."""
        from PySide6.QtWidgets import QMessageBox

        def answer(box: Any) -> None:
            assert isinstance(box, QMessageBox), box
            assert expect in box.text(), box.text()
            self.qtbot.mouseClick(next(b for b in box.buttons() if b.text().replace("&", "") == label), self.left)

        return answer


@pytest.fixture()
def clicks(qtbot: Any) -> Clicks:
    """A :class:`Clicks` on this test's qtbot."""
    return Clicks(qtbot)


@pytest.fixture(scope="session", autouse=True)
def _screenshot_theme(request: pytest.FixtureRequest) -> Iterator[None]:
    """With FACEGATE_SAVE_SCREENSHOTS set (a run that remakes the docs' pictures), the app's
    stylesheet is applied as ``facegate gui`` applies it, so the pictures show the real theme.
    Ordinary runs keep Qt's plain style (and create no QApplication here)."""
    if os.environ.get("FACEGATE_SAVE_SCREENSHOTS"):
        from desktop_app.ui import theme

        request.getfixturevalue("qapp").setStyleSheet(theme.STYLE_SHEET)
    yield
