"""The face behind each door event (issue 14, foundation of the unknown-faces library).

- an older database (before ``migration_10``) is migrated with its events kept, and
  takes faces; deleting an event deletes its face (the retention purge's cascade);
- a face that waits in the event spool is encrypted there and stored with its event;
- a real run of the Hamilton clip stores the face of each decision event, encrypted (no PNG
  signature in the file), and erasing the person removes the faces of their events.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlite_utils import Database

from desktop_app.core.live.session import run_headless
from desktop_app.core.service import FaceGate
from desktop_app.core.storage import schema
from desktop_app.core.storage.event_faces import pack_face, unpack_face
from desktop_app.core.storage.event_spool import PendingEvent
from desktop_app.core.storage.store import Store

MODEL = "b" * 64
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _face(seed: int, dim: int = 128) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vec = rng.standard_normal(dim).astype(np.float32)
    return vec / np.linalg.norm(vec), rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)


def test_an_older_database_is_migrated_and_its_events_take_faces_that_go_with_them(tmp_path: Path) -> None:
    path = tmp_path / "before.db"
    conn = sqlite3.connect(path, isolation_level=None)
    before = schema.MIGRATIONS.index(schema.migration_10)
    schema.migrate(Database(conn), schema.MIGRATIONS[:before])
    now = "2026-11-30T07:58:00.000000+00:00"
    conn.execute("INSERT INTO events (ts, person_id, person_ref, score, decision, camera, model_sha256, uid)"
                 " VALUES (?, NULL, NULL, 0.2, 'unknown', 'front/in', ?, 'u-old')", (now, MODEL))
    conn.close()
    with Store(path, local_tz=UTC) as store:
        assert schema.user_version(store.db) == schema.SCHEMA_VERSION  # every later migration applied too
        (old,) = store.query_events()
        assert old.decision == "unknown" and store.event_face(old.id) is None
        vec, crop = _face(1)
        eid = store.log_event(person_id=None, score=0.1, decision="unknown", camera="front/in", model_sha256=MODEL,
                              face=pack_face(vec, crop, {"yaw": 3.5}))
        got = store.event_face(eid)
        assert got is not None and got.model_sha256 == MODEL and got.decision == "unknown"
        assert np.array_equal(got.vector, vec) and np.array_equal(got.crop, crop) and got.quality == {"yaw": 3.5}
        assert [f.event_id for f in store.iter_unknown_faces(MODEL)] == [eid]
        assert list(store.iter_unknown_faces("c" * 64)) == []
        with store.transaction():  # what the retention purge does: the face goes with its event
            store.db.execute("DELETE FROM events WHERE id = ?", (eid,))
        assert store.event_face(eid) is None and store.count_event_faces() == 0


def test_a_spooled_face_is_encrypted_in_the_spool_and_stored_with_its_event(tmp_path: Path) -> None:
    with Store(tmp_path / "spool.db") as store:
        assert store.encrypted, "the session's machine key folder lets the store encrypt"
        vec, crop = _face(2)
        packed = pack_face(vec, crop, {"sharpness": 40.0})
        sealed = store.seal_spooled_face("u-1", packed)
        assert PNG_SIGNATURE not in sealed and sealed != packed
        line = PendingEvent(uid="u-1", ts=datetime.now(UTC), person_id=None, score=0.1, decision="unknown",
                            camera="c", model_sha256=MODEL, face=sealed).to_line()
        ev = PendingEvent.from_line(line)
        assert ev.face == sealed and "iVBORw0KGgo" not in line  # no base64 PNG in the spool file
        eid = store.log_event(person_id=None, score=ev.score, decision=ev.decision, camera=ev.camera,
                              model_sha256=ev.model_sha256, ts=ev.ts, uid=ev.uid, face=ev.face)
        got = store.event_face(eid)
        assert got is not None and np.array_equal(got.crop, crop) and np.array_equal(got.vector, vec)
        # a face sealed under another event's uid is refused (bound to its event), the event kept
        other = store.log_event(person_id=None, score=0.1, decision="unknown", camera="c", model_sha256=MODEL,
                                uid="u-2", face=sealed)
        assert store.event_face(other) is None and store.event_id_of("u-2") == other
    with pytest.raises(ValueError):
        unpack_face(b"FGF1junk")


@pytest.mark.slow
def test_a_real_run_keeps_each_events_face_encrypted_and_erasure_removes_them(tmp_path: Path, clips: Path) -> None:
    db = tmp_path / "door.db"
    with FaceGate(db, device="cpu") as gate:
        report = gate.enrol_images("Lin-Manuel Miranda", [clips / "lin-manuel-miranda.png"], check_quality=False)
        assert report.added
        summary = run_headless(gate, str(clips / "short_hamilton_clip.mp4"), max_frames=60)
        granted = [e for e in summary.events if e.decision == "granted"]
        assert granted and all(e.event_id is not None for e in granted)
        for e in granted:
            face = gate.store.event_face(e.event_id)  # type: ignore[arg-type]
            assert face is not None and face.crop.shape == (112, 112, 3) and face.crop.dtype == np.uint8
            assert face.vector.shape == (gate.engine.embedder.dim,) and abs(float(face.vector @ face.vector) - 1) < 1e-4
            assert face.model_sha256 == gate.model.sha256 and face.quality["inter_ocular_px"]
            # the face kept is his: it matches his enrolment photo
            assert gate.match(face.vector[None])[0].person_id == report.person_id  # type: ignore[union-attr]
        assert gate.store.encrypted
        raw = gate.store.db.execute("SELECT vector, crop_png FROM event_faces").fetchall()
        assert raw and all(PNG_SIGNATURE not in bytes(c) for _, c in raw)
        gate.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert PNG_SIGNATURE not in db.read_bytes()  # crops and snapshots alike are encrypted on disk
        erased = gate.erase_person(report.person_id)
        assert erased.event_faces_deleted == len(granted)
        assert all(gate.store.event_face(e.event_id) is None for e in granted)  # type: ignore[arg-type]
        assert gate.store.count_event_faces("granted") == 0


def test_the_door_spools_an_events_face_encrypted_while_the_database_is_locked(tmp_path: Path) -> None:
    from desktop_app.core.types import Detection, Face, FaceQuality

    db = tmp_path / "door.db"
    with FaceGate(db, device="cpu") as gate:
        vec, crop = _face(5, gate.engine.embedder.dim)
        face = Face(Detection((10.0, 10.0, 80.0, 80.0), np.zeros((5, 2), np.float32), 0.9), crop, vec,
                    FaceQuality(40.0, 120.0, 110.0, 3.0, 1.0, 0.5))
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock: the event must wait
        try:
            rec = gate.record_event(person_id=None, score=0.2, decision="unknown", camera="lobby",
                                    ts=datetime.now(UTC), snapshot=crop, face=face)
            assert rec is not None and rec.event_id is None and gate.pending_events == 1
            spool = db.with_name(db.name + ".spool").read_text()
            (line,) = spool.splitlines()
            sealed = PendingEvent.from_line(line).face
            assert sealed is not None and PNG_SIGNATURE not in sealed and vec.tobytes() not in sealed
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert gate.flush_events() == 1
        eid = gate.store.event_id_of(rec.uid)
        got = gate.event_face(eid)  # type: ignore[arg-type]
        assert got is not None and np.array_equal(got.crop, crop) and np.allclose(got.vector, vec)
        assert got.quality["inter_ocular_px"] == 40.0 and got.decision == "unknown"


def test_retention_deletes_event_faces_with_the_snapshots_and_the_events(tmp_path: Path) -> None:
    from datetime import timedelta

    from desktop_app.core.storage.event_spool import EventSpool

    old, new = datetime.now(UTC) - timedelta(days=40), datetime.now(UTC) - timedelta(days=1)
    with Store(tmp_path / "r.db") as store:
        ids = []
        for i, ts in enumerate((old - timedelta(days=400), old, new)):
            vec, crop = _face(10 + i)
            ids.append(store.log_event(person_id=None, score=0.1, decision="unknown", camera="c", model_sha256=MODEL,
                                       ts=ts, face=pack_face(vec, crop, {}), snapshot=crop))
        assert store.count_expired(old - timedelta(days=300), old + timedelta(days=1)) == (1, 1)
        while store.purge_expired_batch(old - timedelta(days=300), old + timedelta(days=1), 1)[0:3:2] != (0, 0):
            pass
        assert store.event_face(ids[0]) is None  # deleted with its event (cascade)
        assert store.event_face(ids[1]) is None and store.event_snapshot(ids[1]) is None  # cleared, event kept
        assert store.count_events() == 2 and store.event_face(ids[2]) is not None
    spool = EventSpool(tmp_path / "r.db.spool")
    spool.add(PendingEvent(uid="s", ts=old, person_id=None, score=0.1, decision="unknown", camera="c",
                           model_sha256=MODEL, face=b"sealed face"))
    assert spool.drop_expired(None, old + timedelta(days=1)) == (0, 1)
    assert spool.events()[0].face is None and "face\":null" in (tmp_path / "r.db.spool").read_text()
