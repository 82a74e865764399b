"""Access control through the core API on a real SQLite file: doors, schedules, groups,
permissions, people's access, the reason of every decision, events with door / direction /
reason, attendance by direction, the remote-open queue, and migration from schema version 4."""

from __future__ import annotations

import csv
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlite_utils import Database

from desktop_app.core.access.model import CameraSpec, DoorSpec, Group
from desktop_app.core.access.schedule import ALWAYS, Schedule
from desktop_app.core.errors import InputError, StorageError
from desktop_app.core.service import EventFilter, FaceGate
from desktop_app.core.storage import schema
from desktop_app.core.storage.event_spool import PendingEvent
from desktop_app.core.storage.store import Store
from desktop_app.core.vocabulary import AccessReason, Direction, FailMode

PARIS = ZoneInfo("Europe/Paris")
MODEL = "f" * 64


@pytest.fixture()
def gate(tmp_path: Path):  # type: ignore[no-untyped-def]
    g = FaceGate(tmp_path / "site.db", device="cpu")
    yield g
    g.close()


def _person(gate: FaceGate, name: str, employee_id: str | None = None) -> int:
    return gate.store.add_person(name, employee_id)


def _site(gate: FaceGate) -> dict[str, int]:
    """Two doors, an office-hours schedule, staff (office hours at front) and night (always at
    both); Ada in staff, Bob in night, Cy in no group."""
    gate.save_door(DoorSpec("front", cameras=(CameraSpec("0", Direction.IN), CameraSpec("1", Direction.OUT))),
                   actor="t")
    gate.save_door(DoorSpec("back", output="webhook:https://user:pw@example.org/hook", secret="s3cret",
                            unlock_seconds=3, fail_mode=FailMode.SAFE), actor="t")
    gate.save_schedule(Schedule("office", "Mon-Fri 08:00-18:00", holidays=frozenset({date(2026, 12, 25)}),
                                timezone="Europe/Paris"), actor="t")
    gate.save_group(Group("staff", "employees"), actor="t")
    gate.save_group(Group("night"), actor="t")
    gate.set_permissions("staff", ["front"], "office", actor="t")
    gate.set_permissions("night", ["front", "BACK"], actor="t")
    ids = {"ada": _person(gate, "Ada"), "bob": _person(gate, "Bob"), "cy": _person(gate, "Cy")}
    gate.set_person_access(ids["ada"], groups=["Staff"], actor="t")
    gate.set_person_access(ids["bob"], groups=["night"], actor="t")
    return ids


# ------------------------------------------------------------------------------------ round trips
def test_doors_round_trip_and_replace_by_name(gate: FaceGate) -> None:
    _site(gate)
    front, back = gate.door("FRONT"), gate.door("back")
    assert front is not None and back is not None
    assert [(c.source, c.direction) for c in front.cameras] == [("0", Direction.IN), ("1", Direction.OUT)]
    assert front.output == "log:" and front.secret is None and front.fail_mode == FailMode.SECURE
    assert back.secret == "s3cret" and back.unlock_seconds == 3 and back.fail_mode == FailMode.SAFE
    assert [d.name for d in gate.doors()] == ["back", "front"]
    gate.save_door(DoorSpec("Front", cameras=(CameraSpec("rtsp://cam/1"),), passback_partner="front",
                            passback="deny"), actor="t")
    again = gate.door("front")
    assert again is not None and again.name == "Front" and len(again.cameras) == 1
    assert again.passback == "deny" and again.passback_partner == "Front"
    assert len(gate.doors()) == 2
    audit = [a for a in gate.store.audit_log(100) if a.action == "door.save"]
    assert audit and all("s3cret" not in str(a.details) and "pw@" not in str(a.details) for a in audit)
    assert any(a.details.get("secret") == "set" for a in audit)


