"""The Schedules page: a schedule typed with a mistake shows the parser's message at once and is
not saved; the corrected one previews its windows and is saved; a group gets its doors and
schedule; the overview shows group × door: schedule. Clicks on the real buttons, a real SQLite
database through the real FaceGate; no face data needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from desktop_app.core.access.model import CameraSpec, DoorSpec
from desktop_app.core.access.schedule import parse_windows
from desktop_app.core.service import FaceGate
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.schedules_page import parse_holidays
from desktop_app.ui.week_chart import describe_windows

PIN = "975204"


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceGate]:
    g = FaceGate(tmp_path_factory.mktemp("schedules") / "facegate.db", device="cpu")
    for name in ("front", "garage"):
        g.save_door(DoorSpec(name=name, cameras=(CameraSpec("0"),)), actor="test")
    yield g
    g.close()


@pytest.fixture()
def window(open_admin_window: Any, gate: FaceGate) -> Iterator[MainWindow]:
    win = open_admin_window(gate, PIN)
    yield win
    win.close()


def test_windows_read_as_an_office_manager_writes_them() -> None:
    assert describe_windows(parse_windows("Mon-Fri 08:00-18:00")) == ["Mon–Fri 08:00–18:00", "Sat–Sun closed"]
    assert describe_windows(parse_windows("Mon-Sun 00:00-24:00")) == ["Every day, all day"]
    assert describe_windows(parse_windows("Fri 22:00-02:00")) == [
        "Mon–Thu closed", "Fri 22:00–24:00", "Sat 00:00–02:00", "Sun closed"]
    assert describe_windows(parse_windows("Mon-Fri 08:00-12:30, 13:30-18:00; Sat 09:00-13:00")) == [
        "Mon–Fri 08:00–12:30, 13:30–18:00", "Sat 09:00–13:00", "Sun closed"]
    assert parse_holidays("2025-12-25, 2026-01-01") == {date(2025, 12, 25), date(2026, 1, 1)}
    with pytest.raises(ValueError, match="'25/12' is not a date"):
        parse_holidays("2025-12-24 25/12")


def test_bad_text_is_shown_and_not_saved_then_the_good_one_is(clicks: Any, window: MainWindow,
                                                            gate: FaceGate) -> None:
    clicks.nav(window, "schedules")
    page = window.schedules
    assert window.current_page == "schedules" and page.isVisible()
    clicks.click(page.new_schedule_btn)
    qtbot = clicks.qtbot
    qtbot.keyClicks(page.schedule_name, "office hours")
    qtbot.keyClicks(page.schedule_text, "Mon-Fry 08:00-18:00")
    # the parser's own message, while typing
    assert "unknown day 'Fry'" in page.schedule_error.text() and page.schedule_error.isVisible()
    clicks.click(page.save_schedule_btn)
    assert "Not saved" in page.schedule_status.text()
    assert gate.schedules() == []
    page.schedule_text.clear()
    qtbot.keyClicks(page.schedule_text, "Mon-Fri 08:00-25:00")
    assert "no such time" in page.schedule_error.text()
    page.schedule_text.clear()
    qtbot.keyClicks(page.schedule_text, "Mon-Fri 08:00-18:00")
    qtbot.keyClicks(page.holidays, "2025-12-25")
    assert page.schedule_error.text() == ""
    assert "Mon–Fri 08:00–18:00" in page.preview.text() and "Sat–Sun closed" in page.preview.text()
    assert "1 holiday" in page.preview.text()
    assert len(page.chart.windows) == 5
    clicks.click(page.save_schedule_btn)
    saved = gate.schedules()
    assert [(s.name, s.text, s.holidays) for s in saved] == [
        ("office hours", "Mon-Fri 08:00-18:00", frozenset({date(2025, 12, 25)}))]
    assert "saved" in page.schedule_status.text()
    assert page.schedule_list.count() == 1 and page.schedule_list.item(0).text() == "office hours"


def test_a_group_gets_its_doors_and_schedule(clicks: Any, window: MainWindow, gate: FaceGate) -> None:
    from desktop_app.core.access.schedule import Schedule

    if gate.schedules() == []:
        gate.save_schedule(Schedule("office hours", "Mon-Fri 08:00-18:00"), actor="test")
    clicks.nav(window, "schedules")
    page = window.schedules
    clicks.click(page.new_group_btn)
    clicks.qtbot.keyClicks(page.group_name, "staff")
    page.set_door_checked("front", True)
    page.group_schedule.setCurrentIndex(page.group_schedule.findData("office hours"))
    clicks.click(page.save_group_btn)
    assert "saved" in page.group_status.text(), page.group_status.text()
    assert [g.name for g in gate.groups()] == ["staff"]
    perms = gate.permissions()
    assert [(p.group, p.door, p.schedule.name) for p in perms] == [("staff", "front", "office hours")]
    # the overview: staff × front = office hours; staff × garage: not allowed
    cols = [page.matrix.horizontalHeaderItem(c).text() for c in range(page.matrix.columnCount())]
    assert page.matrix.verticalHeaderItem(0).text() == "staff"
    assert page.matrix.item(0, cols.index("front")).text() == "office hours"
    assert "not allowed" in page.matrix.item(0, cols.index("garage")).text()
    # a schedule in use is not removed: the store's reason is shown
    page.schedule_list.setCurrentRow(0)
    clicks.on_next_modal(clicks.press("Remove", "office hours"))
    clicks.click(page.remove_schedule_btn)
    assert "Not removed" in page.schedule_status.text() and len(gate.schedules()) == 1
    # both doors, always
    page.group_list.setCurrentRow(0)
    page.set_door_checked("garage", True)
    page.group_schedule.setCurrentIndex(0)
    clicks.click(page.save_group_btn)
    assert sorted((p.door, p.schedule.name) for p in gate.permissions()) == [("front", "always"),
                                                                              ("garage", "always")]
