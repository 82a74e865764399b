"""The events table model pages lazily through a real FaceGate (real store, real models) and shows
exactly what a plain query gives (the naive reference: one ``query_events`` without a limit), for every
filter."""

from __future__ import annotations

import csv
import random
import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QModelIndex, Qt

from desktop_app.core.service import FaceGate
from desktop_app.core.storage.store import Store
from desktop_app.core.wording import hours_minutes
from desktop_app.ui.events_model import AttendanceTableModel, EventFilter, EventsTableModel

SHA = "f" * 64


@pytest.fixture(scope="module")
def gate_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty FaceGate data folder (models in place), built once."""
    d = tmp_path_factory.mktemp("events-gate")
    FaceGate(d / "facegate.db", device="cpu").close()
    return d


@pytest.fixture()
def gate(gate_template: Path, tmp_path: Path) -> Iterator[FaceGate]:
    """A FaceGate on a copy of the template, with 260 events of three people over ten days."""
    dst = tmp_path / "gate"
    shutil.copytree(gate_template, dst)
    g = FaceGate(dst / "facegate.db", device="cpu")
    s = g.store  # the test fills the database directly, the model reads it through the facade
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
    yield g
    g.close()


@pytest.fixture()
def store(gate: FaceGate) -> Store:
    return gate.store


def load_all(model: EventsTableModel) -> list[int]:
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    return [model.event_at(i).id for i in range(model.rowCount())]  # type: ignore[union-attr]


def test_pages_lazily_and_matches_the_reference(qtbot: object, gate: FaceGate, store: Store) -> None:
    model = EventsTableModel(gate, page_size=100)
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
    assert model.columnCount() == len(EventsTableModel.COLUMNS) == 8 and model.rowCount(model.index(0, 0)) == 0
    assert model.data(model.index(0, 5)) == (ev.door or "—") and model.data(model.index(0, 7)) == (ev.reason or "—")


@pytest.mark.parametrize("flt", [
    EventFilter(decision="granted"),
    EventFilter(decision="unknown"),
    EventFilter(person_id=2),
    EventFilter(day_from=date.today() - timedelta(days=3), day_to=date.today()),
    EventFilter(day_from=date.today() - timedelta(days=5), day_to=date.today() - timedelta(days=5), person_id=1,
                decision="granted"),
])
def test_filters_match_the_reference(qtbot: object, gate: FaceGate, store: Store, flt: EventFilter) -> None:
    model = EventsTableModel(gate, page_size=30)
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
    assert [e.id for e in gate.query_events(flt)] == by_hand and gate.count_events(flt) == len(by_hand)


def test_events_logged_while_paging_are_not_shown_twice(qtbot: object, gate: FaceGate, store: Store) -> None:
    model = EventsTableModel(gate, page_size=50)
    model.refresh()
    for _ in range(7):  # newer events shift every offset by 7
        store.log_event(person_id=None, score=0.1, decision="unknown", camera="door-1", model_sha256=SHA)
    ids = load_all(model)
    assert len(ids) == len(set(ids))
    model.refresh()
    assert load_all(model) == [e.id for e in store.query_events()]


def test_attendance_model_and_csv(qtbot: object, gate: FaceGate, store: Store, tmp_path: Path) -> None:
    store.update_person(1, employee_id="E-001", department="Analytical Engines")
    model = AttendanceTableModel(gate)
    a, b = date.today() - timedelta(days=9), date.today()
    model.load(a, b)
    ref = store.attendance(a, b)
    assert model.rowCount() == len(ref) > 0
    for i, row in enumerate(ref):
        assert model.data(model.index(i, 1)) == row.name
        assert model.data(model.index(i, 4)) == hours_minutes(row.hours)
    out = tmp_path / "att.csv"
    n = gate.export_attendance_csv(out, a, b, actor="admin")
    with out.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n == len(ref)
    ada = [r for r in rows if r["person_id"] == "1"]
    assert ada and all(r["employee_id"] == "E-001" and r["department"] == "Analytical Engines" for r in ada)
    audit = store.audit_log(5)[0]
    assert audit.action == "attendance.export" and audit.details["rows"] == n
    assert audit.details["day_from"] == a.isoformat() and audit.details["day_to"] == b.isoformat()


def test_events_export_through_the_facade_is_filtered_and_audited(qtbot: object, gate: FaceGate, store: Store,
                                                                  tmp_path: Path) -> None:
    flt = EventFilter(day_from=date.today() - timedelta(days=4), day_to=date.today(), decision="granted")
    out = tmp_path / "events.csv"
    n = gate.export_events_csv(out, flt, actor="cli")
    with out.open(newline="", encoding="utf-8-sig") as f:
        ids = [int(r["event_id"]) for r in csv.DictReader(f)]
    assert ids == [e.id for e in store.query_events(**flt.query_args())] and len(ids) == n > 0
    audit = store.audit_log(5)[0]
    assert (audit.actor, audit.action, audit.details["rows"]) == ("cli", "events.export", n)
    assert audit.details["decision"] == "granted" and audit.details["day_to"] == date.today().isoformat()


def test_event_filter_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="after"):
        EventFilter(day_from=date(2026, 3, 2), day_to=date(2026, 3, 1))
    with pytest.raises(ValueError, match="decision"):
        EventFilter(decision="maybe")
    with pytest.raises(ValueError, match="negative"):
        EventFilter(limit=-1)
