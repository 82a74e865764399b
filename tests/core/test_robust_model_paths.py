"""Issue 9 item 9: model paths are stored relative to the data folder, so the folder can move and
FaceGate can run from any working directory without writing a second 39 MB model copy."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from desktop_app.core.service import FaceGate
from desktop_app.core.storage.records import ModelRecord
from desktop_app.core.storage.schema import MIGRATIONS, migrate
from desktop_app.core.storage.store import Store


def _stored_paths(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [str(r[0]) for r in conn.execute("SELECT path FROM models")]
    finally:
        conn.close()


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


def test_moved_data_folder_run_from_another_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      clips: Path) -> None:
    a, b, elsewhere = tmp_path / "A", tmp_path / "B", tmp_path / "C"
    for d in (a, b, elsewhere):
        d.mkdir()
    monkeypatch.chdir(a)
    with FaceGate(Path("data/facegate.db"), device="cpu") as g:  # a relative --db, as the CLI gets it
        assert g.enrol_images("Alex", [clips / "alex-lacamoire.png"]).added
    model = a / "data" / "models" / "sface-2021dec-fp32.onnx"
    inode, mtime = model.stat().st_ino, model.stat().st_mtime_ns

    (a / "data").rename(b / "moved")
    monkeypatch.chdir(elsewhere)
    with FaceGate(b / "moved" / "facegate.db", device="cpu") as g:
        assert Path(g.model.path) == b / "moved" / "models" / "sface-2021dec-fp32.onnx"
        assert [p.name for p in g.people()] == ["Alex"]
        assert len(g.gallery) == 1
    moved = b / "moved" / "models" / "sface-2021dec-fp32.onnx"
    assert (moved.stat().st_ino, moved.stat().st_mtime_ns) == (inode, mtime)  # not rebuilt
    assert _files(elsewhere) == set()  # no ./data/models copy in the working directory
    assert not any(p.suffix == ".onnx" for p in _files(b / "moved") - {Path("models/sface-2021dec-fp32.onnx")})
    assert _stored_paths(b / "moved" / "facegate.db") == ["models/sface-2021dec-fp32.onnx"]


def test_store_keeps_paths_inside_the_folder_relative(tmp_path: Path) -> None:
    with Store(tmp_path / "db" / "facegate.db") as s:
        inside = tmp_path / "db" / "models" / "m.onnx"
        s.register_model(ModelRecord(name="in", sha256="a" * 64, path=str(inside)))
        s.register_model(ModelRecord(name="out", sha256="b" * 64, path="/opt/models/x.onnx"))
        assert s.get_model("a" * 64).path == str(inside)  # type: ignore[union-attr]
        assert s.get_model("b" * 64).path == "/opt/models/x.onnx"  # type: ignore[union-attr]
    assert sorted(_stored_paths(tmp_path / "db" / "facegate.db")) == ["/opt/models/x.onnx", "models/m.onnx"]


def test_version_1_paths_are_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version-1 database: one path relative to the working directory of the time, one absolute
    to the folder's old location; after the upgrade both name the files in the folder."""
    old_cwd, data = tmp_path / "old-cwd", tmp_path / "now" / "data"
    (data / "models").mkdir(parents=True)
    old_cwd.mkdir()
    for name in ("a.onnx", "b.onnx", "c.onnx"):
        (data / "models" / name).write_bytes(b"x")
    db_file = data / "facegate.db"
    conn = sqlite3.connect(db_file, isolation_level=None)
    migrate(Database(conn, execute_plugins=False), MIGRATIONS[:1])
    rows = [
        ("a" * 64, "data/models/a.onnx"),  # relative to the working directory of the time
        ("b" * 64, "/gone/old-place/data/models/b.onnx"),  # absolute to where the folder was
        ("c" * 64, str(data / "models" / "c.onnx")),  # absolute, inside the folder
        ("d" * 64, "/opt/shared/d.onnx"),  # elsewhere: left alone
    ]
    for sha, path in rows:
        conn.execute(
            "INSERT INTO models (sha256, name, path, input_size, embedding_dim, created_at, registered_at)"
            " VALUES (?, 'm', ?, 112, 128, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
            (sha, path),
        )
    conn.close()
    monkeypatch.chdir(old_cwd)
    with Store(db_file) as s:
        got = {m.sha256[0]: m.path for m in s.list_models()}
    assert got == {
        "a": str(data / "models" / "a.onnx"),
        "b": str(data / "models" / "b.onnx"),
        "c": str(data / "models" / "c.onnx"),
        "d": "/opt/shared/d.onnx",
    }
    assert sorted(_stored_paths(db_file)) == ["/opt/shared/d.onnx", "models/a.onnx", "models/b.onnx",
                                              "models/c.onnx"]
    assert os.getcwd() == str(old_cwd)
