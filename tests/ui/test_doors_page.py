"""The Doors page as an office manager uses it: every action a click on the real button, the door
dialog filled in and saved (or refused, inline), confirmations answered, then the result checked
in the real SQLite database through the real FaceGate. No face data needed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QWidget

from desktop_app.core.service import FaceGate
from desktop_app.core.vocabulary import Direction, FailMode
from desktop_app.ui.door_dialog import DoorDialog
from desktop_app.ui.main_window import MainWindow

PIN = "713952"


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceGate]:
    g = FaceGate(tmp_path_factory.mktemp("doors") / "facegate.db", device="cpu")
    yield g
    g.close()


@pytest.fixture()
def window(open_admin_window: Any, gate: FaceGate) -> Iterator[MainWindow]:
    win = open_admin_window(gate, PIN)
    yield win
    win.close()


def fill_and_save(clicks: Any, *, name: str, cameras: list[tuple[str, Direction]], output: str = "log:",
                  secret: str = "", unlock: float = 5.0, fail: FailMode = FailMode.SECURE) -> Any:
    """The answer to the door dialog: type the fields, click Save (then Cancel if it stays open)."""

    def answer(dialog: QWidget) -> None:
        assert isinstance(dialog, DoorDialog)
        qtbot = clicks.qtbot
        if not dialog.name_edit.isReadOnly():
            dialog.name_edit.clear()
            qtbot.keyClicks(dialog.name_edit, name)
        while dialog.cameras.rowCount() < len(cameras):
            clicks.click(dialog.add_camera_btn)
        for row, (source, direction) in enumerate(cameras):
            dialog.set_camera(row, source, direction)
        dialog.output_edit.clear()
        qtbot.keyClicks(dialog.output_edit, output)
        if secret:
            qtbot.keyClicks(dialog.secret_edit, secret)
        dialog.unlock.setValue(unlock)
        dialog.fail_mode.setCurrentIndex(dialog.fail_mode.findData(fail.value))
        clicks.click(dialog.save_btn)
        if dialog.isVisible():  # refused: the reason is shown in the dialog; leave it
            answer.error = dialog.error.text()  # type: ignore[attr-defined]
            clicks.click(dialog.buttons.button(dialog.buttons.StandardButton.Cancel))

    answer.error = ""  # type: ignore[attr-defined]
    return answer


def select(clicks: Any, page: Any, name: str) -> None:
    row = next(i for i, d in enumerate(page.doors) if d.name == name)
    rect = page.table.visualItemRect(page.table.item(row, 0))
    clicks.qtbot.mouseClick(page.table.viewport(), clicks.left, pos=rect.center())
    assert page.selected_name() == name


def test_doors_page_needs_the_admin_pin(clicks: Any, window: MainWindow) -> None:
    window.lock.lock()
    asked = clicks.on_next_modal(lambda d: clicks.click(d.buttons.button(d.buttons.StandardButton.Cancel)))
    clicks.nav(window, "doors")
    assert asked and window.current_page == "door" and not window.doors.isVisible()


def test_add_a_door_with_two_cameras_and_a_signed_webhook(clicks: Any, window: MainWindow, gate: FaceGate) -> None:
    clicks.nav(window, "doors")
    page = window.doors
    assert window.current_page == "doors" and page.isVisible()
    cameras = [("0", Direction.IN), ("rtsp://cam:pw@10.0.0.9/s", Direction.OUT)]
    answer = fill_and_save(clicks, name="front", cameras=cameras,
                           output="webhook:https://hook:hunter2@example.org/door", secret="s3cret", unlock=7,
                           fail=FailMode.SAFE)
    shown = clicks.on_next_modal(answer)
    clicks.click(page.add_btn)
    assert shown and not answer.error, answer.error
    door = gate.door("front")
    assert door is not None
    assert [(c.source, c.direction) for c in door.cameras] == [("0", Direction.IN),
                                                               ("rtsp://cam:pw@10.0.0.9/s", Direction.OUT)]
    assert door.output == "webhook:https://hook:hunter2@example.org/door" and door.secret == "s3cret"
    assert door.unlock_seconds == 7 and door.fail_mode == FailMode.SAFE
    # the table: the door and its cameras' directions, and never a password or the secret
    row = [page.table.item(0, c).text() for c in range(page.table.columnCount())]
    assert row[0] == "front" and "(in)" in row[1] and "(out)" in row[1]
    text = " ".join(row)
    assert "hunter2" not in text and "s3cret" not in text and ":pw@" not in text
    assert "***" in row[2] and "signed" in row[2] and "fail-safe" in row[4]
    assert "added" in page.status.text()


def test_a_door_without_a_name_is_refused_in_the_dialog(clicks: Any, window: MainWindow, gate: FaceGate) -> None:
    clicks.nav(window, "doors")
    before = [d.name for d in gate.doors()]
    answer = fill_and_save(clicks, name="", cameras=[("0", Direction.IN)])
    shown = clicks.on_next_modal(answer)
    clicks.click(window.doors.add_btn)
    assert shown and "needs a name" in answer.error
    assert [d.name for d in gate.doors()] == before


def test_edit_keeps_the_secret_when_left_empty(clicks: Any, window: MainWindow, gate: FaceGate) -> None:
    gate.save_door(_door("side", secret="keep-me"), actor="test")
    clicks.nav(window, "doors")
    page = window.doors
    select(clicks, page, "side")
    answer = fill_and_save(clicks, name="side", cameras=[("1", Direction.OUT)], unlock=12)
    clicks.on_next_modal(answer)
    clicks.click(page.edit_btn)
    assert not answer.error, answer.error
    door = gate.door("side")
    assert door is not None and door.unlock_seconds == 12 and door.secret == "keep-me"
    assert [(c.source, c.direction) for c in door.cameras] == [("1", Direction.OUT)]


def test_open_door_asks_then_queues_an_audited_command(clicks: Any, window: MainWindow, gate: FaceGate) -> None:
    gate.save_door(_door("back"), actor="test")
    clicks.nav(window, "doors")
    page = window.doors
    select(clicks, page, "back")
    asked = clicks.on_next_modal(clicks.press("Cancel", "back"))
    clicks.click(page.open_btn)
    assert asked and _commands(gate, "back") == []
    asked = clicks.on_next_modal(clicks.press("Open", "back"))
    clicks.click(page.open_btn)
    assert asked and "Open command sent" in page.status.text()
    assert _commands(gate, "back") == ["open"]  # taken by the door loop's poll: served once
    assert _commands(gate, "back") == []
    assert any(a.action == "door.open" and a.details.get("door") == "back" for a in gate.store.audit_log())


def test_remove_door_asks_then_removes(clicks: Any, window: MainWindow, gate: FaceGate) -> None:
    gate.save_door(_door("old"), actor="test")
    clicks.nav(window, "doors")
    page = window.doors
    select(clicks, page, "old")
    clicks.on_next_modal(clicks.press("Cancel", "old"))
    clicks.click(page.remove_btn)
    assert gate.door("old") is not None
    clicks.on_next_modal(clicks.press("Remove", "old"))
    clicks.click(page.remove_btn)
    assert gate.door("old") is None and "old" not in [d.name for d in page.doors]


# ---------------------------------------------------------------------- helpers
def _door(name: str, secret: str | None = None) -> Any:
    from desktop_app.core.access.model import CameraSpec, DoorSpec

    return DoorSpec(name=name, cameras=(CameraSpec("0"),), secret=secret)


def _commands(gate: FaceGate, door: str) -> list[str]:
    """The remote commands waiting for ``door``, taken as the door loop takes them."""
    return [command for _id, _door, command in gate.take_door_commands([door])]