def test_door_checks_output_scheme_and_partner(gate: FaceGate) -> None:
    with pytest.raises(ValueError, match="unknown door output"):
        gate.save_door(DoorSpec("x", output="ftp://host/x"))
    with pytest.raises(InputError, match="anti-passback partner"):
        gate.save_door(DoorSpec("x", passback_partner="nowhere", passback="flag"))
    assert gate.doors() == []
    gate.save_door(DoorSpec("a"))
    gate.save_door(DoorSpec("b", passback_partner="A", passback="flag"))
    assert gate.door("b").passback_partner == "a"  # type: ignore[union-attr]
    with pytest.raises(InputError, match="partner of b"):
        gate.remove_door("a")
    gate.remove_door("b", actor="t")
    gate.remove_door("a", actor="t")
    with pytest.raises(InputError, match="no door named 'a'"):
        gate.remove_door("a")


def test_schedules_groups_permissions_round_trip(gate: FaceGate) -> None:
    _site(gate)
    office = gate.schedule("OFFICE")
    assert office is not None and office.text == "Mon-Fri 08:00-18:00" and office.timezone == "Europe/Paris"
    assert office.holidays == frozenset({date(2026, 12, 25)})
    assert [s.name for s in gate.schedules()] == ["office"]
    assert gate.groups() == [Group("night", ""), Group("staff", "employees")]
    perms = {(p.group, p.door): p.schedule for p in gate.permissions()}
    assert perms == {("night", "back"): ALWAYS, ("night", "front"): ALWAYS, ("staff", "front"): office}
    with pytest.raises(InputError, match=r"in use.*group 'staff' at door 'front'"):
        gate.remove_schedule("office")
    with pytest.raises(InputError, match="no door named 'side'; doors: back, front"):
        gate.set_permissions("staff", ["side"])
    with pytest.raises(InputError, match="no schedule named 'nights'"):
        gate.set_permissions("staff", ["front"], "nights")
    assert {(p.group, p.door) for p in gate.permissions()} == {("night", "back"), ("night", "front"),
                                                                ("staff", "front")}  # nothing half done
    gate.set_permissions("staff", [], actor="t")
    gate.remove_schedule("office", actor="t")
    assert gate.schedules() == []
    gate.remove_group("night", actor="t")
    assert gate.permissions() == [] and [g.name for g in gate.groups()] == ["staff"]
    actions = {a.action for a in gate.store.audit_log(100)}
    assert {"schedule.save", "group.save", "permissions.set", "schedule.remove", "group.remove"} <= actions


def test_person_access_round_trip(gate: FaceGate) -> None:
    ids = _site(gate)
    acc = gate.set_person_access(ids["cy"], groups=["staff", "night"], valid_from=date(2026, 1, 1),
                                 valid_until=date(2026, 6, 30), employee_id="E-7", actor="t")
    assert acc.groups == frozenset({"staff", "night"}) and acc.employee_id == "E-7"
    assert (acc.valid_from, acc.valid_until) == (date(2026, 1, 1), date(2026, 6, 30))
    assert gate.person_access(ids["cy"]) == acc
    acc = gate.set_person_access(ids["cy"], valid_until=None, active=False)  # the rest unchanged
    assert acc.valid_until is None and acc.valid_from == date(2026, 1, 1) and not acc.active
    assert acc.groups == frozenset({"staff", "night"})
    with pytest.raises(ValueError, match="ends"):
        gate.set_person_access(ids["cy"], valid_until=date(2025, 12, 31))
    with pytest.raises(InputError, match="no group named 'cleaners'; groups: night, staff"):
        gate.set_person_access(ids["cy"], groups=["cleaners"])
    assert gate.person_access(ids["cy"]) == acc  # refused changes left nothing behind
    assert [p.name for p in gate.people_access()] == ["Ada", "Bob", "Cy"]
    last = next(a for a in gate.store.audit_log(100) if a.action == "person.access")
    assert last.details["person_id"] == ids["cy"] and last.details["fields"] == ["valid_until", "active"]
    assert gate.person_access(99999) is None
    with pytest.raises(StorageError):
        gate.set_person_access(99999, groups=[])


