"""The running door loop follows what other processes change in the database (issue 9, item 2).

A LiveSession processes the real clip in this process while `facegate erase` / `facegate enroll`
run as real second processes on the same SQLite file: the erased person is no longer recognised
(and never crashes the loop), the newly enrolled one is recognised without a restart, under the
threshold the other process calibrated. When nothing changed, a frame reads nothing from the
database beyond one cheap ``PRAGMA data_version`` now and then.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.live.session import SYNC_INTERVAL_S
from desktop_app.core.service import FaceGate
from desktop_app.core.vocabulary import Decision

from .door_setup import ALEX, LIN, Door, facegate


@pytest.fixture(scope="module")
def alex_only(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """A data folder with Alex enrolled (his face is too small in the clip: never matched there)."""
    d = tmp_path_factory.mktemp("door_alex")
    with FaceGate(d / "facegate.db", device="cpu") as gate:
        assert gate.enrol_images(ALEX, [clips / "alex-lacamoire.png"]).added
    return d


@pytest.fixture()
def db(alex_only: Path, tmp_path: Path) -> Path:
    shutil.copytree(alex_only, tmp_path / "data")
    return tmp_path / "data" / "facegate.db"


@pytest.fixture()
def clip(clips: Path) -> Path:
    return clips / "short_hamilton_clip.mp4"


@pytest.fixture()
def gate_with_lin(db: Path, clips: Path) -> Iterator[tuple[FaceGate, int]]:
    with FaceGate(db, device="cpu") as gate:
        rep = gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"])
        assert rep.added
        yield gate, rep.person_id


def test_a_person_erased_by_another_process_is_no_longer_recognised(
        gate_with_lin: tuple[FaceGate, int], db: Path, clip: Path) -> None:
    gate, lin = gate_with_lin
    door = Door(gate, clip)
    first = door.step(1)
    assert [f.person_id for f in first[0].faces if f.track_id >= 0] == [lin]  # matched, one vote so far
    out = facegate("erase", "--db", str(db), "--name", LIN, "--yes", home=db.parent)
    assert out.returncode == 0, out.stderr
    # before the fix: still matched, and the grant dies with "There is no person with id 2 (was it erased?)"
    after = door.step(8)
    door.close()
    assert all(f.person_id != lin and f.name != LIN for r in after for f in r.faces)
    assert not [e for r in after for e in r.events if e.decision == Decision.GRANTED]
    assert lin not in set(gate.gallery.person_ids().tolist())
    assert gate.gallery_stats().persons == 1
    assert gate.count_events() == sum(len(r.events) for r in first + after)


def test_a_grant_decided_just_before_the_erasure_is_seen_is_dropped_not_a_crash(
        gate_with_lin: tuple[FaceGate, int], db: Path, clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The erasure commits between the loop's last check and its write of the grant."""
    gate, lin = gate_with_lin
    door = Door(gate, clip)
    door.step(2)  # two votes for Lin: the third grants
    out = facegate("erase", "--db", str(db), "--name", LIN, "--yes", home=db.parent)
    assert out.returncode == 0, out.stderr
    monkeypatch.setattr(gate, "refresh_if_changed", lambda: False, raising=False)  # the loop has not looked yet
    third = door.step(1)[0]  # before the fix: StorageError "There is no person with id ... (was it erased?)"
    door.close()
    assert third.events == ()
    assert all(f.name != LIN and f.person_id != lin for f in third.faces)
    assert gate.count_events() == 0


def test_a_person_enrolled_by_another_process_is_recognised_without_a_restart(
        db: Path, clip: Path, clips: Path) -> None:
    with FaceGate(db, device="cpu") as gate:
        door = Door(gate, clip)
        before = door.step(2)
        assert all(f.name is None for r in before for f in r.faces)
        out = facegate("enroll", "--db", str(db), "--name", LIN, str(clips / "lin-manuel-miranda.png"),
                       home=db.parent)
        assert out.returncode == 0, out.stderr
        after = door.step(6)  # before the fix: Lin stays unknown until a restart
        door.close()
        granted = [e for r in after for e in r.events if e.decision == Decision.GRANTED]
        assert [e.name for e in granted] == [LIN]
        assert [e.name for e in gate.query_events()] == [LIN]
        assert gate.gallery_stats().persons == 2
        cal = gate.current_calibration()
        assert cal is not None and cal.gallery_persons == 2  # the other process's calibration, not the old one
        threshold = gate.threshold
    with FaceGate(db, device="cpu") as fresh:
        assert fresh.threshold == pytest.approx(threshold)


def test_an_idle_frame_reads_nothing_from_the_database(gate_with_lin: tuple[FaceGate, int], clip: Path) -> None:
    gate, lin = gate_with_lin
    door = Door(gate, clip)
    door.step(4)  # Lin granted: his track is held, and matched every frame
    statements: list[str] = []
    gate.store.db.conn.set_trace_callback(statements.append)
    try:
        results = door.step(2)
        time.sleep(SYNC_INTERVAL_S + 0.1)  # at least one follow-the-database tick falls in the window
        results += door.step(2)
    finally:
        gate.store.db.conn.set_trace_callback(None)
        door.close()
    assert all(f.person_id == lin for r in results for f in r.faces if f.track_id >= 0)
    # before the fix: a person look-up per face and frame
    assert statements and set(statements) == {"PRAGMA data_version"}, statements


def test_a_reused_person_id_never_puts_the_new_name_on_an_old_face(
        gate_with_lin: tuple[FaceGate, int], db: Path, clip: Path, clips: Path) -> None:
    """SQLite gives the next person the erased one's id: a track granted as Lin stays Lin's."""
    gate, lin = gate_with_lin
    door = Door(gate, clip)
    assert any(f.name == LIN for f in door.step(4)[-1].faces)  # granted, his track held
    for args in (("erase", "--db", str(db), "--name", LIN, "--yes"),
                 ("enroll", "--db", str(db), "--name", "obama", str(clips / "knn_examples" / "train" / "obama"))):
        out = facegate(*args, home=db.parent)
        assert out.returncode == 0, out.stderr
    obama = gate.find_person("obama")
    assert obama is not None and obama.id == lin  # the id was reused
    after = door.step(3)
    door.close()
    assert all(f.name is None and f.person_id is None for r in after for f in r.faces), \
        [(f.name, f.status) for r in after for f in r.faces]
    assert not [e for r in after for e in r.events]
