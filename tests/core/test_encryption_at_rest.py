"""Encryption at rest on real faces: after enrolling the people of the shared clip photos (real
models, HNSW gallery saved to disk, door events with snapshots, stranger vectors), the raw database,
its write-ahead log and the gallery file hold no PNG or JPEG signature and no recoverable template:
a cosine scan of every 128-float window at every byte offset of the raw bytes against the plain
templates finds nothing above 0.9. The same scan finds them in an unencrypted database made from
the same photos (so the test can fail), and that database, opened again where a machine key can be
kept, is encrypted in place and the scan then finds nothing either.

Without the key nothing decrypts (a clear refusal naming ``facegate unlock``); a changed ciphertext
byte, two swapped ciphertexts or a changed gallery file are reported as damage (and repaired by the
doctor from the crops), never a crash; a door event that waits in the spool keeps its snapshot
encrypted too."""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.config import AppConfig
from desktop_app.core.doctor.report import Check, Severity
from desktop_app.core.doctor.run import run_doctor
from desktop_app.core.errors import InputError, StorageError
from desktop_app.core.protection.errors import DataLockedError
from desktop_app.core.protection.machine_keys import KEY_DIR_ENV
from desktop_app.core.protection.wraps import ProtectionState
from desktop_app.core.service import FaceGate
from desktop_app.core.video.imageio import read_image

pytestmark = pytest.mark.slow

PNG = b"\x89PNG"
JPEG = b"\xff\xd8\xff"
#: a window this close to a stored template (cosine) would be a recovered template
FOUND = 0.9
PEOPLE = ("obama", "biden", "kit_harington", "rose_leslie")


def best_cosine(data: bytes, templates: np.ndarray, dim: int = 128) -> float:
    """The highest cosine between any ``dim`` consecutive little-endian float32 values of ``data``,
    starting at any byte offset (every 4-byte-aligned window of each of the 4 phases), and any row
    of ``templates`` (T, dim), unit length. Non-finite values count as 0 and magnitudes are capped
    at 1e6 (a template's values are below 1), so that garbage cannot overflow the arithmetic."""
    best = -1.0
    t = templates.T.astype(np.float64)
    for phase in range(4):
        n = (len(data) - phase) // 4
        if n < dim:
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            words = np.frombuffer(data, dtype="<f4", count=n, offset=phase).astype(np.float64)
        words[~np.isfinite(words)] = 0.0
        np.clip(words, -1e6, 1e6, out=words)
        windows = np.lib.stride_tricks.sliding_window_view(words, dim)
        for start in range(0, len(windows), 16384):
            w = windows[start:start + 16384]
            norms = np.sqrt(np.einsum("ij,ij->i", w, w))
            cos = (w @ t)[norms > 1e-6] / norms[norms > 1e-6, None]
            if cos.size:
                best = max(best, float(cos.max()))
    return best


@dataclass(frozen=True)
class Site:
    """An enrolled data folder, its plain templates (T, 128), and raw bytes read while it was open."""

    db: Path
    templates: np.ndarray
    open_files: dict[str, bytes]
    snapshot_event: int
    encrypted: bool
    warnings: tuple[str, ...]

    @property
    def gallery_files(self) -> list[Path]:
        return sorted((self.db.parent / "gallery").glob("*.hnsw"))


def files_of(db: Path) -> dict[str, bytes]:
    """The database, its WAL and the saved gallery files, as raw bytes, by name."""
    paths = [db, db.with_name(db.name + "-wal"), *sorted((db.parent / "gallery").glob("*"))]
    return {p.name: p.read_bytes() for p in paths if p.is_file()}


