"""Model registry: embedding models as files in a folder plus one row each in the database.

The folder (``<data dir>/models``) holds every model by content: ``<name>-<sha12>.onnx``. The row
(``Store.register_model``) records its sha256, input size, embedding size, calibrated threshold and
parent; the store keeps paths inside the data folder relative to it, so the folder can move. One
model is active; the one active before it can be restored (rollback).

The default model is the shipped SFace int8 file, dequantised once to fp32 by our own code (same
embeddings to ~2e-6, about twice as fast on CPU); it can always be rebuilt from the verified
shipped file, so a lost or damaged copy heals itself.

Several processes may start on a fresh folder at once: every write of the folder happens under
``folder_lock`` through an atomic write (``model_files``), and a row is registered only for a
file whose sha256 was checked after writing and whose bytes parse as an ONNX model.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from pathlib import Path

from desktop_app.core.embedding import model_cache
from desktop_app.core.embedding.model_convert import check_onnx_file, dequantize_blockwise, load_onnx
from desktop_app.core.embedding.model_files import (
    EMBEDDER,
    clean_if_idle,
    copy_atomic,
    folder_lock,
    remove_stale_temps,
    shipped_model_path,
    write_atomic,
)
from desktop_app.core.errors import ModelError
from desktop_app.core.storage.records import ModelRecord
from desktop_app.core.storage.store import Store

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "sface-2021dec-fp32"


def _file_stem(name: str) -> str:
    """``name`` made safe as part of a file name (no folders, no odd characters)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return stem[:80] or "model"


