"""Identity integrity (issue 9, item 6), on real faces, through the real CLI and core.

- People are keyed by employee ID where one is given: the same name with another employee ID is
  another person; a name shared by several people must be told apart with the employee ID.
- A shot added to an existing person must match that person, or it is refused with the reason
  unless forced (audited).
- The look-alike check runs before saving: a new person who looks like an enrolled one is refused
  as a likely duplicate unless forced.
- A face that matches two people above the threshold, too closely to tell apart, is "ambiguous:
  A or B" in identify, in the live decision, in the stored event and on the door screen.
- Migration 4 keeps every row of an older database (no ON DELETE action runs on a table rebuild).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from desktop_app.cli import main
from desktop_app.core.decision.policy import DecisionConfig, DecisionPolicy, FrameObservation
from desktop_app.core.errors import InputError, StorageError
from desktop_app.core.live.session import run_headless
from desktop_app.core.service import FaceGate
from desktop_app.core.storage import schema
from desktop_app.core.storage.store import Store
from desktop_app.core.types import PersonMatch
from desktop_app.core.video.imageio import read_image
from desktop_app.core.vocabulary import Decision

LIN = "Lin-Manuel Miranda"
TWIN = "Lin Twin"


@pytest.fixture(scope="module")
def faces(clips: Path) -> dict[str, Path]:
    train = clips / "knn_examples" / "train"
    return {
        "lin": clips / "lin-manuel-miranda.png", "alex": clips / "alex-lacamoire.png",
        "biden": train / "biden" / "biden.jpg", "biden2": train / "biden" / "biden2.jpg",
        "obama": train / "obama" / "obama.jpg", "obama2": train / "obama" / "obama2.jpg",
    }


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the real `facegate` command line in-process; (exit status, stdout, stderr)."""
    code = main(list(args))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def _people(db: Path, name: str) -> list[tuple[int, str | None, int]]:
    with Store(db) as store:
        return [(p.id, p.employee_id, p.n_samples) for p in sorted(store.list_people(), key=lambda p: p.id)
                if p.name.casefold() == name.casefold()]


# ------------------------------------------------------------------------------ keyed by employee ID
def test_same_name_with_another_employee_id_is_another_person(
        tmp_path: Path, faces: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "staff.db")
    code, out, err = cli(capsys, "enroll", "--db", db, "--name", "John Smith", "--employee-id", "E1",
                         str(faces["obama"]))
    assert code == 0, out + err
    # was: Biden's face silently added to E1's John Smith
    code, out, err = cli(capsys, "enroll", "--db", db, "--name", "John Smith", "--employee-id", "E2",
                         str(faces["biden"]))
    assert code == 0, out + err
    people = _people(Path(db), "john smith")
    assert [(emp, n) for _, emp, n in people] == [("E1", 1), ("E2", 1)]
    with FaceGate(Path(db), device="cpu") as gate:
        biden = gate.identify(read_image(faces["biden2"]))
        assert [r.person_id for r in biden if r.accepted] == [people[1][0]]  # Biden is E2, not E1

    # the name alone is now ambiguous: every command that takes --name says so and asks for the ID
    code, out, err = cli(capsys, "enroll", "--db", db, "--name", "john smith", str(faces["obama2"]))
    assert code == 2 and "2 people are named 'John Smith'" in err and "--employee-id" in err, err
    assert [n for _, _, n in _people(Path(db), "john smith")] == [1, 1]  # nothing stored
    code, out, err = cli(capsys, "erase", "--db", db, "--name", "John Smith", "--yes")
    assert code == 2 and "--employee-id" in err, err
    code, out, err = cli(capsys, "events", "--db", db, "--person", "John Smith")
    assert code == 2 and "--employee-id" in err, err
    # with the employee ID, each one is reached
    code, out, err = cli(capsys, "enroll", "--db", db, "--name", "John Smith", "--employee-id", "E1",
                         str(faces["obama2"]))
    assert code == 0, out + err
    code, out, err = cli(capsys, "erase", "--db", db, "--name", "John Smith", "--employee-id", "E2", "--yes")
    assert code == 0, out + err
    assert [(emp, n) for _, emp, n in _people(Path(db), "John Smith")] == [("E1", 2)]


