"""The People page's access: a person's groups and validity set with clicks and saved through the
real FaceGate; the list shows groups and validity, and an expired person is marked in words.
A real SQLite database; no face data needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QDate

from desktop_app.core.access.model import Group, PersonAccess
from desktop_app.core.service import FaceGate
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.people_access import access_line, validity_state

PIN = "864209"


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceGate]:
    g = FaceGate(tmp_path_factory.mktemp("people_access") / "facegate.db", device="cpu")
    for name in ("staff", "cleaners"):
        g.save_group(Group(name), actor="test")
    yield g
    g.close()


@pytest.fixture()
def window(open_admin_window: Any, gate: FaceGate) -> Iterator[MainWindow]:
    win = open_admin_window(gate, PIN)
    yield win
    win.close()


def test_access_line_words() -> None:
    today = date(2026, 3, 10)
    a = PersonAccess(1, "A", groups=frozenset({"staff", "cleaners"}), valid_until=date(2026, 3, 9))
    assert validity_state(a, today) == "expired"
    assert access_line(a, today) == "EXPIRED · Groups: cleaners, staff · valid until 2026-03-09"
    b = PersonAccess(2, "B", valid_from=date(2026, 4, 1), valid_until=date(2026, 4, 30))
    assert access_line(b, today) == "NOT YET VALID · Groups: no group · valid 2026-04-01 to 2026-04-30"
    assert access_line(PersonAccess(3, "C"), today) == "Groups: no group"


def _click_person(clicks: Any, page: Any, pid: int) -> None:
    row = page.model.row_of(pid)
    assert row >= 0
    index = page.model.index(row)
    page.list.scrollTo(index)
    clicks.qtbot.mouseClick(page.list.viewport(), clicks.left, pos=page.list.visualRect(index).center())
    assert page.person is not None and page.person.id == pid


def test_set_groups_and_validity(clicks: Any, window: MainWindow, gate: FaceGate) -> None:
    pid = gate.store.add_person("Vera Valid", employee_id="E-40")
    clicks.nav(window, "people")
    page = window.people
    _click_person(clicks, page, pid)
    box = page.access
    assert [box.groups.item(i).text() for i in range(box.groups.count())] == ["cleaners", "staff"]
    box.set_group_checked("staff", True)
    clicks.click(box.has_from)
    clicks.click(box.has_until)
    start, end = date.today() - timedelta(days=30), date.today() + timedelta(days=60)
    box.valid_from.setDate(QDate(start.year, start.month, start.day))
    box.valid_until.setDate(QDate(end.year, end.month, end.day))
    clicks.click(page.save_btn)
    assert page.status.text() == "Saved."
    access = gate.person_access(pid)
    assert access is not None and access.groups == {"staff"}
    assert (access.valid_from, access.valid_until) == (start, end)
    text = page.model.data(page.model.index(page.model.row_of(pid)))
    assert "Groups: staff" in text and f"valid {start:%Y-%m-%d} to {end:%Y-%m-%d}" in text and "EXPIRED" not in text

    # yesterday was the last day: expired, marked in the list; an end before the start is refused
    _click_person(clicks, page, pid)
    last = date.today() - timedelta(days=1)
    page.access.valid_until.setDate(QDate(last.year, last.month, last.day))
    clicks.click(page.save_btn)
    access = gate.person_access(pid)
    assert access is not None and access.valid_until == last
    text = page.model.data(page.model.index(page.model.row_of(pid)))
    assert "EXPIRED" in text
    _click_person(clicks, page, pid)
    assert page.access.state.text() == "EXPIRED"
    page.access.valid_from.setDate(QDate(date.today().year + 1, 1, 1))
    clicks.click(page.save_btn)
    assert "ends" in page.status.text() and "before it starts" in page.status.text()
    assert gate.person_access(pid).valid_until == last  # type: ignore[union-attr]

    # no limits again, and no group
    _click_person(clicks, page, pid)
    clicks.click(page.access.has_from)
    clicks.click(page.access.has_until)
    page.access.set_group_checked("staff", False)
    clicks.click(page.save_btn)
    access = gate.person_access(pid)
    assert access is not None and access.groups == frozenset()
    assert access.valid_from is None and access.valid_until is None
