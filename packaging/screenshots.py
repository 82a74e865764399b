"""Screenshots of every FaceGate window on a real X server (Xvfb), the Hamilton clip as the camera.

    .venv/bin/python packaging/screenshots.py [--out docs/screenshots] [--only access]

Starts ``Xvfb :77`` itself when no DISPLAY is set (Debian: ``apt-get install xvfb`` plus Qt's xcb
libraries, see ``desktop_app/syscheck.py``). Builds a fresh database in a temp folder, enrols the
people of ``../shared/data/clips`` (the two of the clip, and the knn_examples people), plays the clip,
and saves one PNG per screen, grabbed from the X server's screen. ``--only access`` makes just the
access-control screens again (people with groups and validity, doors, schedules and groups), without
playing the clip.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "data" / "clips"
sys.path.insert(0, str(ROOT))


def ensure_display() -> subprocess.Popen[bytes] | None:
    """Start Xvfb on :77 when there is no display; returns the process to stop, or None."""
    if os.environ.get("DISPLAY"):
        return None
    if shutil.which("Xvfb") is None:
        sys.exit("No DISPLAY and no Xvfb: install it (apt-get install xvfb) or run under a desktop session.")
    proc = subprocess.Popen(["Xvfb", ":77", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["DISPLAY"] = ":77"
    time.sleep(1.0)
    return proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--only", choices=["access"], default=None,
                    help="make only these screens again (access: people, doors, schedules)")
    args = ap.parse_args()
    xvfb = ensure_display()
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    try:
        return shoot_access(args.out) if args.only == "access" else shoot(args.out)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)


def set_up_access(gate: Any) -> None:
    """A small site: three doors, three schedules, three groups, and the people's groups and
    validity (one expired), as an office manager would set them up."""
    from datetime import date, timedelta

    from desktop_app.core.access.model import CameraSpec, DoorSpec, Group
    from desktop_app.core.access.schedule import Schedule
    from desktop_app.core.vocabulary import Direction, FailMode

    for door in (
        DoorSpec("front", (CameraSpec("0", Direction.IN), CameraSpec("rtsp://door-cam.local/exit", Direction.OUT)),
                 output="webhook:https://hooks.example.org/facegate/front", secret="example-secret",
                 unlock_seconds=5, passback_partner="front", passback="deny"),
        DoorSpec("garage", (CameraSpec("rtsp://admin:camera-pw@10.0.0.21/live", Direction.IN),),
                 output="mqtt://broker.local:1883/facegate/garage", unlock_seconds=8),
        DoorSpec("fire exit", (CameraSpec("1", Direction.OUT),), output="serial:///dev/ttyUSB0?protocol=lctech",
                 unlock_seconds=3, fail_mode=FailMode.SAFE),
        DoorSpec("lobby", (CameraSpec(str(CLIPS / "short_hamilton_clip.mp4"), Direction.IN),), unlock_seconds=5),
    ):
        gate.save_door(door, actor="screenshots")
    gate.save_schedule(Schedule("office hours", "Mon-Fri 08:00-18:00",
                                frozenset({date(2026, 12, 25), date(2027, 1, 1)}), "Europe/Paris"), actor="screenshots")
    gate.save_schedule(Schedule("cleaning", "Mon-Fri 18:00-22:00; Sat 08:00-12:00"), actor="screenshots")
    gate.save_schedule(Schedule("night shift", "Mon-Fri 22:00-06:00"), actor="screenshots")
    for group, doors, schedule in (("staff", ["front", "garage"], "office hours"), ("cleaners", ["front"], "cleaning"),
                                   ("security", ["front", "garage", "fire exit", "lobby"], None)):
        gate.save_group(Group(group), actor="screenshots")
        gate.set_permissions(group, doors, schedule, actor="screenshots")
    today = date.today()
    for name, groups, start, end in (
        ("Lin-Manuel Miranda", ["staff", "security"], None, None),
        ("Alex Lacamoire", ["staff"], date(2026, 1, 1), today + timedelta(days=200)),
        ("Kit Harington", ["cleaners"], None, today - timedelta(days=3)),
        ("Rose Leslie", ["cleaners"], today + timedelta(days=10), None),
        ("Barack Obama", ["security"], None, None),
    ):
        person = gate.find_person(name)
        if person is not None:
            gate.set_person_access(person.id, groups=groups, valid_from=start, valid_until=end, actor="screenshots")


def grab_access(win: Any, person_id: int, grab: Callable[..., None], wait_for: Callable[..., bool]) -> None:
    """The access screens: people (groups and validity), doors, schedules and groups, and the
    doors running in the app (the lobby plays the clip; no other camera exists on this machine)."""
    win.refresh_lock_state()  # the toolbar says the admin screens are open
    win.navigate("people")
    win.people.select_person(person_id)
    win.people.list.setCurrentIndex(win.people.model.index(win.people.model.row_of(person_id)))
    grab("people", win)
    win.navigate("doors")
    win.doors.select_door("front")
    grab("doors", win)
    win.navigate("schedules")
    page = win.schedules
    page.schedule_list.setCurrentRow(next(i for i, s in enumerate(page.schedules) if s.name == "office hours"))
    page.group_list.setCurrentRow(next(i for i, g in enumerate(page.groups) if g.name == "staff"))
    grab("schedules", win)
    win.navigate("grid")
    win.grid.realtime = False  # every frame, so that the picture does not depend on this machine's speed
    win.grid.run_doors(["lobby", "front"])  # front: no such cameras, and its webhook host is not reachable
    tiles = win.grid.grid.tiles
    wait_for(lambda: "lobby" in tiles and "Granted" in tiles["lobby"].last.text()
             and "OUT OF SERVICE" in tiles["front"].badge.text(), 300)
    grab("door_grid", win)
    win.grid.stop_doors(ask=False)


def shoot_access(out: Path) -> int:
    """Only the access-control screens (a few seconds of enrolment from photos, no clip)."""
    from PySide6.QtCore import QEventLoop, QRect, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QWidget

    from desktop_app.core.service import FaceGate
    from desktop_app.ui import theme
    from desktop_app.ui.icon import app_icon
    from desktop_app.ui.main_window import MainWindow

    out.mkdir(parents=True, exist_ok=True)
    app = QApplication([])
    app.setStyleSheet(theme.STYLE_SHEET)
    app.setWindowIcon(app_icon())

    def spin(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def wait_for(cond: Callable[[], bool], timeout: float = 120.0) -> bool:
        t0 = time.monotonic()
        while not cond():
            if time.monotonic() - t0 > timeout:
                return False
            spin(0.02)
        return True

    def grab(name: str, widget: QWidget) -> None:
        spin(0.3)
        rect = widget.frameGeometry()
        pix = QGuiApplication.primaryScreen().grabWindow(0, rect.x(), rect.y(), rect.width(), rect.height())
        if pix.isNull():
            pix = widget.grab(QRect(0, 0, widget.width(), widget.height()))
        path = out / f"{name}.png"
        pix.save(str(path))
        print(f"saved {path} ({pix.width()}x{pix.height()})")

    with tempfile.TemporaryDirectory() as tmp:
        gate = FaceGate(Path(tmp) / "facegate.db")
        train = CLIPS / "knn_examples" / "train"
        for name, emp, dept, photos in (
            ("Lin-Manuel Miranda", "E-101", "Stage", [CLIPS / "lin-manuel-miranda.png"]),
            ("Alex Lacamoire", "E-102", "Music", [CLIPS / "alex-lacamoire.png", train / "alex_lacamoire"]),
            ("Joe Biden", "E-201", "Front office", [train / "biden"]),
            ("Kit Harington", "E-305", "Stage", [train / "kit_harington"]),
            ("Barack Obama", "E-202", "Front office", [train / "obama"]),
            ("Rose Leslie", "E-306", "Stage", [train / "rose_leslie"]),
        ):
            gate.enrol_images(name, photos, employee_id=emp, department=dept)
        set_up_access(gate)
        lin = gate.find_person("Lin-Manuel Miranda")
        assert lin is not None
        win = MainWindow(gate, start_camera=False)
        win.setGeometry(40, 40, 1400, 860)
        win.show()
        win.lock.set_pin("246813")
        grab_access(win, lin.id, grab, wait_for)
        win.close()
        gate.close()
    return 0


def shoot(out: Path) -> int:
    from PySide6.QtCore import QEventLoop, QRect, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QWidget

    from desktop_app.core.service import FaceGate
    from desktop_app.core.video.latest_frame import FINAL_STATES
    from desktop_app.ui import theme
    from desktop_app.ui.app import splash_pixmap
    from desktop_app.ui.capture import SourceRequest
    from desktop_app.ui.enrol_wizard import PAGE_RESULT
    from desktop_app.ui.icon import app_icon
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.ui.pin_dialogs import PinDialog

    out.mkdir(parents=True, exist_ok=True)
    app = QApplication([])
    app.setStyleSheet(theme.STYLE_SHEET)
    app.setWindowIcon(app_icon())
    clip = CLIPS / "short_hamilton_clip.mp4"

    def spin(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def wait_for(cond: Callable[[], bool], timeout: float = 120.0) -> bool:
        t0 = time.monotonic()
        while not cond():
            if time.monotonic() - t0 > timeout:
                return False
            spin(0.02)
        return True

    def grab(name: str, widget: QWidget, *extra: QWidget) -> None:
        """The screen pixels (from the X server) under ``widget`` and any ``extra`` windows."""
        spin(0.3)
        rect = widget.frameGeometry()
        for w in extra:
            rect = rect.united(w.frameGeometry())
        screen = QGuiApplication.primaryScreen()
        pix = screen.grabWindow(0, rect.x(), rect.y(), rect.width(), rect.height())
        if pix.isNull():
            pix = widget.grab(QRect(0, 0, widget.width(), widget.height()))
        path = out / f"{name}.png"
        pix.save(str(path))
        print(f"saved {path} ({pix.width()}x{pix.height()})")

    splash_pixmap().save(str(out / "splash.png"))
    print(f"saved {out / 'splash.png'}")

    with tempfile.TemporaryDirectory() as tmp:
        gate = FaceGate(Path(tmp) / "facegate.db")
        train = CLIPS / "knn_examples" / "train"
        for name, emp, dept, photos in (
            ("Alex Lacamoire", "E-102", "Music", [CLIPS / "alex-lacamoire.png", train / "alex_lacamoire"]),
            ("Joe Biden", "E-201", "Front office", [train / "biden"]),
            ("Kit Harington", "E-305", "Stage", [train / "kit_harington"]),
            ("Barack Obama", "E-202", "Front office", [train / "obama"]),
            ("Rose Leslie", "E-306", "Stage", [train / "rose_leslie"]),
        ):
            gate.enrol_images(name, photos, employee_id=emp, department=dept)
        win = MainWindow(gate, start_camera=False)
        win.setGeometry(40, 40, 1400, 860)
        win.show()
        win.lock.set_pin("246813")
        win.lock.lock()

        # no webcam on this machine: the door view says so
        win.start_source("0")
        grab("door_no_camera", win)

        # enrol Lin-Manuel Miranda from his photo, with the wizard (photo path)
        win.lock.unlock("246813")
        wizard = win.open_enrolment(mode="photos")
        assert wizard is not None
        wizard.move(240, 120)
        wizard.name_edit.setText("Lin-Manuel Miranda")
        wizard.employee_edit.setText("E-101")
        wizard.department_edit.setText("Stage")
        grab("enrol_details", win, wizard)
        wizard.go_next()
        wizard.add_photos([CLIPS / "lin-manuel-miranda.png", CLIPS / "alex-lacamoire.png"])
        grab("enrol_photos", win, wizard)
        wizard.photo_list.clear()
        wizard.add_photos([CLIPS / "lin-manuel-miranda.png", CLIPS / "knn_examples" / "test" / "obama_and_biden.jpg"])
        wizard.next_btn.click()
        wait_for(lambda: wizard.page == PAGE_RESULT)
        grab("enrol_result", win, wizard)
        wizard.close()
        lin = gate.store.find_person("Lin-Manuel Miranda")
        assert lin is not None

        # a duplicate under another name: the look-alike warning (then erased again)
        wizard = win.open_enrolment(mode="photos")
        assert wizard is not None
        wizard.move(240, 120)
        wizard.name_edit.setText("Alex L.")
        wizard.go_next()
        wizard.add_photos([CLIPS / "alex-lacamoire.png"])
        wizard.next_btn.click()
        wait_for(lambda: wizard.page == PAGE_RESULT)
        grab("enrol_lookalike", win, wizard)
        wizard.close()
        dup = gate.store.find_person("Alex L.")
        if dup is not None:
            gate.erase_person(dup.id)
        win.capture.worker.refresh()

        # the door view on the clip: ACCESS GRANTED, then unknown faces
        announced: list[str] = []
        states: list[str] = []
        win.door.decision.announced.connect(lambda d, n: announced.append(d))
        win.capture.worker.state_changed.connect(lambda s, _m: states.append(s))
        win.lock.lock()
        win.refresh_lock_state()
        win.navigate("door")
        # every frame (lock-step), so that the pictures do not depend on how busy this machine is
        win.open_request(SourceRequest(str(clip), realtime=False))
        wait_for(lambda: "granted" in announced or "ended" in states, 300)
        spin(0.4)
        grab("door_granted", win)
        wait_for(lambda: announced[-1:] == ["unknown"] or "ended" in states, 300)
        spin(0.2)
        grab("door_unknown", win)
        wait_for(lambda: any(s in FINAL_STATES for s in states), 300)

        # guided camera enrolment on the clip (played again as the camera)
        win.lock.unlock("246813")
        wizard = win.open_enrolment(mode="camera")
        assert wizard is not None
        wizard.move(240, 120)
        wizard.name_edit.setText("Lin-Manuel Miranda")
        wizard.go_next()
        states.clear()
        win.open_request(SourceRequest(str(clip), realtime=True))
        wait_for(lambda: "frontal" in wizard.guide.shots or any(s in FINAL_STATES for s in states))
        spin(1.0)
        grab("enrol_camera", win, wizard)
        wizard.close()
        wait_for(lambda: any(s in FINAL_STATES for s in states))

        # admin screens
        win.lock.lock()
        win.refresh_lock_state()
        dialog = PinDialog(win.lock, "open People", win)
        dialog.show()
        dialog.move(win.x() + 520, win.y() + 300)
        dialog.pin.setText("1234")
        dialog.try_unlock()
        grab("pin_dialog", win, dialog)
        dialog.close()
        win.lock.unlock("246813")
        set_up_access(gate)
        grab_access(win, lin.id, grab, wait_for)
        win.navigate("events")
        win.events.refresh()
        model = win.events.model
        row = next((i for i in range(model.rowCount()) if model.event_at(i).decision == "granted"), 0)  # type: ignore[union-attr]
        win.events.table.selectRow(row)
        grab("events", win)
        win.navigate("attendance")
        grab("attendance", win)
        win.navigate("settings")
        wait_for(lambda: win.settings.calibration.text() not in ("…", "Computing…"), 30)
        grab("settings", win)
        win.close()

        # kiosk mode, full screen
        kiosk = MainWindow(gate, kiosk=True, start_camera=False)
        screen = QGuiApplication.primaryScreen()
        kiosk.setGeometry(screen.geometry())
        kiosk.showFullScreen()
        announced.clear()
        kiosk.door.decision.announced.connect(lambda d, n: announced.append(d))
        kstates: list[str] = []
        kiosk.capture.worker.state_changed.connect(lambda s, _m: kstates.append(s))
        kiosk.open_request(SourceRequest(str(clip), realtime=False))
        wait_for(lambda: "granted" in announced or "ended" in kstates)
        spin(0.4)
        grab("kiosk", kiosk)
        kiosk.close()
        gate.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
