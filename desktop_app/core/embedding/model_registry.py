"""Model registry: embedding models as files in a folder plus one row each in the database.

The folder (``<data dir>/models``) holds every model by content: ``<name>-<sha12>.onnx``. The row
(``Store.register_model``) records its sha256, input size, embedding size, calibrated threshold and
parent. One model is active; the one active before it can be restored (rollback).

The default model is the shipped SFace int8 file, dequantised once to fp32 by our own code (same
embeddings to ~2e-6, about twice as fast on CPU); it can always be rebuilt from the verified
shipped file, so a lost or damaged copy heals itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from desktop_app.core.embedding.model_convert import dequantize_blockwise, load_onnx, save_onnx_atomic
from desktop_app.core.embedding.model_files import EMBEDDER, sha256_of, shipped_model_path
from desktop_app.core.errors import ModelError
from desktop_app.core.storage.records import ModelRecord
from desktop_app.core.storage.store import Store

DEFAULT_MODEL_NAME = "sface-2021dec-fp32"


class ModelRegistry:
    """Embedding models known to one FaceGate database."""

    def __init__(self, store: Store, folder: Path) -> None:
        self.store = store
        self.folder = Path(folder)

    def _default_path(self) -> Path:
        return self.folder / f"{DEFAULT_MODEL_NAME}.onnx"

    def ensure_default(self) -> ModelRecord:
        """Build (or rebuild) the fp32 default model from the verified shipped file and register it."""
        shipped = shipped_model_path(EMBEDDER)
        dst = self._default_path()
        if not dst.is_file() or not self._matches_registered(dst):
            save_onnx_atomic(dequantize_blockwise(load_onnx(shipped)), dst)
        sha = sha256_of(dst)
        rec = self.store.get_model(sha)
        if rec is None:
            rec = ModelRecord(
                name=DEFAULT_MODEL_NAME, sha256=sha, path=str(dst), input_size=112, embedding_dim=128,
                parent_sha256=EMBEDDER.sha256,
            )
            self.store.register_model(rec)
        if self.store.active_model() is None:
            self.store.set_active_model(sha)
        return rec

    def _matches_registered(self, path: Path) -> bool:
        sha = sha256_of(path)
        return any(m.sha256 == sha for m in self.store.list_models())

    def active(self) -> ModelRecord:
        """The active model, its file verified; creates the default model on first use."""
        rec = self.store.active_model()
        if rec is None:
            self.ensure_default()
            rec = self.store.active_model()
            assert rec is not None
        return self.verified(rec)

    def verified(self, rec: ModelRecord) -> ModelRecord:
        """``rec`` after checking its file's sha256; the default model is rebuilt if damaged."""
        path = Path(rec.path)
        if path.is_file() and sha256_of(path) == rec.sha256:
            return rec
        if rec.name == DEFAULT_MODEL_NAME:
            path.unlink(missing_ok=True)
            save_onnx_atomic(dequantize_blockwise(load_onnx(shipped_model_path(EMBEDDER))), path)
            if sha256_of(path) == rec.sha256:
                return rec
        state = "missing" if not path.is_file() else "altered or corrupted (checksum mismatch)"
        raise ModelError(
            f"Model '{rec.name}' ({rec.sha256[:12]}) file {path} is {state}. Roll back to the previous model "
            f"or retrain."
        )

    def add(self, src: Path, name: str, *, parent_sha256: str | None = None, embedding_dim: int = 128,
            input_size: int = 112, metrics_json: str | None = None) -> ModelRecord:
        """Copy an ONNX file into the registry folder and register it (not activated)."""
        src = Path(src)
        if not src.is_file():
            raise ModelError(f"Model file not found: {src}")
        load_onnx(src)  # fails clearly on a broken file
        sha = sha256_of(src)
        dst = self.folder / f"{name}-{sha[:12]}.onnx"
        self.folder.mkdir(parents=True, exist_ok=True)
        if src.resolve() != dst.resolve():
            tmp = dst.with_name(dst.name + ".tmp")
            shutil.copyfile(src, tmp)
            tmp.replace(dst)
        rec = ModelRecord(
            name=name, sha256=sha, path=str(dst), input_size=input_size, embedding_dim=embedding_dim,
            parent_sha256=parent_sha256, metrics_json=metrics_json,
        )
        self.store.register_model(rec)
        return rec

    def activate(self, sha256: str) -> ModelRecord:
        rec = self.store.get_model(sha256)
        if rec is None:
            raise ModelError(f"No registered model with sha256 {sha256[:12]}…")
        self.verified(rec)
        self.store.set_active_model(sha256)
        return rec

    def rollback(self) -> ModelRecord:
        """Make the previously active model active again."""
        prev = self.store.previous_model()
        if prev is None:
            raise ModelError("There is no previous model to roll back to.")
        return self.activate(prev.sha256)
