"""The other screens, through real windows on a real database: the wizard's guided camera capture on the
real clip, look-alike warnings, people editing, settings, kiosk mode, no webcam, and ``run_app``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QSplashScreen

from desktop_app.core.video.latest_frame import FINAL_STATES
from desktop_app.core.video.sources import list_cameras
from desktop_app.ui.capture import SourceRequest
from desktop_app.ui.enrol_wizard import PAGE_CAMERA, PAGE_RESULT, PAGE_REVIEW, EnrolWizard
from desktop_app.ui.main_window import MainWindow

LIN = "Lin-Manuel Miranda"
PIN = "975204"
#: Frames 136-160 of the clip: Lin-Manuel Miranda turning from his right to face the camera.
CAMERA_SEGMENT = (136, 210)  # 74 frames all passing enrolment quality: robust to frames dropped under load


@pytest.fixture()
def window(open_admin_window: Any, module_gate: object) -> MainWindow:
    win = open_admin_window(module_gate, PIN)
    yield win
    win.close()
    assert not win.capture.qthread.isRunning()


def test_guided_camera_enrolment_on_the_clip(qtbot: object, window: MainWindow, clip: Path,
                                            clip_segment: type) -> None:
    win = window
    wizard = win.open_enrolment(mode="camera")
    assert isinstance(wizard, EnrolWizard)
    wizard.name_edit.setText(LIN)
    wizard.go_next()
    assert wizard.page == PAGE_CAMERA
    states: list[str] = []
    win.capture.worker.state_changed.connect(lambda s, _m: states.append(s))
    win.open_request(SourceRequest(str(clip), realtime=False, factory=lambda: clip_segment(clip, *CAMERA_SEGMENT)))
    qtbot.waitUntil(lambda: "frontal" in wizard.guide.shots or any(s in FINAL_STATES for s in states),  # type: ignore[attr-defined]
                    timeout=60000)
    assert "frontal" in wizard.guide.shots, f"no automatic frontal shot; feedback: {wizard.feedback.text()}"
    assert wizard.preview.has_image and wizard.preview.mirror
    assert win.door.decision.decision == "waiting", "enrolment mode logs nothing and announces nothing"
    while not wizard.guide.done:
        wizard.skip_pose()
    assert wizard.next_btn.isEnabled()
    wizard.go_next()
    assert wizard.page == PAGE_REVIEW and wizard.review_list.count() == len(wizard.guide.shots)
    wizard.next_btn.click()  # Save
    qtbot.waitUntil(lambda: wizard.page == PAGE_RESULT, timeout=30000)  # type: ignore[attr-defined]
    report = wizard.report
    assert report is not None and len(report.added) == len(wizard.guide.shots)
    person = win.gate.store.find_person(LIN)
    assert person is not None and person.n_samples == len(report.added)
    sources = [s.source for s in win.gate.store.list_samples(person.id)]
    assert any("(frontal)" in s for s in sources)
    wizard.close()
    qtbot.waitUntil(lambda: win.capture.worker._mode == "live", timeout=5000)  # type: ignore[attr-defined]


def test_lookalike_warning_and_people_editing(qtbot: object, window: MainWindow, clips: Path) -> None:
    win = window
    gate = win.gate
    if gate.store.find_person(LIN) is None:
        gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"])
    # the same face under another name: refused before saving, the wizard shows why
    wizard = win.open_enrolment(mode="photos")
    assert isinstance(wizard, EnrolWizard)
    wizard.name_edit.setText("Lin Double")
    wizard.go_next()
    wizard.add_photos([clips / "lin-manuel-miranda.png"])
    wizard.next_btn.click()
    qtbot.waitUntil(lambda: wizard.page == PAGE_RESULT, timeout=30000)  # type: ignore[attr-defined]
    assert wizard.report is not None and wizard.report.needs_force and not wizard.report.added
    assert LIN in wizard.outcome.rejected_list.item(0).text() and gate.store.find_person("Lin Double") is None
    wizard.close()
    assert gate.enrol_images("Lin Double", [clips / "lin-manuel-miranda.png"], force=True).added

    # edit that person: rename, department, inactive (denied at the door), then active again
    assert win.navigate("people")
    page = win.people
    double = gate.store.find_person("Lin Double")
    assert double is not None and page.select_person(double.id)
    page.name_edit.setText("Lin Double II")
    page.department_edit.setText("Testing")
    page.active_box.setChecked(False)
    assert page.save()
    qtbot.waitUntil(lambda: not gate.store.get_person(double.id).active, timeout=20000)  # type: ignore[attr-defined,union-attr]
    # a deactivated person stays in the gallery: the door recognises and refuses them by name ("denied")
    assert double.id in set(gate.gallery.person_ids().tolist())
    edited = gate.store.get_person(double.id)
    assert edited is not None and edited.name == "Lin Double II" and edited.department == "Testing"
    assert not edited.active
    page.search.setText("double ii")
    assert page.model.rowCount() == 1 and "Lin Double II" in page.model.data(page.model.index(0))
    page.search.setText("")
    # a duplicate name is refused with a message, nothing changes
    assert page.select_person(double.id)
    page.name_edit.setText(LIN)
    assert not page.save() and "Not saved" in page.status.text()
    assert gate.store.get_person(double.id).name == "Lin Double II"  # type: ignore[union-attr]
    # remove its only shot
    assert page.select_person(double.id) and page.shots.count() == 1
    page.shots.setCurrentRow(0)
    assert page.remove_selected_shot(confirm=False)
    assert gate.store.list_samples(double.id) == []
    gate.erase_person(double.id)


def test_settings_apply_and_show_the_threshold(qtbot: object, window: MainWindow) -> None:
    win = window
    assert win.navigate("settings")
    page = win.settings
    qtbot.waitUntil(lambda: page.calibration.text() not in ("…", "Computing…"), timeout=20000)  # type: ignore[attr-defined]
    assert "Threshold" in page.calibration.text()
    page.votes.setValue(4)
    page.window_frames.setValue(6)
    page.cooldown.setValue(30)
    page.fpir.setCurrentIndex(0)  # 1%
    page.camera_name.setText("front-door")
    assert page.apply()
    cfg = win.gate.config
    assert (cfg.decision.votes_needed, cfg.decision.window, cfg.decision.cooldown_s) == (4, 6, 30)
    assert cfg.recognition.target_fpir == pytest.approx(1e-2) and cfg.camera.name == "front-door"
    assert win.gate.store.get_setting("config")["decision"]["votes_needed"] == 4  # type: ignore[index]
    page.camera_name.setText("")  # refused by the config model (test_clicks checks its message)
    assert not page.apply() and page.error.text().startswith("Not saved:")
    page.load()
    assert page.votes.value() == 4 and page.camera_name.text() == "front-door"


def test_kiosk_has_no_admin_controls(qtbot: object, module_gate: object) -> None:
    win = MainWindow(module_gate, kiosk=True, start_camera=False)  # type: ignore[arg-type]
    qtbot.addWidget(win)  # type: ignore[attr-defined]
    assert set(win.pages) == {"door"} and not win.nav_actions
    assert not win.door.source_bar.isVisibleTo(win)
    assert not win.require_admin("open People") and not win.navigate("people")
    assert win.open_enrolment() is None
    win.close()


def test_no_webcam_says_so(qtbot: object, module_gate: object) -> None:
    if list_cameras():
        pytest.skip("this machine has a webcam")
    win = MainWindow(module_gate, source="0")  # type: ignore[arg-type]
    qtbot.addWidget(win)  # type: ignore[attr-defined]
    win.show()
    assert "No camera" in win.door.video.message
    assert win.door.btn_file.isVisible() and win.door.btn_url.isVisible()
    assert "none found" in win.camera_label.text()
    win.close()


def test_run_app_loads_behind_a_splash_and_plays(qtbot: object, tmp_path: Path, synthetic_clip: Path) -> None:
    from desktop_app.ui.app import run_app

    seen: dict[str, object] = {"splash": False, "frames": 0}

    def poll() -> None:
        tops = QApplication.topLevelWidgets()
        if any(isinstance(w, QSplashScreen) and w.isVisible() for w in tops):
            seen["splash"] = True
        wins = [w for w in tops if isinstance(w, MainWindow) and w.isVisible()]
        if wins and wins[0].door.video.has_image:
            seen["title"] = wins[0].windowTitle()
            wins[0].close()
            return
        QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)
    code = run_app(db=tmp_path / "app" / "facegate.db", source=str(synthetic_clip), kiosk=False)
    assert code == 0
    assert seen["splash"] and seen.get("title") == "FaceGate"
    assert (tmp_path / "app" / "facegate.db").is_file()


def test_a_bad_source_fails_with_a_message(qtbot: object, window: MainWindow, tmp_path: Path) -> None:
    states: list[tuple[str, str]] = []
    window.capture.worker.state_changed.connect(lambda s, m: states.append((s, m)))
    window.open_request(SourceRequest(str(tmp_path / "missing.mp4")))
    qtbot.waitUntil(lambda: bool(states), timeout=10000)  # type: ignore[attr-defined]
    state, message = states[-1]
    assert state == "failed" and "missing.mp4" in message
    assert "missing.mp4" in window.door.video.message and "no picture" in window.camera_label.text()
