"""The All doors page runs the site's doors in the app and shows each one's tile: a door whose
camera plays a real video file is LOCKED with its camera live; a door whose camera does not exist
is OUT OF SERVICE with the camera marked lost; a remote open clicked on the Doors page is taken by
the running door, which shows UNLOCKED (and the Doors page's State column says so); Stop ends the
run. Real FaceGate (models on CPU), real SQLite file, real door runner and `log:` outputs, clicks on
the real buttons. No face data needed (the video has no face)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from desktop_app.core.access.model import CameraSpec, DoorSpec
from desktop_app.core.privacy.display import DoorDisplay
from desktop_app.core.service import FaceGate
from desktop_app.core.vocabulary import Direction
from desktop_app.ui.main_window import MainWindow

PIN = "314159"


def long_video(path: Path, frames: int = 1200, fps: float = 20.0) -> Path:
    """A real MJPG video (moving bars, no face), ``frames / fps`` seconds long when played in real time."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (160, 120))
    assert writer.isOpened()
    for i in range(frames):
        img = np.full((120, 160, 3), 50, np.uint8)
        img[:, (i * 5) % 150:(i * 5) % 150 + 10] = 210
        writer.write(img)
    writer.release()
    return path


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceGate]:
    tmp = tmp_path_factory.mktemp("door_grid")
    g = FaceGate(tmp / "facegate.db", device="cpu")
    video = long_video(tmp / "front.avi")
    g.save_door(DoorSpec("front", (CameraSpec(str(video), Direction.IN),), unlock_seconds=30), actor="test")
    g.save_door(DoorSpec("garage", (CameraSpec("7", Direction.IN),)), actor="test")  # no such webcam here
    yield g
    g.close()


@pytest.fixture()
def window(qtbot: Any, gate: FaceGate) -> Iterator[MainWindow]:
    win = MainWindow(gate, start_camera=False, realtime=True)  # the file plays like a camera
    qtbot.addWidget(win)
    win.show()
    win.lock.set_pin(PIN)
    yield win
    win.close()


def badge(win: MainWindow, door: str) -> str:
    tile = win.grid.grid.tiles.get(door)
    return tile.badge.text() if tile is not None else ""


def test_run_the_doors_watch_them_open_one_and_stop(clicks: Any, window: MainWindow, gate: FaceGate) -> None:
    qtbot = clicks.qtbot
    clicks.nav(window, "grid")
    page = window.grid
    assert window.current_page == "grid" and page.isVisible()
    clicks.click(page.run_btn)
    assert "Running 2 doors" in page.status.text(), page.status.text()
    qtbot.waitUntil(lambda: "LOCKED" in badge(window, "front") and "live" in
                    window.grid.grid.tiles["front"].cameras.text(), timeout=30000)
    qtbot.waitUntil(lambda: "OUT OF SERVICE" in badge(window, "garage"), timeout=30000)
    garage = page.grid.tiles["garage"]
    assert "✗" in garage.cameras.text() and "garage/in" in garage.cameras.text()
    assert "No decision yet" in page.grid.tiles["front"].last.text()

    # remote open from the Doors page: the running door takes the command
    clicks.nav(window, "doors")
    doors = window.doors
    qtbot.waitUntil(lambda: "locked" in [doors.table.item(r, 6).text() for r in range(doors.table.rowCount())],
                    timeout=5000)
    doors.select_door("front")
    clicks.on_next_modal(clicks.press("Open", "front"))
    clicks.click(doors.open_btn)
    assert "Open command sent" in doors.status.text()
    qtbot.waitUntil(lambda: "UNLOCKED" in badge(window, "front"), timeout=10000)
    row = next(r for r in range(doors.table.rowCount()) if doors.table.item(r, 0).text() == "front")
    qtbot.waitUntil(lambda: doors.table.item(row, 6).text() == "unlocked", timeout=5000)
    assert "released" in window.grid.grid.tiles["front"].detail.text()

    clicks.nav(window, "grid")
    clicks.click(page.stop_btn)
    assert page.status.text() == "The doors were stopped." and not page.service.running
    assert "NOT RUNNING" in badge(window, "front") and page.run_btn.isEnabled()


@pytest.mark.slow
def test_tiles_show_each_decision_with_its_reason(qtbot: Any, clicks: Any, clip: Path, clips: Path,
                                                  tmp_path: Path) -> None:
    """Two doors play the real Hamilton clip at once (one engine, one batch): Lin-Manuel Miranda's
    group may pass "front" always, and "back" only at a time that is not now. The tiles show
    "Granted … reason: granted" and "Denied … reason: outside schedule"; with the door screen set
    to initials or to nothing (Settings, clicked), the tiles show his initials, then no name."""
    from datetime import datetime

    from desktop_app.core.access.model import Group
    from desktop_app.core.access.schedule import DAY_NAMES, Schedule

    gate = FaceGate(tmp_path / "facegate.db", device="cpu")
    win: MainWindow | None = None
    try:
        report = gate.enrol_images("Lin-Manuel Miranda", [clips / "lin-manuel-miranda.png"])
        assert report.person_id > 0
        gate.save_door(DoorSpec("front", (CameraSpec(str(clip)),)), actor="test")
        gate.save_door(DoorSpec("back", (CameraSpec(str(clip)),)), actor="test")
        other_day = DAY_NAMES[(datetime.now().weekday() + 3) % 7].title()  # never today
        gate.save_schedule(Schedule("not today", f"{other_day} 00:00-24:00"), actor="test")
        for group, door, schedule in (("staff", "front", None), ("late", "back", "not today")):
            gate.save_group(Group(group), actor="test")
            gate.set_permissions(group, [door], schedule, actor="test")
        gate.set_person_access(report.person_id, groups=["staff", "late"], actor="test")
        win = MainWindow(gate, start_camera=False, realtime=False)  # every frame, in lock-step
        qtbot.addWidget(win)
        win.show()
        win.lock.set_pin(PIN)
        clicks.nav(win, "grid")
        clicks.click(win.grid.run_btn)
        tiles = win.grid.grid.tiles
        qtbot.waitUntil(lambda: "front" in tiles and "back" in tiles and "Granted" in tiles["front"].last.text()
                        and "Denied" in tiles["back"].last.text(), timeout=240_000)
        front, back = tiles["front"].last.text(), tiles["back"].last.text()
        assert "Lin-Manuel Miranda" in front and "reason: granted" in front, front
        assert "Lin-Manuel Miranda" in back and "reason: outside schedule" in back, back

        # the door screen set to initials (Settings > Privacy, clicked): the tiles stop naming him too
        clicks.nav(win, "settings")
        box = win.settings.privacy
        box.display.setCurrentIndex(box.display.findData(DoorDisplay.INITIALS.value))
        clicks.click(win.settings.apply_btn)
        assert win.settings.error.text() == "Saved."
        front, back = tiles["front"].last.text(), tiles["back"].last.text()
        assert "L. M. M." in front and "L. M. M." in back and "reason: granted" in front, front
        assert "Miranda" not in front + back, (front, back)
        box.display.setCurrentIndex(box.display.findData(DoorDisplay.NONE.value))
        clicks.click(win.settings.apply_btn)
        front = tiles["front"].last.text()
        assert "Granted · in · " in front and "L. M. M." not in front and "Miranda" not in front, front
    finally:
        if win is not None:
            win.close()  # stops the doors before their database closes
        gate.close()
