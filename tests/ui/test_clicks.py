"""Every page action as a user does it: a mouse click on the real button, the dialog it opens
answered (the static QFileDialog methods monkeypatched to answer; the PIN and confirmation dialogs
answered by clicking their own buttons), then the result checked in the files and the database.
A broken signal connection fails here, unlike in a test that calls the slot.

Most tests need no face data (a fresh FaceGate on a SQLite file in tmp, people and events written
through the store, synthetic video files); the add-shots and recalibrate tests use real photos."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QPushButton, QWidget

from desktop_app.core.config import DecisionSettings, describe_validation_error
from desktop_app.core.service import FaceGate
from desktop_app.ui import theme
from desktop_app.ui.capture import DoorEvent, SourceRequest
from desktop_app.ui.enrol_wizard import PAGE_PHOTOS, PAGE_RESULT, EnrolWizard
from desktop_app.ui.main_window import KIOSK_EXIT_KEYS, MainWindow
from desktop_app.ui.pin_dialogs import PinDialog
from desktop_app.ui.video_view import overlays_for_faces

PIN = "246913"
LEFT = Qt.MouseButton.LeftButton


# ---------------------------------------------------------------------- helpers
def click(qtbot: Any, widget: QWidget) -> None:
    assert widget.isVisible() and widget.isEnabled(), f"{widget!r} cannot be clicked"
    qtbot.mouseClick(widget, LEFT)


def click_nav(qtbot: Any, win: MainWindow, name: str) -> None:
    """Click the toolbar button of page ``name``."""
    button = win.toolbar.widgetForAction(win.nav_actions[name])
    click(qtbot, button)


def on_next_modal(action: Callable[[QWidget], None], tries: int = 250) -> list[QWidget]:
    """Run ``action(dialog)`` once the next modal dialog is open (it blocks the test in exec());
    returns a list that holds the dialog once answered."""
    seen: list[QWidget] = []

    def poll(left: int = tries) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is not None:
            seen.append(dialog)
            action(dialog)
        elif left > 0:
            QTimer.singleShot(20, lambda: poll(left - 1))

    QTimer.singleShot(0, poll)
    return seen


def answer_pin(qtbot: Any, *pins: str | None) -> list[QWidget]:
    """Answer the next PIN dialog: type each PIN and click Unlock (None: click Cancel)."""

    def answer(dialog: QWidget) -> None:
        assert isinstance(dialog, PinDialog)
        for pin in pins:
            if pin is None:
                qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Cancel), LEFT)
                return
            dialog.pin.setText(pin)
            qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok), LEFT)

    return on_next_modal(answer)


def button_named(parent: QWidget, text: str) -> QPushButton:
    matches = [b for b in parent.findChildren(QPushButton) if b.text() == text]
    assert len(matches) == 1, f"{len(matches)} buttons called {text!r}"
    return matches[0]


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (160, 120)) -> Path:
    """A small real video file (moving grey bars, no face) written with OpenCV."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, size)
    assert writer.isOpened()
    for i in range(frames):
        img = np.full((size[1], size[0], 3), 40, np.uint8)
        img[:, (i * 7) % size[0]:(i * 7) % size[0] + 10] = 200
        writer.write(img)
    writer.release()
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:  # the exports start with a BOM (for Excel)
        return list(csv.DictReader(f))


def ensure_pin(gate: FaceGate) -> None:
    if not gate.has_admin_pin():
        gate.set_admin_pin(PIN)


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceGate]:
    """A FaceGate (real models, CPU) on a fresh database, with nobody in its gallery: these tests
    write people and events through the store, no face data needed."""
    g = FaceGate(tmp_path_factory.mktemp("clicks") / "facegate.db", device="cpu")
    yield g
    g.close()


@pytest.fixture()
def window(open_admin_window: Any, gate: FaceGate) -> Iterator[MainWindow]:
    win = open_admin_window(gate, PIN)
    yield win
    win.close()


