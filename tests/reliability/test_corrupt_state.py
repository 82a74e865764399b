"""Corrupt state (issue 9, item 8): one damaged row is quarantined with a warning that names it and
everyone else is still served; an empty database file and a page of garbage are reported at open.

Real SQLite files enrolled with the real models from the shared photos, damaged with plain SQLite.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.admin.lock import AdminPin
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.store import Store
from desktop_app.core.video.imageio import read_image

from .damaged_db import (
    LIN,
    facegate_cli,
    flip_exponent_bit,
    sample_of,
    set_template,
    sql,
    template,
)

pytestmark = pytest.mark.slow


def _names(gate: FaceGate, image: Path) -> list[str | None]:
    return [r.name for r in gate.identify(read_image(image)) if not r.too_small]


def _quarantine_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "left out" in r.getMessage()]


def test_an_all_zero_template_is_left_out_and_everyone_else_is_served(
        db: Path, clips: Path, caplog: pytest.LogCaptureFixture) -> None:
    biden = sample_of(db, "biden")
    set_template(db, biden, np.zeros(128, np.float32))
    with caplog.at_level(logging.WARNING), FaceGate(db, device="cpu") as gate:  # was: GalleryError, every command
        assert gate.gallery_stats().templates == 4
        (said,) = gate.storage_warnings
        assert f"sample {biden}" in said
        assert _names(gate, clips / "knn_examples" / "test" / "obama1.jpg") == ["obama"]
    (warning,) = set(_quarantine_warnings(caplog))
    assert f"sample {biden}" in warning and "'biden'" in warning and "all zeros" in warning
    assert "facegate doctor" in warning


def test_a_template_of_the_wrong_length_is_left_out(db: Path, clips: Path, caplog: pytest.LogCaptureFixture) -> None:
    obama = sample_of(db, "obama")
    set_template(db, obama, np.random.default_rng(1).standard_normal(64))
    with caplog.at_level(logging.WARNING), FaceGate(db, device="cpu") as gate:  # was: "different lengths"
        (said,) = gate.storage_warnings
        assert f"sample {obama}" in said and "64 values" in said and "128" in said
        assert _names(gate, clips / "knn_examples" / "test" / "obama1.jpg") == ["obama"]  # its 2nd shot
    assert any("'obama'" in w for w in _quarantine_warnings(caplog))


def test_a_flipped_exponent_bit_is_not_silent(db: Path, clips: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Lin has one shot; a flipped exponent bit in its template made Lin "unknown" without a word."""
    lin = sample_of(db, LIN)
    set_template(db, lin, flip_exponent_bit(template(db, lin)))
    with caplog.at_level(logging.WARNING), FaceGate(db, device="cpu") as gate:
        assert _names(gate, clips / "lin-manuel-miranda.png") == [None]  # unknown: now said, was silent
        (warning,) = set(_quarantine_warnings(caplog))
        assert gate.storage_warnings == (warning.split("; run `facegate doctor")[0],)
    with Store(db) as store:
        model = store.active_model()
        assert model is not None
        assert len(store.templates(model.sha256)[0]) == 4
        assert store.quarantined_sample_ids(model.sha256) == (lin,)
        (row,) = store.quarantine
        assert row.table == "templates" and row.row_id == str(lin) and "length" in row.reason
    assert f"sample {lin}" in warning and LIN in warning and "length" in warning


def test_damaged_settings_and_calibration_rows_do_not_stop_commands(
        db: Path, clips: Path, caplog: pytest.LogCaptureFixture) -> None:
    sql(db, "INSERT INTO settings (key, value_json, updated_at) VALUES ('config', '{\"recognition\": {', 'x')")
    assert sql(db, "SELECT count(*) FROM calibrations")[0][0] >= 1
    sql(db, "UPDATE calibrations SET notes_json = '[not json'")
    with caplog.at_level(logging.WARNING), FaceGate(db, device="cpu") as gate:  # was: StorageError
        assert gate.config.recognition.target_fpir == pytest.approx(1e-3)  # defaults
        assert _names(gate, clips / "knn_examples" / "test" / "obama1.jpg") == ["obama"]  # was: StorageError
        said = gate.storage_warnings
        assert len(said) == 2 and "setting 'config'" in said[0] and "calibration" in said[1]
    warnings = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "setting 'config'" in warnings and "calibration" in warnings


