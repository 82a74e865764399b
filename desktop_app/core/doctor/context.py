"""What the checks share: the open store, the data folder, the settings and active model in force,
a lazily loaded embedder, and the repair plan the checks fill in for ``--repair``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from desktop_app.core.config import AppConfig
from desktop_app.core.doctor.report import Finding
from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.errors import FaceGateError
from desktop_app.core.file_modes import ModeProblem
from desktop_app.core.progress import ProgressFn
from desktop_app.core.storage.records import ModelRecord
from desktop_app.core.storage.store import Store

log = logging.getLogger(__name__)


@dataclass
class RepairPlan:
    """What ``--repair`` would do, filled in by the checks.

    reembed: sample ids whose template for the active model is recomputed from the crop;
    delete_templates: (sample id, model sha256) rows deleted (damaged templates of inactive models:
    a model switch re-embeds them); delete_samples: samples with neither a usable crop nor a usable
    template; delete_strangers / delete_calibrations: damaged row ids; reset_settings: key -> why;
    delete_files: stale files; rebuild_model: rebuild the default model file; fix_modes: files and
    folders whose group and other permissions are removed.
    """

    reembed: set[int] = field(default_factory=set)
    delete_templates: set[tuple[int, str]] = field(default_factory=set)
    delete_samples: set[int] = field(default_factory=set)
    delete_strangers: set[int] = field(default_factory=set)
    delete_calibrations: set[int] = field(default_factory=set)
    reset_settings: dict[str, str] = field(default_factory=dict)
    delete_files: set[Path] = field(default_factory=set)
    rebuild_model: bool = False
    fix_modes: list[ModeProblem] = field(default_factory=list)  # files and folders others may reach


@dataclass
class DoctorContext:
    """One doctor pass over one database (not thread-safe; one pass at a time)."""

    store: Store
    data_dir: Path
    device: str | None = None
    progress: ProgressFn | None = None
    config: AppConfig = field(default_factory=AppConfig)
    model: ModelRecord | None = None
    model_file: Path | None = None  # set by the model check when the file verifies
    plan: RepairPlan = field(default_factory=RepairPlan)
    findings: list[Finding] = field(default_factory=list)
    _embedder: Embedder | None = None
    _embedder_error: str | None = None

    def embedder(self) -> Embedder | None:
        """The active model's embedder with the stored settings (flip), or None when it cannot load
        (``embedder_error`` says why)."""
        if self._embedder is None and self._embedder_error is None:
            if self.model is None or self.model_file is None:
                self._embedder_error = "the active model's file is not usable"
                return None
            rec = self.config.recognition
            try:
                self._embedder = Embedder(self.model_file, device=self.device or rec.device, flip=rec.flip_templates,
                                          expected_sha256=self.model.sha256)
            except (FaceGateError, OSError) as exc:
                self._embedder_error = str(exc)
        return self._embedder

    def reuse_embedder(self, earlier: DoctorContext) -> None:
        """Take over the embedder an earlier pass loaded, when it is for the same model and settings."""
        same = (earlier.model is not None and self.config.recognition == earlier.config.recognition
                and earlier.device == self.device)
        if same and earlier._embedder is not None:
            self._embedder = earlier._embedder

    @property
    def embedder_error(self) -> str | None:
        return self._embedder_error

    def say(self, done: int, total: int, message: str) -> None:
        if self.progress is not None:
            self.progress(done, total, message)
