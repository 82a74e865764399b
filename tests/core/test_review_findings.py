"""Review of the session's features: erasing a person leaves nothing of theirs in the event spool
(events waiting for the database with their snapshot and face) nor in event_faces / corrections.
Real enrolment (ONNX models, a real photo), real SQLite file, real spool file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop_app.core.service import FaceGate
from desktop_app.core.storage.event_spool import PendingEvent

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
LIN = "Lin-Manuel Miranda"


@pytest.fixture()
def gate(lin_gate: FaceGate) -> FaceGate:
    """A private copy of a database with Lin enrolled (``lin_gate``, tests/conftest.py)."""
    return lin_gate


def test_erasing_a_person_drops_their_events_waiting_in_the_spool(gate: FaceGate, clips: Path) -> None:
    image = cv2.imread(str(clips / "lin-manuel-miranda.png"))
    assert image is not None
    jpeg = cv2.imencode(".jpg", np.ascontiguousarray(image[:160, :160]))[1].tobytes()
    pid = gate.find_person(LIN).id  # type: ignore[union-attr]
    spool = gate._event_spool()
    mine = [PendingEvent(uid=PendingEvent.new_uid(), ts=NOW - timedelta(minutes=m), person_id=pid, score=0.8,
                         decision="granted", camera="door-1", model_sha256=gate.model.sha256, snapshot_jpg=jpeg)
            for m in (3, 2)]
    other = PendingEvent(uid=PendingEvent.new_uid(), ts=NOW, person_id=None, score=0.1, decision="unknown",
                         camera="door-1", model_sha256=gate.model.sha256)
    for ev in (*mine, other):
        spool.add(ev)
    assert all(ev.uid in spool.path.read_text() for ev in mine)
    gate.erase_person(pid, actor="tester")
    text = spool.path.read_text()
    assert not any(ev.uid in text for ev in mine) and other.uid in text  # no waiting event of theirs on disk
    assert [e.uid for e in spool.events()] == [other.uid]


def test_settings_audit_keeps_no_password_nor_alert_key(tmp_path: Path) -> None:
    """The settings.update audit row (viewed, exported as CSV) held the site alert output's
    user:password, its HMAC key and the camera's rtsp password in clear."""
    from desktop_app.core.config import AlertSettings, CameraSettings

    with FaceGate(tmp_path / "facegate.db", device="cpu") as gate:
        cfg = gate.config.model_copy(update={
            "alerts": AlertSettings(output="webhook:https://ops:hunter2pass@alerts.example/hook",
                                    secret="alert-hmac-key-0123456789"),
            "camera": CameraSettings(source="rtsp://cam:camPass99@10.0.0.5/stream")})
        gate.update_config(cfg, actor="tester")
        row = next(r for r in gate.query_audit() if r.action == "settings.update")
        text = repr(row.details)
        assert "hunter2pass" not in text and "alert-hmac-key" not in text and "camPass99" not in text
        assert "ops:***@alerts.example" in text and "cam:***@10.0.0.5" in text
        assert gate.config.alerts.output.endswith("ops:hunter2pass@alerts.example/hook")  # the setting itself is kept


def test_door_audit_keeps_no_camera_password(tmp_path: Path) -> None:
    from desktop_app.core.access.model import CameraSpec, DoorSpec

    with FaceGate(tmp_path / "facegate.db", device="cpu") as gate:
        gate.save_door(DoorSpec("front", cameras=(CameraSpec("rtsp://cam:camPass99@10.0.0.5/s"),)), actor="tester")
        row = next(r for r in gate.query_audit() if r.action == "door.save")
        assert "camPass99" not in repr(row.details) and "cam:***@10.0.0.5" in repr(row.details)


def test_a_person_erased_during_their_export_leaves_no_file_and_no_named_audit_row(gate: FaceGate,
                                                                                    tmp_path: Path) -> None:
    """The export is written outside the facade's lock (the door keeps writing); an erasure that
    came meanwhile was followed by the export's audit row naming the erased person, and the file."""
    from desktop_app.core.errors import InputError

    pid = gate.find_person(LIN).id  # type: ignore[union-attr]
    write = gate._write_subject

    def write_then_erased(*args: object, **kwargs: object) -> dict[str, int]:
        out = write(*args, **kwargs)  # type: ignore[arg-type]
        gate.erase_person(pid, actor="other-admin")  # the erasure wins the race
        return out

    gate._write_subject = write_then_erased  # type: ignore[method-assign]
    out = tmp_path / "export.zip"
    with pytest.raises(InputError, match="erased"):
        gate.export_person(pid, out, actor="tester")
    assert not out.exists() and not list(tmp_path.glob(".export.zip*"))
    assert not any(LIN in repr(r.details) for r in gate.query_audit())


