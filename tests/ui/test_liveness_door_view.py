"""Liveness in the app: the door dialog's liveness mode (saved per door, back to the installation
default), the settings page's default mode, the Events page's spoof events (filter, reason and
the check's reasons), and the door view while a face is checked (the box and the panel show the
prompt) and when a spoof is announced. Real widgets clicked with qtbot, a real FaceGate on a real
SQLite file. No face data needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from desktop_app.core.access.model import CameraSpec, DoorSpec
from desktop_app.core.live.session import KEEP_LOOKING, FrameResult, TrackedFace
from desktop_app.core.service import EventFilter, FaceGate
from desktop_app.core.types import StageTimes
from desktop_app.core.vocabulary import AccessReason, Direction, FaceState, LivenessMode
from desktop_app.ui import theme
from desktop_app.ui.capture import DoorEvent, LiveFrame
from desktop_app.ui.door_dialog import DoorDialog
from desktop_app.ui.door_view import DoorView
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.qtimage import bgr_to_qimage

PIN = "246801"
REASONS = ("a border moves with the face (phone, tablet or print edge)",)


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceGate]:
    g = FaceGate(tmp_path_factory.mktemp("liveness_ui") / "facegate.db", device="cpu")
    g.save_door(DoorSpec("front", cameras=(CameraSpec("0"),)), actor="test")
    pid = g.store.add_person("Lin-Manuel Miranda")
    now = datetime.now(UTC)
    g.record_event(person_id=pid, score=0.6, decision="granted", camera="front/in", ts=now - timedelta(seconds=20),
                   door="front", direction=Direction.IN, reason=AccessReason.GRANTED)
    g.record_event(person_id=pid, score=0.58, decision="spoof", camera="front/in", ts=now - timedelta(seconds=10),
                   door="front", direction=Direction.IN, reason=AccessReason.SPOOF,
                   snapshot=np.full((200, 200, 3), 128, np.uint8), liveness=REASONS)
    yield g
    g.close()


@pytest.fixture()
def window(open_admin_window: Any, gate: FaceGate) -> Iterator[MainWindow]:
    win = open_admin_window(gate, PIN)
    yield win
    win.close()


def _select(clicks: Any, page: Any, name: str) -> None:
    row = next(i for i, d in enumerate(page.doors) if d.name == name)
    rect = page.table.visualItemRect(page.table.item(row, 0))
    clicks.qtbot.mouseClick(page.table.viewport(), clicks.left, pos=rect.center())


def _choose(clicks: Any, mode: LivenessMode | None, seen: list[object]) -> Any:
    def answer(dialog: QWidget) -> None:
        assert isinstance(dialog, DoorDialog)
        seen.append(dialog.liveness.currentData())
        dialog.liveness.setCurrentIndex(dialog.liveness.findData(None if mode is None else mode.value))
        clicks.click(dialog.save_btn)
        assert not dialog.isVisible(), dialog.error.text()
    return answer


def test_the_door_dialog_sets_the_door_liveness_mode_and_back_to_the_default(
        clicks: Any, window: MainWindow, gate: FaceGate) -> None:
    clicks.nav(window, "doors")
    page = window.doors
    seen: list[object] = []
    _select(clicks, page, "front")
    assert clicks.on_next_modal(_choose(clicks, LivenessMode.CHALLENGE, seen)) is not None
    clicks.click(page.edit_btn)
    door = gate.door("front")
    assert door is not None and door.liveness is LivenessMode.CHALLENGE and seen == [None]
    _select(clicks, page, "front")
    clicks.on_next_modal(_choose(clicks, None, seen))
    clicks.click(page.edit_btn)
    door = gate.door("front")
    assert door is not None and door.liveness is None and seen == [None, "challenge"]  # the dialog showed it


def test_the_settings_page_sets_the_default_mode(qtbot: Any, window: MainWindow, gate: FaceGate) -> None:
    qtbot.mouseClick(window.toolbar.widgetForAction(window.nav_actions["settings"]), Qt.MouseButton.LeftButton)
    page = window.settings
    assert page.liveness.currentData() == LivenessMode.OFF.value
    page.liveness.setCurrentIndex(page.liveness.findData(LivenessMode.PASSIVE.value))
    qtbot.mouseClick(page.apply_btn, Qt.MouseButton.LeftButton)
    assert page.error.text() == "Saved." and gate.config.liveness.mode is LivenessMode.PASSIVE
    assert gate.store.get_setting("config")["liveness"]["mode"] == "passive"  # type: ignore[index]
    page.load()
    assert page.liveness.currentData() == "passive"
    page.liveness.setCurrentIndex(page.liveness.findData(LivenessMode.OFF.value))
    qtbot.mouseClick(page.apply_btn, Qt.MouseButton.LeftButton)
    assert gate.config.liveness.mode is LivenessMode.OFF
    qtbot.waitUntil(lambda: page.calibration.text() not in ("…", "Computing…"), timeout=20000)


def test_events_show_and_filter_spoof_events_with_their_reasons(clicks: Any, window: MainWindow,
                                                                 gate: FaceGate) -> None:
    clicks.nav(window, "events")
    page = window.events
    texts = [page.decision.itemText(i) for i in range(page.decision.count())]
    assert "Spoof suspected" in texts
    page.decision.setCurrentIndex(page.decision.findData("spoof"))
    model = page.model
    assert model.rowCount() == 1 and page.count.text() == "1 event"
    row = {model.headerData(c, Qt.Orientation.Horizontal): model.data(model.index(0, c))
           for c in range(model.columnCount())}
    assert (row["Decision"], row["Person"]) == ("spoof", "Lin-Manuel Miranda")
    assert row["Reason"] == f"spoof suspected: {REASONS[0]}"
    page.show_event(0)
    assert "spoof (spoof suspected)" in page.details.text() and "not live: a border moves" in page.details.text()
    assert len(gate.query_events(EventFilter(decision="spoof"))) == 1
    page.decision.setCurrentIndex(0)
    assert model.rowCount() == 2


def _frame(*faces: TrackedFace) -> LiveFrame:
    image = np.zeros((240, 320, 3), np.uint8)
    return LiveFrame(bgr_to_qimage(image), FrameResult(0, faces, (), StageTimes()), 320, 240)


def test_the_door_view_shows_the_check_and_its_prompt_then_a_spoof(qtbot: Any) -> None:
    view = DoorView()
    qtbot.addWidget(view)
    view.show()
    box = (40.0, 40.0, 80.0, 80.0)
    view.show_frame(_frame(TrackedFace(3, box, "Lin-Manuel Miranda", 1, 0.6, FaceState.CHECKING,
                                       prompt=KEEP_LOOKING)))
    (overlay,) = view.video.overlays
    assert overlay.label == "Keep looking at the camera" and overlay.color == theme.CHECKING
    assert view.decision.title.text() == "Checking" and view.decision.name.text() == "Keep looking at the camera"
    view.show_frame(_frame(TrackedFace(3, box, None, None, 0.6, FaceState.CHECKING, prompt="turn left"),
                           TrackedFace(4, (200.0, 40.0, 60.0, 60.0), None, None, 0.1, FaceState.CHECKING,
                                       prompt=KEEP_LOOKING)))
    assert view.decision.name.text() == "Turn left"  # the challenge's action comes first
    assert [o.label for o in view.video.overlays] == ["Turn left", "Keep looking at the camera"]
    view.show_frame(_frame(TrackedFace(3, box, None, None, 0.6, FaceState.SPOOF, reason="spoof suspected")))
    assert [(o.label, o.color) for o in view.video.overlays] == [("SPOOF SUSPECTED", theme.SPOOF)]
    assert view.decision.title.text() == "Waiting"  # nothing checked any more
    ev = DoorEvent(7, "spoof", "Lin-Manuel Miranda", 1, 0.58, 3, datetime.now().astimezone(),
                   snapshot=np.full((120, 120, 3), 90, np.uint8))
    view.add_events([ev])
    assert view.decision.title.text() == "SPOOF SUSPECTED" and "Not a live face" in view.decision.name.text()
    assert view.decision.colour == theme.SPOOF
    view.show_frame(_frame(TrackedFace(5, box, None, None, 0.6, FaceState.CHECKING, prompt=KEEP_LOOKING)))
    assert view.decision.title.text() == "SPOOF SUSPECTED"  # an announced decision is not replaced
    assert "Lin-Manuel Miranda\nSPOOF SUSPECTED" in view.recent.item(0).text()
