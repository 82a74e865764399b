"""Subject access (issue 12): everything held about one person, as a zip, from real data (enrolled
from photos, the clip run through the door loop), opened and checked; written 0600 and atomically;
audited; refused by the CLI without an admin's credentials once accounts exist."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop_app.cli import main
from desktop_app.core.errors import StorageError
from desktop_app.core.live.session import run_headless
from desktop_app.core.service import FaceGate

LIN = "Lin-Manuel Miranda"
ALEX = "Alex Lacamoire"
PASSWORD = "Correct-Horse-42-battery"
pytestmark = pytest.mark.slow  # the clip runs through the door loop once per module (about 10 s of CPU)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """Two people enrolled from their photos, the clip run through the door loop, and one
    ambiguous event naming Lin as a candidate (built once)."""
    d = tmp_path_factory.mktemp("subject")
    with FaceGate(d / "facegate.db", device="cpu") as gate:
        assert gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"]).added
        assert gate.enrol_images(ALEX, [clips / "alex-lacamoire.png"]).added
        summary = run_headless(gate, str(clips / "short_hamilton_clip.mp4"), max_frames=60)
        assert any(e.name == LIN for e in summary.events), summary.events
        lin, alex = gate.find_person(LIN), gate.find_person(ALEX)
        assert lin is not None and alex is not None
        gate.record_event(person_id=None, score=0.5, decision="ambiguous", camera="door-1",
                          ts=summary.events[0].ts, candidates=[lin.id, alex.id])
    return d


@pytest.fixture()
def gate(site: Path, tmp_path: Path) -> Iterator[FaceGate]:
    dst = tmp_path / "site"
    shutil.copytree(site, dst)
    g = FaceGate(dst / "facegate.db", device="cpu")
    yield g
    g.close()


def test_the_export_holds_everything_about_the_person(gate: FaceGate, tmp_path: Path) -> None:
    lin = gate.find_person(LIN)
    assert lin is not None
    out = tmp_path / "lin.zip"
    rep = gate.export_person(lin.id, out, actor="tester")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".lin.zip.tmp-*"))
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        assert {"README.txt", "person.json", "samples.json", "templates.json", "events.csv", "attendance.csv",
                "audit.csv"} <= names
        person = json.loads(z.read("person.json"))
        assert person["name"] == LIN and person["id"] == lin.id and person["access"]["groups"] == []
        [sample] = gate.list_samples(lin.id)
        png = z.read(f"samples/sample-{sample.id}.png")
        assert png.startswith(b"\x89PNG")
        crop = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        assert np.array_equal(crop, gate.sample_crop(sample.id))  # decrypted, the very crop stored
        templates = json.loads(z.read("templates.json"))
        assert len(templates) == 1 and templates[0]["dim"] == 128 and templates[0]["vector_file"] is None
        assert not any(n.startswith("templates/") for n in names)  # no vectors unless asked for
        events = list(csv.DictReader(io.StringIO(z.read("events.csv").decode())))
        own = gate.query_events()
        mine = [e for e in own if e.person_id == lin.id]
        assert sum(r["role"] == "subject" for r in events) == len(mine) >= 1
        assert [r["decision"] for r in events if r["role"] == "candidate"] == ["ambiguous"]
        snaps = [r["snapshot"] for r in events if r["snapshot"]]
        assert snaps and all(z.read(s).startswith(b"\xff\xd8") for s in snaps)  # JPEG, decrypted
        assert len(snaps) == rep.snapshots
        attendance = list(csv.DictReader(io.StringIO(z.read("attendance.csv").decode())))
        assert len(attendance) == rep.attendance_days == 1
        audit = z.read("audit.csv").decode()
        assert "enrol" in audit and ALEX not in z.read("events.csv").decode()  # nobody else's name
    row = gate.query_audit()[0]
    assert row.action == "person.export" and row.actor == "tester" and row.details["person_id"] == lin.id
    assert row.details["snapshots"] == rep.snapshots


def test_vectors_only_on_request_and_a_failed_export_leaves_nothing(gate: FaceGate, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    alex = gate.find_person(ALEX)
    assert alex is not None
    out = tmp_path / "alex.zip"
    gate.export_person(alex.id, out, include_vectors=True)
    with zipfile.ZipFile(out) as z:
        [vec_name] = [n for n in z.namelist() if n.startswith("templates/")]
        vec = np.array(json.loads(z.read(vec_name))["vector"], np.float32)
    _ids, persons, vecs = gate.store.templates(gate.model.sha256, active_only=False)
    stored = vecs[list(persons).index(alex.id)]
    assert float(vec @ stored / np.linalg.norm(vec) / np.linalg.norm(stored)) > 0.9999

    def boom(_eid: int) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gate.store, "event_snapshot_jpeg", boom)
    lin = gate.find_person(LIN)
    assert lin is not None
    bad = tmp_path / "lin.zip"
    with pytest.raises(OSError):
        gate.export_person(lin.id, bad)
    assert not bad.exists() and sorted(os.listdir(tmp_path)) == ["alex.zip", "site"]  # no partial file, no temporary
    monkeypatch.undo()

    def refuse(*_a: object, **_k: object) -> None:
        raise StorageError("database is read-only")

    monkeypatch.setattr(gate.store, "audit", refuse)  # no audit row: no export
    with pytest.raises(StorageError):
        gate.export_person(lin.id, bad)
    assert sorted(os.listdir(tmp_path)) == ["alex.zip", "site"]


def test_cli_export_needs_an_admin_once_accounts_exist(gate: FaceGate, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    db = str(gate.db_path)
    gate.close()
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["account", "add", "--db", db, "--name", "admin", "--role", "admin", "--password-stdin"]) == 0
    out = tmp_path / "x.zip"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["export-person", "--db", db, "--person", LIN, "--out", str(out), "--password-stdin"]) == 4
    assert main(["purge", "--db", db, "--password-stdin"]) == 4
    assert not out.exists()
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["export-person", "--db", db, "--person", LIN, "--out", str(out), "--password-stdin"]) == 0
    assert zipfile.ZipFile(out).testzip() is None
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["privacy", "--db", db, "--events-days", "30", "--door-display", "initials",
                 "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["purge", "--db", db, "--dry-run", "--password-stdin"]) == 0
    assert "would delete 0 event(s)" in capsys.readouterr().out
    with FaceGate(Path(db), device="cpu") as again:
        assert again.config.retention.events_days == 30 and again.config.door_screen.display == "initials"
        assert again.query_audit()[0].actor == "admin"