# ------------------------------------------------------------------------------------ the rule
def test_access_reason_for_each_reason(gate: FaceGate) -> None:
    ids = _site(gate)
    monday_10 = datetime(2026, 3, 2, 10, 0, tzinfo=PARIS)
    monday_20 = datetime(2026, 3, 2, 20, 0, tzinfo=PARIS)
    assert gate.access_reason(ids["ada"], "front", monday_10) == AccessReason.GRANTED
    assert gate.access_reason(ids["ada"], "Front", monday_10.astimezone(UTC)) == AccessReason.GRANTED
    assert gate.access_reason(ids["ada"], "front", monday_20) == AccessReason.OUTSIDE_SCHEDULE
    assert gate.access_reason(ids["ada"], "front", datetime(2026, 12, 25, 10, tzinfo=PARIS)) == \
        AccessReason.OUTSIDE_SCHEDULE  # a holiday
    assert gate.access_reason(ids["ada"], "back", monday_10) == AccessReason.NOT_PERMITTED
    assert gate.access_reason(ids["bob"], "back", monday_20) == AccessReason.GRANTED
    assert gate.access_reason(ids["cy"], "front", monday_10) == AccessReason.NOT_PERMITTED
    gate.set_person_access(ids["bob"], valid_until=date(2026, 3, 1))
    assert gate.access_reason(ids["bob"], "back", monday_20) == AccessReason.EXPIRED
    gate.set_person_access(ids["bob"], valid_until=None, valid_from=date(2026, 3, 3))
    assert gate.access_reason(ids["bob"], "back", monday_20) == AccessReason.EXPIRED
    gate.update_person(ids["ada"], active=False)
    assert gate.access_reason(ids["ada"], "front", monday_10) == AccessReason.DEACTIVATED
    assert gate.access_reason(424242, "front", monday_10) == AccessReason.UNKNOWN


def test_access_reason_follows_changes_of_another_program(gate: FaceGate, tmp_path: Path) -> None:
    ids = _site(gate)
    monday_10 = datetime(2026, 3, 2, 10, 0, tzinfo=PARIS)
    gate.refresh_if_changed()
    assert gate.access_reason(ids["ada"], "front", monday_10) == AccessReason.GRANTED
    with FaceGate(gate.db_path, device="cpu") as admin:
        admin.set_permissions("staff", ["back"], actor="other")
    assert gate.access_reason(ids["ada"], "front", monday_10) == AccessReason.GRANTED  # cached until refreshed
    assert gate.refresh_if_changed()
    assert gate.access_reason(ids["ada"], "front", monday_10) == AccessReason.NOT_PERMITTED
    assert gate.access_reason(ids["ada"], "back", monday_10) == AccessReason.GRANTED


def test_access_reason_reads_nothing_in_steady_state(gate: FaceGate) -> None:
    ids = _site(gate)
    when = datetime(2026, 3, 2, 10, 0, tzinfo=PARIS)
    gate.access_reason(ids["ada"], "front", when)
    statements: list[str] = []
    gate.store.db.conn.set_trace_callback(statements.append)
    try:
        for _ in range(50):
            gate.access_reason(ids["ada"], "front", when)
        gate.record_event(person_id=ids["ada"], score=0.8, decision="granted", camera="front/in", ts=when,
                          door="front", direction=Direction.IN, reason=AccessReason.GRANTED)
        statements.clear()
        gate.access_reason(ids["ada"], "front", when)
    finally:
        gate.store.db.conn.set_trace_callback(None)
    assert statements == []


