"""Face samples (aligned crops kept as PNG) and their templates (one embedding per sample and model)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from desktop_app.core.errors import StorageError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.storage import codecs, times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.quarantine import QuarantinedRow, QuarantineMixin
from desktop_app.core.storage.records import Sample
from desktop_app.core.storage.rows import json_object
from desktop_app.core.storage.validate import as_int, required_text


class SamplesMixin(QuarantineMixin):
    """Sample and template methods of ``Store``."""

    def _put_template(self, sample_id: int, model_sha256: str, vector: np.ndarray) -> None:
        """Insert or replace the template of (sample, model); vector (D,) float32, D checked."""
        dim = int(vector.shape[0])
        self._check_dim(model_sha256, dim, "embedding")
        self.db.execute(
            "INSERT INTO templates (sample_id, model_sha256, dim, created_at, vector)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (sample_id, model_sha256) DO UPDATE SET"
            " dim = excluded.dim, created_at = excluded.created_at, vector = excluded.vector",
            (sample_id, model_sha256, dim, times.now_db(),
             self._seal(SealedField.TEMPLATE_VECTOR, f"{sample_id}:{model_sha256}", codecs.vector_to_blob(vector))),
        )

    @api("saving a face sample")
    def add_sample(
        self,
        person_id: int,
        crop: np.ndarray,
        quality: dict[str, object],
        source: str,
        embedding: np.ndarray,
        model_sha256: str,
    ) -> int:
        """Store a face sample and its template for ``model_sha256`` atomically; returns the sample id.

        crop: aligned face (112, 112, 3) uint8 BGR, kept losslessly as PNG; quality: JSON-able
        measures (numpy numbers allowed); source: where the face came from; embedding: (D,)
        float32, stored as given (not re-normalised). ValueError for malformed input,
        StorageError when the person does not exist.
        """
        pid = as_int(person_id, "person_id")
        png = codecs.encode_crop(crop)
        if not isinstance(quality, Mapping):
            raise ValueError(f"quality must be a dict, got {type(quality).__name__}")
        quality_json = codecs.to_json(dict(quality), "quality")
        src = required_text(source, "source")
        vector = codecs.as_vector(embedding)
        model = required_text(model_sha256, "model_sha256")
        with self.transaction():
            self._require_person(pid)
            sample_id = self._next_id("samples")  # the crop is bound to its row id (sealing.py)
            self.db.execute(
                "INSERT INTO samples (id, person_id, quality_json, source, created_at, crop_png)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sample_id, pid, quality_json, src, times.now_db(),
                 self._seal(SealedField.SAMPLE_CROP, sample_id, png)),
            )
            self._put_template(sample_id, model, vector)
            return sample_id

    @api("listing face samples")
    def list_samples(self, person_id: int | None = None) -> list[Sample]:
        """Samples (without crop bytes) of one person or of everyone, oldest first."""
        sql = (
            "SELECT s.id, s.person_id, s.quality_json, s.source, s.created_at,"
            " (SELECT group_concat(t.model_sha256, ',') FROM templates t WHERE t.sample_id = s.id)"
            " AS models FROM samples s"
        )
        params: list[object] = []
        if person_id is not None:
            sql += " WHERE s.person_id = ?"
            params.append(as_int(person_id, "person_id"))
        sql += " ORDER BY s.id"
        return [
            Sample(
                id=int(row["id"]),
                person_id=int(row["person_id"]),
                quality=json_object(row["quality_json"]),
                source=str(row["source"]),
                created_at=times.from_db(row["created_at"]),
                models=tuple(sorted(row["models"].split(","))) if row["models"] else (),
            )
            for row in self.db.query(sql, params)
        ]

    @api("reading a face crop")
    def sample_crop(self, sample_id: int) -> np.ndarray:
        """The sample's aligned crop, (112, 112, 3) uint8 BGR; StorageError when it does not exist."""
        sid = as_int(sample_id, "sample_id")
        row = self.db.execute("SELECT crop_png FROM samples WHERE id = ?", (sid,)).fetchone()
        if row is None:
            raise StorageError(f"There is no face sample with id {sid}")
        return codecs.decode_crop(self._unseal(SealedField.SAMPLE_CROP, sid, bytes(row[0]),
                                               f"the face crop of sample {sid}"))

    @api("deleting a face sample")
    def delete_sample(self, sample_id: int) -> None:
        """Delete a sample, its crop and all its templates; StorageError when it does not exist."""
        sid = as_int(sample_id, "sample_id")
        with self.transaction():
            if self.db.execute("DELETE FROM samples WHERE id = ?", (sid,)).rowcount != 1:
                raise StorageError(f"There is no face sample with id {sid}")

    @api("saving a face template")
    def set_template(self, sample_id: int, model_sha256: str, vector: np.ndarray) -> None:
        """Store (or replace) the embedding of a sample under a model.

        vector: (D,) float32; D must match the model's registered ``embedding_dim`` or the other
        vectors stored for it (ValueError). StorageError when the sample does not exist.
        """
        sid = as_int(sample_id, "sample_id")
        model = required_text(model_sha256, "model_sha256")
        vec = codecs.as_vector(vector)
        with self.transaction():
            if self.db.execute("SELECT 1 FROM samples WHERE id = ?", (sid,)).fetchone() is None:
                raise StorageError(f"There is no face sample with id {sid}")
            self._put_template(sid, model, vec)

    @api("loading face templates")
    def templates(self, model_sha256: str, active_only: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All sound templates of a model, ordered by sample id.

        Returns (sample_ids int64 (N,), person_ids int64 (N,), vectors float32 (N, D)); with no
        template the shapes are (0,), (0,), (0, 0). ``active_only`` leaves out inactive people.
        A damaged template (wrong length for the model, all zeros, non-finite, or not of length 1:
        stored embeddings are L2-normalised) is left out with a warning naming the sample and the
        person, and listed in ``quarantine`` / ``quarantined_sample_ids``, so everyone else is
        still served.
        """
        sql = (
            "SELECT t.sample_id, s.person_id, t.dim, t.vector, p.name FROM templates t"
            " JOIN samples s ON s.id = t.sample_id JOIN people p ON p.id = s.person_id"
            " WHERE t.model_sha256 = ?"
        )
        if active_only:
            sql += " AND p.active = 1"
        rows = self.db.execute(sql + " ORDER BY t.sample_id", (model_sha256,)).fetchall()
        plain, failed = self._unseal_many(SealedField.TEMPLATE_VECTOR, [f"{r[0]}:{model_sha256}" for r in rows],
                                          [bytes(r[3]) for r in rows])  # decrypted into memory once
        opened = [i for i in range(len(rows)) if i not in failed]
        vectors, bad_opened = codecs.stack_vectors([int(rows[i][2]) for i in opened], [plain[i] for i in opened],
                                                   expected_dim=self._registered_dim(model_sha256), unit=True)
        bad = sorted([(opened[j], reason) for j, reason in bad_opened] + list(failed.items()))
        skipped = {i for i, _ in bad}
        quarantined = [
            QuarantinedRow(table="templates", row_id=str(rows[i][0]), scope=model_sha256, reason=reason,
                           subject=f"template of sample {rows[i][0]} of {rows[i][4]!r} (person {rows[i][1]}, "
                                   f"model {model_sha256[:12]})")
            for i, reason in bad
        ]
        if active_only:
            self._add_quarantine(quarantined)
        else:
            self._set_quarantine("templates", model_sha256, quarantined)
        kept = [r for i, r in enumerate(rows) if i not in skipped]
        sample_ids = np.array([r[0] for r in kept], dtype=np.int64)
        person_ids = np.array([r[1] for r in kept], dtype=np.int64)
        return sample_ids, person_ids, vectors

    @api("listing samples to embed")
    def samples_missing_template(self, model_sha256: str) -> list[int]:
        """Ids of samples (of all people) that have no template for this model yet, ascending."""
        rows = self.db.execute(
            "SELECT s.id FROM samples s WHERE NOT EXISTS"
            " (SELECT 1 FROM templates t WHERE t.sample_id = s.id AND t.model_sha256 = ?) ORDER BY s.id",
            (model_sha256,),
        ).fetchall()
        return [int(r[0]) for r in rows]
