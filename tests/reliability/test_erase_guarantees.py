"""Issue 9, items 5 and 10: "erased" is never said while the data is still on disk.

Each test searches the raw bytes of the real files (database, write-ahead log, gallery index) for
what the erased person left: the name, a template's float32 bytes, a slice of a crop and of an event
snapshot. Readers are real connections in another process, the crash is a real kill -9, the full
disk is a real small tmpfs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.config import AppConfig, RecognitionSettings
from desktop_app.core.errors import GalleryError, StorageError
from desktop_app.core.matching import gallery as gallery_module
from desktop_app.core.matching.gallery import FileSealer, HnswGallery
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.purge import WAL_BUSY, PurgeStep
from desktop_app.core.storage.reserve import RESERVE_BYTES, reserve_path
from desktop_app.core.storage.store import Store

MODEL = "a" * 64
NAME = "Zelda Quixotic"
REPO = Path(__file__).resolve().parents[2]
ZeldaDb = tuple[Path, int, list[bytes]]
"""The database, Zelda's id, and her secrets (name, employee id, crop slices, templates, snapshot slice)."""


def _unit(seed: int, dim: int = 128) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def _noise(seed: int, shape: tuple[int, ...] = (112, 112, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _raw(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _traces(db: Path, secrets: list[bytes]) -> list[bytes]:
    """The secrets found in the raw bytes of the database file and its write-ahead log."""
    raw = _raw(db)
    return [s for s in secrets if s in raw]


@pytest.fixture
def zelda_db(tmp_path: Path) -> ZeldaDb:
    db = tmp_path / "facegate.db"
    with Store(db) as store:
        zelda = store.add_person(NAME, employee_id="EMP-QX42")
        bob = store.add_person("Bob Keeper")
        sids = [store.add_sample(zelda, _noise(i), {}, "cam", _unit(i), MODEL) for i in (1, 2)]
        store.add_sample(bob, _noise(3), {}, "cam", _unit(3), MODEL)
        store.log_event(person_id=zelda, score=0.9, decision="granted", camera="door", model_sha256=MODEL,
                        ts=datetime(2026, 12, 1, 8, 0, tzinfo=UTC), snapshot=_noise(9, (60, 80, 3)))
        secrets = [b"Quixotic", b"quixotic", b"EMP-QX42"]
        for sid in sids:
            crop = bytes(store.db.execute("SELECT crop_png FROM samples WHERE id = ?", [sid]).fetchone()[0])
            vec = bytes(store.db.execute("SELECT vector FROM templates WHERE sample_id = ?", [sid]).fetchone()[0])
            secrets += [crop[2000:2064], vec]
        snap = bytes(store.db.execute("SELECT snapshot_jpg FROM events").fetchone()[0])
        secrets.append(snap[600:664])
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert _traces(db, secrets) == secrets  # the search finds what it looks for
    return db, zelda, secrets


READER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM samples").fetchone()  # holds this snapshot
    print("reading", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")  # lets go of the snapshot but keeps the connection open
    print("idle", flush=True)
    sys.stdin.readline()
    conn.close()
""")


def test_a_reader_in_another_process_leaves_the_purge_pending_until_the_next_open(zelda_db: ZeldaDb) -> None:
    db, zelda, secrets = zelda_db
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdin is not None
        assert reader.stdout.readline().strip() == "reading"
        with Store(db, timeout_s=0.3) as store:
            report = store.erase_person(zelda, actor="dpo")
            # the rows are gone, but the report does not claim the data is
            assert store.get_person(zelda) is None
            assert not report.purged and report.pending == (WAL_BUSY,)
            assert "another program is reading" in report.pending[0]
            assert _traces(db, secrets)  # still in the file: that is why it says so
            row = store.audit_log()[0]
            assert row.action == "erase_person" and row.actor == "dpo"
            assert row.details["purged"] is False and row.details["pending"] == [WAL_BUSY]
            [pend] = store.pending_purges()
            assert pend.person_ref == report.person_ref and pend.steps == {PurgeStep.WAL} and pend.audited
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "idle"  # still connected: our close did not checkpoint
        assert _traces(db, secrets)
        with Store(db) as store:  # the next open finishes the purge
            assert store.pending_purges() == ()
            assert _traces(db, secrets) == []
            row = store.audit_log()[0]
            assert row.action == "erase_person.purged" and row.details["person_ref"] == report.person_ref
            assert store.find_person("Bob Keeper") is not None  # the others are untouched
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.wait(timeout=30) == 0
    finally:
        reader.kill()
        reader.wait()


def test_the_periodic_retry_finishes_the_purge_once_the_reader_is_gone(zelda_db: ZeldaDb) -> None:
    db, zelda, secrets = zelda_db
    import sqlite3

    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN")
    other.execute("SELECT count(*) FROM people").fetchone()
    with Store(db, timeout_s=0.2) as store:
        report = store.erase_person(zelda)
        assert not report.purged
        assert store.finish_pending_purges(wait_s=0.01) != ()  # the reader is still there
        assert _traces(db, secrets)
        other.execute("COMMIT")
        assert store.finish_pending_purges(wait_s=0.01) == ()
        assert _traces(db, secrets) == []
        assert [r.action for r in store.audit_log()[:2]] == ["erase_person.purged", "erase_person"]
    other.close()


KILLED_ERASER = textwrap.dedent("""
    import os, signal, sys
    from desktop_app.core.storage.store import Store
    store = Store(sys.argv[1])
    # purge_files runs right after the commit and before the checkpoint: die there
    store.erase_person(int(sys.argv[2]), actor="dpo", purge_files=lambda: os.kill(os.getpid(), signal.SIGKILL))
    print("not reached")
""")


def test_kill_9_right_after_the_commit_is_finished_by_the_next_open(zelda_db: ZeldaDb) -> None:
    db, zelda, secrets = zelda_db
    proc = subprocess.run([sys.executable, "-c", KILLED_ERASER, str(db), str(zelda)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "not reached" not in proc.stdout
    assert _traces(db, secrets)  # committed in the log, old pages still in the file
    with Store(db) as store:
        assert store.get_person(zelda) is None
        assert _traces(db, secrets) == []  # the open checkpointed and truncated the log
        [pend] = store.pending_purges()  # the files step is the erasing program's (FaceGate's) to finish
        assert pend.steps == {PurgeStep.FILES}
        row = store.audit_log()[0]  # the erasure is audited although the eraser died before its audit row
        assert row.action == "erase_person" and row.actor == "dpo" and row.details["samples"] == 2
        assert row.details["purged"] is False and row.details["pending"] == ["files"]
        assert store.finish_pending_purges(files_done=[pend.person_ref]) == ()
        assert store.audit_log()[0].action == "erase_person.purged"


# ----------------------------------------------------------------------------- the gallery files


def test_a_failed_gallery_save_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = HnswGallery(8)
    g.add(np.arange(4), np.arange(4), np.eye(8, dtype=np.float32)[:4])
    target = tmp_path / "g.hnsw"
    target.mkdir()  # the rename over it fails
    with pytest.raises(GalleryError):
        g.save(target)
    assert not [p.name for p in tmp_path.iterdir() if ".tmp" in p.name]

    def interrupted(path: Path) -> str:
        raise KeyboardInterrupt  # stopped half-way, after the index file was written

    monkeypatch.setattr(gallery_module, "_file_sha256", interrupted)
    with pytest.raises(KeyboardInterrupt):
        g.save(tmp_path / "h.hnsw")
    assert not [p.name for p in tmp_path.iterdir() if ".tmp" in p.name]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _gallery_bytes(folder: Path, sealer: FileSealer, names: tuple[str, ...]) -> bytes:
    """Everything the gallery folder's files hold, decrypted with the database's data key where
    they are encrypted (a copy made under another name is tried under the ``names`` it may have
    been written as): the search must find no erased vector even for someone who has the key."""
    out: list[bytes] = []
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        data = p.read_bytes()
        if not sealer.is_sealed(data[:16]):
            out.append(data)
            continue
        for name in (p.name.split(".tmp-")[0], *names):
            try:
                out.append(bytes(sealer.read_sealed(data, name)))
                break
            except StorageError:
                continue
        else:
            raise AssertionError(f"{p} does not decrypt")
    return b"".join(out)


def _holds(blob: bytes, vector: bytes, tol: float = 1e-6) -> bool:
    """Whether ``blob`` holds the float32 ``vector`` (its bytes), exactly or to ``tol`` per
    component at any byte offset: hnswlib normalises the vectors it stores again, in float32, so
    the gallery's copy may differ from the template in the last bit (numpy's norm rounds otherwise)."""
    if vector in blob:
        return True
    v = np.frombuffer(vector, dtype=np.float32)
    for offset in range(4):
        n = (len(blob) - offset) // 4
        if n < len(v):
            continue
        a = np.frombuffer(blob, dtype=np.float32, count=n, offset=offset)
        with np.errstate(invalid="ignore", over="ignore"):  # random bytes read as floats: inf, nan
            for i in np.flatnonzero(np.abs(a[: n - len(v) + 1] - v[0]) <= tol):
                if np.all(np.abs(a[i:i + len(v)] - v) <= tol):
                    return True
    return False


def test_hnsw_gallery_files_keep_no_erased_vector(tmp_path: Path, clips: Path) -> None:
    cfg = AppConfig(recognition=RecognitionSettings(gallery="hnsw"))
    db = tmp_path / "facegate.db"
    folder = tmp_path / "gallery"
    with FaceGate(db, device="cpu", config=cfg) as g:
        g.enrol_images(NAME, [clips / "knn_examples" / "train" / "obama"])
        g.enrol_images("biden", [clips / "knn_examples" / "train" / "biden"])
        zelda = g.find_person(NAME)
        assert zelda is not None
        _ids, pids, vecs = g.store.templates(g.model.sha256)
        mine = [v.astype(np.float32).tobytes() for v, p in zip(vecs, pids, strict=True) if p == zelda.id]
        assert len(mine) == 2
        [index] = folder.glob("*.hnsw")
        sealer = g.store.gallery_sealer()
        assert sealer is not None
        # what a killed save of an earlier enrolment and an older model's index left behind
        shutil.copy(index, folder / f"{index.name}.tmp-{_dead_pid()}-1")
        shutil.copy(index, folder / ("0" * 16 + ".hnsw"))
        assert all(_holds(_gallery_bytes(folder, sealer, (index.name,)), v) for v in mine)  # the search finds them
        report = g.erase_person(zelda.id)
        assert report.purged and report.pending == ()
        blob = _gallery_bytes(folder, sealer, (index.name,))
        assert not any(_holds(blob, v) for v in mine)
        assert sorted(p.name for p in folder.iterdir()) == [index.name, index.name + ".meta.npz"]
        assert not any(_holds(_raw(db), v) for v in mine)
        assert g.store.audit_log()[0].details["purged"] is True
    with FaceGate(db, device="cpu") as g:  # the saved index still loads and matches the database
        assert isinstance(g.gallery, HnswGallery) and g.gallery.person_count == 1


KILLED_GALLERY_SAVE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from desktop_app.core.matching import gallery
    from desktop_app.core.service import FaceGate

    def dying_save(self, path, sealer=None):
        with open(str(path) + f".tmp-{os.getpid()}-1", "wb") as fh:  # half-way through the save...
            sealer.write_sealed(fh, Path(path).name, self._packed())
        os.kill(os.getpid(), signal.SIGKILL)  # ...kill -9

    gate = FaceGate(Path(sys.argv[1]), device="cpu")
    gallery.HnswGallery.save = dying_save
    gate.erase_person(int(sys.argv[2]))
    print("not reached")
""")


def test_kill_9_during_the_gallery_save_is_finished_by_the_next_start(tmp_path: Path, clips: Path) -> None:
    cfg = AppConfig(recognition=RecognitionSettings(gallery="hnsw"))
    db = tmp_path / "facegate.db"
    folder = tmp_path / "gallery"
    with FaceGate(db, device="cpu", config=cfg) as g:
        g.enrol_images(NAME, [clips / "knn_examples" / "train" / "obama"])
        g.enrol_images("biden", [clips / "knn_examples" / "train" / "biden"])
        zelda = g.find_person(NAME)
        assert zelda is not None
        _ids, pids, vecs = g.store.templates(g.model.sha256)
        mine = [v.astype(np.float32).tobytes() for v, p in zip(vecs, pids, strict=True) if p == zelda.id]
        sealer = g.store.gallery_sealer()
        assert sealer is not None
    proc = subprocess.run([sys.executable, "-c", KILLED_GALLERY_SAVE, str(db), str(zelda.id)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert all(_holds(_gallery_bytes(folder, sealer, ()), v) for v in mine)  # the old index still holds her templates
    assert [p for p in folder.iterdir() if ".tmp-" in p.name]
    with FaceGate(db, device="cpu") as g:
        assert g.store.pending_purges() == ()
        assert not any(_holds(_gallery_bytes(folder, sealer, ()), v) for v in mine)
        assert not [p for p in folder.iterdir() if ".tmp-" in p.name]
        assert not any(_holds(_raw(db), v) for v in mine)
        assert g.gallery.person_count == 1 and g.find_person(NAME) is None
        actions = [r.action for r in g.store.audit_log()[:2]]
        assert actions == ["erase_person.purged", "erase_person"]


def test_a_gallery_file_that_cannot_be_purged_is_reported_then_finished(tmp_path: Path, clips: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FaceGate, "FILES_RETRY_S", 0.0)  # retry at once (the door loop waits a minute)
    cfg = AppConfig(recognition=RecognitionSettings(gallery="hnsw"))
    db = tmp_path / "facegate.db"
    folder = tmp_path / "gallery"
    with FaceGate(db, device="cpu", config=cfg) as g:
        g.enrol_images(NAME, [clips / "knn_examples" / "train" / "obama"])
        g.enrol_images("biden", [clips / "knn_examples" / "train" / "biden"])
        zelda = g.find_person(NAME)
        assert zelda is not None
        [index] = folder.glob("*.hnsw")
        index.unlink()
        (index / "blocker").mkdir(parents=True)  # neither the save nor the deletion can replace it (root)
        report = g.erase_person(zelda.id)
        assert not report.purged and len(report.pending) == 1 and "saved gallery index" in report.pending[0]
        assert g.store.audit_log()[0].details["pending"] == list(report.pending)
        assert g.store.get_person(zelda.id) is None
        assert not g.finish_pending_purges()  # still blocked
        [pend] = g.store.pending_purges()
        assert pend.steps == {PurgeStep.FILES}
        shutil.rmtree(index)
        assert g.finish_pending_purges()
        assert g.store.pending_purges() == ()
        assert g.store.audit_log()[0].action == "erase_person.purged"
        assert g.gallery.person_count == 1


# ----------------------------------------------------------------------------- full disk (item 10)


def test_erase_runs_on_a_full_disk_through_the_cli(tmp_path: Path, clips: Path) -> None:
    src = tmp_path / "src"
    db = src / "facegate.db"
    with FaceGate(db, device="cpu") as g:
        g.enrol_images(NAME, [clips / "knn_examples" / "train" / "obama"])
        g.enrol_images("biden", [clips / "knn_examples" / "train" / "biden"])
        zelda = g.find_person(NAME)
        assert zelda is not None
        _ids, pids, allv = g.store.templates(g.model.sha256)
        vecs = [v.astype(np.float32).tobytes() for v, p in zip(allv, pids, strict=True) if p == zelda.id]
    reserve = reserve_path(db)
    assert reserve.stat().st_size == RESERVE_BYTES and oct(reserve.stat().st_mode & 0o777) == "0o600"
    used = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    size_kb = used // 1024 + 2048
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        data = mnt / "data"
        shutil.copytree(src, data)
        with (mnt / "filler").open("wb", buffering=0) as fh:  # fill the disk to the last block
            for chunk in (1 << 16, 1 << 12, 1 << 9):
                try:
                    while fh.write(b"\1" * chunk):
                        pass
                except OSError:
                    pass
        assert shutil.disk_usage(mnt).free < 64 * 1024
        with pytest.raises(StorageError, match="disk"):  # really full: SQLite cannot even open it
            Store(data / "facegate.db").close()
        out = subprocess.run([sys.executable, "-m", "desktop_app", "erase", "--db", str(data / "facegate.db"),
                              "--name", NAME, "--yes"], capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PYTHONPATH": str(REPO), "FACEGATE_HOME": str(tmp_path / "home")})
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"Erased {NAME}: 2 shots" in out.stdout and "no copy is left on disk" in out.stdout
        assert "Traceback" not in out.stderr
        assert not reserve_path(data / "facegate.db").exists()  # its space went to the erasure
        raw = _raw(data / "facegate.db")
        assert b"Quixotic" not in raw and b"quixotic" not in raw
        assert not any(v in raw for v in vecs)
        with Store(data / "facegate.db") as store:
            assert store.find_person(NAME) is None and store.find_person("biden") is not None
            assert store.audit_log()[0].action == "erase_person"
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_the_cli_says_what_is_pending_and_never_erased(zelda_db: ZeldaDb, tmp_path: Path) -> None:
    db, _zelda, secrets = zelda_db
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdin is not None
        assert reader.stdout.readline().strip() == "reading"
        out = subprocess.run([sys.executable, "-m", "desktop_app", "erase", "--db", str(db), "--name", NAME,
                              "--yes"], capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PYTHONPATH": str(REPO), "FACEGATE_HOME": str(tmp_path / "home")})
        assert out.returncode == 3, out.stdout + out.stderr
        assert "Erased" not in out.stdout and "NOT complete on disk yet" in out.stdout, out.stdout
        assert "pending: write-ahead log not yet checkpointed: another program is reading" in out.stdout
        assert "Traceback" not in out.stderr
        assert _traces(db, secrets)
    finally:
        reader.kill()
        reader.wait()
    with Store(db) as store:
        assert store.pending_purges() == () and _traces(db, secrets) == []
