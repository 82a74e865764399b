"""The event spool keeps decided events in order while the database refuses them, across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desktop_app.core.errors import StorageError
from desktop_app.core.storage.event_spool import EventSpool, PendingEvent


def _event(i: int, snapshot: bytes | None = b"\xff\xd8jpeg") -> PendingEvent:
    return PendingEvent(uid=f"u{i}", ts=datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(seconds=i),
                        person_id=i if i % 2 else None, score=0.5 + i / 100, decision="granted" if i % 2 else "unknown",
                        camera="door", model_sha256="abc", track_id=i, snapshot_jpg=snapshot)


class FlakyDb:
    """Refuses writes while ``down``; records what it accepted, in order."""

    def __init__(self) -> None:
        self.down = True
        self.rows: list[str] = []

    def write(self, ev: PendingEvent) -> None:
        if self.down:
            raise StorageError("database is locked")
        self.rows.append(ev.uid)


def test_events_wait_in_order_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "facegate.db.spool"
    spool = EventSpool(path)
    db = FlakyDb()
    for i in range(5):
        spool.add(_event(i))
    assert spool.flush(db.write) == 0
    assert spool.pending == 5 and path.is_file() and spool.durable
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # the process dies here; a new one reads the spool back, byte for byte
    again = EventSpool(path)
    assert again.events() == spool.events()
    db.down = False
    assert again.flush(db.write) == 5
    assert db.rows == [f"u{i}" for i in range(5)]
    assert again.pending == 0 and not path.exists()


def test_flush_stops_at_the_first_refusal_and_keeps_the_rest(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "s.spool")
    for i in range(4):
        spool.add(_event(i))
    accepted: list[str] = []

    def write(ev: PendingEvent) -> None:
        if len(accepted) == 2:
            raise StorageError("database or disk is full")
        accepted.append(ev.uid)

    assert spool.flush(write) == 2
    assert [e.uid for e in spool.events()] == ["u2", "u3"]
    assert [e.uid for e in EventSpool(tmp_path / "s.spool").events()] == ["u2", "u3"]


def test_a_line_cut_by_a_crash_loses_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "s.spool"
    spool = EventSpool(path)
    for i in range(3):
        spool.add(_event(i, snapshot=None))
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2] + "\n" + lines[2] + "\n")
    assert [e.uid for e in EventSpool(path).events()] == ["u0", "u2"]


def test_unwritable_spool_keeps_events_in_memory(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    spool = EventSpool(folder / "s.spool")  # the folder does not exist: every file write fails
    spool.add(_event(1))
    assert spool.pending == 1 and not spool.durable
    folder.mkdir()
    spool.add(_event(2))  # the file can be written again: both become durable
    assert spool.durable and len((folder / "s.spool").read_text().splitlines()) == 2


@pytest.mark.parametrize("bad", ['{"uid": "x"}', "not json", '{"uid":"a","ts":"2026-01-01T00:00:00","person_id":null,'
                                 '"score":1,"decision":"unknown","camera":"c","model_sha256":"m"}'])
def test_damaged_lines_are_skipped(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "s.spool"
    path.write_text(bad + "\n" + _event(7).to_line() + "\n")
    assert [e.uid for e in EventSpool(path).events()] == ["u7"]


def test_an_ambiguous_event_keeps_its_candidates_through_the_spool(tmp_path: Path) -> None:
    path = tmp_path / "s.spool"
    ev = PendingEvent(uid="amb", ts=datetime(2026, 12, 1, 9, 0, tzinfo=UTC), person_id=None, score=0.6,
                      decision="ambiguous", camera="door", model_sha256="abc", candidates=(4, 9))
    EventSpool(path).add(ev)
    assert EventSpool(path).events() == [ev]