# ------------------------------------------------------------------------------------ events, attendance
def test_events_carry_door_direction_reason_and_csv_columns(gate: FaceGate, tmp_path: Path) -> None:
    ids = _site(gate)
    t = datetime(2026, 3, 2, 20, 0, tzinfo=PARIS)
    gate.record_event(person_id=ids["ada"], score=0.7, decision="denied", camera="front/in", ts=t,
                      door="front", direction=Direction.IN, reason=AccessReason.OUTSIDE_SCHEDULE)
    gate.record_event(person_id=None, score=0.2, decision="unknown", camera="back/in", ts=t + timedelta(seconds=5),
                      door="back", direction=Direction.IN, reason=AccessReason.UNKNOWN)
    gate.record_event(person_id=ids["bob"], score=0.8, decision="granted", camera="cam", ts=t + timedelta(seconds=9))
    evs = gate.query_events()
    assert [(e.door, e.direction, e.reason) for e in evs] == [
        (None, None, None), ("back", "in", "unknown"), ("front", "in", "outside schedule")]
    only = gate.query_events(EventFilter(door="FRONT"))
    assert [e.reason for e in only] == ["outside schedule"]
    assert gate.count_events(EventFilter(reason="unknown")) == 1
    out = tmp_path / "events.csv"
    assert gate.export_events_csv(out, actor="t") == 3
    with out.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert {"door", "direction", "reason"} <= set(rows[0])
    assert [(r["door"], r["direction"], r["reason"]) for r in rows] == [
        ("", "", ""), ("back", "in", "unknown"), ("front", "in", "outside schedule")]
    with pytest.raises(ValueError):
        gate.record_event(person_id=None, score=0.2, decision="unknown", camera="c", ts=t,
                          direction="sideways")  # type: ignore[arg-type]


def test_attendance_follows_direction(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db", local_tz=PARIS) as store:
        ada, bob, cy = store.add_person("Ada"), store.add_person("Bob"), store.add_person("Cy")

        def passage(pid: int, hhmm: str, direction: str | None, day: int = 2) -> None:
            h, m = map(int, hhmm.split(":"))
            store.log_event(person_id=pid, score=0.8, decision="granted", camera="c", model_sha256=MODEL,
                            ts=datetime(2026, 3, day, h, m, tzinfo=PARIS), direction=direction,
                            door=None if direction is None else "front")

        passage(ada, "08:55", "in")
        passage(ada, "12:00", "in")  # a later entry moves nothing
        passage(ada, "12:30", "out")
        passage(ada, "17:40", "out")
        passage(ada, "10:00", None)  # a camera without a direction: both ends, as before
        passage(bob, "09:10", "in")  # no exit that day
        passage(cy, "18:05", "out")  # no entry that day
        store.log_event(person_id=ada, score=0.5, decision="denied", camera="c", model_sha256=MODEL,
                        ts=datetime(2026, 3, 2, 19, 0, tzinfo=PARIS), direction="out", reason="outside schedule")
        rows = {r.name: r for r in store.attendance(date(2026, 3, 2), date(2026, 3, 2))}
        a = rows["Ada"]
        assert a.first_in is not None and a.first_in.astimezone(PARIS).strftime("%H:%M") == "08:55"
        assert a.last_out is not None and a.last_out.astimezone(PARIS).strftime("%H:%M") == "17:40"
        assert a.hours == pytest.approx(8 + 45 / 60)
        b, c = rows["Bob"], rows["Cy"]
        assert b.first_in is not None and b.last_out is None and b.hours is None
        assert c.first_in is None and c.last_out is not None and c.hours is None
        out = tmp_path / "att.csv"
        assert store.export_attendance_csv(out, date(2026, 3, 2), date(2026, 3, 2)) == 3
        with out.open(newline="", encoding="utf-8-sig") as f:
            table = {r["name"]: r for r in csv.DictReader(f)}
        assert table["Ada"]["hours"] == "8.75"
        assert table["Bob"]["last_out"] == "" and table["Bob"]["hours"] == ""
        assert table["Cy"]["first_in"] == "" and table["Cy"]["last_out"].startswith("2026-03-02T18:05")


def test_spooled_events_keep_door_direction_reason() -> None:
    ev = PendingEvent(uid="u1", ts=datetime(2026, 3, 2, 9, tzinfo=UTC), person_id=3, score=0.7, decision="denied",
                      camera="front/in", model_sha256=MODEL, door="front", direction="in", reason="expired")
    assert PendingEvent.from_line(ev.to_line()) == ev
    old = ('{"uid":"u2","ts":"2026-03-02T09:00:00+00:00","person_id":null,"score":0.1,"decision":"unknown",'
           '"camera":"c","model_sha256":"' + MODEL + '"}')
    back = PendingEvent.from_line(old)
    assert (back.door, back.direction, back.reason) == (None, None, None)


# ------------------------------------------------------------------------------------ remote open
def test_remote_open_queue_across_two_gates_on_one_file(gate: FaceGate) -> None:
    _site(gate)
    with FaceGate(gate.db_path, device="cpu") as door_loop:
        assert door_loop.take_door_commands(["front"]) == []
        first = gate.request_door_open("FRONT", actor="guard")
        second = gate.request_door_open("back", actor="guard")
        assert door_loop.take_door_commands(["front"]) == [(first, "front", "open")]
        assert door_loop.take_door_commands(["front"]) == []  # served once
        assert gate.take_door_commands(["back", "front"]) == [(second, "back", "open")]
        assert door_loop.take_door_commands(["back"]) == []
    with pytest.raises(InputError, match="no door named 'side'"):
        gate.request_door_open("side", actor="guard")
    opens = [a for a in gate.store.audit_log(100) if a.action == "door.open"]
    assert [(a.actor, a.details["door"]) for a in opens] == [("guard", "back"), ("guard", "front")]


def test_a_stale_remote_open_expires(gate: FaceGate) -> None:
    _site(gate)
    cid = gate.request_door_open("front", actor="guard")
    old = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="microseconds")
    gate.store.db.execute("UPDATE door_commands SET ts = ? WHERE id = ?", (old, cid))
    assert gate.take_door_commands(["front"]) == []
    row = gate.store.db.execute("SELECT outcome, taken_at FROM door_commands WHERE id = ?", (cid,)).fetchone()
    assert row[0] == "expired" and row[1] is not None


