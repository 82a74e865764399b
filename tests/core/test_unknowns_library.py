"""The unknown-faces library (issue 14): clustering, the facade's actions, the CLI, and the
"What must be shown" on the real clip.

Shown on real data: with only another person enrolled (Obama), Lin-Manuel Miranda passes the door
twice, in two different parts of the Hamilton clip ("two days": frames 0-20 and 88-110); his
unknown faces form ONE cluster; ``facegate assign`` enrols it; in a third part of the clip
(frames 120-150) he is granted.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop_app.cli import main as cli_main
from desktop_app.core.errors import InputError
from desktop_app.core.live.session import run_headless
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.event_faces import pack_face
from desktop_app.core.unknowns.cluster import assign_clusters

LIN = "Lin-Manuel Miranda"


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _people(n_people: int, per: int, seed: int, noise: float = 0.9, dim: int = 128) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((n_people, dim)))
    labels = np.repeat(np.arange(n_people), per)
    return _unit(centres[labels] + noise * rng.standard_normal((len(labels), dim)) / np.sqrt(dim)), labels


# ------------------------------------------------------------------------------------ clustering
def test_average_linkage_groups_each_visitor_once_and_new_faces_join_the_existing_ids() -> None:
    rng = np.random.default_rng(3)
    centres = _unit(rng.standard_normal((3, 128)))

    def faces(who: list[int]) -> np.ndarray:
        return _unit(centres[who] + 0.9 * rng.standard_normal((len(who), 128)) / np.sqrt(128))

    day1 = faces([0, 0, 1, 0, 1, 1])
    out = assign_clusters(np.zeros((0, 128), np.float32), np.zeros(0, np.int64), day1, threshold=0.4)
    assert out[0] == out[1] == out[3] and out[2] == out[4] == out[5] and out[0] != out[2] and min(out) < 0
    known, labels = day1, np.array([7 if x == out[0] else 9 for x in out], np.int64)  # as saved: ids 7 and 9
    day2 = faces([1, 2, 0, 2])
    out2 = assign_clusters(known, labels, day2, threshold=0.4)
    assert out2[0] == 9 and out2[2] == 7, "a returning visitor joins their cluster, its id kept"
    assert out2[1] == out2[3] < 0, "a new visitor seen twice is one new cluster"
    # two existing clusters are never merged, even at a threshold that would join everything
    assert set(assign_clusters(known, labels, day2[:1], threshold=-1.0)) <= {7, 9}
    # nothing reaches a threshold of 1: every new face alone
    assert sorted(assign_clusters(known, labels, day2, threshold=1.01)) == [-4, -3, -2, -1]
    assert assign_clusters(known, labels, np.zeros((0, 128), np.float32), 0.4) == []


# ------------------------------------------------------------------------------------ facade actions
@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> FaceGate:
    g = FaceGate(tmp_path_factory.mktemp("unknowns") / "facegate.db", device="cpu")
    yield g  # type: ignore[misc]
    g.close()


def _log_unknown(gate: FaceGate, vec: np.ndarray, seed: int) -> int:
    crop = np.random.default_rng(seed).integers(0, 255, (112, 112, 3), dtype=np.uint8)
    return gate.store.log_event(person_id=None, score=0.1, decision="unknown", camera="test",
                                model_sha256=gate.model.sha256,
                                face=pack_face(vec, crop, {"inter_ocular_px": 40.0, "sharpness": 90.0, "yaw": 2.0}))


def test_ignore_and_delete_are_audited_and_deleting_removes_the_faces(gate: FaceGate) -> None:
    vecs, _ = _people(2, 3, seed=11)
    events = [_log_unknown(gate, v, i) for i, v in enumerate(vecs)]
    clusters = gate.unknown_clusters()
    mine = [c for c in clusters if set(c.sample_event_ids) & set(events)]
    assert sorted(c.count for c in mine) == [3, 3] and len(mine) == 2
    a, b = sorted(mine, key=lambda c: c.id)
    assert all(c.first_seen <= c.last_seen for c in mine)
    gate.ignore_unknown_cluster(a.id, actor="tester")
    assert a.id not in [c.id for c in gate.unknown_clusters()]
    assert a.id in [c.id for c in gate.unknown_clusters(include_ignored=True)]
    # the ignored visitor comes back: the new face joins the ignored cluster and stays out of the list
    again = _log_unknown(gate, vecs[events.index(a.sample_event_ids[0])], 99)
    assert a.id not in [c.id for c in gate.unknown_clusters()]
    face = gate.event_face(again)
    assert face is not None and face.cluster_id == a.id
    n = gate.delete_unknown_cluster(b.id, actor="tester")
    assert n == 3 and [gate.event_face(e) is None for e in events].count(True) == 3
    assert b.id not in [c.id for c in gate.unknown_clusters(include_ignored=True)]
    assert gate.count_events() >= len(events), "the events stay, without their face"
    actions = [(r.actor, r.action, r.details.get("cluster_id")) for r in gate.query_audit()]
    assert ("tester", "unknowns.ignore", a.id) in actions and ("tester", "unknowns.delete", b.id) in actions
    with pytest.raises(InputError, match="no unknown-face cluster"):
        gate.delete_unknown_cluster(b.id)
    with pytest.raises(InputError, match="no unknown-face cluster"):
        gate.assign_unknown_cluster(10**9, "Nobody")


# ------------------------------------------------------------------------------------ what must be shown
@pytest.fixture(scope="module")
def three_days(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> dict[str, Path]:
    """Three parts of the clip (MJPG, 29.97 fps): Lin close to the camera in each."""
    cap = cv2.VideoCapture(str(clips / "short_hamilton_clip.mp4"))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    folder = tmp_path_factory.mktemp("days")
    out: dict[str, Path] = {}
    for name, (a, b) in {"day1": (0, 20), "day2": (88, 110), "day3": (120, 150)}.items():
        path = folder / f"{name}.avi"
        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 29.97, (w, h))
        for image in frames[a:b]:
            writer.write(image)
        writer.release()
        out[name] = path
    return out


@pytest.mark.slow
def test_a_returning_unknown_visitor_is_one_cluster_and_is_recognised_once_assigned(
        tmp_path: Path, clips: Path, three_days: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "door.db"
    with FaceGate(db, device="cpu") as g:
        assert g.enrol_images("Barack Obama", [clips / "knn_examples" / "train" / "obama"]).added  # another person
        for day in ("day1", "day2"):
            summary = run_headless(g, str(three_days[day]))
            assert [e.decision for e in summary.events] == ["unknown"], day
    assert cli_main(["unknowns", "--db", str(db), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 1, f"Lin's two visits are one cluster: {rows}"
    (row,) = rows
    assert row["count"] == 2 and row["first_seen"] < row["last_seen"]
    assert {"id", "count", "first_seen", "last_seen"} <= row.keys()
    assert cli_main(["assign", "--db", str(db), "--cluster", str(row["id"]), "--name", LIN]) == 0
    assert "Enrolled 2 face(s)" in capsys.readouterr().out
    assert cli_main(["unknowns", "--db", str(db), "--json"]) == 0
    assert capsys.readouterr().out == "", "the assigned cluster is resolved"
    with FaceGate(db, device="cpu") as g:
        lin = g.find_person(LIN)
        assert lin is not None and lin.n_samples == 2
        summary = run_headless(g, str(three_days["day3"]))
        assert [(e.decision, e.name) for e in summary.events] == [("granted", LIN)]
        assert any(r.action == "unknowns.assign" and r.details.get("person_id") == lin.id for r in g.query_audit())
        # assigning again, or a name that is refused, is a clear message, not a traceback
    assert cli_main(["assign", "--db", str(db), "--cluster", str(row["id"]), "--name", LIN]) == 2
    assert "no unknown-face cluster" in capsys.readouterr().err


def test_assigning_goes_through_the_identity_check_new_then_existing_then_refused(gate: FaceGate) -> None:
    vecs, who = _people(2, 6, seed=21)
    a, b = vecs[who == 0], vecs[who == 1]
    first = [_log_unknown(gate, v, 200 + i) for i, v in enumerate(a[:3])]
    (ca,) = [c for c in gate.unknown_clusters() if set(c.sample_event_ids) & set(first)]
    rep = gate.assign_unknown_cluster(ca.id, "Visitor A", employee_id="V-A", actor="tester")
    assert len(rep.added) == 3 and not rep.rejected
    assert all(gate.event_face(e) is None for e in first), "the cluster is resolved: its faces left the library"
    # the same visitor again: a new cluster, added to the existing person (same name and employee ID)
    later = [_log_unknown(gate, v, 300 + i) for i, v in enumerate(a[3:])]
    (again,) = [c for c in gate.unknown_clusters() if set(c.sample_event_ids) & set(later)]
    rep2 = gate.assign_unknown_cluster(again.id, "Visitor A", employee_id="V-A", actor="tester")
    assert rep2.person_id == rep.person_id and len(rep2.added) == 3
    person = gate.find_person("Visitor A")
    assert person is not None and person.n_samples == 6
    # another visitor's cluster given to Visitor A: refused by the identity check, the cluster kept
    other = [_log_unknown(gate, v, 400 + i) for i, v in enumerate(b[:3])]
    (cb,) = [c for c in gate.unknown_clusters() if set(c.sample_event_ids) & set(other)]
    rep3 = gate.assign_unknown_cluster(cb.id, "Visitor A", employee_id="V-A", actor="tester")
    assert not rep3.added and rep3.rejected and all(r.identity for r in rep3.rejected)
    assert cb.id in [c.id for c in gate.unknown_clusters()]
    actions = [(r.action, r.details.get("cluster_id")) for r in gate.query_audit() if r.actor == "tester"]
    assert ("unknowns.assign", ca.id) in actions and ("unknowns.assign.refused", cb.id) in actions