def enrol_site(folder: Path, clips: Path) -> Site:
    folder.mkdir(mode=0o700, parents=True)
    db = folder / "facegate.db"
    config = AppConfig()
    config = config.model_copy(update={"recognition": config.recognition.model_copy(update={"gallery": "hnsw"})})
    with FaceGate(db, device="cpu", config=config) as gate:
        for name, images in (("Lin-Manuel Miranda", [clips / "lin-manuel-miranda.png"]),
                             ("Alex Lacamoire", [clips / "alex-lacamoire.png"]),
                             *((p, [clips / "knn_examples" / "train" / p]) for p in PEOPLE)):
            rep = gate.enrol_images(name, images)
            assert rep.added, rep.rejected
        assert gate.add_strangers([clips / "knn_examples" / "test" / "obama_and_biden.jpg"]) == 1
        photo = read_image(clips / "lin-manuel-miranda.png")
        lin = gate.find_person("Lin-Manuel Miranda")
        assert lin is not None
        recorded = gate.record_event(person_id=lin.id, score=0.9, decision="granted", camera="door",
                                     ts=datetime.now(UTC), snapshot=photo)
        assert recorded is not None and recorded.event_id is not None
        _, _, vecs = gate.store.templates(gate.model.sha256, active_only=False)
        open_files = files_of(db)
        encrypted, warnings = gate.key_status().encrypted, gate.storage_warnings
    assert len(vecs) == 10 and vecs.shape[1] == 128
    return Site(db, np.asarray(vecs, np.float64), open_files, recorded.event_id, encrypted, warnings)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Site:
    return enrol_site(tmp_path_factory.mktemp("encrypted") / "data", clips)


