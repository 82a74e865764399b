"""The people page never says "was erased" while a copy of the person is still on disk (issue 9, item 5)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.service import FaceGate
from desktop_app.ui.main_window import MainWindow

PIN = "246817"


@pytest.fixture()
def window(open_admin_window: Any, module_gate: FaceGate) -> Iterator[MainWindow]:
    win = open_admin_window(module_gate, PIN)
    yield win
    win.close()


def _erase_by_click(qtbot: Any, win: MainWindow, gate: FaceGate, pid: int, monkeypatch: pytest.MonkeyPatch) -> str:
    qtbot.mouseClick(win.toolbar.widgetForAction(win.nav_actions["people"]), Qt.MouseButton.LeftButton)
    page = win.people
    page.reload()
    row = page.model.row_of(pid)
    page.list.scrollTo(page.model.index(row))
    qtbot.mouseClick(page.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=page.list.visualRect(page.model.index(row)).center())
    assert page.person is not None and page.person.id == pid
    monkeypatch.setattr(page, "confirm_erase", lambda person: True)  # the admin answers "Erase"
    qtbot.mouseClick(page.erase_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Erasing" not in page.status.text(), timeout=30000)
    return page.status.text()


def test_the_people_page_says_what_is_pending(qtbot: Any, window: MainWindow, module_gate: FaceGate,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    gate = module_gate
    pid = gate.store.add_person("Paula Pending")
    reader = sqlite3.connect(gate.db_path, isolation_level=None)  # another program reading
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM people").fetchone()
    try:
        text = _erase_by_click(qtbot, window, gate, pid, monkeypatch)
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert "was erased" not in text, text
    assert "not complete on disk yet" in text and "another program is reading the database" in text, text
    assert gate.store.get_person(pid) is None
    assert gate.finish_pending_purges()  # the reader is gone: the loop's retry finishes it
    pid = gate.store.add_person("Pia Purged")
    text = _erase_by_click(qtbot, window, gate, pid, monkeypatch)
    assert "Pia Purged was erased" in text and "no copy is left on disk" in text, text