@pytest.fixture()
def person_with_a_visit(gate: FaceGate) -> Iterator[SimpleNamespace]:
    """A person (no face shots) let in twice today: two events and one attendance day."""
    name = f"Ada Export {len(gate.people())}"
    pid = gate.store.add_person(name, employee_id="E-17", department="Lab")
    sha = gate.model.sha256
    now = datetime.now().astimezone()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for share in (0.25, 0.75):  # two visits today, in and out
        gate.store.log_event(person_id=pid, score=0.71, decision="granted", camera="door-1", model_sha256=sha,
                             ts=midnight + (now - midnight) * share)
    gate.store.log_event(person_id=None, score=0.12, decision="unknown", camera="door-1", model_sha256=sha)
    yield SimpleNamespace(id=pid, name=name)
    gate.erase_person(pid)


# ---------------------------------------------------------------------- export (defect: clicked(bool))
def test_events_export_button_writes_the_filtered_csv(qtbot: Any, person_with_a_visit: SimpleNamespace,
                                                      window: MainWindow, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "events.csv"
    asked: list[str] = []

    def save_as(*args: object, **kwargs: object) -> tuple[str, str]:
        asked.append(str(args[1]))
        return str(out), "CSV files (*.csv)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a: warnings.append(text))
    click_nav(qtbot, window, "events")
    page = window.events
    assert window.current_page == "events" and page.isVisible()
    index = page.person.findData(person_with_a_visit.id)
    assert index > 0
    page.person.setCurrentIndex(index)
    click(qtbot, page.export_btn)
    assert not warnings, warnings
    assert asked == ["Export events"]
    rows = read_csv(out)
    assert len(rows) == 2 and {r["name"] for r in rows} == {person_with_a_visit.name}
    assert {r["decision"] for r in rows} == {"granted"}
    assert "2 exported to events.csv" in page.count.text()
    # the decision filter applies to the export as well
    page.person.setCurrentIndex(0)
    page.decision.setCurrentIndex(page.decision.findData("unknown"))
    click(qtbot, page.export_btn)
    rows = read_csv(out)
    assert rows and {r["decision"] for r in rows} == {"unknown"}


def test_attendance_export_button_writes_the_csv(qtbot: Any, person_with_a_visit: SimpleNamespace,
                                                 window: MainWindow, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "attendance.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "CSV files (*.csv)"))
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a: warnings.append(text))
    click_nav(qtbot, window, "attendance")
    page = window.attendance
    assert window.current_page == "attendance"
    click(qtbot, page.export_btn)
    assert not warnings, warnings
    rows = [r for r in read_csv(out) if r["name"] == person_with_a_visit.name]
    assert len(rows) == 1
    row = rows[0]
    assert row["day"] == date.today().isoformat() and row["employee_id"] == "E-17" and row["department"] == "Lab"
    assert row["first_in"] < row["last_out"] and float(row["hours"]) >= 0
    assert "exported to attendance.csv" in page.summary.text()


# ---------------------------------------------------------------------- lock (defect: events open while locked)
def test_lock_and_unlock_buttons(qtbot: Any, window: MainWindow) -> None:
    lock_button = window.toolbar.widgetForAction(window.lock_action)
    assert window.lock.unlocked
    qtbot.waitUntil(lambda: window.lock_action.text() == "Admin\nclick to lock", timeout=3000)
    click(qtbot, lock_button)
    assert not window.lock.unlocked and window.lock_action.text() == "Locked"
    # unlocking asks for the PIN: a wrong one is refused in the dialog, the right one opens
    dialogs = answer_pin(qtbot, "0000", PIN)
    click(qtbot, lock_button)
    assert dialogs and "Wrong PIN" in dialogs[0].error.text()
    assert window.lock.unlocked and window.lock_action.text() == "Admin\nclick to lock"
    # cancelling the dialog keeps it locked
    click(qtbot, lock_button)
    answer_pin(qtbot, None)
    click(qtbot, lock_button)
    assert not window.lock.unlocked and window.lock_action.text() == "Locked"


@pytest.mark.parametrize("page", ["events", "attendance"])
def test_events_and_attendance_need_the_admin_pin(qtbot: Any, window: MainWindow, page: str) -> None:
    window.lock.lock()
    answered = answer_pin(qtbot, None)
    click_nav(qtbot, window, page)
    assert answered, f"{page} opened without asking for the PIN while locked"
    assert window.current_page == "door" and not window.pages[page].isVisible()
    answer_pin(qtbot, PIN)
    click_nav(qtbot, window, page)
    assert window.current_page == page and window.pages[page].isVisible()
    # locking again leaves the page
    click(qtbot, window.toolbar.widgetForAction(window.lock_action))
    assert window.current_page == "door" and not window.pages[page].isVisible()


# ---------------------------------------------------------------------- people: erase
def test_erase_button_asks_then_erases(qtbot: Any, window: MainWindow, gate: FaceGate) -> None:
    pid = gate.store.add_person("Erin Erase", employee_id="E-99")
    click_nav(qtbot, window, "people")
    page = window.people
    row = page.model.row_of(pid)
    assert row >= 0
    page.list.scrollTo(page.model.index(row))
    qtbot.mouseClick(page.list.viewport(), LEFT, pos=page.list.visualRect(page.model.index(row)).center())
    assert page.person is not None and page.person.id == pid

    def press(label: str) -> Callable[[QWidget], None]:
        def answer(box: QWidget) -> None:
            assert isinstance(box, QMessageBox) and "Erin Erase" in box.text()
            qtbot.mouseClick(next(b for b in box.buttons() if b.text() == label), LEFT)
        return answer

    asked = on_next_modal(press("Cancel"))
    click(qtbot, page.erase_btn)
    assert asked and gate.store.get_person(pid) is not None, "Cancel must keep the person"
    asked = on_next_modal(press("Erase"))
    click(qtbot, page.erase_btn)
    assert asked
    qtbot.waitUntil(lambda: "was erased" in page.status.text(), timeout=20000)
    assert gate.store.get_person(pid) is None and page.model.row_of(pid) < 0
    assert "erase_person" in {a.action for a in gate.store.audit_log()}


# ---------------------------------------------------------------------- door: one-off video file
def test_video_file_plays_once_and_keeps_the_configured_camera(qtbot: Any, window: MainWindow, gate: FaceGate,
                                                              tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    configured = str(write_video(tmp_path / "configured.avi"))
    cfg = gate.config
    gate.update_config(cfg.model_copy(update={"camera": cfg.camera.model_copy(update={"source": configured})}))
    once = str(write_video(tmp_path / "visitor.avi"))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (once, "Videos"))
    states: list[str] = []
    window.capture.worker.state_changed.connect(lambda s, _m: states.append(s))
    click(qtbot, window.door.btn_file)
    assert window.capture.request is not None and window.capture.request.spec == once
    qtbot.waitUntil(lambda: "ended" in states or "failed" in states, timeout=20000)
    assert "ended" in states, "the chosen file plays"
    assert gate.config.camera.source == configured
    assert gate.store.get_setting("config")["camera"]["source"] == configured  # type: ignore[index]
    assert "this time only" in window.door.source_label.text()
    window.start_source(None)  # the next plain start: the configured camera again
    assert window.capture.request is not None and window.capture.request.spec == configured


# ---------------------------------------------------------------------- door: stale figures
def test_status_bar_drops_the_figures_when_the_source_ends(qtbot: Any, window: MainWindow, tmp_path: Path) -> None:
    video = write_video(tmp_path / "short.avi", frames=25)
    seen: list[tuple[str, str]] = []  # (camera label, fps label) after each stats update
    worker = window.capture.worker
    worker.stats_updated.connect(lambda _s: seen.append((window.camera_label.text(), window.fps_label.text())))
    worker.stats_interval_s = 0.05
    window.open_request(SourceRequest(str(video), realtime=False))
    qtbot.waitUntil(lambda: any("ended" in cam for cam, _ in seen), timeout=20000)
    assert any(fps != "— fps" for cam, fps in seen if "live" in cam), "figures were shown while it played"
    after_end = [fps for cam, fps in seen if "ended" in cam]
    assert after_end and set(after_end) == {"— fps"}
    assert window.latency_label.text() == "— ms/frame"


# ---------------------------------------------------------------------- door: kiosk
def test_kiosk_shows_its_way_out_and_no_figures(qtbot: Any, gate: FaceGate) -> None:
    ensure_pin(gate)
    win = MainWindow(gate, kiosk=True, start_camera=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    assert win.kiosk_hint.isVisible() and KIOSK_EXIT_KEYS in win.kiosk_hint.text()
    for label in (win.fps_label, win.latency_label, win.provider_label, win.gallery_label):
        assert not label.isVisible(), label.text()
    assert win.door.legend.isVisible()
    # no scores either: the decision, the latest events and the face boxes give names only
    win.door.add_events([DoorEvent(1, "granted", "Ada", 1, 0.71, 3, datetime.now().astimezone(), None, None)])
    assert win.door.decision.name.text() == "Ada" and "score" not in win.door.decision.detail.text()
    assert "Ada" in win.door.recent.item(0).text() and "score" not in win.door.recent.item(0).text()
    face = SimpleNamespace(status="recognised", name="Ada", score=0.71, box=(0, 0, 10, 10))
    assert [o.label for o in overlays_for_faces([face], scores=False)] == ["Ada"]
    # the documented keys leave kiosk mode after the PIN
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=3000)  # a shortcut reaches the active window only
    answered = answer_pin(qtbot, PIN)
    qtbot.keyClick(win, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert answered, f"{KIOSK_EXIT_KEYS} did not ask for the PIN"
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=5000)


# ---------------------------------------------------------------------- door: legend
def test_legend_explains_every_box_colour(qtbot: Any) -> None:
    from desktop_app.ui.door_view import DoorView

    statuses = ("recognised", "denied", "match", "unknown", "poor-view", "too-small")
    faces = [SimpleNamespace(status=s, name="X", score=0.5, box=(0, 0, 10, 10)) for s in statuses]
    drawn = {ov.color for ov in overlays_for_faces(faces)}
    explained = {colour for colour, _label, _text in theme.FACE_LEGEND}
    assert drawn <= explained, f"box colours without an explanation: {drawn - explained}"
    view = DoorView()
    qtbot.addWidget(view)
    view.show()
    texts = [w.text() for w in view.legend.findChildren(type(view.source_label)) if w.text()]
    assert texts == [label for _c, label, _t in theme.FACE_LEGEND]
    assert "Face not usable" in texts and "Deciding…" in texts


# ---------------------------------------------------------------------- door: empty gallery -> enrol
def test_empty_gallery_points_to_enrol(qtbot: Any, window: MainWindow) -> None:
    door = window.door
    assert door.enrol_callout.isVisible() and "nobody" in door.enrol_text.text().lower()
    click(qtbot, door.enrol_btn)
    assert isinstance(window.wizard, EnrolWizard) and window.wizard.isVisible()
    window.wizard.close()
    # locked: the same button asks for the PIN first
    window.lock.lock()
    answered = answer_pin(qtbot, None)
    click(qtbot, door.enrol_btn)
    assert answered and (window.wizard is None or not window.wizard.isVisible())


# ---------------------------------------------------------------------- settings
def test_settings_ranges_come_from_the_config_model(window: MainWindow) -> None:
    props = DecisionSettings.model_json_schema()["properties"]
    page = window.settings
    for spin, field in ((page.votes, "votes_needed"), (page.window_frames, "window"),
                        (page.cooldown, "cooldown_s"), (page.unknown_after, "unknown_after")):
        assert (spin.minimum(), spin.maximum()) == (props[field]["minimum"], props[field]["maximum"]), field


def test_settings_show_the_models_validation_message(qtbot: Any, window: MainWindow, gate: FaceGate) -> None:
    click_nav(qtbot, window, "settings")
    page = window.settings
    before = gate.config
    page.camera_name.setText("   ")
    click(qtbot, page.apply_btn)
    assert page.error.text().startswith("Not saved: camera.name: String should have at least 1 character")
    assert gate.config == before
    page.load()
    # the votes <= window rule lives in the config model: the page shows the model's words
    try:
        DecisionSettings.model_validate({"votes_needed": 6, "window": 5})
    except ValidationError as exc:
        expected = describe_validation_error(exc)
    else:
        pytest.skip("the config model does not check votes_needed <= window yet (another branch adds it)")
    page.votes.setValue(6)
    page.window_frames.setValue(5)
    click(qtbot, page.apply_btn)
    assert page.error.text() == f"Not saved: decision: {expected}"
    assert gate.config == before


# ---------------------------------------------------------------------- with real photos
@pytest.fixture(scope="module")
def photo_gate(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[FaceGate]:
    g = FaceGate(tmp_path_factory.mktemp("clicks-photos") / "facegate.db", device="cpu")
    yield g
    g.close()


def test_add_shots_button_adds_a_photo(qtbot: Any, open_admin_window: Any, photo_gate: FaceGate, clips: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    photo = clips / "lin-manuel-miranda.png"
    win = open_admin_window(photo_gate, PIN)
    assert win.door.enrol_callout.isVisible()
    pid = photo_gate.store.add_person("Lin-Manuel Miranda", department="Stage")
    click_nav(qtbot, win, "people")
    page = win.people
    assert page.select_person(pid) and page.shots.count() == 0
    click(qtbot, page.add_photos_btn)
    wizard = win.wizard
    assert isinstance(wizard, EnrolWizard) and wizard.name_edit.text() == "Lin-Manuel Miranda"
    click(qtbot, wizard.next_btn)
    assert wizard.page == PAGE_PHOTOS
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(photo)], "Images"))
    click(qtbot, button_named(wizard, "Add photos…"))
    assert wizard.photo_list.files() == [photo]
    click(qtbot, wizard.next_btn)  # "Enrol"
    qtbot.waitUntil(lambda: wizard.page == PAGE_RESULT, timeout=30000)
    assert wizard.report is not None and len(wizard.report.added) == 1
    wizard.close()
    person = photo_gate.store.get_person(pid)
    assert person is not None and person.n_samples == 1 and person.department == "Stage"
    assert page.select_person(pid) and page.shots.count() == 1
    assert not win.door.enrol_callout.isVisibleTo(win.door), "somebody is enrolled now"
    win.close()


def test_recalibrate_button_stores_a_new_calibration(qtbot: Any, open_admin_window: Any, photo_gate: FaceGate,
                                                     lfw: Path) -> None:
    for name in ("Colin_Powell", "George_W_Bush"):
        photo_gate.enrol_images(name.replace("_", " "), [lfw / name / f"{name}_000{i}.jpg" for i in (1, 2)])
    win = open_admin_window(photo_gate, PIN)
    click_nav(qtbot, win, "settings")
    page = win.settings
    qtbot.waitUntil(lambda: page.calibration.text().startswith("Threshold"), timeout=20000)

    def calibrations() -> int:
        with sqlite3.connect(photo_gate.db_path) as db:
            return int(db.execute("SELECT count(*) FROM calibrations").fetchone()[0])

    before = calibrations()
    click(qtbot, page.recalibrate_btn)
    assert page.calibration.text() == "Calibrating…"
    qtbot.waitUntil(lambda: page.calibration.text().startswith("Threshold"), timeout=20000)
    assert calibrations() == before + 1
    win.close()
