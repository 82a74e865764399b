"""Issue 9 item 1: several processes starting on a fresh data folder at once, and the folders an
older version bricked that way (an empty or half-written model registered and active)."""

from __future__ import annotations

import importlib.util
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from desktop_app.core.embedding.model_convert import check_onnx_file
from desktop_app.core.embedding.model_files import EMBEDDER, EMPTY_SHA256, folder_lock, sha256_of, write_atomic
from desktop_app.core.embedding.model_registry import DEFAULT_MODEL_NAME
from desktop_app.core.errors import ModelError
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.store import Store

REPO = Path(__file__).resolve().parents[2]


def _soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak_first_start", REPO / "bench" / "soak_first_start.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fresh_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder after one normal first start (made once; tests copy it)."""
    d = tmp_path_factory.mktemp("fresh")
    FaceGate(d / "facegate.db", device="cpu").close()
    return d


def test_three_processes_starting_a_fresh_folder_at_once(tmp_path: Path) -> None:
    """5 trials of 3 real processes released together at a barrier onto an empty folder: every
    process starts without a traceback, all use the same model, and the folder ends with one
    verified active model and no temporary file (before the fix: a shared ``.tmp`` file renamed
    away under the other writers, and half-written files hashed and registered)."""
    trials = _soak().run_trials(5, 3, root=tmp_path)
    assert len(trials) == 5
    failures = [p for t in trials for p in t.problems]
    assert not failures, "\n\n".join(failures)
    for t in trials:
        assert len(t.results) == 3 and all(r["ok"] for r in t.results)


def _brick(folder: Path, data: bytes) -> str:
    """Make ``folder`` look like the race of an older version left it: the default model's file
    holds ``data`` and a row registered with its sha256 is the only, active model."""
    model = folder / "models" / f"{DEFAULT_MODEL_NAME}.onnx"
    model.write_bytes(data)
    sha = sha256_of(model)
    conn = sqlite3.connect(folder / "facegate.db")
    with conn:
        conn.execute("DELETE FROM model_activations")
        conn.execute("DELETE FROM models")
        conn.execute(
            "INSERT INTO models (sha256, name, path, input_size, embedding_dim, created_at, parent_sha256,"
            " registered_at) VALUES (?, ?, ?, 112, 128, '2026-01-01T00:00:00+00:00', ?, "
            "'2026-01-01T00:00:00+00:00')",
            (sha, DEFAULT_MODEL_NAME, str(model), EMBEDDER.sha256),
        )
        conn.execute("INSERT INTO model_activations (sha256, activated_at) VALUES (?, '2026-01-01T00:00:00+00:00')",
                     (sha,))
    conn.close()
    return sha


@pytest.mark.parametrize("damage", ["empty", "half-written"])
def test_folder_bricked_by_a_broken_active_model_heals_at_start(fresh_folder: Path, tmp_path: Path,
                                                                damage: str, clips: Path) -> None:
    d = tmp_path / "d"
    shutil.copytree(fresh_folder, d)
    with Store(d / "facegate.db") as s:
        good = s.active_model()
    assert good is not None
    assert Path(good.path).parent == d / "models"  # stored relative to the folder, so the copy is found
    full = Path(good.path).read_bytes()
    bad_sha = _brick(d, b"" if damage == "empty" else full[: len(full) // 3])
    assert (bad_sha == EMPTY_SHA256) == (damage == "empty")
    from desktop_app.core.video.imageio import read_image

    with FaceGate(d / "facegate.db", device="cpu") as g:
        assert g.model.sha256 == good.sha256 != bad_sha
        check_onnx_file(Path(g.model.path), g.model.sha256)
        assert [m.sha256 for m in g.store.list_models()] == [good.sha256]  # the broken row is gone
        assert g.store.previous_model() is None  # so a rollback cannot bring it back
        assert len(g.identify(read_image(clips / "alex-lacamoire.png"))) == 1  # the model works
    with FaceGate(d / "facegate.db", device="cpu") as g:  # and stays healed
        assert g.model.sha256 == good.sha256


def test_broken_registered_model_with_templates_is_not_replaced_silently(fresh_folder: Path,
                                                                          tmp_path: Path) -> None:
    """A damaged default model that enrolled faces were computed with, and that the shipped file
    cannot reproduce, gives a clear ModelError rather than a silent switch of model."""
    d = tmp_path / "d"
    shutil.copytree(fresh_folder, d)
    bad_sha = _brick(d, b"not a model")
    import numpy as np

    with Store(d / "facegate.db") as s:
        pid = s.add_person("Ada")
        s.add_sample(pid, np.zeros((112, 112, 3), np.uint8), {}, "x", np.ones(128, np.float32), bad_sha)
    with pytest.raises(ModelError, match="enrolled faces were computed with"):
        FaceGate(d / "facegate.db", device="cpu")


def test_stale_temporary_files_are_removed_at_start(fresh_folder: Path, tmp_path: Path) -> None:
    d = tmp_path / "d"
    shutil.copytree(fresh_folder, d)
    leftovers = [d / "models" / f".{DEFAULT_MODEL_NAME}.onnx.k2j4.tmp", d / "models" / f"{DEFAULT_MODEL_NAME}.onnx.tmp"]
    for p in leftovers:
        p.write_bytes(b"\0" * 1000)
    keep = d / "models" / "notes.txt"
    keep.write_text("mine")
    FaceGate(d / "facegate.db", device="cpu").close()
    assert not any(p.exists() for p in leftovers)
    assert keep.read_text() == "mine"


def test_write_atomic_never_exposes_a_partial_file(tmp_path: Path) -> None:
    dst = tmp_path / "m.onnx"
    dst.write_bytes(b"old")
    sha = write_atomic(dst, b"new" * 1000)
    assert dst.read_bytes() == b"new" * 1000 and sha == sha256_of(dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_folder_lock_excludes_another_process(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path\n"
        "from desktop_app.core.embedding.model_files import folder_lock\n"
        "from desktop_app.core.errors import ModelError\n"
        "try:\n"
        "    with folder_lock(Path(sys.argv[1]), timeout_s=0.3): print('got it')\n"
        "except ModelError as exc: print('busy:', exc)\n"
    )
    with folder_lock(tmp_path) as held:
        assert held
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                             timeout=120, cwd=REPO)
        assert out.stdout.startswith("busy: Another FaceGate process"), out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert out.stdout.strip() == "got it", out.stderr