def test_an_employee_id_of_someone_else_or_a_shared_name_without_ids_is_refused(
        tmp_path: Path, faces: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "staff.db")
    assert cli(capsys, "enroll", "--db", db, "--name", "Ann Lee", "--employee-id", "E7", str(faces["obama"]))[0] == 0
    code, _, err = cli(capsys, "enroll", "--db", db, "--name", "Bob Roe", "--employee-id", "E7",
                         str(faces["biden"]))
    assert code == 2 and "belongs to 'Ann Lee'" in err, err
    assert _people(Path(db), "Bob Roe") == []
    assert cli(capsys, "enroll", "--db", db, "--name", "Cy Doe", str(faces["alex"]))[0] == 0
    # a second Cy Doe needs both to have an employee ID, else two people could not be told apart
    code, _, err = cli(capsys, "enroll", "--db", db, "--name", "Cy Doe", "--employee-id", "E9", str(faces["biden"]))
    assert code == 2 and "without an employee ID" in err, err
    with Store(Path(db)) as store:
        with pytest.raises(StorageError, match="already exists"):
            store.add_person("cy doe")
        ann = store.find_person("Ann Lee")
        assert ann is not None
        store.add_person("Ann Lee", employee_id="E8")
        with pytest.raises(StorageError, match="Give an employee ID"):  # clearing it would make two alike
            store.update_person(ann.id, employee_id=None)
        with pytest.raises(InputError, match="employee ID"):
            store.find_person("ann lee")
        assert store.find_person("ann lee", "E8") is not None


# ------------------------------------------------------------------------------ shots must match the person
@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory, faces: dict[str, Path]) -> Path:
    """Lin, Alex and Joe Biden enrolled from one photo each (calibrated threshold about 0.44)."""
    db = tmp_path_factory.mktemp("office") / "staff.db"
    with FaceGate(db, device="cpu") as gate:
        for name, key in ((LIN, "lin"), ("Alex Lacamoire", "alex"), ("Joe Biden", "biden")):
            assert len(gate.enrol_images(name, [faces[key]]).added) == 1
    return db


