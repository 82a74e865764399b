"""Privacy in the app (issue 12), by clicks: the settings page's Privacy box (retention days,
delete expired events now, what the door screen shows), the People page's export of a person's
data (the file dialog answered), and the door screen showing initials or nothing instead of the
name and enrolled photo (screenshot docs/screenshots/kiosk_privacy.png)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from desktop_app.core.privacy.display import DoorDisplay, initials
from desktop_app.core.service import FaceGate
from desktop_app.ui.capture import DoorEvent
from desktop_app.ui.door_view import DoorView
from desktop_app.ui.main_window import MainWindow

PIN = "246817"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture()
def window(open_admin_window: Any, module_gate: FaceGate) -> Iterator[MainWindow]:
    win = open_admin_window(module_gate, PIN)
    yield win
    win.close()


def _nav(qtbot: Any, win: MainWindow, page: str) -> None:
    qtbot.mouseClick(win.toolbar.widgetForAction(win.nav_actions[page]), Qt.MouseButton.LeftButton)


def test_settings_privacy_box_saves_and_purges(qtbot: Any, window: MainWindow, module_gate: FaceGate) -> None:
    gate = module_gate
    old = gate.record_event(person_id=None, score=0.1, decision="unknown", camera="door-1",
                            ts=datetime.now(UTC) - timedelta(days=100))
    assert old is not None and old.event_id is not None
    _nav(qtbot, window, "settings")
    box = window.settings.privacy
    box.events_days.setValue(30)
    box.snapshots_days.setValue(60)  # longer than the events: refused by the config model
    qtbot.mouseClick(window.settings.apply_btn, Qt.MouseButton.LeftButton)
    assert "snapshots cannot be kept longer" in window.settings.error.text()
    assert gate.config.retention.events_days is None
    box.snapshots_days.setValue(7)
    box.display.setCurrentIndex(box.display.findData(DoorDisplay.INITIALS.value))
    qtbot.mouseClick(window.settings.apply_btn, Qt.MouseButton.LeftButton)
    assert window.settings.error.text() == "Saved."
    assert (gate.config.retention.events_days, gate.config.retention.snapshots_days) == (30, 7)
    assert gate.config.door_screen.display is DoorDisplay.INITIALS and window.door.display is DoorDisplay.INITIALS
    qtbot.mouseClick(box.purge_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: box.purge_btn.isEnabled() and "Deleted" in box.purge_status.text(), timeout=20000)
    assert all(e.id != old.event_id for e in gate.query_events())
    assert gate.query_audit()[0].action == "retention.purge"
    box.events_days.setValue(0)  # "Keep for ever"
    box.snapshots_days.setValue(0)
    box.display.setCurrentIndex(box.display.findData(DoorDisplay.FULL.value))
    qtbot.mouseClick(window.settings.apply_btn, Qt.MouseButton.LeftButton)
    assert gate.config.retention.events_days is None and gate.config.door_screen.display is DoorDisplay.FULL


def test_people_page_exports_a_person(qtbot: Any, window: MainWindow, module_gate: FaceGate, clips: Path,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = module_gate
    person = gate.find_person("Alex Lacamoire")
    if person is None:
        assert gate.enrol_images("Alex Lacamoire", [clips / "alex-lacamoire.png"]).added
        person = gate.find_person("Alex Lacamoire")
    assert person is not None
    _nav(qtbot, window, "people")
    page = window.people
    page.reload()
    index = page.model.index(page.model.row_of(person.id))
    qtbot.mouseClick(page.list.viewport(), Qt.MouseButton.LeftButton, pos=page.list.visualRect(index).center())
    assert page.person is not None and page.person.id == person.id and page.export_btn.isEnabled()
    out = tmp_path / "alex.zip"
    asked: list[str] = []

    def save_as(_parent: Any, title: str, suggested: str, _filter: str) -> tuple[str, str]:
        asked.append(suggested)
        return str(out), "Zip files (*.zip)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    qtbot.mouseClick(page.export_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Exported" in page.status.text() or "failed" in page.status.text(), timeout=20000)
    assert "Exported Alex Lacamoire's data" in page.status.text(), page.status.text()
    assert asked and asked[0].endswith("facegate-Alex-Lacamoire.zip")
    with zipfile.ZipFile(out) as z:
        assert "person.json" in z.namelist() and any(n.endswith(".png") for n in z.namelist())
    assert gate.query_audit()[0].action == "person.export"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))  # cancelled: nothing
    n = len(gate.query_audit())
    qtbot.mouseClick(page.export_btn, Qt.MouseButton.LeftButton)
    assert len(gate.query_audit()) == n


def _granted(photo: np.ndarray) -> DoorEvent:
    return DoorEvent(event_id=1, decision="granted", name="Jane van Doe", person_id=1, score=0.81, track_id=3,
                     ts=datetime(2026, 12, 2, 9, 14, 5), photo=photo, snapshot=photo)


def test_door_screen_shows_initials_or_nothing(qtbot: Any) -> None:
    assert initials("Jane van Doe-Smith") == "J. V. D. S." and initials("  ") == ""
    photo = np.full((112, 112, 3), 90, np.uint8)
    cv2.circle(photo, (56, 56), 40, (200, 180, 160), -1)  # a drawn face, no real person
    view = DoorView(kiosk=True, display=DoorDisplay.FULL)
    qtbot.addWidget(view)
    view.resize(1100, 560)
    view.show()
    view.add_events([_granted(photo)])
    assert view.decision.name.text() == "Jane van Doe" and view.decision.photo.isVisible()
    view.set_display(DoorDisplay.INITIALS)
    assert view.recent.count() == 0  # the names already listed are cleared
    view.add_events([_granted(photo)])
    assert view.decision.name.text() == "J. V. D."
    assert "Jane" not in view.recent.item(0).text() and view.recent.item(0).icon().isNull()
    assert view.decision.photo.isVisible()  # the initials badge, not the enrolled photo
    view.video.set_message("Camera picture here")
    shot = view.grab()
    assert not shot.isNull()
    if os.environ.get("FACEGATE_SAVE_SCREENSHOTS"):  # the docs' picture, made on request only
        SHOTS.mkdir(parents=True, exist_ok=True)
        assert shot.save(str(SHOTS / "kiosk_privacy.png"))
    view.set_display(DoorDisplay.NONE)
    view.add_events([_granted(photo)])
    assert view.decision.name.text() == "" and not view.decision.photo.isVisible()
    assert view.decision.title.text() and view.recent.item(0).text().split("\n")[0].endswith("Granted")
