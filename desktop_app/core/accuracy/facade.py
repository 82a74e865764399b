"""Stored templates follow the crop preprocessing (``desktop_app.core.face.illumination``).

A template is the embedding of a stored aligned crop *after* :func:`normalise_face_crop`. When that
step changes (its name, :data:`CROP_PREPROCESSING`, changes), templates made before no longer equal
what the door computes for the same face. So the database records the name it was embedded under
(setting ``crop_preprocessing``); when FaceGate opens a database recorded under another name (or
none: databases from before the side-light step), it re-embeds, from their stored crops, the
templates of the active model whose crops the new step treats differently, drops those samples'
templates of the other models (switching to one re-embeds them, ``FaceGate.reembed``), records the
new name, audits it (actor ``system``) and recalibrates. Read-only or locked databases are left as
they are (the check runs again at the next open).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from desktop_app.core.errors import FaceGateError
from desktop_app.core.face.illumination import CROP_PREPROCESSING, normalise_face_crop

if TYPE_CHECKING:
    from desktop_app.core.face.engine import FaceEngine
    from desktop_app.core.storage.records import ModelRecord
    from desktop_app.core.storage.store import Store

log = logging.getLogger(__name__)

SETTING = "crop_preprocessing"
#: Crop steps of earlier names, as functions of the crop: a template made under one is still valid
#: for the crops it treats exactly as today's step does. None (no name stored): before the side-light
#: step, only the exposure gamma.
_EARLIER: dict[str | None, Callable[[np.ndarray], np.ndarray]] = {
    None: lambda crop: normalise_face_crop(crop, side_ratio=None),
}
_CHUNK = 32


class AccuracyFacade:
    """Template refresh methods of ``FaceGate`` (see the module docstring)."""

    store: Store
    engine: FaceEngine
    model: ModelRecord
    read_only: bool
    _lock: threading.RLock

    def rebuild_gallery(self) -> int:  # FaceGate's: the gallery reloaded from the database
        raise NotImplementedError

    @property
    def crop_preprocessing(self) -> str | None:
        """The crop preprocessing name the stored templates were made under (None: before names)."""
        with self._lock:
            value = self.store.get_setting(SETTING)
            return value if isinstance(value, str) else None

    def _stale_samples(self, stored: str | None) -> list[int]:
        ids = [s.id for s in self.store.list_samples()]
        earlier = _EARLIER.get(stored)
        if earlier is None:
            return ids  # an unknown earlier step: every template is re-embedded
        stale = []
        for sid in ids:
            crop = self.store.sample_crop(sid)
            if not np.array_equal(earlier(crop), normalise_face_crop(crop)):
                stale.append(sid)
        return stale

    def refresh_templates_for_preprocessing(self) -> int:
        """Re-embed the templates made under another crop preprocessing (see the module docstring);
        returns how many were re-embedded (0 when they are current, read-only or locked)."""
        with self._lock:
            if self.read_only or self.store.data_locked:
                return 0
            stored = self.crop_preprocessing
            if stored == CROP_PREPROCESSING:
                return 0
            if not self.store.list_samples():
                self.store.set_setting(SETTING, CROP_PREPROCESSING)  # nothing embedded yet
                return 0
            stale = self._stale_samples(stored)
            sha = self.model.sha256
            for i in range(0, len(stale), _CHUNK):
                chunk = stale[i:i + _CHUNK]
                vecs = self.engine.embedder.embed(np.stack([self.store.sample_crop(s) for s in chunk]))
                with self.store.transaction():
                    for sid, vec in zip(chunk, vecs, strict=True):
                        self.store.set_template(sid, sha, vec)
            with self.store.transaction():
                dropped = self.store.drop_other_templates(stale, sha) if stale else 0
                self.store.set_setting(SETTING, CROP_PREPROCESSING)
                self.store.audit("system", "templates.preprocessing", {
                    "from": stored, "to": CROP_PREPROCESSING, "reembedded": len(stale),
                    "other_models_dropped": dropped, "model_sha256": sha})
            if stale:
                log.info("Re-embedded %d template(s) for the crop preprocessing %s", len(stale), CROP_PREPROCESSING)
                self.rebuild_gallery()  # and recalibrates
            return len(stale)

    def _refresh_templates_at_start(self) -> None:
        """:meth:`refresh_templates_for_preprocessing` when the database opens; never fails the start
        (a damaged crop or a full disk: a warning, and it is tried again at the next open)."""
        try:
            self.refresh_templates_for_preprocessing()
        except FaceGateError as exc:
            log.warning("Could not re-embed the templates for the new crop preprocessing yet: %s", exc)
