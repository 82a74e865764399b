"""End to end through real windows: enrol the two people of the clip with the wizard (photo files,
one dropped, one added), play the real clip as the camera, check the door view announces
Lin-Manuel Miranda and the events table lists him (never a wrong name), keep the GUI thread
responsive meanwhile, then erase him and check nothing of him remains."""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from desktop_app.core.video.latest_frame import FINAL_STATES
from desktop_app.ui.capture import LiveFrame, SourceRequest
from desktop_app.ui.enrol_wizard import PAGE_PHOTOS, PAGE_RESULT, EnrolWizard
from desktop_app.ui.latency_probe import LoopLatencyProbe
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.pin import SETTING_KEY
from desktop_app.ui.pin_dialogs import PinDialog

LIN = "Lin-Manuel Miranda"
ALEX = "Alex Lacamoire"
PIN = "482916"
#: Frames 80-150 of the clip: a few frames of a hesitant match, then Lin-Manuel Miranda large and frontal.
SEGMENT = (80, 150)


def drop_files(widget: object, paths: list[Path]) -> None:
    """Deliver a real drop event with file URLs to an item view, as a file manager does."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    viewport = widget.viewport()  # type: ignore[attr-defined]
    with warnings.catch_warnings():  # PySide marks the QPoint constructor deprecated; Qt has no other
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, enter)  # Qt only delivers a drop to the widget that accepted the drag
    assert enter.isAccepted()
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)


def on_next_modal(action: Callable[[object], None], tries: int = 100) -> None:
    """Run ``action(dialog)`` on the next modal dialog once it is open (it blocks the test in exec())."""

    def poll(left: int = tries) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is not None:
            action(dialog)
        elif left > 0:
            QTimer.singleShot(20, lambda: poll(left - 1))

    QTimer.singleShot(0, poll)


def enrol_with_wizard(qtbot: object, win: MainWindow, name: str, photo: Path, employee_id: str, drop: bool) -> object:
    wizard = win.open_enrolment(mode="photos")
    assert isinstance(wizard, EnrolWizard)
    wizard.name_edit.setText(name)
    wizard.employee_edit.setText(employee_id)
    wizard.go_next()
    assert wizard.page == PAGE_PHOTOS
    if drop:
        drop_files(wizard.photo_list, [photo])
    else:
        wizard.add_photos([photo])
    assert wizard.photo_list.files() == [photo]
    assert wizard.next_btn.isEnabled()
    wizard.next_btn.click()  # "Enrol": runs in the job pool
    qtbot.waitUntil(lambda: wizard.page == PAGE_RESULT, timeout=30000)  # type: ignore[attr-defined]
    report = wizard.report
    wizard.close()
    return report


@pytest.fixture()
def window(qtbot: object, module_gate: object) -> MainWindow:
    win = MainWindow(module_gate, start_camera=False, realtime=False)  # type: ignore[arg-type]
    qtbot.addWidget(win)  # type: ignore[attr-defined]
    win.show()
    yield win
    win.close()
    assert not win.capture.qthread.isRunning(), "closing the window must stop the camera thread"


def test_enrol_play_announce_erase(qtbot: object, window: MainWindow, clips: Path, clip: Path,
                                   clip_segment: type) -> None:
    win = window
    gate = win.gate
    store = gate.store
    # First run: no PIN yet. Set one (stored hashed), which also opens the admin screens.
    assert not win.lock.has_pin
    win.lock.set_pin(PIN)
    assert PIN not in str(store.get_setting(SETTING_KEY))

    # -- enrolment through the wizard's photo path (one file dropped, one added with the dialog path)
    rep_lin = enrol_with_wizard(qtbot, win, LIN, clips / "lin-manuel-miranda.png", "E-001", drop=True)
    rep_alex = enrol_with_wizard(qtbot, win, ALEX, clips / "alex-lacamoire.png", "E-002", drop=False)
    assert len(rep_lin.added) == 1 and not rep_lin.rejected
    assert len(rep_alex.added) == 1 and not rep_alex.rejected
    lin = store.find_person(LIN)
    alex = store.find_person(ALEX)
    assert lin is not None and alex is not None and lin.employee_id == "E-001"
    assert gate.gallery.person_count == 2

    # -- the clip is the camera; record what the door view shows and how late the GUI loop gets
    frames: list[LiveFrame] = []
    announced: list[tuple[str, str]] = []
    states: list[str] = []
    win.capture.worker.frame_ready.connect(frames.append)
    win.door.decision.announced.connect(lambda d, n: announced.append((d, n)))
    win.capture.worker.state_changed.connect(lambda s, _m: states.append(s))
    probe = LoopLatencyProbe(10)
    probe.start()
    win.open_request(SourceRequest(str(clip), realtime=False,
                                   factory=lambda: clip_segment(clip, *SEGMENT)))
    qtbot.waitUntil(lambda: any(s in FINAL_STATES for s in states), timeout=90000)  # type: ignore[attr-defined]
    probe.stop()
    assert states[-1] == "ended", states

    assert ("granted", LIN) in announced, announced
    names_on_screen = {f.name for fr in frames for f in fr.result.faces if f.name is not None}
    assert names_on_screen <= {LIN}, f"a wrong name was drawn: {names_on_screen}"
    granted = [n for d, n in announced if d == "granted"]
    assert granted and set(granted) == {LIN}
    assert LIN in win.door.recent.item(win.door.recent.count() - 1).text() or any(
        LIN in win.door.recent.item(i).text() for i in range(win.door.recent.count()))
    # the GUI thread kept running: a loose sanity bound (figures: bench/gui_latency.py)
    figures = probe.figures()
    assert figures["ticks"] > 50 and figures["max"] < 1000.0, figures

    # -- the events table (model/view, paged) lists him, and only correct names; with their face
    # snapshots, events need the PIN: a wrong one is refused, the right one opens
    win.lock.lock()

    def wrong_then_right(dialog: object) -> None:
        assert isinstance(dialog, PinDialog)
        dialog.pin.setText("000000")
        assert not dialog.try_unlock()
        assert dialog.isVisible() and "Wrong PIN" in dialog.error.text()
        dialog.pin.setText(PIN)
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()

    on_next_modal(wrong_then_right)
    assert win.navigate("events")
    assert win.current_page == "events"
    model = win.events.model
    win.events.all_dates.setChecked(True)
    rows = [model.event_at(i) for i in range(model.rowCount())]
    assert model.total == store.count_events() == len(rows) > 0
    named = {ev.name for ev in rows if ev.name is not None}
    assert named == {LIN}
    lin_rows = [i for i, ev in enumerate(rows) if ev.name == LIN]
    assert all(rows[i].decision == "granted" and rows[i].person_id == lin.id for i in lin_rows)
    win.events.table.selectRow(lin_rows[0])
    pix = win.events.snapshot.pixmap()
    assert pix is not None and not pix.isNull(), "clicking an event shows its snapshot"
    att = store.attendance(rows[0].ts.astimezone().date(), rows[0].ts.astimezone().date())
    assert [a.name for a in att] == [LIN]

    assert win.navigate("people")  # unlocked above
    assert win.current_page == "people"

    # -- erase him (confirmation dialog) and check nothing of him remains
    people = win.people
    assert people.select_person(lin.id)
    sample_ids = [s.id for s in store.list_samples(lin.id)]
    assert people.shots.count() == len(sample_ids) == 1

    def confirm(dialog: object) -> None:
        assert isinstance(dialog, QMessageBox) and LIN in dialog.text()
        erase = next(b for b in dialog.findChildren(QPushButton) if b.text().replace("&", "") == "Erase")
        erase.click()

    on_next_modal(confirm)
    people.erase_btn.click()
    qtbot.waitUntil(lambda: store.get_person(lin.id) is None and "erased" in people.status.text(),  # type: ignore[attr-defined]
                    timeout=20000)
    assert store.find_person(LIN) is None
    assert store.list_samples(lin.id) == []
    assert lin.id not in set(np.asarray(gate.gallery.person_ids()).tolist())
    assert len(gate.gallery) == 1 and gate.gallery.person_count == 1
    _, persons, _ = store.templates(gate.model.sha256, active_only=False)
    assert lin.id not in set(persons.tolist())
    assert store.attendance(rows[0].ts.astimezone().date(), rows[0].ts.astimezone().date()) == []
    assert store.count_events(person_id=lin.id) == 0
    assert all(ev.name != LIN for ev in store.query_events())
    with sqlite3.connect(store.path) as raw:  # the raw database file, not the API
        assert raw.execute("SELECT count(*) FROM people WHERE name = ?", (LIN,)).fetchone()[0] == 0
        assert raw.execute("SELECT count(*) FROM samples WHERE person_id = ?", (lin.id,)).fetchone()[0] == 0
        assert raw.execute("SELECT count(*) FROM events WHERE person_id = ?", (lin.id,)).fetchone()[0] == 0
    assert people.model.row_of(lin.id) == -1
    assert people.model.row_of(alex.id) >= 0
    # the events page shows his former events as erased, not by name
    assert win.navigate("events")
    texts = {win.events.model.data(win.events.model.index(i, 1)) for i in range(win.events.model.rowCount())}
    assert LIN not in texts and "(erased person)" in texts