# ------------------------------------------------------------------------------------ migration
def test_migration_from_version_4_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path, isolation_level=None)
    db = Database(conn)
    schema.migrate(db, schema.MIGRATIONS[:4])
    now = "2025-03-03T07:58:00.000000+00:00"
    conn.execute("INSERT INTO people (id, name, name_key, active, created_at, updated_at)"
                 " VALUES (1, 'Ada', 'ada', 1, ?, ?)", (now, now))
    conn.execute("INSERT INTO events (ts, person_id, person_ref, score, decision, camera, model_sha256, uid)"
                 " VALUES (?, 1, 'person-1', 0.8, 'granted', 'door-1', ?, 'u-old')", (now, MODEL))
    conn.execute("INSERT INTO attendance (person_id, day, first_in, last_out) VALUES (1, '2025-03-03', ?, ?)",
                 (now, now))
    conn.close()
    with Store(path, local_tz=UTC) as store:
        assert schema.user_version(store.db) == schema.SCHEMA_VERSION
        ev = store.query_events()
        assert [(e.name, e.decision, e.door, e.reason) for e in ev] == [("Ada", "granted", None, None)]
        att = store.attendance(date(2025, 3, 3), date(2025, 3, 3))
        assert len(att) == 1 and att[0].first_in == att[0].last_out and att[0].hours == 0.0
        acc = store.person_access(1)
        assert acc is not None and acc.valid_from is None and acc.groups == frozenset()
        store.log_event(person_id=1, score=0.8, decision="granted", camera="front/out", model_sha256=MODEL,
                        ts=datetime(2025, 3, 3, 17, 0, tzinfo=UTC), door="front", direction="out",
                        reason="granted")
        att = store.attendance(date(2025, 3, 3), date(2025, 3, 3))
        assert att[0].hours == pytest.approx(9 + 2 / 60)
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
