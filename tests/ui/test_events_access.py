"""The Events page shows each decision's door, direction and reason, and filters by door: events
recorded through the real FaceGate (as the door loop records them) on a real SQLite database,
the page opened and the filter chosen with clicks. No face data needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from desktop_app.core.access.model import CameraSpec, DoorSpec
from desktop_app.core.service import FaceGate
from desktop_app.core.vocabulary import AccessReason, Direction
from desktop_app.ui.main_window import MainWindow

PIN = "112358"


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceGate]:
    g = FaceGate(tmp_path_factory.mktemp("events_access") / "facegate.db", device="cpu")
    for name in ("front", "garage"):
        g.save_door(DoorSpec(name=name, cameras=(CameraSpec("0"), CameraSpec("1", Direction.OUT))), actor="test")
    pid = g.store.add_person("Olga Outside")
    now = datetime.now(UTC)
    g.record_event(person_id=pid, score=0.7, decision="denied", camera="front/in", ts=now - timedelta(seconds=30),
                   door="front", direction=Direction.IN, reason=AccessReason.OUTSIDE_SCHEDULE)
    g.record_event(person_id=pid, score=0.72, decision="granted", camera="garage/out", ts=now - timedelta(seconds=20),
                   door="garage", direction=Direction.OUT, reason=AccessReason.GRANTED)
    g.record_event(person_id=None, score=0.1, decision="unknown", camera="front/in", ts=now - timedelta(seconds=10),
                   door="front", direction=Direction.IN, reason=AccessReason.UNKNOWN)
    yield g
    g.close()


@pytest.fixture()
def window(open_admin_window: Any, gate: FaceGate) -> Iterator[MainWindow]:
    win = open_admin_window(gate, PIN)
    yield win
    win.close()


def _rows(page: Any) -> list[dict[str, str]]:
    model = page.model
    heads = [model.headerData(c, _horizontal()) for c in range(model.columnCount())]
    return [{h: model.data(model.index(r, c)) for c, h in enumerate(heads)} for r in range(model.rowCount())]


def _horizontal() -> Any:
    from PySide6.QtCore import Qt

    return Qt.Orientation.Horizontal


def test_events_show_door_direction_and_reason(clicks: Any, window: MainWindow) -> None:
    clicks.nav(window, "events")
    page = window.events
    assert window.current_page == "events" and page.isVisible()
    header = page.table.horizontalHeader()
    visual = sorted(range(page.model.columnCount()), key=header.visualIndex)
    titles = [page.model.headerData(c, _horizontal()) for c in visual]
    assert titles[2:4] == ["Decision", "Reason"], titles  # the reason beside the decision
    assert {"Door", "Direction"} <= set(titles)
    rows = _rows(page)
    assert [(r["Door"], r["Direction"], r["Decision"], r["Reason"]) for r in rows] == [
        ("front", "in", "unknown", "unknown"),
        ("garage", "out", "granted", "granted"),
        ("front", "in", "denied", "outside schedule"),
    ]
    # the selected event's details say why
    page.show_event(2)
    assert "denied (outside schedule)" in page.details.text() and "door front" in page.details.text()


def test_filter_by_door(clicks: Any, window: MainWindow) -> None:
    clicks.nav(window, "events")
    page = window.events
    assert [page.door.itemText(i) for i in range(page.door.count())] == ["All doors", "front", "garage"]
    page.door.setCurrentIndex(page.door.findData("garage"))
    assert [r["Door"] for r in _rows(page)] == ["garage"] and page.count.text() == "1 event"
    page.door.setCurrentIndex(0)
    assert len(_rows(page)) == 3
