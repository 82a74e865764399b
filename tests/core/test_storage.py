"""Tests of the event store on real SQLite files (desktop_app.core.storage).

Results are checked against naive Python references built from what the test wrote (filtering,
sorting and grouping lists), and erasure is checked on the raw bytes of the database file.
"""

from __future__ import annotations

import csv
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlite_utils import Database

from desktop_app.core.errors import StorageError
from desktop_app.core.storage import SCHEMA_VERSION, ModelRecord, Store
from desktop_app.core.storage.csvfile import ENCODING
from desktop_app.core.storage.schema import APPLICATION_ID, MIGRATIONS, migrate, user_version
from desktop_app.core.storage.sqlerrors import to_storage_error
from desktop_app.core.types import Calibration

MODEL_A = "a" * 64
MODEL_B = "b" * 64
TZ = timezone(timedelta(hours=2))  # fixed "local" zone so day boundaries do not depend on the machine


@dataclass(frozen=True)
class Logged:
    """What a test wrote with log_event: the naive reference for queries."""

    id: int
    ts: datetime
    person_id: int | None
    decision: str
    score: float


def noise_crop(seed: int) -> np.ndarray:
    """A (112, 112, 3) uint8 crop of random noise: its PNG is large and byte-unique."""
    return np.random.default_rng(seed).integers(0, 256, (112, 112, 3), dtype=np.uint8)


def unit(seed: int, dim: int = 128) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "folder" / "facegate.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path, local_tz=TZ) as s:
        yield s


# ---------------------------------------------------------------- opening, pragmas, migrations


def test_open_creates_folders_and_sets_pragmas(db_path: Path) -> None:
    with Store(db_path, timeout_s=1.5) as s:
        assert db_path.is_file()
        conn = s.db.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1500
        assert user_version(s.db) == SCHEMA_VERSION == len(MIGRATIONS)
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert isinstance(s.db, Database)
        assert s.path == db_path
    s.close()  # idempotent


def test_reopen_keeps_data_and_migrations_are_idempotent(db_path: Path) -> None:
    with Store(db_path) as s:
        pid = s.add_person("Ada Lovelace")
        s.set_setting("k", 1)
    schema_before = sqlite3.connect(db_path).execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    for _ in range(2):
        with Store(db_path) as s:
            assert s.get_person(pid) is not None
            assert s.get_setting("k") == 1
            assert user_version(s.db) == SCHEMA_VERSION
            assert migrate(s.db) == SCHEMA_VERSION  # nothing left to do
    schema_after = sqlite3.connect(db_path).execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    assert schema_after == schema_before


def test_appended_migration_runs_once_on_old_files(db_path: Path) -> None:
    Store(db_path).close()
    calls: list[int] = []

    def migration_2(db: Database) -> None:
        calls.append(1)
        db.execute("ALTER TABLE people ADD COLUMN badge TEXT")

    conn = sqlite3.connect(db_path, isolation_level=None)
    db = Database(conn, execute_plugins=False)
    assert migrate(db, (*MIGRATIONS, migration_2)) == len(MIGRATIONS)
    assert migrate(db, (*MIGRATIONS, migration_2)) == len(MIGRATIONS) + 1
    assert calls == [1]
    assert user_version(db) == len(MIGRATIONS) + 1
    assert "badge" in db.table("people").columns_dict
    conn.close()


def test_failed_migration_leaves_previous_version(db_path: Path) -> None:
    Store(db_path).close()

    def broken(db: Database) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    conn = sqlite3.connect(db_path, isolation_level=None)
    db = Database(conn, execute_plugins=False)
    with pytest.raises(RuntimeError):
        migrate(db, (*MIGRATIONS, broken))
    assert user_version(db) == len(MIGRATIONS)
    assert "half_done" not in db.table_names()
    conn.close()


def test_newer_schema_is_refused(db_path: Path) -> None:
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer FaceGate"):
        Store(db_path)


def test_other_programs_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (who TEXT)")
    conn.execute("INSERT INTO people VALUES ('x')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StorageError, match="another program"):
        Store(path)
    assert path.read_bytes() == before


def test_non_database_file_raises_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    content = b"This is a text file, not an SQLite database.\n" * 50
    path.write_bytes(content)
    with pytest.raises(StorageError, match="not a FaceGate database or it is corrupt"):
        Store(path)
    assert path.read_bytes() == content


def test_folder_path_raises_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="folder"):
        Store(tmp_path)


def test_read_only_error_is_explained(db_path: Path) -> None:
    Store(db_path).close()
    ro = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as info:
        ro.execute("INSERT INTO settings VALUES ('k', '1', 'now')")
    ro.close()
    err = to_storage_error(info.value, db_path, "saving a setting", 5.0)
    assert isinstance(err, StorageError)
    assert "read-only" in str(err) and str(db_path) in str(err)


