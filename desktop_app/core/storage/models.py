"""Model registry rows (the model files live in a folder managed elsewhere) and which model is
active. Every activation is kept, newest last: the active model is the last one, the previous
model (for rollback) the last one naming another model.

Paths: a model file inside the database's folder is stored relative to that folder (POSIX
separators), anything else as an absolute path; records read back always carry an absolute path.
So the data folder can be moved, and FaceGate run from any working directory."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from desktop_app.core.errors import StorageError
from desktop_app.core.storage import times
from desktop_app.core.storage.base import StoreBase, api
from desktop_app.core.storage.records import ModelRecord
from desktop_app.core.storage.rows import model_from_row
from desktop_app.core.storage.validate import as_int, required_text


def path_to_db(path: str, data_dir: Path) -> str:
    """Text stored for a model file ``path``: relative to ``data_dir`` (POSIX form) when inside it,
    else absolute. A relative ``path`` is taken relative to the working directory, as Python would."""
    absolute = os.path.abspath(path)
    base = os.path.abspath(data_dir)
    for a, b in ((absolute, base), (os.path.realpath(absolute), os.path.realpath(base))):
        try:
            rel = os.path.relpath(a, b)
        except ValueError:  # another drive (Windows)
            continue
        if rel != os.curdir and not rel.startswith(os.pardir) and not os.path.isabs(rel):
            return Path(rel).as_posix()
    return absolute


def path_from_db(text: str, data_dir: Path) -> str:
    """Absolute path of a stored model path: relative ones are inside ``data_dir``."""
    if os.path.isabs(text):
        return text
    return os.path.join(os.path.abspath(data_dir), *PurePosixPath(text).parts)


def _opt_float(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    out = float(value)
    if out != out:  # NaN
        raise ValueError(f"{what} must be a number or None, got NaN")
    return out


class RegistryMixin(StoreBase):
    """Model registry methods of ``Store``."""

    @api("registering a model")
    def register_model(self, rec: ModelRecord) -> None:
        """Insert, or update by sha256, a model's registry row; which model is active is unchanged.

        ValueError for a non-positive input_size / embedding_dim or metrics_json that is not JSON.
        """
        if not isinstance(rec, ModelRecord):
            raise ValueError(f"expected a ModelRecord, got {type(rec).__name__}")
        for value, what in ((rec.input_size, "input_size"), (rec.embedding_dim, "embedding_dim")):
            if as_int(value, what) <= 0:
                raise ValueError(f"{what} must be positive, got {value}")
        if rec.metrics_json is not None:
            try:
                json.loads(rec.metrics_json)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"metrics_json is not valid JSON: {exc}") from exc
        row: dict[str, object] = {
            "sha256": required_text(rec.sha256, "model sha256"),
            "name": required_text(rec.name, "model name"),
            "path": path_to_db(str(rec.path), self.path.parent),
            "input_size": int(rec.input_size),
            "embedding_dim": int(rec.embedding_dim),
            "threshold": _opt_float(rec.threshold, "threshold"),
            "target_fpir": _opt_float(rec.target_fpir, "target_fpir"),
            "gallery_size": None if rec.gallery_size is None else as_int(rec.gallery_size, "gallery_size"),
            "created_at": times.to_db(rec.created_at, self.local_tz),
            "parent_sha256": rec.parent_sha256,
            "metrics_json": rec.metrics_json,
            "registered_at": times.now_db(),
        }
        cols = list(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in ("sha256", "registered_at"))
        with self.transaction():
            self.db.execute(
                f"INSERT INTO models ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                f" ON CONFLICT (sha256) DO UPDATE SET {updates}",
                [row[c] for c in cols],
            )

    @api("listing models")
    def list_models(self) -> list[ModelRecord]:
        """Registered models, oldest ``created_at`` first."""
        rows = self.db.query("SELECT * FROM models ORDER BY created_at, registered_at")
        return [self._model_from_row(r) for r in rows]

    @api("reading a model")
    def get_model(self, sha256: str) -> ModelRecord | None:
        """The registry row of a model, or None."""
        rows = list(self.db.query("SELECT * FROM models WHERE sha256 = ?", [sha256]))
        return self._model_from_row(rows[0]) if rows else None

    def _model_from_row(self, row: dict[str, Any]) -> ModelRecord:
        rec = model_from_row(row)
        return replace(rec, path=path_from_db(rec.path, self.path.parent))

    @api("checking a model's use")
    def model_in_use(self, sha256: str) -> bool:
        """True when templates, stranger embeddings or calibrations were computed with the model."""
        for table, col in (("templates", "model_sha256"), ("strangers", "model_sha256"),
                           ("calibrations", "model_sha256")):
            if self.db.execute(f"SELECT 1 FROM {table} WHERE {col} = ? LIMIT 1", (sha256,)).fetchone():
                return True
        return False

    @api("removing a model")
    def forget_model(self, sha256: str) -> None:
        """Remove a model's registry row and its activations (the model active before it becomes
        active again); for a row that never had a usable file. The file is not touched.
        StorageError when anything was computed with the model (``model_in_use``)."""
        with self.transaction():
            if self.model_in_use(sha256):
                raise StorageError(f"Model {str(sha256)[:12]} is in use; it cannot be removed")
            self.db.execute("DELETE FROM model_activations WHERE sha256 = ?", (sha256,))
            self.db.execute("DELETE FROM models WHERE sha256 = ?", (sha256,))
            self._insert_audit("system", "model.forget", {"sha256": sha256})

    def _active_sha(self) -> str | None:
        row = self.db.execute("SELECT sha256 FROM model_activations ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    @api("reading the active model")
    def active_model(self) -> ModelRecord | None:
        """The model in use, or None when none was ever activated."""
        sha = self._active_sha()
        return None if sha is None else self.get_model(sha)

    @api("activating a model")
    def set_active_model(self, sha256: str) -> None:
        """Make a registered model the active one; the one active until now becomes
        ``previous_model()``. Rolling back is ``set_active_model(previous_model().sha256)``.
        Activating the model already active changes nothing. StorageError when not registered.
        """
        with self.transaction():
            if self.db.execute("SELECT 1 FROM models WHERE sha256 = ?", (sha256,)).fetchone() is None:
                raise StorageError(f"Model {str(sha256)[:12]} is not registered; register it before activating it")
            if self._active_sha() == sha256:
                return
            self.db.execute(
                "INSERT INTO model_activations (sha256, activated_at) VALUES (?, ?)",
                (sha256, times.now_db()),
            )

    @api("reading the previous model")
    def previous_model(self) -> ModelRecord | None:
        """The model that was active before the current one (for rollback), or None."""
        current = self._active_sha()
        if current is None:
            return None
        row = self.db.execute(
            "SELECT sha256 FROM model_activations WHERE sha256 != ? ORDER BY id DESC LIMIT 1", (current,)
        ).fetchone()
        return None if row is None else self.get_model(str(row[0]))
