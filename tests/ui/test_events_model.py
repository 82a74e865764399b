"""The events table model pages lazily through a real store and shows exactly what a plain query gives
(the naive reference: one ``query_events`` without a limit), for every filter."""

from __future__ import annotations

import csv
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QModelIndex, Qt

from desktop_app.core.storage.store import Store
from desktop_app.core.wording import hours_minutes
from desktop_app.ui.events_model import AttendanceTableModel, EventFilter, EventsTableModel

SHA = "f" * 64


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "facegate.db")
    rng = random.Random(7)
    ids = [s.add_person(n) for n in ("Ada Lovelace", "Grace Hopper", "Alan Turing")]
    base = datetime.now().replace(hour=12, minute=0, second=0, microsecond=0)
    snap = np.full((40, 40, 3), 128, np.uint8)
    for i in range(260):
        day = rng.randrange(0, 10)
        decision = rng.choice(["granted", "granted", "unknown", "denied"])
        pid = rng.choice(ids) if decision != "unknown" else None
        s.log_event(person_id=pid, score=rng.uniform(0, 1), decision=decision, camera="door-1",
                    model_sha256=SHA, ts=base - timedelta(days=day, minutes=i), snapshot=snap if i % 3 == 0 else None)
    yield s
    s.close()


def load_all(model: EventsTableModel) -> list[int]:
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    return [model.event_at(i).id for i in range(model.rowCount())]  # type: ignore[union-attr]


def test_pages_lazily_and_matches_the_reference(qtbot: object, store: Store) -> None:
    model = EventsTableModel(store, page_size=100)
    model.refresh()
    assert model.total == 260
    assert model.rowCount() == 100 and model.canFetchMore(QModelIndex()) and model.pages_fetched == 1
    model.fetchMore(QModelIndex())
    assert model.rowCount() == 200
    assert load_all(model) == [e.id for e in store.query_events()]
    assert not model.canFetchMore(QModelIndex()) and model.pages_fetched == 3
    ev = store.query_events(limit=1)[0]
    assert model.data(model.index(0, 2)) == ev.decision
    assert model.data(model.index(0, 3)) == f"{ev.score:.2f}"
    assert model.data(model.index(0, 0), Qt.ItemDataRole.UserRole) == ev
    assert model.columnCount() == 5 and model.rowCount(model.index(0, 0)) == 0


@pytest.mark.parametrize("flt", [
    EventFilter(decision="granted"),
    EventFilter(decision="unknown"),
    EventFilter(person_id=2),
    EventFilter(day_from=date.today() - timedelta(days=3), day_to=date.today()),
    EventFilter(day_from=date.today() - timedelta(days=5), day_to=date.today() - timedelta(days=5), person_id=1,
                decision="granted"),
])
def test_filters_match_the_reference(qtbot: object, store: Store, flt: EventFilter) -> None:
    model = EventsTableModel(store, page_size=30)
    model.set_filter(flt)
    reference = store.query_events(**flt.query_args())
    assert model.total == len(reference)
    assert load_all(model) == [e.id for e in reference]
    # the reference itself, recomputed by hand from all events
    lo = datetime.combine(flt.day_from, datetime.min.time()).astimezone() if flt.day_from else None
    hi = datetime.combine(flt.day_to + timedelta(days=1), datetime.min.time()).astimezone() if flt.day_to else None
    by_hand = [e.id for e in store.query_events()
               if (flt.decision is None or e.decision == flt.decision)
               and (flt.person_id is None or e.person_id == flt.person_id)
               and (lo is None or e.ts >= lo) and (hi is None or e.ts < hi)]
    assert [e.id for e in reference] == by_hand


def test_events_logged_while_paging_are_not_shown_twice(qtbot: object, store: Store) -> None:
    model = EventsTableModel(store, page_size=50)
    model.refresh()
    for _ in range(7):  # newer events shift every offset by 7
        store.log_event(person_id=None, score=0.1, decision="unknown", camera="door-1", model_sha256=SHA)
    ids = load_all(model)
    assert len(ids) == len(set(ids))
    model.refresh()
    assert load_all(model) == [e.id for e in store.query_events()]


def test_attendance_model_and_csv(qtbot: object, store: Store, tmp_path: Path) -> None:
    model = AttendanceTableModel(store)
    a, b = date.today() - timedelta(days=9), date.today()
    model.load(a, b)
    ref = store.attendance(a, b)
    assert model.rowCount() == len(ref) > 0
    for i, row in enumerate(ref):
        assert model.data(model.index(i, 1)) == row.name
        assert model.data(model.index(i, 4)) == hours_minutes(row.hours)
    out = tmp_path / "att.csv"
    n = store.export_attendance_csv(out, a, b)
    with out.open(newline="") as f:
        assert len(list(csv.reader(f))) == n + 1 == len(ref) + 1
