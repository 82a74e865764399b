"""Calibration history (decision thresholds per model) and the stranger pool (embeddings of
non-enrolled faces used as impostors when calibrating)."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from desktop_app.core.errors import StorageError
from desktop_app.core.matching.calibration_findings import findings_from_dict
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.storage import codecs, times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.quarantine import QuarantinedRow, QuarantineMixin
from desktop_app.core.storage.validate import as_int, required_text
from desktop_app.core.types import Calibration

log = logging.getLogger(__name__)

_CAL_COLUMNS = (
    "model_sha256", "created_at", "threshold", "target_fpir", "gallery_persons", "gallery_templates",
    "est_fpir", "est_fnir", "n_genuine", "n_impostor", "method", "notes_json",
)  # fmt: skip
# A rate that could not be measured (NaN: no mated pairs, or no non-mated searches) is stored as
# -1 (the columns are NOT NULL and rates lie in [0, 1]) and read back as NaN.
_UNMEASURED = -1.0


def _rate_to_db(value: float) -> float:
    return _UNMEASURED if math.isnan(value) else value


def _rate_from_db(value: float) -> float:
    return float("nan") if value < 0 else value


class CalibrationMixin(QuarantineMixin):
    """Calibration and stranger-pool methods of ``Store``."""

    @api("saving a calibration")
    def save_calibration(self, cal: Calibration) -> None:
        """Append a calibration to the history of its model (``cal.model_sha256``)."""
        if not isinstance(cal, Calibration):
            raise ValueError(f"expected a Calibration, got {type(cal).__name__}")
        for what in ("threshold", "target_fpir", "est_fpir", "est_fnir"):
            value = float(getattr(cal, what))
            if math.isinf(value) or (math.isnan(value) and what in ("threshold", "target_fpir")):
                raise ValueError(f"calibration {what} must be finite, got {getattr(cal, what)}")
            if what.startswith("est_") and not (math.isnan(value) or 0.0 <= value <= 1.0):
                raise ValueError(f"calibration {what} must be a rate in [0, 1] or NaN (not measured), got {value}")
        notes = [str(n) for n in cal.notes]
        values = (
            required_text(cal.model_sha256, "model_sha256"),
            times.now_db(),
            float(cal.threshold),
            float(cal.target_fpir),
            as_int(cal.gallery_persons, "gallery_persons"),
            as_int(cal.gallery_templates, "gallery_templates"),
            _rate_to_db(float(cal.est_fpir)),
            _rate_to_db(float(cal.est_fnir)),
            as_int(cal.n_genuine, "n_genuine"),
            as_int(cal.n_impostor, "n_impostor"),
            str(cal.method),
            codecs.to_json(notes if cal.findings is None else {"notes": notes, "findings": cal.findings.to_dict()},
                           "calibration notes"),
        )
        with self.transaction():
            self.db.execute(
                f"INSERT INTO calibrations ({', '.join(_CAL_COLUMNS)}) VALUES ({', '.join('?' * len(_CAL_COLUMNS))})",
                values,
            )

    @api("reading a calibration")
    def latest_calibration(self, model_sha256: str) -> Calibration | None:
        """The calibration of a model saved last, or None; also None when that row is damaged (it is
        quarantined with a warning, and the caller calibrates afresh)."""
        rows = list(
            self.db.query("SELECT * FROM calibrations WHERE model_sha256 = ? ORDER BY id DESC LIMIT 1", [model_sha256])
        )
        if not rows:
            return None
        r = rows[0]
        try:
            return self.calibration_from_row(r)
        except (StorageError, ValueError, TypeError) as exc:
            self._add_quarantine([QuarantinedRow(
                table="calibrations", row_id=str(r["id"]), scope=model_sha256, reason=str(exc),
                subject=f"calibration {r['id']} of model {model_sha256[:12]}")])
            return None

    @staticmethod
    def calibration_from_row(r: dict[str, Any]) -> Calibration:
        """Calibration of a ``calibrations`` row; StorageError/ValueError/TypeError when damaged."""
        for what in ("threshold", "target_fpir", "est_fpir", "est_fnir"):
            if not math.isfinite(float(r[what])):
                raise ValueError(f"its {what} is not a finite number")
        stored = codecs.from_json(r["notes_json"])  # a list of notes, or {"notes": [...], "findings": {...}}
        notes = stored.get("notes") if isinstance(stored, dict) else stored
        findings = None
        if isinstance(stored, dict) and isinstance(stored.get("findings"), dict):
            try:
                findings = findings_from_dict(stored["findings"])
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("Calibration %s: its stored findings are unreadable (%s); using its notes.", r["id"], exc)
        return Calibration(
            threshold=float(r["threshold"]),
            target_fpir=float(r["target_fpir"]),
            gallery_persons=int(r["gallery_persons"]),
            gallery_templates=int(r["gallery_templates"]),
            model_sha256=str(r["model_sha256"]),
            est_fpir=_rate_from_db(float(r["est_fpir"])),
            est_fnir=_rate_from_db(float(r["est_fnir"])),
            n_genuine=int(r["n_genuine"]),
            n_impostor=int(r["n_impostor"]),
            method=str(r["method"]),
            notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
            findings=findings,
        )

    @api("saving stranger embeddings")
    def add_strangers(self, vectors: np.ndarray, model_sha256: str, source: str) -> int:
        """Add embeddings of non-enrolled faces, (M, D) float32 (or one (D,)); returns M.

        D must match the model's embedding length (ValueError).
        """
        mat = codecs.as_matrix(vectors, "stranger embeddings")
        model = required_text(model_sha256, "model_sha256")
        src = required_text(source, "source")
        if mat.shape[0] == 0:
            return 0
        dim = int(mat.shape[1])
        now = times.now_db()
        with self.transaction():
            self._check_dim(model, dim, "stranger embedding")
            first = self._next_id("strangers")  # each vector is bound to its row id (sealing.py)
            self.db.conn.executemany(
                "INSERT INTO strangers (id, model_sha256, dim, source, created_at, vector) VALUES (?, ?, ?, ?, ?, ?)",
                ((first + i, model, dim, src, now,
                  self._seal(SealedField.STRANGER_VECTOR, first + i, codecs.vector_to_blob(v)))
                 for i, v in enumerate(mat)),
            )
        return int(mat.shape[0])

    @api("counting stranger embeddings")
    def count_strangers(self, model_sha256: str, source: str | None = None) -> int:
        """Stranger embeddings of a model (of one ``source`` only when given)."""
        sql, args = "SELECT COUNT(*) FROM strangers WHERE model_sha256 = ?", [model_sha256]
        if source is not None:
            sql, args = sql + " AND source = ?", [*args, source]
        return int(self.db.execute(sql, args).fetchone()[0])

    @api("dropping old stranger embeddings")
    def prune_strangers(self, model_sha256: str, source: str, keep: int) -> int:
        """Delete the oldest embeddings of ``source`` for a model beyond the newest ``keep``; returns deleted."""
        if keep < 0:
            raise ValueError("keep must not be negative")
        with self.transaction():
            cur = self.db.conn.execute(
                "DELETE FROM strangers WHERE id IN (SELECT id FROM strangers WHERE model_sha256 = ? AND source = ? "
                "ORDER BY id DESC LIMIT -1 OFFSET ?)", (model_sha256, source, keep))
        return int(cur.rowcount)

    @api("loading stranger embeddings")
    def strangers(self, model_sha256: str) -> np.ndarray:
        """All stranger embeddings of a model, (M, D) float32 in insertion order; (0, 0) when none."""
        rows = self.db.execute(
            "SELECT dim, vector, id FROM strangers WHERE model_sha256 = ? ORDER BY id", (model_sha256,)
        ).fetchall()
        plain, failed = self._unseal_many(SealedField.STRANGER_VECTOR, [int(r[2]) for r in rows],
                                          [bytes(r[1]) for r in rows])
        opened = [i for i in range(len(rows)) if i not in failed]
        vectors, bad_opened = codecs.stack_vectors([int(rows[i][0]) for i in opened], [plain[i] for i in opened],
                                                   expected_dim=self._registered_dim(model_sha256), unit=True)
        bad = sorted([(opened[j], reason) for j, reason in bad_opened] + list(failed.items()))
        self._set_quarantine("strangers", model_sha256, [
            QuarantinedRow(table="strangers", row_id=str(rows[i][2]), scope=model_sha256, reason=reason,
                           subject=f"stranger embedding {rows[i][2]} (model {model_sha256[:12]})")
            for i, reason in bad
        ])
        return vectors