@pytest.fixture()
def office_db(office: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "staff.db"
    dst.write_bytes(office.read_bytes())
    return dst


def test_a_strangers_face_is_not_added_to_an_existing_person_unless_forced(
        office_db: Path, faces: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    db = str(office_db)
    # was: stored, and the stranger then identified as Lin
    code, out, err = cli(capsys, "enroll", "--db", db, "--name", LIN, str(faces["obama"]))
    assert code == 1, out + err
    assert "REFUSED" in out and f"does not match {LIN}" in out and "--force" in out, out
    assert [n for _, _, n in _people(office_db, LIN)] == [1]
    code, out, err = cli(capsys, "identify", "--db", db, "--json", str(faces["obama"]))
    assert code == 0 and json.loads(out.splitlines()[0])["name"] is None, out

    code, out, err = cli(capsys, "enroll", "--db", db, "--name", LIN, "--force", str(faces["obama"]))
    assert code == 0 and "stored although" in out, out + err
    assert [n for _, _, n in _people(office_db, LIN)] == [2]
    with Store(office_db) as store:
        (row,) = [a for a in store.audit_log() if a.action == "person.enrol.forced"]
    assert row.actor == "cli" and row.details["shots"] == 1
    checks = row.details["checks"]
    assert isinstance(checks, list) and checks[0]["check"] == "mismatch" and checks[0]["score"] < 0.3


def test_a_true_shot_of_the_person_is_added(office_db: Path, faces: dict[str, Path]) -> None:
    with FaceGate(office_db, device="cpu") as gate:
        rep = gate.enrol_images("joe biden", [faces["biden2"], faces["obama"]])
        assert [Path(s.source).name for s in rep.added] == ["biden2.jpg"]
        assert [(Path(s.source).name, s.identity) for s in rep.rejected] == [("obama.jpg", True)]
        assert rep.needs_force and "Joe Biden" in (rep.rejected[0].reason or "")


def test_a_likely_duplicate_is_refused_before_saving(office_db: Path, faces: dict[str, Path]) -> None:
    with FaceGate(office_db, device="cpu") as gate:
        before = len(gate.people())
        rep = gate.enrol_images("Joseph Biden", [faces["biden2"]])
        # was: stored first, then a warning
        assert rep.added == () and rep.person_id == -1 and rep.needs_force
        assert "looks like the already enrolled Joe Biden" in (rep.rejected[0].reason or "")
        assert len(gate.people()) == before and gate.find_person("Joseph Biden") is None
        rep = gate.enrol_images("Joseph Biden", [faces["biden2"]], force=True)
        assert len(rep.added) == 1 and "Joe Biden" in rep.warnings[0]
        (row,) = [a for a in gate.store.audit_log() if a.action == "person.enrol.forced"]
        assert row.details["person_id"] == rep.person_id and row.details["checks"][0]["check"] == "duplicate"  # type: ignore[index]


# ------------------------------------------------------------------------------ ambiguous faces
@pytest.fixture(scope="module")
def twins(office: Path, tmp_path_factory: pytest.TempPathFactory, faces: dict[str, Path]) -> Path:
    """The office plus a second enrolment of Lin's photo under another name (forced)."""
    db = tmp_path_factory.mktemp("twins") / "staff.db"
    db.write_bytes(office.read_bytes())
    with FaceGate(db, device="cpu") as gate:
        assert len(gate.enrol_images(TWIN, [faces["lin"]], force=True).added) == 1
    return db


def test_identify_says_ambiguous(twins: Path, tmp_path: Path, faces: dict[str, Path],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "staff.db"
    db.write_bytes(twins.read_bytes())
    code, out, _ = cli(capsys, "identify", "--db", str(db), "--json", str(faces["lin"]))
    row = json.loads(out.splitlines()[0])
    assert code == 0 and set(row["ambiguous"]) == {LIN, TWIN}  # was: a silent unknown at 1.00
    assert row["name"] is None and not row["accepted"] and not row["allowed"]
    code, out, _ = cli(capsys, "identify", "--db", str(db), str(faces["lin"]))
    assert "ambiguous: " in out and LIN in out and TWIN in out, out
    code, out, _ = cli(capsys, "identify", "--db", str(db), "--json", str(faces["biden2"]))
    assert json.loads(out.splitlines()[0])["ambiguous"] == []


def test_the_policy_reports_ambiguous_instead_of_unknown() -> None:
    cfg = DecisionConfig(threshold=0.45, margin=0.05, votes_needed=3, window=5, unknown_after=4)
    policy = DecisionPolicy(cfg)
    events = []
    for i in range(12):  # the same face, equally close to persons 7 and 9
        m = PersonMatch(person_id=7 if i % 2 else 9, score=0.70, second_score=0.69,
                        second_person_id=9 if i % 2 else 7)
        events += policy.update(float(i) / 10, [FrameObservation((10, 10, 50, 50), m)])[1]
    assert [e.decision for e in events] == [Decision.AMBIGUOUS]  # once, and no "unknown" after it
    assert events[0].person_id is None and set(events[0].candidates) == {7, 9} and events[0].score == 0.70
    # below the threshold for the second person: an ordinary unknown, never ambiguous
    policy = DecisionPolicy(cfg)
    events = []
    for i in range(6):
        m = PersonMatch(person_id=7, score=0.46, second_score=0.44, second_person_id=9)
        events += policy.update(float(i), [FrameObservation((10, 10, 50, 50), m)])[1]
    assert [e.decision for e in events] == [Decision.UNKNOWN]


def test_the_door_logs_and_shows_an_ambiguous_face(twins: Path, tmp_path: Path, clips: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "staff.db"
    db.write_bytes(twins.read_bytes())
    with FaceGate(db, device="cpu") as gate:
        summary = run_headless(gate, str(clips / "short_hamilton_clip.mp4"), max_frames=30)
        amb = [e for e in summary.events if e.decision == Decision.AMBIGUOUS]
        assert amb and set(amb[0].candidates) == {LIN, TWIN}, summary.events  # was: unknown, Lin locked out
        assert amb[0].person_id is None
        (stored,) = [e for e in gate.query_events() if e.id == amb[0].event_id]
        assert stored.decision == "ambiguous" and stored.person_id is None and stored.person_ref is None
        assert set(stored.candidates) == {LIN, TWIN} and stored.who.startswith("ambiguous: ")
        assert not [e for e in summary.events if e.decision == Decision.GRANTED and e.name in (LIN, TWIN)]
    code, out, _ = cli(capsys, "events", "--db", str(db))
    assert code == 0 and "ambiguous" in out, out
    assert f"ambiguous: {LIN} or {TWIN}" in out or f"ambiguous: {TWIN} or {LIN}" in out, out
    # erasing one candidate leaves no name of theirs in the event
    with FaceGate(db, device="cpu") as gate:
        twin = gate.find_person(TWIN)
        assert twin is not None
        gate.erase_person(twin.id)
        (stored,) = [e for e in gate.query_events() if e.id == amb[0].event_id]
        assert TWIN not in stored.candidates and "an erased person" in stored.candidates


def test_the_door_panel_says_ambiguous_see_staff(qtbot: object) -> None:
    from desktop_app.ui.capture import DoorEvent
    from desktop_app.ui.decision_panel import DecisionPanel

    panel = DecisionPanel(show_scores=False)
    qtbot.addWidget(panel)  # type: ignore[attr-defined]
    panel.show_event(DoorEvent(1, "ambiguous", None, None, 0.7, 3, datetime.now().astimezone(),
                               candidates=("Ada", "Grace")))
    assert panel.name.text() == "Ambiguous: Ada or Grace — see staff"
    assert panel.title.text() != "ACCESS GRANTED"


# ------------------------------------------------------------------------------ migration 4
def test_migration_4_keeps_every_row_and_allows_the_new_rules(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    schema.migrate(Database(conn), schema.MIGRATIONS[:2])
    conn.execute("INSERT INTO people (name, name_key, employee_id, created_at, updated_at)"
                 " VALUES ('Ann', 'ann', 'E1', '2026-01-01', '2026-01-01')")
    conn.execute("INSERT INTO samples (person_id, quality_json, source, created_at, crop_png)"
                 " VALUES (1, '{}', 'a.jpg', '2026-01-01', x'00')")
    conn.execute("INSERT INTO events (ts, person_id, person_ref, score, decision, camera, model_sha256)"
                 " VALUES ('2026-01-01T08:00:00', 1, 'person-1', 0.8, 'granted', 'door', 'm')")
    conn.execute("INSERT INTO attendance VALUES (1, '2026-01-01', '2026-01-01T08:00:00', '2026-01-01T08:00:00')")
    conn.close()
    with Store(path) as store:
        db = store.db.conn
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        # was not: a rebuild with foreign keys on would cascade-delete samples and attendance
        assert [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("samples", "attendance")] == [1, 1]
        assert db.execute("SELECT person_id FROM events").fetchall() == [(1,)]
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        store.add_person("ann", employee_id="E2")
        assert len(store.find_people("Ann")) == 2
        store.log_event(person_id=None, score=0.7, decision="ambiguous", camera="door", model_sha256="m",
                        candidates=[1, 2])
        assert store.query_events(decision="ambiguous")[0].candidates == ("Ann", "ann")
        with pytest.raises(ValueError, match="ambiguous"):
            store.log_event(person_id=1, score=0.7, decision="ambiguous", camera="door", model_sha256="m",
                            candidates=[1, 2])
        with pytest.raises(ValueError, match="only an 'ambiguous' event"):
            store.log_event(person_id=None, score=0.7, decision="unknown", camera="door", model_sha256="m",
                            candidates=[1, 2])