@pytest.fixture(scope="module")
def plain_site(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Site:
    """The same enrolment where no machine key can be kept (a key folder inside the data folder is
    refused): the face data stays plain, with a warning. Never opened again here (an opening with
    the session's key folder would encrypt it): tests copy it."""
    base = tmp_path_factory.mktemp("plain")
    before = os.environ[KEY_DIR_ENV]
    os.environ[KEY_DIR_ENV] = str(base / "data" / "keys")
    try:
        return enrol_site(base / "data", clips)
    finally:
        os.environ[KEY_DIR_ENV] = before


@pytest.fixture
def copy(site: Site, tmp_path: Path) -> Path:
    """A private copy of the encrypted data folder (same database uid: the same machine key opens it)."""
    dst = tmp_path / "data"
    shutil.copytree(site.db.parent, dst)
    return dst / site.db.name


# ------------------------------------------------------------------------------ what is on disk
def test_the_scan_finds_templates_and_images_in_an_unencrypted_database(plain_site: Site) -> None:
    """The check below can fail: in a plain database it finds every kind of face data."""
    assert not plain_site.encrypted and any("NOT encrypted" in w for w in plain_site.warnings)
    wal = plain_site.open_files[plain_site.db.name + "-wal"]  # the enrolment, not yet checkpointed
    assert PNG in wal and JPEG in wal
    assert best_cosine(wal, plain_site.templates[:1]) > 0.999
    after_close = files_of(plain_site.db)[plain_site.db.name]
    assert PNG in after_close and best_cosine(after_close, plain_site.templates[-1:]) > 0.999
    (gallery,) = [v for k, v in plain_site.open_files.items() if k.endswith(".hnsw")]
    assert best_cosine(gallery, plain_site.templates[-1:]) > 0.999


def test_no_image_signature_nor_template_in_the_database_wal_and_gallery(site: Site) -> None:
    names = set(site.open_files)
    assert {site.db.name, site.db.name + "-wal"} <= names and any(n.endswith(".hnsw") for n in names)
    assert len(site.open_files[site.db.name + "-wal"]) > 100_000, "the WAL held the enrolment when it was read"
    after_close = files_of(site.db)
    for name, data in [*site.open_files.items(), *after_close.items()]:
        assert PNG not in data, name
        assert JPEG not in data, name
        assert best_cosine(data, site.templates) < FOUND, name
    with FaceGate(site.db, device="cpu") as gate:
        status = gate.key_status()
        assert status.encrypted and status.state == ProtectionState.SEALED and status.plain_values == 0
        assert gate.gallery_stats().templates == 10, "the encrypted gallery file loads"
        snap = gate.event_snapshot(site.snapshot_event)
        assert snap is not None and snap.ndim == 3
        lin = gate.find_person("Lin-Manuel Miranda")
        assert lin is not None
        assert gate.person_photo(lin.id) is not None


def test_an_existing_plain_database_is_encrypted_in_place_and_its_old_pages_are_gone(
        plain_site: Site, tmp_path: Path, clips: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(plain_site.db.parent, folder, ignore=shutil.ignore_patterns("keys"))
    db = folder / plain_site.db.name
    with FaceGate(db, device="cpu") as gate:  # the key folder of the session: a machine key can be kept now
        status = gate.key_status()
        assert status.encrypted and status.state == ProtectionState.SEALED and status.plain_values == 0
        (row,) = [r for r in gate.query_audit() if r.action == "keys.encrypt_existing"]
        assert row.details == {"samples.crop_png": 10, "templates.vector": 10, "strangers.vector": 1,
                               "events.snapshot_jpg": 1, "event_faces.vector": 0, "event_faces.crop_png": 0,
                               "doors.output": 0, "doors.secret": 0, "door_cameras.source": 0,
                               "settings.value_json": 0}
        names = {r.name for r in gate.identify(read_image(clips / "knn_examples" / "test" / "obama1.jpg"))
                 if r.accepted}
        assert names == {"obama"}
        open_files = files_of(db)
    for name, data in [*open_files.items(), *files_of(db).items()]:
        assert PNG not in data and JPEG not in data, name
        assert best_cosine(data, plain_site.templates) < FOUND, name


# ------------------------------------------------------------------------------ without the key
def test_without_the_machine_key_nothing_decrypts_and_the_refusal_says_how_to_unlock(copy: Path) -> None:
    with FaceGate(copy, device="cpu") as gate:
        key_file = Path(gate.key_status().key_location)
    saved = key_file.read_bytes()
    key_file.unlink()
    try:
        with pytest.raises(DataLockedError, match="No password protects it"):
            FaceGate(copy, device="cpu")
        with FaceGate(copy, device="cpu", allow_locked=True) as gate, pytest.raises(DataLockedError):
            gate.protect_with_password("a long enough password")
    finally:
        key_file.write_bytes(saved)
    with FaceGate(copy, device="cpu") as gate:
        gate.protect_with_password("a long enough password", actor="test")
    key_file.unlink()
    try:
        with pytest.raises(DataLockedError, match=f"facegate unlock --db {copy} --password-stdin"):
            FaceGate(copy, device="cpu")
        report = run_doctor(copy, device="cpu")  # the doctor still works, and says how to unlock
        (problem,) = report.problems
        assert problem.check == Check.ENCRYPTION and "facegate unlock" in problem.message
        with FaceGate(copy, device="cpu", allow_locked=True) as gate:
            assert gate.data_locked is not None and len(gate.gallery) == 0
            assert gate.people(), "names and events still read: only face data is locked"
            with pytest.raises(DataLockedError):
                gate.sample_crop(gate.list_samples(gate.people()[0].id)[0].id)
    finally:
        key_file.write_bytes(saved)


def test_a_changed_ciphertext_byte_is_damage_reported_and_repaired_not_a_crash(copy: Path, clips: Path) -> None:
    conn = sqlite3.connect(copy)
    (sid, blob), = conn.execute(
        "SELECT t.sample_id, t.vector FROM templates t JOIN samples s ON s.id = t.sample_id"
        " JOIN people p ON p.id = s.person_id WHERE p.name = 'obama' ORDER BY t.sample_id LIMIT 1").fetchall()
    conn.execute("UPDATE templates SET vector = ? WHERE sample_id = ?", (blob[:60] + bytes([blob[60] ^ 1]) + blob[61:],
                                                                        sid))
    (crop_sid, crop), = conn.execute("SELECT s.id, s.crop_png FROM samples s JOIN people p ON p.id = s.person_id"
                                     " WHERE p.name = 'biden' ORDER BY s.id LIMIT 1").fetchall()
    conn.execute("UPDATE samples SET crop_png = ? WHERE id = ?", (crop[:-1] + bytes([crop[-1] ^ 0x80]), crop_sid))
    conn.commit()
    conn.close()
    with FaceGate(copy, device="cpu") as gate:
        assert gate.gallery_stats().templates == 9, "the altered template is left out, everyone else served"
        assert any(f"sample {sid}" in w and "authentication" in w for w in gate.storage_warnings)
        names = {r.name for r in gate.identify(read_image(clips / "knn_examples" / "test" / "obama1.jpg"))
                 if r.accepted}
        assert names == {"obama"}, "obama's other shot still recognises him"
        with pytest.raises(StorageError, match="authentication"):
            gate.sample_crop(crop_sid)
    report = run_doctor(copy, device="cpu")
    bad = {(f.check, f.subject.split(" of ")[0]): f for f in report.findings if f.problem}
    assert bad[(Check.TEMPLATES, f"sample {sid}")].severity == Severity.ERROR
    assert "authentication" in bad[(Check.TEMPLATES, f"sample {sid}")].message
    assert bad[(Check.CROPS, f"sample {crop_sid}")].severity == Severity.WARNING
    fixed = run_doctor(copy, repair=True, device="cpu")
    assert [f.subject.split(" of ")[0] for f in fixed.problems] == [f"sample {crop_sid}"], "the crop cannot be remade"
    with FaceGate(copy, device="cpu") as gate:
        assert gate.gallery_stats().templates == 10, "re-embedded from its crop, encrypted again"


def test_ciphertexts_swapped_between_rows_do_not_decrypt(copy: Path) -> None:
    """A face cannot be moved to another person's row by editing the file: the row is bound in."""
    conn = sqlite3.connect(copy)
    rows = conn.execute("SELECT sample_id, vector FROM templates ORDER BY sample_id LIMIT 2").fetchall()
    (a, va), (b, vb) = rows
    conn.execute("UPDATE templates SET vector = ? WHERE sample_id = ?", (vb, a))
    conn.execute("UPDATE templates SET vector = ? WHERE sample_id = ?", (va, b))
    conn.execute("UPDATE samples SET crop_png = (SELECT crop_png FROM samples WHERE id = ?) WHERE id = ?", (b, a))
    conn.commit()
    conn.close()
    with FaceGate(copy, device="cpu") as gate:
        assert gate.gallery_stats().templates == 8
        assert sorted(gate.store.quarantined_sample_ids(gate.model.sha256)) == [a, b]
        with pytest.raises(StorageError, match="authentication"):
            gate.sample_crop(a)


def test_an_injected_plain_template_is_refused(copy: Path) -> None:
    """Someone who can write the file cannot add a face: a plain value is not trusted."""
    conn = sqlite3.connect(copy)
    (sid,) = conn.execute("SELECT min(sample_id) FROM templates").fetchone()
    conn.execute("UPDATE templates SET vector = ? WHERE sample_id = ?",
                 ((np.ones(128, "<f4") / np.sqrt(128)).astype("<f4").tobytes(), sid))
    conn.commit()
    conn.close()
    with FaceGate(copy, device="cpu") as gate:
        assert gate.gallery_stats().templates == 9
        assert any("not encrypted although this database is" in w for w in gate.storage_warnings)


def test_a_changed_gallery_file_is_rebuilt_from_the_database(copy: Path, clips: Path) -> None:
    (index,) = (copy.parent / "gallery").glob("*.hnsw")
    data = bytearray(index.read_bytes())
    data[len(data) // 2] ^= 0x01
    index.write_bytes(bytes(data))
    with FaceGate(copy, device="cpu") as gate:
        assert gate.gallery_stats().templates == 10
        names = {r.name for r in gate.identify(read_image(clips / "knn_examples" / "test" / "obama1.jpg"))
                 if r.accepted}
        assert names == {"obama"}
    assert index.read_bytes() != bytes(data), "rewritten, encrypted again"


def test_templates_are_decrypted_once_at_start_and_a_search_decrypts_nothing(
        copy: Path, clips: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Search stays fast: the gallery is decrypted into memory when FaceGate opens (each template
    once, or the gallery file once), and identifying faces afterwards opens no ciphertext at all.
    Every decryption of a value or a file goes through ``envelope.open_value`` /
    ``envelope.read_sealed_file``; both are counted here on the real encrypted site."""
    from desktop_app.core.protection import envelope

    opened: list[str] = []
    for name in ("open_value", "read_sealed_file"):
        real = getattr(envelope, name)

        def counted(*args: object, _real: object = real, _name: str = name, **kwargs: object) -> object:
            opened.append(_name)
            return _real(*args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(envelope, name, counted)
    photos = [read_image(clips / "knn_examples" / "test" / f) for f in ("obama1.jpg", "alex_lacamoire1.jpg")]
    with FaceGate(copy, device="cpu") as gate:
        assert gate.gallery_stats().templates == 10
        at_start = len(opened)
        assert at_start >= 1, "the gallery was loaded without decrypting anything: is the site encrypted?"
        for _ in range(3):
            names = {r.name for photo in photos for r in gate.identify(photo) if r.accepted}
            assert names == {"obama", "Alex Lacamoire"}
        assert len(opened) == at_start, f"a search decrypted {len(opened) - at_start} value(s)"


def test_the_doctor_reports_the_encryption(copy: Path) -> None:
    report = run_doctor(copy, device="cpu")
    assert report.exit_code == 0, [f.line() for f in report.problems]
    (enc,) = [f for f in report.findings if f.check == Check.ENCRYPTION]
    assert enc.severity == Severity.INFO and "encrypted (AES-256-GCM" in enc.message


def test_a_snapshot_waiting_in_the_event_spool_is_encrypted(copy: Path, clips: Path) -> None:
    photo = read_image(clips / "alex-lacamoire.png")
    with FaceGate(copy, device="cpu") as gate:
        other = sqlite3.connect(copy, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock: the door spools
        try:
            waiting = gate.record_event(person_id=None, score=0.2, decision="unknown", camera="door",
                                        ts=datetime.now(UTC), snapshot=photo)
            assert waiting is not None and waiting.event_id is None and gate.pending_events == 1
            spool = copy.with_name(copy.name + ".spool").read_bytes()
            assert b"/9j/" not in spool and JPEG not in spool, "no JPEG, raw or base64, in the spool file"
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert gate.flush_events() == 1
        (event,) = [e for e in gate.query_events() if e.decision == "unknown"]
        snap = gate.event_snapshot(event.id)
        assert snap is not None and snap.shape[2] == 3


def test_admin_accounts_passwords_wrap_the_data_key(copy: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The accounts' password hook: every admin's password unlocks the face data elsewhere; a changed
    password replaces the wrap; an account that is no longer an admin loses it."""
    first, second, changed = "Quartz-Lantern-81", "Violet-Harbour-27", "Copper-Meadow-64"
    with FaceGate(copy, device="cpu") as gate:
        gate.setup_first_admin("Root.Admin", first)
        admin = gate.login("Root.Admin", first)
        gate.add_account(admin, "Second", "admin", second)
        assert gate.key_status().password_accounts == ("root.admin", "second")
        gate.set_account_password(admin, "Root.Admin", changed, current_password=first)
        gate.update_account(admin, "Second", role="viewer")
        assert gate.key_status().password_accounts == ("root.admin",)
        actions = [r.action for r in gate.query_audit() if r.action.startswith("keys.")]
        assert actions[:2] == ["keys.password.remove", "keys.password.set"]
    moved = tmp_path / "moved"
    shutil.copytree(copy.parent, moved)
    monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "new-machine-keys"))
    with FaceGate(moved / copy.name, device="cpu", allow_locked=True) as gate:
        for old in (first, second):
            with pytest.raises(InputError):
                gate.unlock_with_password(old)
        assert gate.unlock_with_password(changed) and gate.gallery_stats().templates == 10