def test_clustering_many_unknown_faces_lets_the_door_write_between_batches(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of waiting unknown faces were clustered in one pass under the facade's lock (the
    door's record_event waits on it): O(N^2 (K + N)), minutes for 5,000 faces here. Now in batches,
    computed outside the lock; faces of one visitor in different batches still join one cluster."""
    from desktop_app.core.storage.event_faces import pack_face
    from desktop_app.core.unknowns import facade as unknowns_facade

    monkeypatch.setattr(unknowns_facade, "CLUSTER_BATCH", 4)
    held: list[bool] = []
    real = unknowns_facade.assign_clusters

    with FaceGate(tmp_path / "facegate.db", device="cpu") as gate:
        def watched(*args: object) -> list[int]:
            held.append(gate._lock._is_owned())  # type: ignore[attr-defined]
            return real(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(unknowns_facade, "assign_clusters", watched)
        rng = np.random.default_rng(7)
        dim = gate.engine.embedder.dim
        centres = rng.standard_normal((2, dim)).astype(np.float32)
        crop = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
        for i in range(10):
            v = centres[i % 2] + 0.05 * rng.standard_normal(dim).astype(np.float32)
            gate.store.log_event(person_id=None, score=0.1, decision="unknown", camera="door-1",
                                 model_sha256=gate.model.sha256, ts=NOW + timedelta(seconds=i),
                                 face=pack_face(v / np.linalg.norm(v), crop, {}))
        assert gate.cluster_unknown_faces() == 10
        assert held == [False, False, False]  # three batches, none computed under the facade's lock
        assert sorted(c.count for c in gate.unknown_clusters()) == [5, 5]


def test_erasing_a_person_deletes_the_face_of_ambiguous_events_naming_them(gate: FaceGate) -> None:
    """An ambiguous event names its candidates, the erased person among them: its face (crop and
    embedding, likely theirs) stayed in event_faces after the erasure."""
    from desktop_app.core.storage.event_faces import pack_face

    pid = gate.find_person(LIN).id  # type: ignore[union-attr]
    rng = np.random.default_rng(3)
    v = rng.standard_normal(gate.engine.embedder.dim).astype(np.float32)
    crop = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    ids = [gate.store.log_event(person_id=None, score=0.6, decision=d, camera="door-1", model_sha256=gate.model.sha256,
                                ts=NOW, candidates=c, face=pack_face(v / np.linalg.norm(v), crop, {}))
           for d, c in (("ambiguous", [pid, pid + 100]), ("ambiguous", [pid + 100, pid + 200]), ("unknown", []))]
    rep = gate.erase_person(pid, actor="tester")
    assert gate.store.event_face(ids[0]) is None and rep.event_faces_deleted >= 1
    assert gate.store.event_face(ids[1]) is not None and gate.store.event_face(ids[2]) is not None  # others kept


def test_the_subject_export_holds_the_events_corrected_as_the_person(gate: FaceGate, tmp_path: Path) -> None:
    """An unknown event corrected "this was <person>" holds their face (erased with them): the
    subject export left it out."""
    import zipfile

    from desktop_app.core.storage.event_faces import pack_face

    pid = gate.find_person(LIN).id  # type: ignore[union-attr]
    rng = np.random.default_rng(5)
    v = rng.standard_normal(gate.engine.embedder.dim).astype(np.float32)
    crop = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    eid = gate.store.log_event(person_id=None, score=0.3, decision="unknown", camera="door-1",
                               model_sha256=gate.model.sha256, ts=NOW, face=pack_face(v / np.linalg.norm(v), crop, {}))
    gate.store.add_correction(eid, "was_person", "tester", person_id=pid)
    out = tmp_path / "lin.zip"
    gate.export_person(pid, out, actor="tester")
    with zipfile.ZipFile(out) as z:
        assert f"faces/event-{eid}.png" in z.namelist()
        assert f"{eid}," in z.read("events.csv").decode() and "corrected" in z.read("events.csv").decode()


def test_a_cluster_deleted_between_two_batches_leaves_the_rest_for_the_next_listing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop_app.core.storage.event_faces import pack_face
    from desktop_app.core.unknowns import facade as unknowns_facade

    monkeypatch.setattr(unknowns_facade, "CLUSTER_BATCH", 2)
    real = unknowns_facade.assign_clusters
    with FaceGate(tmp_path / "facegate.db", device="cpu") as gate:
        rng = np.random.default_rng(11)
        dim = gate.engine.embedder.dim
        centre = rng.standard_normal(dim).astype(np.float32)
        crop = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
        for i in range(4):  # one visitor
            v = centre + 0.05 * rng.standard_normal(dim).astype(np.float32)
            gate.store.log_event(person_id=None, score=0.1, decision="unknown", camera="door-1",
                                 model_sha256=gate.model.sha256, ts=NOW + timedelta(seconds=i),
                                 face=pack_face(v / np.linalg.norm(v), crop, {}))
        calls: list[int] = []

        def deleting(*args: object) -> list[int]:
            calls.append(1)
            if len(calls) == 2:  # another window deletes the first batch's cluster meanwhile
                gate.delete_unknown_cluster(gate.store.list_unknown_clusters(include_ignored=True)[0].id, "tester")
            return real(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(unknowns_facade, "assign_clusters", deleting)
        assert gate.cluster_unknown_faces() == 2  # no StorageError raised to the page / the CLI
        monkeypatch.setattr(unknowns_facade, "assign_clusters", real)
        assert [c.count for c in gate.unknown_clusters()] == [2]  # the rest, clustered at the next listing