def test_locked_database_raises_storage_error_then_recovers(db_path: Path) -> None:
    s = Store(db_path, timeout_s=0.2)
    pid = s.add_person("Grace Hopper")
    other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match=r"locked by another program.*adding a person"):
            s.add_person("Blocked Person")
        with pytest.raises(StorageError, match="locked by another program"):
            s.log_event(person_id=pid, score=0.9, decision="granted", camera="c", model_sha256=MODEL_A)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [p.name for p in s.list_people()] == ["Grace Hopper"]
    s.add_person("After Unlock")
    assert len(s.list_people()) == 2
    s.close()


def test_disk_full_raises_storage_error_and_keeps_rows(store: Store) -> None:
    pid = store.add_person("Full Disk")
    sid = store.add_sample(pid, noise_crop(1), {"q": 1}, "a.jpg", unit(1), MODEL_A)
    crop_before = store.sample_crop(sid)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages + 2}")  # a ~37 kB noise PNG needs ~10 pages
    with pytest.raises(StorageError, match="database or disk is full"):
        store.add_sample(pid, noise_crop(2), {"q": 2}, "b.jpg", unit(2), MODEL_A)
    with pytest.raises(StorageError, match="database or disk is full"):
        store.add_strangers(np.stack([unit(i) for i in range(200)]), MODEL_A, "lfw")
    assert [s.id for s in store.list_samples()] == [sid]
    assert np.array_equal(store.sample_crop(sid), crop_before)
    assert store.templates(MODEL_A)[2].shape == (1, 128)
    assert store.strangers(MODEL_A).shape == (0, 0)
    store.db.execute("PRAGMA max_page_count = 1073741823")
    store.add_sample(pid, noise_crop(2), {"q": 2}, "b.jpg", unit(2), MODEL_A)
    assert len(store.list_samples()) == 2


