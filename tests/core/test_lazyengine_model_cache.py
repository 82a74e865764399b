"""New databases take the default model's fp32 file from the user's model cache (verified, hard-linked)
instead of converting the shipped file again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop_app.core.embedding import model_cache
from desktop_app.core.embedding.model_files import EMBEDDER, sha256_of
from desktop_app.core.service import FaceGate


def test_new_databases_link_the_cached_conversion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FACEGATE_MODEL_CACHE", str(cache))
    (tmp_path / "a").mkdir(mode=0o700)
    (tmp_path / "b").mkdir(mode=0o700)
    (tmp_path / "c").mkdir(mode=0o700)
    with FaceGate(tmp_path / "a" / "f.db", device="cpu") as a:  # converts, and fills the cache
        first = Path(a.model.path)
    hit = model_cache.cached(EMBEDDER.sha256)
    assert hit is not None and hit[1] == sha256_of(first)
    assert oct(cache.stat().st_mode & 0o777) == "0o700" and oct(hit[0].stat().st_mode & 0o777) == "0o600"
    with FaceGate(tmp_path / "b" / "f.db", device="cpu") as b:  # takes the cached file: a hard link
        second = Path(b.model.path)
        assert second.parent == tmp_path / "b" / "models"  # the database folder stays self-contained
        assert os.stat(second).st_ino == os.stat(hit[0]).st_ino and b.model.sha256 == hit[1]
    # A damaged cache is never used: the next new database converts again (same bytes) and heals it.
    hit[0].unlink()
    hit[0].write_bytes(b"not a model")
    assert model_cache.cached(EMBEDDER.sha256) is None
    with FaceGate(tmp_path / "c" / "f.db", device="cpu") as c:
        assert c.model.sha256 == hit[1] and os.stat(c.model.path).st_ino != os.stat(second).st_ino
    assert model_cache.cached(EMBEDDER.sha256) is not None
    assert sha256_of(second) == hit[1]  # the databases' own files were never touched


def test_cache_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_MODEL_CACHE", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "d").mkdir(mode=0o700)
    with FaceGate(tmp_path / "d" / "f.db", device="cpu") as gate:
        assert Path(gate.model.path).is_file()
    assert model_cache.cache_dir() is None and not (tmp_path / "xdg").exists()