class ModelRegistry:
    """Embedding models known to one FaceGate database; ``folder`` holds their files."""

    def __init__(self, store: Store, folder: Path) -> None:
        self.store = store
        self.folder = Path(os.path.abspath(folder))

    def _default_path(self) -> Path:
        return self.folder / f"{DEFAULT_MODEL_NAME}.onnx"

    @staticmethod
    def _is_default(rec: ModelRecord) -> bool:
        return rec.name == DEFAULT_MODEL_NAME and rec.parent_sha256 == EMBEDDER.sha256

    @staticmethod
    def _problem(path: Path, sha256: str | None = None) -> str | None:
        """Why ``path`` is not a whole model file (with ``sha256`` when given), or None when it is."""
        try:
            check_onnx_file(path, sha256)
        except ModelError as exc:
            return str(exc)
        return None

    def _whole_sha(self, path: Path) -> str | None:
        try:
            return check_onnx_file(path)
        except ModelError:
            return None

    def _write_default(self) -> str:
        """Convert the verified shipped file and write it atomically at the default path; its sha256.
        A conversion made before for another database is taken from the user's model cache
        (``model_cache``: verified by sha256, hard-linked or copied) instead of converting again.

        Call with ``folder_lock(self.folder)`` held.
        """
        dst = self._default_path()
        hit = model_cache.cached(EMBEDDER.sha256)  # converted before, for another database
        if hit is not None:
            try:
                return model_cache.place(hit[0], hit[1], dst)
            except ModelError as exc:
                log.debug("The cached default model cannot be used (%s); converting.", exc)
        data = dequantize_blockwise(load_onnx(shipped_model_path(EMBEDDER))).SerializeToString()
        sha = write_atomic(dst, data, what="the face recognition model")
        check_onnx_file(dst, sha)
        model_cache.store(EMBEDDER.sha256, data)
        return sha

    def _register_default(self, sha: str) -> ModelRecord:
        """The registry row of the default model file with ``sha`` (just verified), made or fixed."""
        dst = self._default_path()
        rec = self.store.get_model(sha)
        if rec is None:
            self.store.register_model(ModelRecord(
                name=DEFAULT_MODEL_NAME, sha256=sha, path=str(dst), input_size=112, embedding_dim=128,
                parent_sha256=EMBEDDER.sha256,
            ))
        elif Path(rec.path) != dst:  # the row points at another place (an older version, a moved folder)
            self.store.register_model(replace(rec, path=str(dst)))
        out = self.store.get_model(sha)
        if out is None:
            raise ModelError(f"The default model {sha[:12]} could not be registered.")
        return out

    def ensure_default(self) -> ModelRecord:
        """The default model, verified: built from the shipped file when missing or damaged,
        registered, and made active when no model is active yet. Safe from several processes."""
        with folder_lock(self.folder):
            remove_stale_temps(self.folder)
            sha = self._whole_sha(self._default_path())
            if sha is None or self.store.get_model(sha) is None:  # never trust a file we did not register
                sha = self._write_default()
            rec = self._register_default(sha)
            if self.store.active_model() is None:
                self.store.set_active_model(sha)
            return rec

    def active(self) -> ModelRecord:
        """The active model, its file verified; creates the default model on first use. Temporary
        files that a killed process left in the folder are removed."""
        if self.folder.is_dir():
            clean_if_idle(self.folder)
        rec = self.store.active_model()
        if rec is None:
            self.ensure_default()
            rec = self.store.active_model()
            if rec is None:
                raise ModelError("No model is active, and the default model could not be made active.")
        return self.verified(rec)

    def verified(self, rec: ModelRecord) -> ModelRecord:
        """``rec`` after checking its file (sha256, a whole ONNX model); a damaged default model is
        rebuilt from the shipped file, and a default row that was registered for a broken file
        (empty, half written) is replaced by a good one, which is then returned instead."""
        problem = self._problem(Path(rec.path), rec.sha256)
        if problem is None:
            return rec
        if self._is_default(rec):
            return self._heal_default(rec)
        raise ModelError(f"Model '{rec.name}' ({rec.sha256[:12]}) cannot be used: {problem} Roll back to the "
                         f"previous model or retrain.")

    def _heal_default(self, rec: ModelRecord) -> ModelRecord:
        with folder_lock(self.folder):
            remove_stale_temps(self.folder)
            if self._problem(Path(rec.path), rec.sha256) is None:  # healed by another process meanwhile
                return rec
            dst = self._default_path()
            sha = self._whole_sha(dst)
            if sha != rec.sha256:
                sha = self._write_default()
            if sha == rec.sha256:
                log.warning("The default model file was missing or damaged; it was rebuilt from the shipped file.")
                return self._register_default(sha)
            if self.store.model_in_use(rec.sha256):
                raise ModelError(
                    f"The default model file {dst} is missing or damaged, and rebuilding it gives a different "
                    f"file ({sha[:12]}) than the one the enrolled faces were computed with ({rec.sha256[:12]}). "
                    f"Restore the file from a backup, or install the FaceGate version that made it."
                )
            # The row names a file that never was a model (an interrupted first start of an older
            # version registered a half-written or empty file): replace the row by the good one.
            good = self._register_default(sha)
            was_active = self.store.active_model()
            self.store.forget_model(rec.sha256)
            if was_active is None or was_active.sha256 == rec.sha256 or self.store.active_model() is None:
                self.store.set_active_model(sha)
            log.warning("The registered default model %s had no valid file and nothing computed with it; "
                        "it was replaced by %s, rebuilt from the shipped file.", rec.sha256[:12], sha[:12])
            return good

    def add(self, src: Path, name: str, *, parent_sha256: str | None = None, embedding_dim: int = 128,
            input_size: int = 112, metrics_json: str | None = None) -> ModelRecord:
        """Copy an ONNX file into the registry folder and register it (not activated).

        The copy is atomic and checked (sha256 equal to the source's, a whole ONNX model) before
        the row is written; ModelError for a missing or broken file, or a failed copy.
        """
        src = Path(src)
        if not src.is_file():
            raise ModelError(f"Model file not found: {src}")
        load_onnx(src)  # fails clearly on a broken file
        sha = check_onnx_file(src)
        dst = self.folder / f"{_file_stem(name)}-{sha[:12]}.onnx"
        with folder_lock(self.folder):
            remove_stale_temps(self.folder)
            if src.resolve() != dst.resolve() and self._problem(dst, sha) is not None:
                copied = copy_atomic(src, dst, what=f"the model {name}")
                if copied != sha:
                    dst.unlink(missing_ok=True)
                    raise ModelError(f"The model file {src} changed while it was being copied; try again.")
            check_onnx_file(dst, sha)
            rec = ModelRecord(
                name=name, sha256=sha, path=str(dst), input_size=input_size, embedding_dim=embedding_dim,
                parent_sha256=parent_sha256, metrics_json=metrics_json,
            )
            self.store.register_model(rec)
        out = self.store.get_model(sha)
        return out if out is not None else rec

    def activate(self, sha256: str) -> ModelRecord:
        rec = self.store.get_model(sha256)
        if rec is None:
            raise ModelError(f"No registered model with sha256 {sha256[:12]}…")
        rec = self.verified(rec)
        self.store.set_active_model(rec.sha256)
        return rec

    def rollback(self) -> ModelRecord:
        """Make the previously active model active again."""
        prev = self.store.previous_model()
        if prev is None:
            raise ModelError("There is no previous model to roll back to.")
        return self.activate(prev.sha256)
