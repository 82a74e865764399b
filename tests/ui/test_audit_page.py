"""The audit viewer as an administrator uses it (issue 12): behind the PIN, filtered by person,
action, account and dates, "Verify chain" on an intact and on a tampered log, "Export CSV…" with
the save dialog answered. Real FaceGate (real models, CPU) on a real SQLite file; real clicks."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate, Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from desktop_app.core.service import FaceGate
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.pin_dialogs import PinDialog

PIN = "975204"
LEFT = Qt.MouseButton.LeftButton


def click(qtbot: Any, widget: QWidget) -> None:
    assert widget.isVisible() and widget.isEnabled(), f"{widget!r} cannot be clicked"
    qtbot.mouseClick(widget, LEFT)


def click_nav(qtbot: Any, win: MainWindow, name: str) -> None:
    click(qtbot, win.toolbar.widgetForAction(win.nav_actions[name]))


def on_next_modal(action: Callable[[QWidget], None], tries: int = 250) -> list[QWidget]:
    """Run ``action(dialog)`` once the next modal dialog is open; returns a list holding it once answered."""
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


def answer_pin(qtbot: Any, pin: str | None) -> list[QWidget]:
    def answer(dialog: QWidget) -> None:
        assert isinstance(dialog, PinDialog)
        if pin is None:
            qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Cancel), LEFT)
            return
        dialog.pin.setText(pin)
        qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok), LEFT)

    return on_next_modal(answer)


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceGate]:
    g = FaceGate(tmp_path_factory.mktemp("audit-page") / "facegate.db", device="cpu")
    ada = g.store.add_person("Ada Auditor")
    g.update_person(ada, department="Lab", actor="admin")  # audited, about Ada (by id)
    g.update_config(g.config, actor="operator")
    g.record_retrain_refused("cd" * 32, ["too few people"], actor="trainer")
    yield g
    g.close()


@pytest.fixture()
def window(open_admin_window: Any, gate: FaceGate) -> Iterator[MainWindow]:
    win = open_admin_window(gate, PIN)
    yield win
    win.close()


def shown_actions(win: MainWindow) -> list[str]:
    model = win.audit.model
    return [model.row_at(i).action for i in range(model.rowCount())]  # type: ignore[union-attr]


def test_the_audit_page_needs_the_admin_pin(qtbot: Any, window: MainWindow) -> None:
    window.lock.lock()
    answered = answer_pin(qtbot, None)
    click_nav(qtbot, window, "audit")
    assert answered and window.current_page == "door" and not window.audit.isVisible()
    answer_pin(qtbot, PIN)
    click_nav(qtbot, window, "audit")
    assert window.current_page == "audit" and window.audit.isVisible()


def test_filters_narrow_the_table(qtbot: Any, window: MainWindow, gate: FaceGate) -> None:
    click_nav(qtbot, window, "audit")
    page = window.audit
    total = gate.count_audit()
    assert page.model.total == total == page.model.rowCount() >= 3
    assert page.count.text() == f"{total} rows"
    # action: a family entry ("model.*") and an exact one
    page.action.setCurrentIndex(page.action.findData("model"))
    assert shown_actions(window) == ["model.retrain.refused"]
    page.action.setCurrentIndex(0)
    # account
    page.actor.setCurrentIndex(page.actor.findData("operator"))
    assert shown_actions(window) == ["settings.update"]
    page.actor.setCurrentIndex(0)
    # person: typed, then Enter
    page.person.setFocus()
    qtbot.keyClicks(page.person, "ada auditor")
    qtbot.keyClick(page.person, Qt.Key.Key_Return)
    assert shown_actions(window) == ["person.update"]
    page.person.clear()
    qtbot.keyClick(page.person, Qt.Key.Key_Return)
    assert page.model.total == total
    # dates: a range that ended yesterday holds nothing written today
    click(qtbot, page.all_dates)
    assert not page.all_dates.isChecked() and page.date_from.isEnabled()
    yesterday = date.today() - timedelta(days=1)
    page.date_to.setDate(QDate(yesterday.year, yesterday.month, yesterday.day))
    assert page.model.total == 0 and page.count.text() == "0 rows"
    page.date_to.setDate(QDate.currentDate())
    assert page.model.total == total
    click(qtbot, page.all_dates)


def test_verify_chain_shows_intact_then_the_broken_row(qtbot: Any, window: MainWindow, gate: FaceGate) -> None:
    click_nav(qtbot, window, "audit")
    page = window.audit
    click(qtbot, page.verify_btn)
    qtbot.waitUntil(lambda: page.last_verification is not None and page.verify_btn.isEnabled(), timeout=20000)
    rows = gate.count_audit()
    assert page.result.text().startswith(f"✔ Chain intact: {rows} rows verified")
    assert page.result.property("role") == "hint"
    victim = min(r.id for r in gate.query_audit())
    conn = sqlite3.connect(gate.db_path, isolation_level=None)  # another program, triggers dropped first
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET actor = 'mallory' WHERE id = ?", (victim,))
    conn.close()
    page.last_verification = None
    click(qtbot, page.verify_btn)
    qtbot.waitUntil(lambda: page.last_verification is not None and page.verify_btn.isEnabled(), timeout=20000)
    assert page.result.text().startswith(f"✘ Chain BROKEN at row {victim}: it was changed after it was written")
    assert page.result.property("role") == "error"
    conn = sqlite3.connect(gate.db_path, isolation_level=None)  # put it back for the other tests
    conn.execute("UPDATE audit SET actor = 'admin' WHERE id = ?", (victim,))
    conn.close()
    assert gate.verify_audit().intact


def test_export_writes_the_filtered_rows_and_is_itself_audited(qtbot: Any, window: MainWindow, gate: FaceGate,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "audit.csv"
    asked: list[str] = []

    def save_as(*args: object, **kwargs: object) -> tuple[str, str]:
        asked.append(str(args[1]))
        return str(out), "CSV files (*.csv)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a: warnings.append(text))
    click_nav(qtbot, window, "audit")
    page = window.audit
    page.actor.setCurrentIndex(page.actor.findData("trainer"))
    click(qtbot, page.export_btn)
    assert not warnings, warnings
    assert asked == ["Export the audit log"]
    with out.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["actor"], r["action"]) for r in rows] == [("trainer", "model.retrain.refused")]
    assert "1 exported to audit.csv" in page.count.text()
    last = gate.query_audit()[0]
    assert (last.actor, last.action, last.details["rows"], last.details["actor"]) == (
        "admin", "audit.export", 1, "trainer")
    page.actor.setCurrentIndex(page.actor.findData("admin"))  # the export's own row is listed now
    assert shown_actions(window)[0] == "audit.export"
    # cancelling the dialog writes nothing
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    out.unlink()
    before = gate.count_audit()
    click(qtbot, page.export_btn)
    assert not out.exists() and gate.count_audit() == before