def test_transaction_groups_writes_and_nests(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.add_person("One")
        store.add_person("Two")
        raise RuntimeError("abort the group")
    assert store.list_people() == []
    with store.transaction():
        store.add_person("Kept")
        with pytest.raises(StorageError), store.transaction():
            store.add_person("Inner")
            store.add_person("kept")  # duplicate name (case-insensitive): the inner group is undone
        store.add_person("Also Kept")
    assert [p.name for p in store.list_people()] == ["Also Kept", "Kept"]


# ---------------------------------------------------------------- people


def test_people_round_trip(store: Store) -> None:
    a = store.add_person("  Élodie   Durand ", employee_id="E-1", department="Research")
    b = store.add_person("Bob Stone", department="Sales")
    c = store.add_person("Carl_50%", employee_id="E-3")
    pa = store.get_person(a)
    assert pa is not None
    assert (pa.name, pa.employee_id, pa.department, pa.active, pa.n_samples) == (
        "Élodie Durand",
        "E-1",
        "Research",
        True,
        0,
    )
    assert pa.created_at.tzinfo is not None
    assert store.get_person(999) is None
    found = store.find_person("ÉLODIE DURAND")
    assert found is not None and found.id == a
    assert store.find_person("Elodie Durand") is None  # exact name, accents matter
    assert store.find_person("") is None
    assert [p.id for p in store.list_people()] == [b, c, a]  # sorted by name
    assert [p.id for p in store.list_people(search="sal")] == [b]
    assert [p.id for p in store.list_people(search="e-")] == [c, a]
    assert [p.id for p in store.list_people(search="50%")] == [c]
    assert [p.id for p in store.list_people(search="_")] == [c]  # LIKE wildcards are literal
    assert store.list_people(search="zzz") == []
    store.update_person(c, department="ÉNERGIE")
    assert [p.id for p in store.list_people(search="énergie")] == [c]  # Unicode case folding

    updated = store.update_person(b, name="Robert Stone", employee_id="E-2", active=False)
    assert (updated.name, updated.employee_id, updated.department, updated.active) == (
        "Robert Stone",
        "E-2",
        "Sales",
        False,
    )
    assert [p.id for p in store.list_people(active_only=True)] == [c, a]
    cleared = store.update_person(b, department=None, active=True)
    assert cleared.department is None and cleared.active and cleared.name == "Robert Stone"
    assert store.update_person(b) == cleared

    with pytest.raises(StorageError, match="already exists"):
        store.add_person("élodie durand")
    with pytest.raises(StorageError, match="already used"):
        store.add_person("Dana", employee_id="E-1")
    with pytest.raises(StorageError, match="already exists"):
        store.update_person(c, name="ROBERT STONE", employee_id=None)  # then two alike: no
    # both have an employee ID, which tells them apart: a shared name is allowed (issue 9 item 6)
    assert store.update_person(c, name="ROBERT STONE").name == "ROBERT STONE"
    assert store.find_person("robert stone", "E-3") == store.get_person(c)
    store.update_person(c, name="Carl_50%")
    with pytest.raises(StorageError, match="no person"):
        store.update_person(999, name="Ghost")
    with pytest.raises(ValueError, match="name"):
        store.add_person("   ")
    with pytest.raises(ValueError, match="active"):
        store.update_person(a, active="yes")  # type: ignore[arg-type]
    assert len(store.list_people()) == 3


# ---------------------------------------------------------------- samples and templates


def test_samples_and_templates_round_trip(store: Store) -> None:
    alice = store.add_person("Alice")
    bob = store.add_person("Bob")
    written: list[tuple[int, int, np.ndarray, np.ndarray]] = []  # (sample, person, crop, vector)
    for i, pid in enumerate([alice, bob, alice, bob, alice]):
        crop, vec = noise_crop(i), unit(i)
        quality = {"sharpness": np.float32(100 + i), "yaw": 1.5, "reasons": []}
        sid = store.add_sample(pid, crop, quality, f"photo{i}.jpg", vec, MODEL_A)
        written.append((sid, pid, crop, vec))

    samples = store.list_samples()
    assert [s.id for s in samples] == [w[0] for w in written]
    assert samples[1].quality == {"sharpness": 101.0, "yaw": 1.5, "reasons": []}
    assert samples[1].source == "photo1.jpg" and samples[1].models == (MODEL_A,)
    assert [s.id for s in store.list_samples(alice)] == [w[0] for w in written if w[1] == alice]
    assert store.get_person(alice).n_samples == 3  # type: ignore[union-attr]
    for sid, _pid, crop, _vec in written:
        got = store.sample_crop(sid)
        assert got.dtype == np.uint8 and got.shape == (112, 112, 3)
        assert np.array_equal(got, crop)  # PNG is lossless

    sample_ids, person_ids, vectors = store.templates(MODEL_A)
    assert sample_ids.dtype == np.int64 and person_ids.dtype == np.int64 and vectors.dtype == np.float32
    assert sample_ids.tolist() == [w[0] for w in written]
    assert person_ids.tolist() == [w[1] for w in written]
    assert np.array_equal(vectors, np.stack([w[3] for w in written]))

    empty = store.templates(MODEL_B)
    assert [a.shape for a in empty] == [(0,), (0,), (0, 0)]
    assert store.samples_missing_template(MODEL_B) == [w[0] for w in written]

    # a second model beside the first, with another dimension
    for sid, _pid, _crop, _vec in written[:3]:
        store.set_template(sid, MODEL_B, unit(sid + 100, dim=64))
    assert store.samples_missing_template(MODEL_B) == [w[0] for w in written[3:]]
    assert store.templates(MODEL_B)[2].shape == (3, 64)
    assert store.list_samples()[0].models == (MODEL_A, MODEL_B)
    replacement = unit(999)
    store.set_template(written[0][0], MODEL_A, replacement)  # replace, not duplicate
    sample_ids, _, vectors = store.templates(MODEL_A)
    assert len(sample_ids) == 5 and np.array_equal(vectors[0], replacement)

    store.update_person(bob, active=False)
    assert store.templates(MODEL_A)[1].tolist() == [alice] * 3
    assert len(store.templates(MODEL_A, active_only=False)[0]) == 5

    store.delete_sample(written[0][0])
    assert written[0][0] not in store.templates(MODEL_A, active_only=False)[0].tolist()
    assert written[0][0] not in store.templates(MODEL_B, active_only=False)[0].tolist()
    n_templates = store.db.execute("SELECT count(*) FROM templates WHERE sample_id = ?", [written[0][0]])
    assert n_templates.fetchone()[0] == 0
    with pytest.raises(StorageError, match="no face sample"):
        store.delete_sample(written[0][0])
    with pytest.raises(StorageError, match="no face sample"):
        store.sample_crop(written[0][0])
    with pytest.raises(StorageError, match="no face sample"):
        store.set_template(written[0][0], MODEL_A, unit(1))


def test_sample_validation_is_atomic(store: Store) -> None:
    pid = store.add_person("Val")
    store.add_sample(pid, noise_crop(0), {}, "x", unit(0), MODEL_A)
    bad_inputs: list[dict[str, Any]] = [
        dict(crop=np.zeros((112, 112), np.uint8)),
        dict(crop=np.zeros((112, 112, 3), np.float32)),
        dict(crop=np.zeros((100, 112, 3), np.uint8)),
        dict(embedding=np.full(128, np.nan, np.float32)),
        dict(embedding=np.zeros((2, 128), np.float32)),
        dict(embedding=unit(1, dim=512)),  # model A stores 128-value embeddings
        dict(quality={"f": object()}),
        dict(source=""),
    ]
    for bad in bad_inputs:
        args: dict[str, Any] = dict(
            person_id=pid, crop=noise_crop(1), quality={}, source="y", embedding=unit(1), model_sha256=MODEL_A
        )
        args.update(bad)
        with pytest.raises(ValueError):
            store.add_sample(**args)
    with pytest.raises(StorageError, match="no person"):
        store.add_sample(404, noise_crop(1), {}, "y", unit(1), MODEL_A)
    assert len(store.list_samples()) == 1
    assert store.db.execute("SELECT count(*) FROM templates").fetchone()[0] == 1


def test_real_face_crop_and_snapshot(store: Store, lfw: Path) -> None:
    image = cv2.imread(str(lfw / "George_W_Bush" / "George_W_Bush_0001.jpg"))
    assert image is not None and image.shape == (250, 250, 3)
    crop = np.ascontiguousarray(cv2.resize(image[69:181, 69:181], (112, 112)))
    pid = store.add_person("George W Bush")
    sid = store.add_sample(pid, crop, {"sharpness": 42.0}, "lfw", unit(0), MODEL_A)
    assert np.array_equal(store.sample_crop(sid), crop)
    eid = store.log_event(
        person_id=pid, score=0.8, decision="granted", camera="door", model_sha256=MODEL_A, snapshot=image
    )
    snap = store.event_snapshot(eid)
    assert snap is not None and snap.shape == image.shape and snap.dtype == np.uint8
    assert np.abs(snap.astype(np.int16) - image.astype(np.int16)).mean() < 4.0  # JPEG q85
    big = cv2.resize(image, (1000, 800))
    eid = store.log_event(
        person_id=None, score=0.1, decision="unknown", camera="door", model_sha256=MODEL_A, snapshot=big
    )
    assert store.event_snapshot(eid).shape == (256, 320, 3)  # type: ignore[union-attr]


# ---------------------------------------------------------------- events and attendance


def test_events_query_matches_naive_filtering(store: Store) -> None:
    people = [store.add_person(n) for n in ("Ann", "Ben", "Cid")]
    rng = np.random.default_rng(7)
    t0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    logged: list[Logged] = []
    for i in range(60):
        decision = ["granted", "unknown", "denied"][int(rng.integers(3))]
        pid = None if decision == "unknown" else people[int(rng.integers(3))]
        ts = t0 + timedelta(minutes=int(rng.integers(0, 3 * 24 * 60)))
        score = float(rng.uniform(-0.2, 0.95))
        eid = store.log_event(
            person_id=pid,
            score=score,
            decision=decision,
            camera=f"cam{i % 2}",
            model_sha256=MODEL_A,
            ts=ts,
            track_id=i,
        )
        logged.append(Logged(eid, ts, pid, decision, score))

    def naive(
        start: datetime | None = None,
        end: datetime | None = None,
        person_id: int | None = None,
        decision: str | None = None,
    ) -> list[int]:
        rows = [
            e
            for e in logged
            if (start is None or e.ts >= start)
            and (end is None or e.ts < end)
            and (person_id is None or e.person_id == person_id)
            and (decision is None or e.decision == decision)
        ]
        return [e.id for e in sorted(rows, key=lambda e: (e.ts, e.id), reverse=True)]

    names = dict(zip(people, ("Ann", "Ben", "Cid"), strict=True))
    all_events = store.query_events()
    assert [e.id for e in all_events] == naive()
    for ev in all_events:
        src = next(e for e in logged if e.id == ev.id)
        assert (ev.ts, ev.person_id, ev.decision) == (src.ts, src.person_id, src.decision)
        assert ev.score == pytest.approx(src.score)
        assert ev.name == (None if ev.person_id is None else names[ev.person_id])
        assert ev.person_ref == (None if ev.person_id is None else f"person-{ev.person_id}")
        assert ev.model_sha256 == MODEL_A and not ev.has_snapshot
    start, end = t0 + timedelta(hours=20), t0 + timedelta(hours=50)
    local_start = start.astimezone(TZ).replace(tzinfo=None)  # naive = the store's local time
    cases: list[dict[str, Any]] = [
        dict(start=start, end=end),
        dict(start=local_start),
        dict(person_id=people[1]),
        dict(decision="denied", end=end),
        dict(person_id=people[0], decision="granted", start=start),
    ]
    naive_cases = [dict(c, start=start) if "start" in c else c for c in cases]
    for case, ref_case in zip(cases, naive_cases, strict=True):
        expected = naive(**ref_case)
        assert [e.id for e in store.query_events(**case)] == expected, case
        assert store.count_events(**case) == len(expected)
    paged = [e.id for off in range(0, 60, 7) for e in store.query_events(limit=7, offset=off)]
    assert paged == naive()
    assert store.query_events(limit=0) == []

    with pytest.raises(ValueError, match="decision"):
        store.log_event(person_id=None, score=0.1, decision="maybe", camera="c", model_sha256=MODEL_A)
    with pytest.raises(ValueError, match="granted"):
        store.log_event(person_id=None, score=0.9, decision="granted", camera="c", model_sha256=MODEL_A)
    with pytest.raises(ValueError, match="finite"):
        store.log_event(person_id=None, score=float("nan"), decision="unknown", camera="c", model_sha256=MODEL_A)
    with pytest.raises(StorageError, match="no person"):
        store.log_event(person_id=77, score=0.9, decision="granted", camera="c", model_sha256=MODEL_A)
    with pytest.raises(ValueError, match="decision"):
        store.query_events(decision="yes")
    assert store.count_events() == 60
    assert store.event_snapshot(logged[0].id) is None
    assert store.event_snapshot(10_000) is None


def test_attendance_first_in_last_out_over_two_local_days(store: Store) -> None:
    ann = store.add_person("Ann")
    ben = store.add_person("Ben")
    # local zone is UTC+2: 21:30 UTC on the 1st is 23:30 local on the 1st; 22:30 UTC is 00:30 on the 2nd
    utc = [
        (ann, "granted", datetime(2024, 5, 1, 6, 55, tzinfo=UTC)),
        (ann, "granted", datetime(2024, 5, 1, 15, 5, tzinfo=UTC)),
        (ann, "granted", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        (ann, "denied", datetime(2024, 5, 1, 21, 0, tzinfo=UTC)),  # not a passage
        (ann, "granted", datetime(2024, 5, 1, 21, 30, tzinfo=UTC)),  # 23:30 local, still the 1st
        (ann, "granted", datetime(2024, 5, 1, 22, 30, tzinfo=UTC)),  # 00:30 local, the 2nd
        (ann, "granted", datetime(2024, 5, 2, 14, 0, tzinfo=UTC)),
        (ben, "granted", datetime(2024, 5, 2, 12, 0, tzinfo=UTC)),
        (ben, "granted", datetime(2024, 5, 2, 5, 45, tzinfo=UTC)),  # logged late, earlier than the first
        (ben, "denied", datetime(2024, 5, 2, 4, 0, tzinfo=UTC)),
        (ann, "granted", datetime(2024, 5, 4, 9, 0, tzinfo=UTC)),  # outside the range asked
    ]
    for pid, decision, ts in utc:
        store.log_event(person_id=pid, score=0.8, decision=decision, camera="door", model_sha256=MODEL_A, ts=ts)
    store.log_event(person_id=None, score=0.2, decision="unknown", camera="door", model_sha256=MODEL_A)

    # naive reference: group granted events by (person, local day)
    ref: dict[tuple[date, str, int], list[datetime]] = {}
    names = {ann: "Ann", ben: "Ben"}
    for pid, decision, ts in utc:
        day = ts.astimezone(TZ).date()
        if decision == "granted" and date(2024, 5, 1) <= day <= date(2024, 5, 2):
            ref.setdefault((day, names[pid], pid), []).append(ts)
    expected = [
        (pid, name, day, min(v), max(v), (max(v) - min(v)).total_seconds() / 3600)
        for (day, name, pid), v in sorted(ref.items())
    ]
    rows = store.attendance(date(2024, 5, 1), date(2024, 5, 2))
    got = [(r.person_id, r.name, r.day, r.first_in, r.last_out, r.hours) for r in rows]
    assert got == expected
    assert got[0][:5] == (ann, "Ann", date(2024, 5, 1), utc[0][2], utc[4][2])
    assert got[0][5] == pytest.approx(14 + 35 / 60)
    assert [r.day for r in store.attendance(date(2024, 5, 2), date(2024, 5, 2), person_id=ben)] == [date(2024, 5, 2)]
    assert len(store.attendance(date(2024, 5, 1), date(2024, 5, 31))) == 4
    with pytest.raises(ValueError, match="after"):
        store.attendance(date(2024, 5, 2), date(2024, 5, 1))


# ---------------------------------------------------------------- CSV exports


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding=ENCODING, newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_events_csv(store: Store, tmp_path: Path) -> None:
    ann = store.add_person("Ann Ångström", employee_id="E7")
    evil = store.add_person('=HYPERLINK("http://x")')
    t0 = datetime(2024, 6, 1, 7, 0, tzinfo=UTC)
    for i in range(5):
        store.log_event(
            person_id=ann,
            score=0.5 + i / 10,
            decision="granted",
            camera="door",
            model_sha256=MODEL_A,
            ts=t0 + timedelta(hours=i),
            track_id=i,
        )
    store.log_event(person_id=evil, score=-0.25, decision="denied", camera="gate", model_sha256=MODEL_A, ts=t0)
    store.log_event(person_id=None, score=0.1, decision="unknown", camera="gate", model_sha256=MODEL_A, ts=t0)
    out = tmp_path / "exports" / "events.csv"
    out.parent.mkdir()
    out.write_text("old content")
    assert store.export_events_csv(out) == 7
    rows = read_csv(out)
    events = store.query_events()
    assert [int(r["event_id"]) for r in rows] == [e.id for e in events]
    assert list(rows[0]) == [
        "event_id",
        "time_local",
        "time_utc",
        "person_id",
        "person_ref",
        "name",
        "decision",
        "score",
        "camera",
        "track_id",
        "model_sha256",
        "door",
        "direction",
        "reason",
    ]
    first = rows[0]
    assert first["name"] == "Ann Ångström" and first["decision"] == "granted" and first["score"] == "0.9000"
    assert datetime.fromisoformat(first["time_local"]) == t0 + timedelta(hours=4)
    assert first["time_local"].endswith("+02:00") and first["time_utc"].endswith("+00:00")
    assert first["track_id"] == "4" and first["person_ref"] == f"person-{ann}"
    unknown = next(r for r in rows if r["decision"] == "unknown")
    assert unknown["person_id"] == "" and unknown["name"] == ""
    denied = next(r for r in rows if r["decision"] == "denied")
    assert denied["name"] == '\'=HYPERLINK("http://x")'  # formula neutralised
    assert denied["score"] == "-0.2500"  # numbers are not altered
    assert store.export_events_csv(out, decision="granted", limit=2) == 2
    assert len(read_csv(out)) == 2
    assert store.export_events_csv(out, start=t0 + timedelta(hours=10)) == 0
    assert read_csv(out) == []
    assert sorted(p.name for p in out.parent.iterdir()) == ["events.csv"]  # no temp file left


def test_export_attendance_csv(store: Store, tmp_path: Path) -> None:
    ann = store.add_person("Ann", employee_id="E1", department="Lab")
    ben = store.add_person("Ben")
    day1 = datetime(2024, 7, 1, 6, 0, tzinfo=UTC)  # 08:00 local
    for pid, hours in ((ann, (0, 8.5)), (ben, (1, 2))):
        for h in hours:
            store.log_event(
                person_id=pid,
                score=0.9,
                decision="granted",
                camera="door",
                model_sha256=MODEL_A,
                ts=day1 + timedelta(hours=h),
            )
    store.log_event(
        person_id=ann,
        score=0.9,
        decision="granted",
        camera="door",
        model_sha256=MODEL_A,
        ts=day1 + timedelta(days=1),
    )
    out = tmp_path / "attendance.csv"
    assert store.export_attendance_csv(out, date(2024, 7, 1), date(2024, 7, 2)) == 3
    rows = read_csv(out)
    assert [(r["day"], r["name"], r["hours"]) for r in rows] == [
        ("2024-07-01", "Ann", "8.50"),
        ("2024-07-01", "Ben", "1.00"),
        ("2024-07-02", "Ann", "0.00"),
    ]
    assert rows[0]["employee_id"] == "E1" and rows[0]["department"] == "Lab" and rows[1]["employee_id"] == ""
    assert rows[0]["first_in"] == "2024-07-01T08:00:00+02:00"
    assert rows[0]["last_out"] == "2024-07-01T16:30:00+02:00"


# ---------------------------------------------------------------- erasure


def test_erase_person_removes_everything_and_zeroes_the_bytes(store: Store, db_path: Path) -> None:
    alice = store.add_person("Alice Qwertyuiop", employee_id="EMP-ZX81", department="Secret Lab")
    bob = store.add_person("Bob Keeper")
    alice_samples = [store.add_sample(alice, noise_crop(i), {"i": i}, "cam", unit(i), MODEL_A) for i in (1, 2)]
    bob_sample = store.add_sample(bob, noise_crop(3), {}, "cam", unit(3), MODEL_A)
    for sid in alice_samples:
        store.set_template(sid, MODEL_B, unit(sid + 50, dim=64))
    snap = noise_crop(9)[:60, :80]
    t0 = datetime(2024, 8, 1, 8, 0, tzinfo=UTC)
    alice_events = [
        store.log_event(
            person_id=alice,
            score=0.9,
            decision="granted",
            camera="door",
            model_sha256=MODEL_A,
            ts=t0 + timedelta(days=d),
            snapshot=snap,
        )
        for d in (0, 1)
    ]
    alice_events.append(
        store.log_event(person_id=alice, score=0.4, decision="denied", camera="door", model_sha256=MODEL_A, ts=t0)
    )
    bob_event = store.log_event(
        person_id=bob,
        score=0.8,
        decision="granted",
        camera="door",
        model_sha256=MODEL_A,
        ts=t0,
        snapshot=snap,
    )
    store.audit("admin", "add_person", {"person_id": alice, "name": "Alice Qwertyuiop"})
    store.audit("admin", "add_person", {"person_id": bob, "name": "Bob Keeper"})

    secrets_of_alice = [
        bytes(store.db.execute("SELECT crop_png FROM samples WHERE id = ?", [sid]).fetchone()[0])[2000:2064]
        for sid in alice_samples
    ]
    secrets_of_alice += [
        bytes(r[0])
        for r in store.db.execute(
            "SELECT vector FROM templates t JOIN samples s ON s.id = t.sample_id WHERE s.person_id = ?",
            [alice],
        )
    ]
    secrets_of_alice += [b"Qwertyuiop", b"EMP-ZX81"]
    bob_crop = bytes(store.db.execute("SELECT crop_png FROM samples WHERE id = ?", [bob_sample]).fetchone()[0])
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = db_path.read_bytes()
    assert all(s in raw for s in secrets_of_alice)  # the search below can find what it looks for

    report = store.erase_person(alice, actor="dpo")

    assert report.person_id == alice and report.purged
    assert (report.samples, report.templates, report.attendance_days) == (2, 4, 2)
    assert (report.events_anonymised, report.snapshots_deleted, report.audit_rows_scrubbed) == (3, 2, 1)
    assert report.person_ref.startswith("erased-") and len(report.person_ref) == len("erased-") + 8
    assert store.get_person(alice) is None and store.find_person("Alice Qwertyuiop") is None
    assert store.list_samples(alice) == []
    for sid in alice_samples:
        with pytest.raises(StorageError):
            store.sample_crop(sid)
    for table, col in (("samples", "person_id"), ("attendance", "person_id"), ("events", "person_id")):
        assert store.db.execute(f"SELECT count(*) FROM {table} WHERE {col} = ?", [alice]).fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM templates").fetchone()[0] == 1  # Bob's only
    assert store.attendance(date(2024, 1, 1), date(2024, 12, 31), person_id=alice) == []
    by_id = {e.id: e for e in store.query_events()}
    for eid in alice_events:
        ev = by_id[eid]
        assert ev.person_id is None and ev.name is None and ev.person_ref == report.person_ref
        assert not ev.has_snapshot and store.event_snapshot(eid) is None
    assert by_id[bob_event].name == "Bob Keeper" and store.event_snapshot(bob_event) is not None
    assert store.count_events() == 4
    log = store.audit_log()
    assert log[0].action == "erase_person" and log[0].actor == "dpo"
    assert log[0].details["person_ref"] == report.person_ref
    assert all("Qwertyuiop" not in str(row.details) for row in log)
    assert any(row.details.get("name") == "Bob Keeper" for row in log)
    # Bob is untouched
    assert [s.id for s in store.list_samples(bob)] == [bob_sample]
    assert store.templates(MODEL_A)[1].tolist() == [bob]
    assert len(store.attendance(date(2024, 1, 1), date(2024, 12, 31))) == 1

    raw = db_path.read_bytes()
    wal = db_path.with_name(db_path.name + "-wal")
    raw_wal = wal.read_bytes() if wal.exists() else b""
    for secret in secrets_of_alice:
        assert secret not in raw and secret not in raw_wal
    assert bob_crop[2000:2064] in raw
    with pytest.raises(StorageError, match="no person"):
        store.erase_person(alice)


# ------------------------------------------ audit, models, calibration, strangers, settings


def test_audit_log(store: Store) -> None:
    for i in range(5):
        store.audit(f"user{i}", "set_threshold", {"value": np.float64(0.3 + i / 100), "n": i})
    store.audit("root", "backup")
    log = store.audit_log(limit=3)
    assert [r.actor for r in log] == ["root", "user4", "user3"]
    assert log[0].details == {} and log[1].details == {"value": 0.3 + 4 / 100, "n": 4}
    assert log[0].ts >= log[2].ts and log[0].ts.tzinfo is not None
    assert len(store.audit_log()) == 6
    with pytest.raises(ValueError):
        store.audit("", "x")


def test_model_registry_active_previous_rollback(store: Store) -> None:
    created = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    a = ModelRecord(
        name="sface",
        sha256=MODEL_A,
        path="/m/a.onnx",
        input_size=112,
        embedding_dim=128,
        threshold=0.36,
        target_fpir=0.01,
        gallery_size=50,
        created_at=created,
        parent_sha256=None,
        metrics_json='{"tar": 0.98}',
    )
    b = ModelRecord(
        name="sface-ft",
        sha256=MODEL_B,
        path="/m/b.onnx",
        embedding_dim=128,
        created_at=created + timedelta(days=1),
        parent_sha256=MODEL_A,
    )
    c_sha = "c" * 64
    c = ModelRecord(name="sface-ft2", sha256=c_sha, path="/m/c.onnx", created_at=created + timedelta(days=2))
    assert store.list_models() == [] and store.active_model() is None and store.previous_model() is None
    for rec in (b, a, c):
        store.register_model(rec)
    assert store.list_models() == [a, b, c]
    assert store.get_model(MODEL_A) == a and store.get_model("f" * 64) is None

    store.set_active_model(MODEL_A)
    assert store.active_model() == a and store.previous_model() is None
    store.set_active_model(MODEL_B)
    assert store.active_model() == b and store.previous_model() == a
    store.set_active_model(MODEL_B)  # no-op
    assert store.previous_model() == a
    store.set_active_model(c_sha)
    assert store.active_model() == c and store.previous_model() == b
    prev = store.previous_model()
    assert prev is not None
    store.set_active_model(prev.sha256)  # rollback
    assert store.active_model() == b and store.previous_model() == c

    recalibrated = ModelRecord(**{**b.__dict__, "threshold": 0.41, "gallery_size": 80})
    store.register_model(recalibrated)  # upsert keeps the active model
    assert store.get_model(MODEL_B) == recalibrated and store.active_model() == recalibrated
    assert len(store.list_models()) == 3
    with pytest.raises(StorageError, match="not registered"):
        store.set_active_model("d" * 64)
    with pytest.raises(ValueError, match="metrics_json"):
        store.register_model(ModelRecord(name="x", sha256="e" * 64, path="p", metrics_json="{nope"))
    with pytest.raises(ValueError, match="embedding_dim"):
        store.register_model(ModelRecord(name="x", sha256="e" * 64, path="p", embedding_dim=0))
    with Store(store.path) as again:  # persisted
        assert again.active_model() == recalibrated and again.previous_model() == c


def test_registered_dim_is_enforced(store: Store) -> None:
    store.register_model(ModelRecord(name="m", sha256=MODEL_B, path="p", embedding_dim=512))
    pid = store.add_person("Dim")
    with pytest.raises(ValueError, match="512"):
        store.add_sample(pid, noise_crop(0), {}, "x", unit(0, dim=128), MODEL_B)
    store.add_sample(pid, noise_crop(0), {}, "x", unit(0, dim=512), MODEL_B)
    with pytest.raises(ValueError, match="512"):
        store.add_strangers(np.zeros((3, 128), np.float32), MODEL_B, "lfw")


def test_calibration_history(store: Store) -> None:
    def cal(threshold: float, model: str) -> Calibration:
        return Calibration(
            threshold=threshold,
            target_fpir=0.01,
            gallery_persons=10,
            gallery_templates=30,
            model_sha256=model,
            est_fpir=0.009,
            est_fnir=0.05,
            n_genuine=300,
            n_impostor=4000,
            method="person-max",
            notes=("few strangers", "ok"),
        )

    assert store.latest_calibration(MODEL_A) is None
    store.save_calibration(cal(0.30, MODEL_A))
    store.save_calibration(cal(0.35, MODEL_A))
    store.save_calibration(cal(0.50, MODEL_B))
    assert store.latest_calibration(MODEL_A) == cal(0.35, MODEL_A)
    assert store.latest_calibration(MODEL_B) == cal(0.50, MODEL_B)
    assert store.db.execute("SELECT count(*) FROM calibrations").fetchone()[0] == 3
    with pytest.raises(ValueError):
        store.save_calibration(cal(float("inf"), MODEL_A))


def test_stranger_pool(store: Store) -> None:
    assert store.strangers(MODEL_A).shape == (0, 0)
    first = np.stack([unit(i) for i in range(10)])
    second = unit(99)
    assert store.add_strangers(first, MODEL_A, "lfw singles") == 10
    assert store.add_strangers(second, MODEL_A, "camera") == 1  # one (D,) vector
    assert store.add_strangers(np.zeros((0, 128), np.float32), MODEL_A, "none") == 0
    got = store.strangers(MODEL_A)
    assert got.dtype == np.float32 and np.array_equal(got, np.vstack([first, second[None]]))
    assert store.strangers(MODEL_B).shape == (0, 0)
    with pytest.raises(ValueError):
        store.add_strangers(np.zeros((2, 64), np.float32), MODEL_A, "wrong dim")
    with pytest.raises(ValueError):
        store.add_strangers(np.full((2, 128), np.inf, np.float32), MODEL_A, "bad")


def test_settings(store: Store) -> None:
    values: dict[str, object] = {
        "camera": {"index": 0, "width": 1280, "names": ["front", "back"]},
        "threshold": np.float32(0.375),
        "enabled": True,
        "nothing": None,
        "title": "Entrée",
    }
    for key, value in values.items():
        store.set_setting(key, value)
    assert store.get_setting("camera") == values["camera"]
    assert store.get_setting("threshold") == pytest.approx(0.375)
    assert store.get_setting("enabled") is True and store.get_setting("title") == "Entrée"
    assert store.get_setting("nothing", default="d") is None  # stored None is not missing
    assert store.get_setting("missing", default=42) == 42
    store.set_setting("enabled", False)
    assert store.get_setting("enabled") is False
    with pytest.raises(ValueError, match="JSON"):
        store.set_setting("bad", object())


def test_store_is_usable_from_several_threads(store: Store) -> None:
    pid = store.add_person("Thread")
    errors: list[BaseException] = []

    def work(camera: str) -> None:
        try:
            for i in range(40):
                store.log_event(person_id=pid, score=0.9, decision="granted", camera=camera, model_sha256=MODEL_A)
                if i % 10 == 0:
                    store.query_events(limit=5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"cam{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count_events() == 120
