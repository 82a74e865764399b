"""Corrections in the app (issue 14), by clicks: on the Events page "Not this person…" and "This
was…" with their dialogs answered, then the Corrections page's dashboard, a withdrawal confirmed,
and the template-refresh preview run off the GUI thread. Real FaceGate (real models, CPU), real
faces (the clip's enrolment photos), a real SQLite file."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from desktop_app.core.corrections import CorrectionKind
from desktop_app.core.service import FaceGate
from desktop_app.core.video.imageio import read_image
from desktop_app.ui.corrections_page import NotPersonDialog, WasPersonDialog

PIN = "864213"
LIN, ALEX = "Lin-Manuel Miranda", "Alex Lacamoire"


@pytest.fixture()
def site(tmp_path: Path, clips: Path) -> FaceGate:
    gate = FaceGate(tmp_path / "site.db", device="cpu")
    for name, photo in ((LIN, "lin-manuel-miranda.png"), (ALEX, "alex-lacamoire.png")):
        assert gate.enrol_images(name, [clips / photo], check_quality=False).added
    lin = gate.find_person(LIN)
    assert lin is not None
    now = datetime.now(UTC)
    face = gate.enrol_face_from_image(read_image(clips / "alex-lacamoire.png"), check_quality=False)
    # Alex's face granted as Lin (a wrong match), and Alex's face left unknown (a missed match)
    gate.record_event(person_id=lin.id, score=0.48, decision="granted", camera="front/in", ts=now - timedelta(
        minutes=5), face=face)
    gate.record_event(person_id=None, score=0.31, decision="unknown", camera="front/in", ts=now, face=face)
    return gate


def _select(clicks: Any, table: QTableView, row: int) -> None:
    rect = table.visualRect(table.model().index(row, 0))
    clicks.qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_correct_two_events_by_clicks_then_dashboard_and_withdraw(site: FaceGate, open_admin_window: Any,
                                                                    clicks: Any) -> None:
    with site:
        win = open_admin_window(site, PIN)
        clicks.nav(win, "events")
        page = win.events
        page.all_dates.setChecked(True)
        rows = {page.model.event_at(i).decision: i for i in range(page.model.rowCount())}  # type: ignore[union-attr]
        granted_id = page.model.event_at(rows["granted"]).id  # type: ignore[union-attr]
        unknown_id = page.model.event_at(rows["unknown"]).id  # type: ignore[union-attr]

        _select(clicks, page.table, rows["unknown"])
        assert not page.correct.not_btn.isEnabled()  # an unknown event named nobody
        _select(clicks, page.table, rows["granted"])

        def say_not(dialog: Any) -> None:
            assert isinstance(dialog, NotPersonDialog)
            dialog.note.setText("Alex, not Lin")
            clicks.click(dialog.buttons.button(dialog.buttons.StandardButton.Ok))

        seen = clicks.on_next_modal(say_not)
        clicks.click(page.correct.not_btn)
        assert seen
        made = site.correction_of(granted_id)
        assert made is not None and made.kind is CorrectionKind.NOT_PERSON and made.note == "Alex, not Lin"
        assert "Corrected: not Lin-Manuel Miranda" in page.correct.status.text()

        _select(clicks, page.table, rows["unknown"])

        def say_alex(dialog: Any) -> None:
            assert isinstance(dialog, WasPersonDialog)
            dialog.person.setCurrentIndex(dialog.person.findText(ALEX))
            clicks.click(dialog.buttons.button(dialog.buttons.StandardButton.Ok))

        seen = clicks.on_next_modal(say_alex)
        clicks.click(page.correct.was_btn)
        assert seen
        assert site.correction_of(unknown_id).true_name == ALEX  # type: ignore[union-attr]

        clicks.nav(win, "corrections")
        board = win.corrections
        names = [board.dashboard.item(i, 0).text() for i in range(board.dashboard.rowCount())]
        assert sorted(names) == [ALEX, LIN]
        lin_row = names.index(LIN)
        assert board.dashboard.item(lin_row, 2).text() == "1"  # one false accept
        assert board.dashboard.item(names.index(ALEX), 5).text() == "1"  # one false reject
        assert "1 false accepts · 1 false rejects" in board.summary.text()
        assert board.list.rowCount() == 2
        if os.environ.get("FACEGATE_SAVE_SCREENSHOTS"):  # the docs' picture, made on request only
            win.resize(1280, 760)
            clicks.qtbot.wait(100)
            win.grab().save(str(Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "corrections.png"))

        board.list.selectRow(0)
        seen = clicks.on_next_modal(clicks.press("Yes", "Withdraw the correction"))
        clicks.click(board.withdraw_btn)
        assert seen and board.list.rowCount() == 1 and len(site.corrections()) == 1

        assert not board.refresh_btn.isEnabled()  # the refresh is off by default
        clicks.click(board.preview_btn)  # runs off the GUI thread
        clicks.qtbot.waitUntil(lambda: board.last_report is not None, timeout=30_000)
        assert board.last_report.dry_run and "held" in board.refresh_state.text()  # type: ignore[union-attr]
        clicks.click(board.auto)  # turn it on: a setting, audited
        assert site.config.template_refresh.enabled and board.refresh_btn.isEnabled()
        win.close()