def test_a_damaged_pin_record_keeps_the_admin_screens_locked(db: Path) -> None:
    sql(db, "INSERT INTO settings (key, value_json, updated_at) VALUES ('admin_pin', '{\"kdf\": \"scr', 'x')")
    with Store(db) as store:
        pin = AdminPin(store)
        assert pin.has_admin_pin()  # not "first run": nobody at the door may set a new PIN (was: StorageError)
        assert not pin.verify_admin_pin("1234")
        with pytest.raises(ValueError, match="current PIN"):
            pin.set_admin_pin("5678")
        assert [q.row_id for q in store.quarantine] == ["admin_pin"]


def test_a_damaged_stranger_vector_does_not_stop_calibration(db: Path, clips: Path) -> None:
    with FaceGate(db, device="cpu") as gate:
        assert gate.add_strangers([clips / "knn_examples" / "train" / "kit_harington"]) >= 2
        sha = gate.model.sha256
    first = sql(db, "SELECT min(id) FROM strangers")[0][0]
    sql(db, "UPDATE strangers SET dim = 3, vector = ? WHERE id = ?", (np.ones(3, "<f4").tobytes(), first))
    with FaceGate(db, device="cpu") as gate:
        cal = gate.calibrate()  # was: "stored stranger embeddings have different lengths"
        assert cal.model_sha256 == sha
        (said,) = gate.storage_warnings
        assert f"stranger embedding {first} " in said


def test_an_empty_database_file_is_started_afresh_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "facegate.db"
    path.write_bytes(b"")
    with caplog.at_level(logging.WARNING), Store(path) as store:  # was: a new database without a word
        assert store.list_people() == []
        (warning,) = store.open_warnings
    assert "was empty (0 bytes): starting a new database" in warning
    assert warning in caplog.text
    with Store(path) as again:  # a real database now: no warning
        assert again.open_warnings == ()
    fresh = tmp_path / "new.db"
    with Store(fresh) as store:  # a file that did not exist is not "empty"
        assert store.open_warnings == ()


def test_the_cli_prints_the_empty_file_warning(tmp_path: Path) -> None:
    path = tmp_path / "facegate.db"
    path.write_bytes(b"")
    out = facegate_cli("people", "--db", str(path), home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "was empty (0 bytes): starting a new database" in out.stderr and "Traceback" not in out.stderr


def _garbage_page(db: Path, seed: int = 7) -> int:
    """Overwrite a page in the middle of the file with random bytes; returns its number (1-based)."""
    page_size = int(sql(db, "PRAGMA page_size")[0][0])  # type: ignore[call-overload]
    n_pages = db.stat().st_size // page_size
    page = n_pages // 2
    with db.open("r+b") as fh:
        fh.seek((page - 1) * page_size)
        fh.write(np.random.default_rng(seed).bytes(page_size))
    return page


def test_a_page_of_garbage_is_reported_at_open(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Store(db) as store:
        assert store.open_warnings == ()
    _garbage_page(db)
    with caplog.at_level(logging.WARNING), Store(db) as store:  # was: unnoticed while the app kept writing
        (warning,) = store.open_warnings
    assert "is damaged: the quick check found" in warning and "facegate doctor" in warning
    assert warning in caplog.text


def test_the_check_at_open_is_bounded_in_time(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file too large to check within the budget opens without a verdict (the doctor checks it)."""
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany("INSERT INTO events (ts, score, decision, camera, model_sha256) VALUES (?, 0.1, 'unknown',"
                         " 'door', 'm')", ((f"2026-12-01T09:{i // 60 % 60:02d}:{i % 60:02d}",) for i in range(5000)))
    conn.close()
    with caplog.at_level(logging.INFO), Store(db, quick_check_s=0.0) as store:
        assert store.open_warnings == ()
    assert "did not finish within 0 s; run `facegate doctor`" in caplog.text
