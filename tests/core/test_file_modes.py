"""FaceGate's data is this user's only (issue 12): files 0600 and folders 0700 from creation, a
warning with the fix when they are not, and ``facegate doctor --repair`` applying it. Real files,
real SQLite, the real gallery index and model writers; the umask of the process is left alone."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.doctor import Check, Severity, run_doctor
from desktop_app.core.embedding.model_files import folder_lock, write_atomic
from desktop_app.core.matching.gallery import build_gallery
from desktop_app.core.storage.event_spool import EventSpool, PendingEvent
from desktop_app.core.storage.store import Store

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def umask_now() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def reachable_by_others(folder: Path) -> list[str]:
    """Every path under ``folder`` (itself included) with a group or other permission bit."""
    paths = [folder, *folder.rglob("*")]
    return [f"{p} {mode(p):04o}" for p in paths if not p.is_symlink() and mode(p) & 0o077]


def test_the_store_creates_its_folders_and_files_private(tmp_path: Path) -> None:
    before = umask_now()
    db = tmp_path / "a" / "b" / "facegate.db"
    with Store(db) as store:
        store.add_person("Ada")
        store.audit("admin", "person.add", {"name": "Ada"})
        wal, shm = db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")
        assert wal.is_file() and shm.is_file()  # open: the write-ahead log and its index exist
        assert {p.name: mode(p) for p in (db, wal, shm)} == {db.name: 0o600, wal.name: 0o600, shm.name: 0o600}
        assert store.open_warnings == ()
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700
    assert reachable_by_others(tmp_path / "a") == []
    assert umask_now() == before  # no process-wide change
    other = tmp_path / "someone-elses.txt"
    other.write_text("x")
    assert mode(other) == 0o666 & ~before  # files of other code keep their usual mode


def test_an_empty_file_started_as_a_database_becomes_private(tmp_path: Path) -> None:
    db = tmp_path / "facegate.db"
    db.write_bytes(b"")
    assert mode(db) == 0o644
    with Store(db) as store:
        assert len(store.open_warnings) == 1 and "was empty" in store.open_warnings[0]
    assert mode(db) == 0o600


def test_existing_modes_are_kept_but_warned_with_the_command_that_fixes_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = data / "facegate.db"
    Store(db).close()
    (data / "models").mkdir(mode=0o755)
    (data / "models" / "m.onnx").write_bytes(b"model")
    os.chmod(data / "models", 0o755)
    os.chmod(data, 0o755)
    os.chmod(db, 0o644)
    with Store(db) as store:
        (warning,) = store.open_warnings
    assert mode(db) == 0o644 and mode(data) == 0o755  # never changed behind the administrator's back
    assert "can be read by other users" in warning and f"{db} (0644)" in warning
    command = warning.split("Fix: ")[1].split(" (or run")[0]
    assert command.startswith("chmod go-rwx ") and "chmod -R go-rwx" in command
    subprocess.run(command, shell=True, check=True)
    assert reachable_by_others(data) == []
    with Store(db) as store:
        assert store.open_warnings == ()


def test_a_database_in_a_shared_folder_is_told_to_move(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    db = shared / "facegate.db"
    with Store(db) as store:
        (warning,) = store.open_warnings
    assert "shared folder" in warning and "folder of its own" in warning
    assert f"chmod go-rwx {shared} " not in warning + " "  # /tmp is not ours to lock
    assert mode(db) == 0o600


def test_the_gallery_index_model_files_spool_and_crash_log_are_private(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((30, 128)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    gallery = build_gallery(np.arange(30), np.arange(30) // 3, vecs, kind="hnsw", dim=128, model_sha256="ab" * 32)
    folder = tmp_path / "gallery"
    folder.mkdir()  # 0755: the files in it are private anyway
    index = folder / "abababababababab.hnsw"
    gallery.save(index)  # type: ignore[attr-defined]
    assert sorted((p.name, mode(p)) for p in folder.iterdir()) == [
        (index.name, 0o600), (index.name + ".meta.npz", 0o600)]

    models = tmp_path / "data" / "models"
    write_atomic(models / "x.onnx", b"onnx bytes")
    with folder_lock(models) as held:
        assert held
    assert mode(models) == 0o700 and {p.name: mode(p) for p in models.iterdir()} == {"x.onnx": 0o600, ".lock": 0o600}

    spool = EventSpool(tmp_path / "data" / "facegate.db.spool")
    spool.add(PendingEvent(uid=PendingEvent.new_uid(), ts=datetime.now(UTC), person_id=None, score=0.1,
                           decision="unknown", camera="door", model_sha256="m", track_id=None, snapshot_jpg=None))
    assert mode(tmp_path / "data" / "facegate.db.spool") == 0o600

    from desktop_app.cli import _crash_log

    monkeypatch.setenv("FACEGATE_HOME", str(tmp_path / "home"))
    log = _crash_log(RuntimeError("boom"))
    assert log is not None and log.read_text().count("boom") >= 1
    assert mode(log) == 0o600 and mode(log.parent) == 0o700


def test_the_doctor_reports_the_modes_and_repairs_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = data / "facegate.db"
    Store(db).close()
    os.chmod(data, 0o755)
    os.chmod(db, 0o644)
    report = run_doctor(db)
    found = [f for f in report.findings if f.check == Check.FILE_MODES]
    subjects = {f.subject for f in found}  # the -wal and -shm files of the doctor's own connection too
    assert {str(data), str(db)} <= subjects and subjects <= {str(data), str(db), f"{db}-wal", f"{db}-shm"}
    assert all(f.severity == Severity.WARNING and f.repairable and "chmod go-rwx" in f.message for f in found)
    fixed = run_doctor(db, repair=True)
    assert any("readable by this user only" in r for r in fixed.repairs), fixed.repairs
    assert [f.severity for f in fixed.after if f.check == Check.FILE_MODES] == [Severity.INFO]
    assert mode(data) == 0o700 and mode(db) == 0o600


@pytest.mark.slow
def test_a_whole_facegate_data_folder_is_private(tmp_path: Path) -> None:
    """The real app's first start: database, models folder and model file, reserve, head file."""
    from desktop_app.core.config import AppConfig
    from desktop_app.core.service import FaceGate

    data = tmp_path / "home" / "facegate"
    cfg = AppConfig()
    with FaceGate(data / "facegate.db", device="cpu", config=cfg) as gate:
        gate.update_config(cfg)  # an audited change: the head file is written
        assert gate.storage_warnings == ()
    names = {p.relative_to(data).as_posix() for p in data.rglob("*")}
    assert {"facegate.db", "facegate.db.audit-head", "models"} <= names
    assert any(n.startswith("models/") and n.endswith(".onnx") for n in names), names
    assert reachable_by_others(tmp_path / "home") == []
